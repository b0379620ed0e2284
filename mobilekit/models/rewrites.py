"""Graph-preserving module rewrites that make a model fit a target's accelerated path.

Each rewrite keeps the parameters (same names, same tensors) and the numbers; converters
apply them for the targets that need them and record which in the manifest.
"""

from __future__ import annotations

import torch
from torch import nn


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
    count = 0
    for module in model.modules():
        if type(module) is nn.LayerNorm:
            module.__class__ = DecomposedLayerNorm
            count += 1
    return count
