"""EfficientViT-B (Cai et al., ICCV 2023) in plain PyTorch, with the module names of the
authors' code (mit-han-lab/efficientvit), so their ImageNet checkpoints load by key:
backbone.input_stem.op_list.*, backbone.stages.{i}.op_list.*, head.op_list.*.

`inflate_to_3d` turns the network into its I3D-inflated 3D version for clips of a fixed
length (see the end of this file).

Deviations from the reference, all the same function:
- ReLU linear attention is always computed in its linear form; the reference switches to the
  quadratic form when H*W <= head dim, which is the same function (cheaper there).
- the attention is rescaled to stay inside fp16's range (Core ML runs the whole graph in
  fp16; the reference only protects it under autocast, by computing it in fp32). The output
  out_n = sum_m v_m (k_m.q_n) / sum_m (k_m.q_n) does not change when q_n is scaled per token
  or k by a constant, so q_n is divided by its sum over the head dim and k by the token count:
  the denominator becomes a weighted mean of k (<= max k) and the numerator <= max|v| max k,
  instead of sums over up to thousands of tokens (the 3D model at 16x224x224 has 3136 per
  head in stage 3) that overflow 65504. In place of the reference's `+ 1e-15` (0 in fp16, so
  a head whose ReLU(q) is all zero gives 0/0 = NaN) both divisors are clamped at 1e-4, a
  normal fp16 number: dead tokens give 0, every other token the exact ratio. Scale-free
  terms also keep I3D's defining property exact: the inflated model on a clip of identical
  frames equals the 2D model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION_EPS = 1e-4


def _act(name: str | None) -> nn.Module | None:
    return {"hswish": nn.Hardswish(), "relu": nn.ReLU(), None: None}[name]


class ConvLayer(nn.Module):
    """conv -> optional BN -> optional activation ("same" padding)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, use_bias: bool = False, norm: bool = True, act: str | None = None):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                              groups=groups, bias=use_bias)
        self.norm = nn.BatchNorm2d(out_channels) if norm else None
        self.act = _act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        return x


class DSConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, act: str = "hswish"):
        super().__init__()
        self.depth_conv = ConvLayer(in_channels, in_channels, 3, stride, groups=in_channels, act=act)
        self.point_conv = ConvLayer(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point_conv(self.depth_conv(x))


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> 3x3 depthwise -> 1x1 project. `fewer_norm` (the
    reference's setting in attention stages) uses biases instead of BN on the first two."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, expand_ratio: float = 4,
                 act: str = "hswish", fewer_norm: bool = False):
        super().__init__()
        mid = round(in_channels * expand_ratio)
        self.inverted_conv = ConvLayer(in_channels, mid, 1, use_bias=fewer_norm, norm=not fewer_norm, act=act)
        self.depth_conv = ConvLayer(mid, mid, 3, stride, groups=mid, use_bias=fewer_norm,
                                    norm=not fewer_norm, act=act)
        self.point_conv = ConvLayer(mid, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point_conv(self.depth_conv(self.inverted_conv(x)))


class IdentityLayer(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class ResidualBlock(nn.Module):
    def __init__(self, main: nn.Module, shortcut: nn.Module | None):
        super().__init__()
        self.main = main
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) if self.shortcut is None else self.main(x) + self.shortcut(x)


class OpSequential(nn.Module):
    def __init__(self, ops: list[nn.Module]):
        super().__init__()
        self.op_list = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for op in self.op_list:
            x = op(x)
        return x


def relu_linear_attention(qkv: torch.Tensor, dim: int, eps: float = ATTENTION_EPS) -> torch.Tensor:
    """ReLU linear attention. qkv (B, G*3*dim, *S) -> (B, G*dim, *S), G groups (heads x scales).

    out_n = sum_m v_m (k_m . q_n) / sum_m (k_m . q_n) with q, k = ReLU(q), ReLU(k), computed as
    (V K^T) Q in O(N dim^2), v padded with a row of ones so one bmm gives numerator and
    denominator; q normalised per token and k by N to stay in fp16 range (module docstring).
    3-D bmm with heads folded into the batch, and the 4-D keepdim mean over (2, 3): all
    delegable to XNNPACK.
    """
    b, _, *spatial = qkv.shape
    n = 1
    for s in spatial:
        n *= s
    qkv = qkv.reshape(b, -1, 3 * dim, n)
    g = qkv.shape[1]
    q = torch.relu(qkv[:, :, :dim]).reshape(b * g, dim, n)
    q_mean = q.transpose(1, 2).reshape(b * g, n, dim, 1).mean((2, 3), keepdim=True).reshape(b * g, 1, n)
    # float(dim): an int scalar would be lifted as an int64 constant plus a cast to float
    # (dim_order_ops._to_dim_order_copy), which XNNPACK does not delegate.
    q = q / (q_mean.clamp_min(eps / dim) * float(dim))        # each token's q sums to 1
    k = torch.relu(qkv[:, :, dim:2 * dim]).reshape(b * g, dim, n) * (1.0 / n)
    v = F.pad(qkv[:, :, 2 * dim:].reshape(b * g, dim, n), (0, 0, 0, 1), mode="constant", value=1.0)
    vk = torch.bmm(v, k.transpose(1, 2))                      # (BG, dim+1, dim)
    out = torch.bmm(vk, q)                                    # (BG, dim+1, N)
    out = out[:, :dim] / out[:, dim:].clamp_min(eps)
    return out.reshape(b, g * dim, *spatial)


class LiteMLA(nn.Module):
    """Lightweight multi-scale linear attention: q/k/v from a 1x1 conv, plus 5x5 depthwise +
    grouped 1x1 aggregated copies (multi-scale tokens), ReLU linear attention per head, 1x1
    projection with BN."""

    num_frames: int | None = None   # set by inflate_to_3d: attend over the tokens of all frames

    def __init__(self, in_channels: int, out_channels: int, dim: int = 16, scales: tuple[int, ...] = (5,),
                 eps: float = ATTENTION_EPS):
        super().__init__()
        heads = in_channels // dim
        total = heads * dim
        self.dim = dim
        self.eps = eps
        self.qkv = ConvLayer(in_channels, 3 * total, 1, norm=False)
        self.aggreg = nn.ModuleList([
            nn.Sequential(
                nn.Conv2d(3 * total, 3 * total, s, padding=s // 2, groups=3 * total, bias=False),
                nn.Conv2d(3 * total, 3 * total, 1, groups=3 * heads, bias=False))
            for s in scales])
        self.kernel_func = nn.ReLU()   # kept for the reference's module layout; applied in the attention
        self.proj = ConvLayer(total * (1 + len(scales)), out_channels, 1)

    def attention(self, qkv: torch.Tensor) -> torch.Tensor:
        device = qkv.device.type
        if device != "meta" and torch.is_autocast_enabled(device):
            # As the reference: the sums over all tokens run in fp32 under mixed precision.
            with torch.autocast(device_type=device, enabled=False):
                return relu_linear_attention(qkv.float(), self.dim, self.eps)
        return relu_linear_attention(qkv, self.dim, self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        qkv = self.qkv(x)
        qkv = torch.cat([qkv] + [op(qkv) for op in self.aggreg], dim=1)
        if self.num_frames is None:
            return self.proj(self.attention(qkv))
        # (B*T, G*3d, H, W) -> (B, G*3d, T, H*W): one token set per clip, heads kept apart.
        nt, ch, h, w = qkv.shape
        t = self.num_frames
        clip = qkv.reshape(nt // t, t, ch, h * w).transpose(1, 2)
        out = self.attention(clip)                                  # (B, G*d, T, H*W)
        out = out.transpose(1, 2).reshape(nt, out.shape[1], h, w)
        return self.proj(out)


class EfficientViTBlock(nn.Module):
    def __init__(self, in_channels: int, dim: int = 16, expand_ratio: float = 4, act: str = "hswish"):
        super().__init__()
        self.context_module = ResidualBlock(LiteMLA(in_channels, in_channels, dim), IdentityLayer())
        self.local_module = ResidualBlock(
            MBConv(in_channels, in_channels, expand_ratio=expand_ratio, act=act, fewer_norm=True),
            IdentityLayer())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.local_module(self.context_module(x))


class EfficientViTBackbone(nn.Module):
    """Input stem (stride 2) + 4 stages (stride 2 each): two MBConv stages, two stages of an
    MBConv downsample followed by EfficientViT blocks. Output stride 32."""

    stride = 32

    def __init__(self, width_list: list[int], depth_list: list[int], dim: int = 16,
                 expand_ratio: float = 4, act: str = "hswish"):
        super().__init__()
        w0 = width_list[0]
        stem: list[nn.Module] = [ConvLayer(3, w0, 3, 2, act=act)]
        stem += [ResidualBlock(DSConv(w0, w0, 1, act), IdentityLayer()) for _ in range(depth_list[0])]
        self.input_stem = OpSequential(stem)
        c = w0
        stages = []
        for w, d in zip(width_list[1:3], depth_list[1:3]):
            ops = []
            for i in range(d):
                ops.append(ResidualBlock(MBConv(c, w, 2 if i == 0 else 1, expand_ratio, act),
                                         None if i == 0 else IdentityLayer()))
                c = w
            stages.append(OpSequential(ops))
        for w, d in zip(width_list[3:], depth_list[3:]):
            ops = [ResidualBlock(MBConv(c, w, 2, expand_ratio, act, fewer_norm=True), None)]
            c = w
            ops += [EfficientViTBlock(c, dim, expand_ratio, act) for _ in range(d)]
            stages.append(OpSequential(ops))
        self.stages = nn.ModuleList(stages)
        self.num_features = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_stem(x)
        for stage in self.stages:
            x = stage(x)
        return x


class GlobalAvgPool(nn.Module):
    """(N, C, H, W) -> (N, C) in the keepdim mean-over-(2, 3) form that XNNPACK delegates.
    Once inflated (`num_frames` set), N = B*T and the frames are averaged too -> (B, C)."""

    num_frames: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.mean((2, 3), keepdim=True).flatten(1)
        if self.num_frames is None:
            return x
        nt, c = x.shape
        t = self.num_frames
        return x.reshape(nt // t, t, c).transpose(1, 2).unsqueeze(-1).mean((2, 3), keepdim=True).flatten(1)


class LinearLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, use_bias: bool = True, dropout: float = 0.0,
                 norm: bool = False, act: str | None = None):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.linear = nn.Linear(in_features, out_features, use_bias)
        self.norm = nn.LayerNorm(out_features) if norm else None
        self.act = _act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dropout is not None:
            x = self.dropout(x)
        x = self.linear(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        return x


class ClsHead(OpSequential):
    """The reference classification head: 1x1 conv + BN + hswish, global pool, Linear + LN +
    hswish, dropout + Linear to the classes."""

    def __init__(self, in_channels: int, width_list: tuple[int, int], num_classes: int,
                 dropout: float = 0.0, act: str = "hswish"):
        super().__init__([
            ConvLayer(in_channels, width_list[0], 1, act=act),
            GlobalAvgPool(),
            LinearLayer(width_list[0], width_list[1], False, norm=True, act=act),
            LinearLayer(width_list[1], num_classes, True, dropout),
        ])


def efficientvit_b1() -> EfficientViTBackbone:
    return EfficientViTBackbone([16, 32, 64, 128, 256], [1, 2, 3, 3, 4], dim=16, expand_ratio=4)


B1_HEAD_WIDTHS = (1536, 1600)


# ---- I3D inflation: the same network with every 2D conv made 3D -------------------------
#
# The inflated network keeps its activations in the frames-in-batch layout (B*T, C, H, W) of
# the 2D network, and mixes frames only where the 3D network does: in the inflated convs
# (T_k taps in time) and in the attention (tokens over T*H*W). A T_k x k x k conv is computed
# as one 2D conv over the T_k time-shifted copies of the frames, stacked along channels, so
# the graph holds only conv2d with constant weights: XNNPACK and ExecuTorch's portable kernels
# have no conv3d (and XNNPACK delegates a conv only when its weight is a parameter, not a view
# of one), Core ML takes tensors up to rank 5. BN on (B*T, C, H, W) is BatchNorm2d: the same
# statistics as BatchNorm3d on (B, C, T, H, W), the same state-dict keys.

class TemporalConv3d(nn.Conv2d):
    """A 3D conv (T_k x k x k) inflated from a Conv2d, run on (B*T, C, H, W), T = `num_frames`.

    The kernel is stored with its time taps folded into the input channels, channel-major and
    tap-minor: weight (O, C/groups * T_k, k, k) is the (O, C/groups, T_k, k, k) kernel of a
    Conv3d (`kernel_3d`) reshaped, which keeps every group's taps together. Temporal stride 1
    and temporal 'replicate' padding (edge frames repeated); spatial padding as in 2D.
    Replicate padding keeps the defining property of I3D inflation at the clip's ends too: on
    a clip of identical frames every frame sees identical taps, so the inflated network
    computes exactly what the 2D network computes on one frame."""

    def __init__(self, conv: nn.Conv2d, temporal_kernel: int, num_frames: int):
        super().__init__(conv.in_channels * temporal_kernel, conv.out_channels, conv.kernel_size,
                         conv.stride, conv.padding, groups=conv.groups, bias=conv.bias is not None,
                         device=conv.weight.device, dtype=conv.weight.dtype)
        self.temporal_kernel = temporal_kernel
        self.num_frames = num_frames

    @property
    def kernel_3d(self) -> torch.Tensor:
        """The weight as a Conv3d kernel (O, C/groups, T_k, k, k)."""
        o, ckt, kh, kw = self.weight.shape
        return self.weight.reshape(o, ckt // self.temporal_kernel, self.temporal_kernel, kh, kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kt = self.temporal_kernel
        if kt > 1:
            nt, c, h, w = x.shape
            t, p = self.num_frames, kt // 2
            frames = x.reshape(nt // t, t, c, h, w)
            frames = torch.cat([frames[:, :1]] * p + [frames] + [frames[:, -1:]] * p, dim=1)
            # (B*T, C, kt, H, W) -> (B*T, C*kt, H, W): channel-major, tap-minor like the weight.
            taps = torch.stack([frames[:, j:j + t].reshape(nt, c, h, w) for j in range(kt)], dim=2)
            x = taps.reshape(nt, c * kt, h, w)
        return super().forward(x)


def temporal_kernel_for(kernel_size: int, temporal_kernel: int) -> int:
    """Spatial kernels (3x3, 5x5) get `temporal_kernel` taps in time; 1x1 convs stay 1x1x1."""
    return temporal_kernel if kernel_size > 1 else 1


def inflate_to_3d(module: nn.Module, num_frames: int, temporal_kernel: int = 3) -> nn.Module:
    """Make a 2D EfficientViT module 3D (in place) for clips of `num_frames` frames: every
    Conv2d becomes a TemporalConv3d, the attention attends over all frames' tokens, the
    global pool averages over frames too. Parameter names do not change, so 2D checkpoints
    map key by key (with `inflate_state_dict`)."""
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d) and not isinstance(child, TemporalConv3d):
            kt = temporal_kernel_for(child.kernel_size[0], temporal_kernel)
            setattr(module, name, TemporalConv3d(child, kt, num_frames))
        else:
            if isinstance(child, (LiteMLA, GlobalAvgPool)):
                child.num_frames = num_frames
            inflate_to_3d(child, num_frames, temporal_kernel)
    return module


def inflate_state_dict(state_2d: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inflate 2D conv weights to the shapes of `target` (an inflated model's state dict), as
    in I3D: the kernel is copied T_k times along time and divided by T_k, so a clip of
    identical frames gives the 2D response (stored folded, see TemporalConv3d). Other tensors
    pass through."""
    out = {}
    for key, w in state_2d.items():
        t = target.get(key)
        if (t is not None and w.dim() == 4 and t.dim() == 4 and t.shape[1] != w.shape[1]
                and t.shape[1] % w.shape[1] == 0 and t.shape[0] == w.shape[0] and t.shape[2:] == w.shape[2:]):
            kt = t.shape[1] // w.shape[1]
            w = (w.unsqueeze(2).repeat(1, 1, kt, 1, 1) / kt).reshape(t.shape)
        out[key] = w
    return out
