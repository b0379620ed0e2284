"""Non-local neural network (Wang et al. 2018) on ResNet-50: NL-R50 of paper 001 Table 1.

A 2D ResNet-50 runs per frame (C2D, timm parameter names, so ImageNet weights load into
`backbone`), with five embedded-Gaussian non-local blocks over space-time, after every
other residual block of res3 (layer2 blocks 1, 3) and res4 (layer3 blocks 1, 3, 5), as in
the non-local paper and mmaction2's NL configs. Each block: theta / phi / g 1x1 convs to
C/2 (phi and g max-pooled 2x2 in space), softmax(theta phi^T / sqrt(C/2)) g over all T*H*W
positions of the clip, a 1x1 conv back to C with BN (zero-initialised, so a fresh block is
the identity) and a residual add. Class scores from the frame-averaged pooled features.

This reproduces paper 001's 31.7M (ResNet-50 23.5M + 5 blocks 7.4M + 400-class fc). The
attention is written with 3-D bmm and softmax only (see layers.py).
"""

from __future__ import annotations

import torch
from torch import nn

from mobilekit.models.backbones import resnet50
from mobilekit.models.layers import ClassificationHeads, frames_to_batch, global_pool, temporal_mean
from mobilekit.models.registry import register_model

# (layer, block index) after which a non-local block sits.
NONLOCAL_AFTER = (("layer2", 1), ("layer2", 3), ("layer3", 1), ("layer3", 3), ("layer3", 5))


class NonLocalBlock(nn.Module):
    def __init__(self, channels: int, reduction: int = 2, sub_sample: bool = True):
        super().__init__()
        inner = channels // reduction
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.pool = nn.MaxPool2d(2) if sub_sample else nn.Identity()
        self.out = nn.Conv2d(inner, channels, 1, bias=False)
        self.norm = nn.BatchNorm2d(channels)
        nn.init.zeros_(self.norm.weight)
        self.scale = inner ** -0.5

    @staticmethod
    def _tokens(x: torch.Tensor, b: int, t: int) -> torch.Tensor:
        """(B*T, C, H, W) -> (B, T*H*W, C)"""
        _, c, h, w = x.shape
        return x.reshape(b, t, c, h * w).permute(0, 1, 3, 2).reshape(b, t * h * w, c)

    def forward(self, x: torch.Tensor, b: int, t: int) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self._tokens(self.theta(x), b, t) * self.scale
        k = self._tokens(self.pool(self.phi(x)), b, t)
        v = self._tokens(self.pool(self.g(x)), b, t)
        y = torch.bmm(torch.bmm(q, k.transpose(1, 2)).softmax(dim=-1), v)      # (B, THW, C/2)
        y = y.reshape(b, t, h * w, -1).permute(0, 1, 3, 2).reshape(n, -1, h, w)
        return x + self.norm(self.out(y))


class NonLocalResNet(nn.Module):
    def __init__(self, num_classes, num_frames: int, image_size: int, dropout: float = 0.5):
        super().__init__()
        self.num_frames = num_frames
        self.backbone = resnet50()
        self.nonlocal_blocks = nn.ModuleDict({
            f"{layer}_{i}": NonLocalBlock(getattr(self.backbone, layer)[i].conv3.out_channels)
            for layer, i in NONLOCAL_AFTER})
        self.head = ClassificationHeads(self.backbone.num_features, num_classes, dropout=dropout)

    def forward(self, x: torch.Tensor):
        x, b, t = frames_to_batch(x)
        bb = self.backbone
        x = bb.maxpool(bb.act1(bb.bn1(bb.conv1(x))))
        for layer in ("layer1", "layer2", "layer3", "layer4"):
            for i, block in enumerate(getattr(bb, layer)):
                x = block(x)
                key = f"{layer}_{i}"
                if key in self.nonlocal_blocks:
                    x = self.nonlocal_blocks[key](x, b, t)
        return self.head(temporal_mean(global_pool(x), b, t))


@register_model(name="nl_r50", family="nonlocal",
                paper="Non-local networks (Wang et al. 2018), configured as in paper 001 Table 1",
                description="ResNet-50 (C2D) with 5 space-time non-local blocks in res3/res4",
                paper_params="31.7M (paper 001 Table 4)")
def nl_r50(num_classes, num_frames, image_size, **kw):
    return NonLocalResNet(num_classes, num_frames, image_size, **kw)
