"""MoViNet (Kondratyuk et al. 2021) A0 and A2 in the official causal (Stream) form, as
whole-clip and streaming models.

The form is that of the released MoViNet-A0/A2-Stream weights, read from tensorflow/models
official/projects/movinet (modeling/movinet.py and movinet_layers.py; configs/yaml/
movinet_a{0,2}_stream_k600_8x8.yaml: causal, conv_type '2plus1d', se_type '2plus3d',
activation 'hard_swish', gating 'hard_sigmoid') and from its PyTorch port
Atze00/MoViNet-pytorch@c2d1edf movinets/models.py, whose modelA{0,2}_stream_statedict_v3
load by mobilekit/models/pretrained/tables/movinet.py:

  stem   1x3x3 conv, stride 2 -> BN -> hard swish
  block  1x1x1 expand -> BN -> hard swish
         -> depthwise 1xkxk conv (spatial stride 2 in a stage's first block) -> BN -> hard swish
         -> depthwise kt x 1 x 1 causal conv -> its own BN -> hard swish   (kt > 1; '2plus1d')
         -> SE: [average over the frames so far, this frame's average] (2C) -> 1x1x1 conv to
            make_divisible(C/2) -> hard swish -> 1x1x1 conv to C -> hard sigmoid gate
         -> 1x1x1 project -> BN;  out = shortcut + alpha * that   (alpha: one ReZero scale)
         shortcut: identity, or (stride 2) 3x3 average pool -> 1x1x1 conv -> BN
  head   1x1x1 conv (480 / 640) -> BN -> hard swish -> average over space and the frames so
         far -> Linear 2048 -> Swish -> dropout -> classes
BN eps 1e-3. Strided convolutions and the shortcut's pool pad as TensorFlow's 'same' (an odd
padding goes at the bottom and right), and the pool averages only pixels inside the frame.

The gate is Keras 2's hard_sigmoid, clip(0.2 x + 0.5, 0, 1), as in the port, whose
tests/test_pretrained_models.py requires equal logits (atol 1e-4) with TF Hub's
movinet/a{0,1,2}/stream/kinetics-600/classification/3; today's TF source maps 'hard_sigmoid'
to relu6(x + 3) / 6, and tensorflow/models#13559 reports that Hub's A0-Stream and the source
built from the same checkpoint give different logits.

`alpha` starts at 1 (a plain residual block): TF and the port start it at 0 for their own
training; official checkpoints bring their trained values.

Everything that looks along time is causal: temporal convolutions pad only at the front, the
SE's running average covers frames 0..t, and the classifier reads the average over the
frames so far. So the whole-clip model's logits equal those of the streaming model after the
clip's last frame, and both share one state dict.

Streaming (`*_stream`): `forward(video, *state)` consumes the frames of `video` (one per
call on a device: (B, 1, 3, H, W)) and returns `(logits, *new_state)`. The state tensors
are explicit inputs and outputs so the step exports as a plain graph:
  frame_count (1,)                        frames seen so far
  <block>_conv_frames (B, C, kt-1, h, w)  the last kt-1 inputs of a temporal conv (kt > 1),
                                          at the block's output size
  <block>_se_sum (B, C, 1, 1, 1)          running sum of the SE's per-frame averages
  head_sum (B, C)                         running sum of the classifier's per-frame averages
in `model.state_names` order (the card lists names and shapes at the default size).
`model.init_state(batch)` gives the zero state of a fresh stream. Called without state,
the streaming model returns logits only, those of a fresh stream after the clip's last
frame, computed in the (identical) causal whole-clip form (what generic callers, exports
of a whole clip and FLOP counts expect).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from mobilekit.models.layers import ClassificationHeads, same_padding
from mobilekit.models.registry import register_model

# stem channels, head channels, stages of (out channels, first-block stride,
# [(expanded channels, temporal kernel, spatial kernel), ...]).
ARCHS = {
    "a0": dict(stem=8, head=480, stages=[
        (8, 2, [(24, 1, 5)]),
        (32, 2, [(80, 3, 3), (80, 3, 3), (80, 3, 3)]),
        (56, 2, [(184, 5, 3), (112, 3, 3), (184, 3, 3)]),
        (56, 1, [(184, 5, 3), (184, 3, 3), (184, 3, 3), (184, 3, 3)]),
        (104, 2, [(384, 5, 3), (280, 1, 5), (280, 1, 5), (344, 1, 5)]),
    ]),
    "a2": dict(stem=16, head=640, stages=[
        (16, 2, [(40, 1, 5), (40, 3, 3), (64, 3, 3)]),
        (40, 2, [(96, 3, 3), (120, 3, 3), (96, 3, 3), (96, 3, 3), (120, 3, 3)]),
        (72, 2, [(240, 5, 3), (160, 3, 3), (240, 3, 3), (192, 3, 3), (240, 3, 3)]),
        (72, 1, [(240, 5, 3), (240, 3, 3), (240, 3, 3), (240, 3, 3), (144, 1, 5), (240, 3, 3)]),
        (144, 2, [(480, 5, 3), (384, 1, 5), (384, 1, 5), (480, 1, 5), (480, 1, 5), (480, 3, 3),
                  (576, 1, 3)]),
    ]),
}
HIDDEN = 2048
BN_EPS = 1e-3
SE_RATIO = 0.25


def _blocks(arch: dict, image_size: int):
    """(name, in, out, expanded, kt, k, stride, input side) for every block."""
    side, cin = math.ceil(image_size / 2), arch["stem"]
    for si, (cout, stride, layers) in enumerate(arch["stages"]):
        for li, (exp, kt, k) in enumerate(layers):
            s = stride if li == 0 else 1
            yield f"b{si}_l{li}", cin, cout, exp, kt, k, s, side
            side, cin = math.ceil(side / s), cout


def stream_state_spec(arch: dict, image_size: int, batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
    """Names and shapes of the streaming state, in input/output order."""
    spec = [("frame_count", (1,))]
    for name, _, _, exp, kt, _, s, side in _blocks(arch, image_size):
        if kt > 1:  # the temporal conv follows the (strided) spatial one
            out = math.ceil(side / s)
            spec.append((f"{name}_conv_frames", (batch, exp, kt - 1, out, out)))
        spec.append((f"{name}_se_sum", (batch, exp, 1, 1, 1)))
    spec.append(("head_sum", (batch, arch["head"])))
    return spec


def _make_divisible(v: float, divisor: int = 8) -> int:
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


def pad_same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero-pad (B, C, T, H, W) as 'same' does, on a (B, C*T, H, W) view (an explicit 4-D pad
    every target takes; XNNPACK has no asymmetric implicit padding)."""
    b, c, t, h, w = x.shape
    top, bottom = same_padding(h, kernel, stride)
    left, right = same_padding(w, kernel, stride)
    y = F.pad(x.reshape(b, c * t, h, w), (left, right, top, bottom))
    return y.reshape(b, c, t, y.shape[2], y.shape[3])


def spatial_mean(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C, T, 1, 1), as a keepdim 4-D mean over (2, 3)."""
    b, c, t, h, w = x.shape
    return x.reshape(b, c * t, h, w).mean((2, 3), keepdim=True).reshape(b, c, t, 1, 1)


def causal_mean(x: torch.Tensor) -> torch.Tensor:
    """Average over frames 0..t for every t of (B, C, T, 1, 1)."""
    t = x.shape[2]
    counts = torch.arange(1, t + 1, dtype=x.dtype, device=x.device).reshape(1, 1, t, 1, 1)
    return x.cumsum(2) / counts


class CausalMean(nn.Module):
    """Average over frames 0..t for every t of (B, C, T, 1, 1).

    At the clip length the model was built for, this is a Linear over time with a constant
    lower-triangular averaging matrix, which XNNPACK delegates (cumsum and arange it does
    not); other lengths fall back to cumsum. One frame (the streaming models' clip) is the
    identity, returned as is: the 1x1 Linear there makes litert-torch 0.10 emit a tfl.batch_matmul
    of rank 4-5 that its verifier rejects ("found invalid output rank, expected 3")."""

    def __init__(self, num_frames: int):
        super().__init__()
        counts = torch.arange(1, num_frames + 1, dtype=torch.float32)
        self.register_buffer("weight", torch.ones(num_frames, num_frames).tril() / counts[:, None],
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape[:3]
        if t == 1:   # the average over frame 0 alone, exactly (x * 1 / 1)
            return x
        if t == self.weight.shape[0]:
            return F.linear(x.reshape(b, c, t), self.weight).reshape(b, c, t, 1, 1)
        return causal_mean(x)


class HardSigmoid(nn.Module):
    """clip(0.2 x + 0.5, 0, 1), Keras 2's hard_sigmoid: the released Stream models' SE gate
    (see the module docstring); torch's nn.Hardsigmoid is relu6(x + 3) / 6."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardtanh(x * 0.2 + 0.5, 0.0, 1.0)


def _pool_scale(h: int, w: int, stride: int) -> torch.Tensor:
    """9 / (pixels of each 3x3 window inside the frame) for a 'same'-padded pool's output:
    turns the zero-padded average into TensorFlow's average over the frame's pixels."""
    def per_side(size: int) -> list[float]:
        before, _ = same_padding(size, 3, stride)
        outs = math.ceil(size / stride)
        return [3.0 / (min(i * stride + 3, before + size) - max(i * stride, before)) for i in range(outs)]
    return torch.tensor(per_side(h))[:, None] * torch.tensor(per_side(w))[None, :]


class SamePadAvgPool(nn.Module):
    """AvgPool (1, 3, 3) with a spatial stride and TensorFlow's 'same' padding, which averages
    only the pixels inside the frame. Computed as a 2-D pool over an explicitly zero-padded
    (B, C*T, H, W) view times a constant correction at the edges (ExecuTorch's runtime has no
    avg_pool3d; XNNPACK takes neither implicit padding nor count_include_pad=False)."""

    def __init__(self, stride: int, side: int):
        super().__init__()
        self.stride = stride
        self.pool = nn.AvgPool2d(3, stride)
        # For the input side the model is built for; other sides compute theirs.
        self.register_buffer("scale", _pool_scale(side, side, stride), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        y = self.pool(pad_same(x, 3, self.stride).flatten(1, 2))
        scale = self.scale
        if tuple(scale.shape) != tuple(y.shape[-2:]):
            scale = _pool_scale(h, w, self.stride).to(y)
        return (y * scale).reshape(b, c, t, y.shape[2], y.shape[3])


class ConvBN(nn.Module):
    """Conv3d (1, k, k) (depthwise with groups=channels) + BN (+ hard swish). A spatial stride
    pads as TensorFlow's 'same'; stride 1 (odd k) is the symmetric k // 2 either way."""

    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        self.k, self.stride = k, stride
        pad = 0 if stride > 1 else k // 2
        self.conv = nn.Conv3d(cin, cout, (1, k, k), (1, stride, stride), (0, pad, pad), groups=groups, bias=False)
        self.norm = nn.BatchNorm3d(cout, eps=BN_EPS)
        self.act = nn.Hardswish() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = pad_same(x, self.k, self.stride)
        return self.act(self.norm(self.conv(x)))


class CausalTemporalConvBN(nn.Module):
    """Depthwise Conv3d (kt, 1, 1) that only looks back in time + BN + hard swish (the temporal
    half of the '2plus1d' feature conv, with its own BN).

    Clip: kt-1 zero frames are padded in front. Stream: the last kt-1 input frames are the
    state `<key>` and are concatenated in front of the new frame instead."""

    def __init__(self, channels: int, kt: int):
        super().__init__()
        self.kt = kt
        self.conv = nn.Conv3d(channels, channels, (kt, 1, 1), groups=channels, bias=False)
        self.norm = nn.BatchNorm3d(channels, eps=BN_EPS)
        self.act = nn.Hardswish()
        self.state_key: str | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(F.pad(x, (0, 0, 0, 0, self.kt - 1, 0)))))

    def step(self, x: torch.Tensor, state: dict, new: dict) -> torch.Tensor:
        x = torch.cat([state[self.state_key], x], dim=2)
        new[self.state_key] = x[:, :, 1:]
        return self.act(self.norm(self.conv(x)))


class CausalSqueezeExcite(nn.Module):
    """The official '2plus3d' causal SE: the average over the frames so far and this frame's
    average, concatenated (2C), squeeze to make_divisible(2C / 4), hard swish, back to C,
    hard sigmoid gate."""

    def __init__(self, channels: int, num_frames: int):
        super().__init__()
        squeeze = _make_divisible(SE_RATIO * channels * 2)
        self.causal_mean = CausalMean(num_frames)
        self.fc1 = nn.Conv3d(2 * channels, squeeze, 1)
        self.act = nn.Hardswish()
        self.fc2 = nn.Conv3d(squeeze, channels, 1)
        self.gate = HardSigmoid()
        self.state_key: str | None = None

    def _scale(self, so_far: torch.Tensor, now: torch.Tensor) -> torch.Tensor:
        return self.gate(self.fc2(self.act(self.fc1(torch.cat([so_far, now], dim=1)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        now = spatial_mean(x)
        so_far = self.causal_mean(now)
        if so_far is now:  # one frame: XNNPACK 1.5.1 refuses a cat of one tensor with itself
            so_far = now * 1.0
        return x * self._scale(so_far, now)

    def step(self, x: torch.Tensor, state: dict, new: dict) -> torch.Tensor:
        now = spatial_mean(x)
        total = state[self.state_key] + now
        new[self.state_key] = total
        return x * self._scale(total / new["frame_count"], now)


class MoViNetBlock(nn.Module):
    def __init__(self, cin: int, cout: int, expanded: int, kt: int, k: int, stride: int,
                 num_frames: int, side: int):
        super().__init__()
        self.expand = ConvBN(cin, expanded)
        self.conv = ConvBN(expanded, expanded, k, stride, groups=expanded)
        self.conv_t = CausalTemporalConvBN(expanded, kt) if kt > 1 else None
        self.se = CausalSqueezeExcite(expanded, num_frames)
        self.project = ConvBN(expanded, cout, act=False)
        self.alpha = nn.Parameter(torch.ones(()))   # ReZero scale of the residual branch
        self.shortcut = None
        if stride != 1 or cin != cout:
            pool = SamePadAvgPool(stride, side) if stride != 1 else nn.Identity()
            self.shortcut = nn.Sequential(OrderedDict(pool=pool, proj=ConvBN(cin, cout, act=False)))

    def _join(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x if self.shortcut is None else self.shortcut(x)) + self.alpha * self.project(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(self.expand(x))
        if self.conv_t is not None:
            y = self.conv_t(y)
        return self._join(x, self.se(y))

    def step(self, x: torch.Tensor, state: dict, new: dict) -> torch.Tensor:
        y = self.conv(self.expand(x))
        if self.conv_t is not None:
            y = self.conv_t.step(y, state, new)
        return self._join(x, self.se.step(y, state, new))


class MoViNet(nn.Module):
    def __init__(self, arch: str, num_classes, num_frames: int, image_size: int,
                 streaming: bool = False, dropout: float = 0.2, stages: list | None = None):
        super().__init__()
        # `stages` replaces the arch's stage table (same format as ARCHS; smaller variants, tests).
        cfg = ARCHS[arch] if stages is None else dict(ARCHS[arch], stages=[tuple(s) for s in stages])
        self.arch, self.streaming, self.image_size = arch, streaming, image_size
        self.num_frames = num_frames
        self.stem = ConvBN(3, cfg["stem"], 3, stride=2)
        blocks, cout = OrderedDict(), cfg["stem"]
        for name, cin, cout, exp, kt, k, s, side in _blocks(cfg, image_size):
            blocks[name] = MoViNetBlock(cin, cout, exp, kt, k, s, num_frames, side)
            if kt > 1:
                blocks[name].conv_t.state_key = f"{name}_conv_frames"
            blocks[name].se.state_key = f"{name}_se_sum"
        self.blocks = nn.Sequential(blocks)
        self.head_conv = ConvBN(cout, cfg["head"])
        self.hidden = nn.Linear(cfg["head"], HIDDEN)
        self.hidden_act = nn.SiLU()
        self.head = ClassificationHeads(HIDDEN, num_classes, dropout=dropout)
        self._state_spec = stream_state_spec(cfg, image_size)
        self.state_names = [n for n, _ in self._state_spec]

    def init_state(self, batch: int = 1, device=None, dtype=torch.float32) -> tuple[torch.Tensor, ...]:
        """The zero state of a fresh stream, in `state_names` order."""
        return tuple(torch.zeros((batch,) + shape[1:] if len(shape) > 1 else shape, device=device, dtype=dtype)
                     for _, shape in self._state_spec)

    def _classify(self, pooled: torch.Tensor):
        return self.head(self.hidden_act(self.hidden(pooled)))

    def _clip(self, video: torch.Tensor):
        x = self.head_conv(self.blocks(self.stem(video.transpose(1, 2))))
        b, c, t, h, w = x.shape
        # The cumulative average after the last frame is the plain average over the clip.
        pooled = x.reshape(b, c, t * h, w).mean((2, 3), keepdim=True).flatten(1)
        return self._classify(pooled)

    def _step(self, frame: torch.Tensor, state: dict) -> tuple:
        new = {"frame_count": state["frame_count"] + 1}
        x = self.stem(frame.transpose(1, 2))
        for block in self.blocks:
            x = block.step(x, state, new)
        x = self.head_conv(x)
        now = spatial_mean(x).flatten(1)
        new["head_sum"] = state["head_sum"] + now
        return self._classify(new["head_sum"] / new["frame_count"]), new

    def step(self, frame: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One frame (B, 1, 3, H, W) and the state in `state_names` order -> (logits, *new state):
        the streaming step, of either form (they share weights; converters/streaming.py exports it)."""
        current = dict(zip(self.state_names, state))
        logits, current = self._step(frame, current)
        return (logits, *(current[n] for n in self.state_names))

    def forward(self, video: torch.Tensor, *state: torch.Tensor):
        if video.dim() != 5:
            raise ValueError(f"expected a (B, T, 3, H, W) clip, got shape {tuple(video.shape)}")
        if not self.streaming:
            if state:
                raise ValueError("the whole-clip MoViNet takes no state; use the *_stream model to stream")
            return self._clip(video)
        if video.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"this streaming model was built for {self.image_size}x{self.image_size} frames, "
                             f"got {tuple(video.shape[-2:])}; create it with image_size={video.shape[-1]}")
        if not state:
            # From a fresh (zero) state, the stream's logits after the last frame are the
            # causal whole-clip model's: zero frames in front of each temporal conv are its
            # causal padding, and the running sums over frames 0..t are its cumulative means.
            # The clip form exports without zero-state constants (aten.full, which XNNPACK
            # does not take) or per-frame loops.
            return self._clip(video)
        if len(state) != len(self.state_names):
            raise ValueError(f"expected {len(self.state_names)} state tensors ({', '.join(self.state_names[:3])}, "
                             f"...), got {len(state)}; start from model.init_state()")
        current = dict(zip(self.state_names, state))
        for t in range(video.shape[1]):
            logits, current = self._step(video[:, t:t + 1], current)
        return (logits, *(current[n] for n in self.state_names))


def _stream_card(arch: str, image_size: int) -> dict:
    return {"streaming": {
        "inputs": "video (B, 1, 3, H, W): one frame, then the state tensors below",
        "outputs": "logits (B, classes), then the updated state tensors in the same order",
        "init": "zeros (model.init_state(batch)); frame_count counts frames seen so far",
        "state_at_default_size": [{"name": n, "shape": list(s)} for n, s in stream_state_spec(ARCHS[arch], image_size)],
    }}


_PAPER = "MoViNet (Kondratyuk et al. 2021), official causal (Stream) form; paper 001 Table 1"
_SIZES = {"a0": 172, "a2": 224}   # the official input sizes of A0 and A2
# Paper 001 counts the base models (3-D SE of C -> C/4); the Stream form's 2+3-D SE squeezes 2C
# to C/2, which the released Stream weights have (3.75M / 7.33M with their 600 classes).
_PARAMS = {"a0": "2.7M (paper 001 Table 4, the base model); the Stream form here: 3.34M",
           "a2": "4.8M (paper 001 Table 4, the base model); the Stream form here: 6.92M"}


def _register(arch: str) -> None:
    upper = arch.upper()

    @register_model(name=f"movinet_{arch}", family="movinet", paper=_PAPER, num_frames=16,
                    image_size=_SIZES[arch], paper_params=_PARAMS[arch],
                    description=f"MoViNet-{upper}, causal, whole clip (same weights as movinet_{arch}_stream)")
    def clip(num_classes, num_frames, image_size, **kw):
        return MoViNet(arch, num_classes, num_frames, image_size, **kw)

    @register_model(name=f"movinet_{arch}_stream", family="movinet", paper=_PAPER, num_frames=1,
                    image_size=_SIZES[arch], paper_params=_PARAMS[arch], frame_sampling="consecutive",
                    description=f"MoViNet-{upper}-Stream: one frame per call, state in and out",
                    extra=_stream_card(arch, _SIZES[arch]))
    def stream(num_classes, num_frames, image_size, **kw):
        return MoViNet(arch, num_classes, num_frames, image_size, streaming=True, **kw)


for _arch in ARCHS:
    _register(_arch)
