"""EfficientNet-B0 / B2 in plain PyTorch with timm's parameter names.

Mirrors timm's `efficientnet_b0` / `efficientnet_b2` (PyTorch-native 'same'-free padding,
BN eps 1e-5, SiLU, SE with reduce channels = block input * 0.25), so a timm state dict
loads by key: conv_stem, bn1, blocks.{s}.{i}.(conv_dw, bn1, se.conv_reduce, se.conv_expand,
conv_pw, bn2) for the depthwise-separable first stage, blocks.{s}.{i}.(conv_pw, bn1,
conv_dw, bn2, se.*, conv_pwl, bn3) for inverted residuals, then conv_head, bn2.
Only the feature extractor is built: the ImageNet classifier is not needed for video.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# timm's arch_def for EfficientNet: (block type, repeats, kernel, stride, expansion, out channels)
B0_STAGES = [
    ("ds", 1, 3, 1, 1, 16),
    ("ir", 2, 3, 2, 6, 24),
    ("ir", 2, 5, 2, 6, 40),
    ("ir", 3, 3, 2, 6, 80),
    ("ir", 3, 5, 1, 6, 112),
    ("ir", 4, 5, 2, 6, 192),
    ("ir", 1, 3, 1, 6, 320),
]
_SE_RATIO = 0.25


def make_divisible(v: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """timm's channel rounding."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, rd_channels: int):
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, rd_channels, 1, bias=True)
        self.act1 = nn.SiLU()
        self.conv_expand = nn.Conv2d(rd_channels, channels, 1, bias=True)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A 4-D mean over (2, 3) is the form XNNPACK delegates (global average pool).
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.conv_expand(self.act1(self.conv_reduce(s))))


def _bn_act(ch: int, act: bool = True) -> tuple[nn.BatchNorm2d, nn.Module]:
    return nn.BatchNorm2d(ch), (nn.SiLU() if act else nn.Identity())


class DepthwiseSeparableConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, k: int, stride: int):
        super().__init__()
        self.has_skip = stride == 1 and in_ch == out_ch
        self.conv_dw = nn.Conv2d(in_ch, in_ch, k, stride, k // 2, groups=in_ch, bias=False)
        self.bn1, self.act1 = _bn_act(in_ch)
        self.se = SqueezeExcite(in_ch, max(1, int(in_ch * _SE_RATIO)))
        self.conv_pw = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.se(self.act1(self.bn1(self.conv_dw(x))))
        y = self.bn2(self.conv_pw(y))
        return x + y if self.has_skip else y


class InvertedResidual(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, k: int, stride: int, exp: int):
        super().__init__()
        mid = make_divisible(in_ch * exp)
        self.has_skip = stride == 1 and in_ch == out_ch
        self.conv_pw = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.bn1, self.act1 = _bn_act(mid)
        self.conv_dw = nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False)
        self.bn2, self.act2 = _bn_act(mid)
        self.se = SqueezeExcite(mid, max(1, int(in_ch * _SE_RATIO)))
        self.conv_pwl = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.conv_pw(x)))
        y = self.se(self.act2(self.bn2(self.conv_dw(y))))
        y = self.bn3(self.conv_pwl(y))
        return x + y if self.has_skip else y


class EfficientNet(nn.Module):
    """Feature extractor: (N, 3, H, W) -> (N, num_features, H/32, W/32)."""

    def __init__(self, width_mult: float = 1.0, depth_mult: float = 1.0):
        super().__init__()
        stem = make_divisible(32 * width_mult)
        self.conv_stem = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self.bn1, self.act1 = _bn_act(stem)
        stages, in_ch = [], stem
        for kind, repeats, k, stride, exp, out in B0_STAGES:
            out_ch = make_divisible(out * width_mult)
            blocks = []
            for i in range(int(math.ceil(repeats * depth_mult))):
                s = stride if i == 0 else 1
                if kind == "ds":
                    blocks.append(DepthwiseSeparableConv(in_ch, out_ch, k, s))
                else:
                    blocks.append(InvertedResidual(in_ch, out_ch, k, s, exp))
                in_ch = out_ch
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.num_features = make_divisible(1280 * width_mult)
        self.conv_head = nn.Conv2d(in_ch, self.num_features, 1, bias=False)
        self.bn2, self.act2 = _bn_act(self.num_features)
        self.stride = 32
        self.init_weights()

    def init_weights(self) -> None:
        """timm's `_init_weight_goog`: convs N(0, sqrt(2 / fan_out)), BN 1/0.

        PyTorch's default conv init shrinks activations layer by layer; through EfficientNet's
        depth the eval-mode output of an untrained network falls to ~1e-13, which stalls
        training from scratch (no ImageNet weights can be downloaded here)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        return self.act2(self.bn2(self.conv_head(x)))


def efficientnet_b0() -> EfficientNet:
    return EfficientNet(1.0, 1.0)


def efficientnet_b2() -> EfficientNet:
    return EfficientNet(1.1, 1.2)
