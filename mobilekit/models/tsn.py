"""Temporal Segment Network: the 2D backbone per frame, class scores averaged over frames.

VLF without g and h (paper 000). The head is linear, so averaging the frame features and
applying it once equals averaging the per-frame class scores, at 1/T of the head's cost.
"""

from __future__ import annotations

import torch
from torch import nn

from mobilekit.models.backbones import create_backbone
from mobilekit.models.layers import ClassificationHeads, frames_to_batch, global_pool, temporal_mean
from mobilekit.models.registry import register_model


class TSN(nn.Module):
    def __init__(self, backbone: str, num_classes, num_frames: int, image_size: int,
                 dropout: float = 0.5):
        super().__init__()
        self.num_frames = num_frames
        self.backbone = create_backbone(backbone)
        self.head = ClassificationHeads(self.backbone.num_features, num_classes, dropout=dropout)

    def forward(self, x: torch.Tensor):
        x, b, t = frames_to_batch(x)
        feats = global_pool(self.backbone(x))               # (B*T, C)
        return self.head(temporal_mean(feats, b, t))


_TSN = dict(family="tsn", paper="TSN (Wang et al. 2016); the baseline of papers 000 and 001")


@register_model(name="tsn_b0", description="TSN on EfficientNet-B0", **_TSN)
def tsn_b0(num_classes, num_frames, image_size, **kw):
    return TSN("efficientnet_b0", num_classes, num_frames, image_size, **kw)


@register_model(name="tsn_r50", description="TSN on ResNet-50", **_TSN)
def tsn_r50(num_classes, num_frames, image_size, **kw):
    return TSN("resnet50", num_classes, num_frames, image_size, **kw)
