"""X3D (Feichtenhofer 2020), the XS model as PyTorchVideo builds it (`create_x3d` with
input_clip_length=4, input_crop_size=160, depth_factor=2.2, width_factor=2.0,
bottleneck_factor=2.25, se_ratio=1/16).

stem: 1x3x3 conv (stride 2) then a depthwise 5x1x1 temporal conv, 24 channels, BN, ReLU.
res2..res5: widths 24/48/96/192, depths 3/5/11/7, inner width x2.25; each block is
1x1x1 -> depthwise 3x3x3 (spatial stride 2 in a stage's first block) -> SE (1/16, on every
other block, starting with the first) -> Swish -> 1x1x1, with a projected shortcut where
the shape changes, ReLU after the sum.
head: 1x1x1 conv to 432 + BN + ReLU, global average pool, 432 -> 2048 + ReLU, dropout, fc.

Poolings are written as 4-D means over (2, 3) (the delegable global-average-pool form):
(B, C, T, H, W) -> (B, C, T*H, W) first. Convolutions stay Conv3d; the conv3d -> conv2d
rewrite for targets without conv3d lives with the compat checks.
"""

from __future__ import annotations

import torch
from torch import nn

from mobilekit.models.layers import ClassificationHeads
from mobilekit.models.registry import register_model


def round_width(width: float, multiplier: float, min_width: int = 8, divisor: int = 8) -> int:
    """PyTorchVideo's (and X3D's) channel rounding: nearest multiple of 8, never down >10%."""
    width *= multiplier
    out = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if out < 0.9 * width:
        out += divisor
    return int(out)


def global_mean_5d(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C) mean, as a keepdim 4-D mean over (2, 3)."""
    b, c, t, h, w = x.shape
    return x.reshape(b, c, t * h, w).mean((2, 3), keepdim=True).flatten(1)


class SqueezeExcite(nn.Module):
    """Channel attention from the clip's global average (3-D SE of PyTorchVideo)."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.fc1 = nn.Linear(channels, reduced)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(reduced, channels)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.gate(self.fc2(self.act(self.fc1(global_mean_5d(x)))))
        return x * s.reshape(s.shape[0], s.shape[1], 1, 1, 1)


class X3DBlock(nn.Module):
    def __init__(self, dim_in: int, dim_inner: int, dim_out: int, stride: int, use_se: bool,
                 se_ratio: float):
        super().__init__()
        self.conv_a = nn.Conv3d(dim_in, dim_inner, 1, bias=False)
        self.norm_a = nn.BatchNorm3d(dim_inner)
        self.act_a = nn.ReLU()
        self.conv_b = nn.Conv3d(dim_inner, dim_inner, 3, (1, stride, stride), 1, groups=dim_inner, bias=False)
        self.norm_b = nn.BatchNorm3d(dim_inner)
        self.se = SqueezeExcite(dim_inner, round_width(dim_inner, se_ratio)) if use_se else nn.Identity()
        self.act_b = nn.SiLU()
        self.conv_c = nn.Conv3d(dim_inner, dim_out, 1, bias=False)
        self.norm_c = nn.BatchNorm3d(dim_out)
        self.shortcut = None
        if dim_in != dim_out or stride != 1:
            self.shortcut = nn.Sequential(nn.Conv3d(dim_in, dim_out, 1, (1, stride, stride), bias=False),
                                          nn.BatchNorm3d(dim_out))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act_a(self.norm_a(self.conv_a(x)))
        y = self.act_b(self.se(self.norm_b(self.conv_b(y))))
        y = self.norm_c(self.conv_c(y))
        return self.act(y + (x if self.shortcut is None else self.shortcut(x)))


class X3D(nn.Module):
    def __init__(self, num_classes, num_frames: int, image_size: int, *, stem_dim: int = 24,
                 stage_dims=(24, 48, 96, 192),
                 # ceil(2.2 x X3D's base depths 1/2/5/3)
                 stage_depths=(3, 5, 11, 7),
                 bottleneck_factor: float = 2.25, se_ratio: float = 1 / 16,
                 head_dim: int = 2048, dropout: float = 0.5):
        super().__init__()
        self.num_frames = num_frames
        self.stem = nn.Sequential(
            nn.Conv3d(3, stem_dim, (1, 3, 3), (1, 2, 2), (0, 1, 1), bias=False),
            nn.Conv3d(stem_dim, stem_dim, (5, 1, 1), 1, (2, 0, 0), groups=stem_dim, bias=False),
            nn.BatchNorm3d(stem_dim), nn.ReLU())
        stages, dim_in = [], stem_dim
        for dim_out, depth in zip(stage_dims, stage_depths):
            inner = int(bottleneck_factor * dim_out)
            stages.append(nn.Sequential(*[
                # SE on blocks 0, 2, 4, ... of each stage, as in X3D.
                X3DBlock(dim_in if i == 0 else dim_out, inner, dim_out, 2 if i == 0 else 1,
                         use_se=(i + 1) % 2 == 1, se_ratio=se_ratio)
                for i in range(depth)]))
            dim_in = dim_out
        self.stages = nn.Sequential(*stages)
        inner = int(bottleneck_factor * dim_in)
        self.pre_conv = nn.Sequential(nn.Conv3d(dim_in, inner, 1, bias=False), nn.BatchNorm3d(inner), nn.ReLU())
        self.post_conv = nn.Linear(inner, head_dim, bias=False)
        self.post_act = nn.ReLU()
        self.head = ClassificationHeads(head_dim, num_classes, dropout=dropout)

    def forward(self, x: torch.Tensor):
        if x.dim() != 5:
            raise ValueError(f"expected a (B, T, 3, H, W) clip, got shape {tuple(x.shape)}")
        x = self.stages(self.stem(x.transpose(1, 2)))     # (B, C, T, H, W)
        return self.head(self.post_act(self.post_conv(global_mean_5d(self.pre_conv(x)))))


@register_model(name="x3d_xs", family="x3d", num_frames=4, image_size=160,
                paper="X3D (Feichtenhofer 2020), XS as in PyTorchVideo; paper 001 Table 1",
                description="X3D-XS: stem 24, widths 24/48/96/192, depths 3/5/11/7, SE, Swish",
                paper_params="3.8M (paper 001 Table 4)")
def x3d_xs(num_classes, num_frames, image_size, **kw):
    return X3D(num_classes, num_frames, image_size, **kw)
