"""Graph-preserving module rewrites that make a model fit a target's accelerated path.

Each rewrite keeps the parameters (same names, same tensors) and the numbers. Which target
needs which is the backends' business (converters/backends: `Target.rewrites`); the
converters apply them and record which in the manifest.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _retype(model: nn.Module, cls: type, new_cls: type) -> int:
    """Give every module of exactly type `cls` the subclass `new_cls` (in place: same
    parameters and buffers, so state dicts are unchanged). Returns the count."""
    count = 0
    for module in model.modules():
        if type(module) is cls:
            module.__class__ = new_cls
            count += 1
    return count


class DecomposedLayerNorm(nn.LayerNorm):
    """LayerNorm over the last dim written as 4-D means over dims (2, 3) + rsqrt.

    ExecuTorch 1.5.1's XNNPACK partitioner never delegates native_layer_norm, but it does
    delegate a keepdim 4-D mean over (2, 3) (as global average pooling), sub, mul and rsqrt.
    Same parameters as nn.LayerNorm, so state dicts are unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.normalized_shape) != 1:
            return super().forward(x)
        shape = x.shape
        x4 = x.reshape(-1, 1, shape[-1], 1) if x.dim() != 3 else x.reshape(shape[0], shape[1], shape[2], 1)
        mu = x4.mean((2, 3), keepdim=True)
        d = x4 - mu
        var = (d * d).mean((2, 3), keepdim=True)
        y = (d * torch.rsqrt(var + self.eps)).reshape(shape)
        if self.elementwise_affine:
            y = y * self.weight
            if self.bias is not None:
                y = y + self.bias
        return y


def decompose_layer_norms(model: nn.Module) -> int:
    """Swap every nn.LayerNorm in `model` (in place) for DecomposedLayerNorm. Returns the count."""
    return _retype(model, nn.LayerNorm, DecomposedLayerNorm)


class SiLUAsSigmoidMul(nn.SiLU):
    """SiLU written as x * sigmoid(x): the same numbers, in the two ops int8 backends have.

    XNNPACK has no SiLU kernel, so a quantized graph runs an nn.SiLU as dequantize -> fp32
    sigmoid and mul -> quantize. Split, the sigmoid can be an int8 lookup table and the mul
    an int8 mul (converters/backends/executorch/quantize.py annotates both). No parameters.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


def split_silu(model: nn.Module) -> int:
    """Swap every nn.SiLU in `model` (in place) for SiLUAsSigmoidMul. Returns the count."""
    return _retype(model, nn.SiLU, SiLUAsSigmoidMul)


class Conv3dAsConv2d(nn.Conv3d):
    """Conv3d computed as a sum of conv2d over time-shifted frames (one conv2d per temporal tap).

    XNNPACK and ExecuTorch's portable kernels have no conv3d; a (kt, kh, kw) conv3d equals the
    sum over taps i of conv2d(frames t*st + i*dt, weight[:, :, i]) (+ bias once). Temporal
    zero padding is F.pad, a temporal stride picks frames through a reshape (XNNPACK only
    delegates slices with step 1). Input and output keep the (B, C, T, H, W) layout, and the
    parameters are the Conv3d's own, so state dicts are unchanged.

    The per-tap kernels are non-persistent buffers (`tap_weight_<i>`, not in the state dict)
    cut from `weight` by `split_taps()`: XNNPACK delegates a conv2d only when its weight is a
    constant, and `weight[:, :, i]` in forward would be a select op on it. Call `split_taps()`
    again after changing `weight` (rewrite_conv3d does it for you).
    """

    def split_taps(self) -> None:
        with torch.no_grad():
            for i in range(self.kernel_size[0]):
                self.register_buffer(f"tap_weight_{i}", self.weight[:, :, i].detach().clone(), persistent=False)

    def _tap(self, i: int) -> torch.Tensor:
        tap = getattr(self, f"tap_weight_{i}", None)
        return self.weight[:, :, i] if tap is None else tap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != "zeros" or isinstance(self.padding, str) or x.dim() != 5:
            return super().forward(x)
        b, c, t, h, w = x.shape
        kt, st, pt, dt = self.kernel_size[0], self.stride[0], self.padding[0], self.dilation[0]
        t_out = (t + 2 * pt - dt * (kt - 1) - 1) // st + 1
        # (B, T, C, H, W): frames are rows, so a tap is a step-1 slice along dim 1.
        frames = x.transpose(1, 2)
        # Zeros in front (padding) and behind (padding, plus room for the stride reshape).
        behind = max(pt, dt * (kt - 1) + t_out * st - (t + pt))
        if pt or behind:
            frames = F.pad(frames, (0, 0, 0, 0, 0, 0, pt, behind))
        out = None
        for i in range(kt):
            start = i * dt
            # A slice over all frames would lower to alias_copy, which XNNPACK does not take.
            tap = frames if start == 0 and t_out * st == frames.shape[1] else frames[:, start:start + t_out * st]
            if st > 1:  # every st-th frame: (B, T', st*C, H, W) -> the first C channels of each group;
                # rank 5 at most, since Core ML refuses rank-6 tensors
                tap = tap.reshape(b, t_out, st * c, h, w)[:, :, :c]
            y = F.conv2d(tap.reshape(b * t_out, c, h, w), self._tap(i),
                         self.bias if i == 0 else None, self.stride[1:], self.padding[1:],
                         self.dilation[1:], self.groups)
            out = y if out is None else out + y
        return out.reshape(b, t_out, *out.shape[1:]).transpose(1, 2)


class BatchNorm3dAs2d(nn.BatchNorm3d):
    """BatchNorm3d in eval mode on a 4-D view (B, C, T*H, W): the same per-channel affine.

    XNNPACK takes batch norm on rank 2-4 inputs only (it fuses or decomposes it into a 2-D
    conv); training mode keeps nn.BatchNorm3d's behaviour (running statistics)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or x.dim() != 5:
            return super().forward(x)
        b, c, t, h, w = x.shape
        y = F.batch_norm(x.reshape(b, c, t * h, w), self.running_mean, self.running_var,
                         self.weight, self.bias, False, 0.0, self.eps)
        return y.reshape(b, c, t, h, w)


def rewrite_conv3d(model: nn.Module) -> int:
    """Swap every nn.Conv3d for Conv3dAsConv2d and every nn.BatchNorm3d for BatchNorm3dAs2d
    (in place). Returns the number of Conv3d modules rewritten."""
    count = 0
    for module in model.modules():
        if type(module) is nn.Conv3d:
            module.__class__ = Conv3dAsConv2d
            module.split_taps()
            count += 1
        elif type(module) is nn.BatchNorm3d:
            module.__class__ = BatchNorm3dAs2d
    return count


def freeze_weight_derived(model: nn.Module) -> int:
    """Call `freeze_for_export()` (in place) on every submodule that defines it. Returns the count.

    Some layers compute a tensor from weights alone in forward (Swin's relative-position bias
    gathered from its table, kernels reshaped per temporal tap). The result is the same for
    every input, but the gather / reshape ops it leaves in the graph are not delegated (XNNPACK)
    or fall to the CPU (Core ML). A module's `freeze_for_export()` precomputes such a tensor once
    into a buffer, numerically identical; it is applied to the converter's private copy only,
    since a frozen module no longer trains the weights behind it. Two rules learnt the hard way:
    make the buffer contiguous (ExecuTorch serialises a permuted view in a layout XNNPACK rejects
    at run time), and drop buffers the frozen forward no longer reads (ExecuTorch writes unused
    buffers into the .pte).
    """
    count = 0
    for module in model.modules():
        freeze = getattr(module, "freeze_for_export", None)
        if callable(freeze):
            freeze()
            count += 1
    return count


# What a backend may name in a target's `rewrites` (converters/backends): name -> rewrite.
MODULE_REWRITES = {fn.__name__: fn for fn in (freeze_weight_derived, decompose_layer_norms, rewrite_conv3d,
                                              split_silu)}
