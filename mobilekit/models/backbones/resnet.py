"""ResNet-50 in plain PyTorch with timm's (and torchvision's) parameter names:
conv1, bn1, layer{1..4}.{i}.(conv1, bn1, conv2, bn2, conv3, bn3, downsample.0, downsample.1).
Only the feature extractor is built; the ImageNet `fc` is not needed for video.
"""

from __future__ import annotations

import torch
from torch import nn


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1):
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.act2 = nn.ReLU(inplace=False)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.act3 = nn.ReLU(inplace=False)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_ch))

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The residual branch; video variants (TSM, non-local) wrap or reuse it."""
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.act2(self.bn2(self.conv2(y)))
        return self.bn3(self.conv3(y))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.act3(self.residual(x) + shortcut)


class ResNet(nn.Module):
    """Feature extractor: (N, 3, H, W) -> (N, 2048, H/32, W/32)."""

    def __init__(self, layers=(3, 4, 6, 3), block=Bottleneck):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.act1 = nn.ReLU(inplace=False)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_ch = 64
        for i, (n, width) in enumerate(zip(layers, (64, 128, 256, 512))):
            blocks = []
            for j in range(n):
                blocks.append(block(in_ch, width, stride=(1 if i == 0 or j > 0 else 2)))
                in_ch = width * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.num_features = in_ch
        self.stride = 32
        self.init_weights()

    def init_weights(self) -> None:
        """timm's ResNet init: Kaiming-normal (fan_out, ReLU) convs, BN 1/0. timm's optional
        zero-init of each block's last BN is not used, so every residual branch is live from
        the start (and tests of what a branch computes stay meaningful)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def resnet50(block=Bottleneck) -> ResNet:
    return ResNet((3, 4, 6, 3), block=block)
