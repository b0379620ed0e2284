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
        return self.classify_tokens(self.encode_frames(x))

    # Frame-cached streaming (converters/streaming.py): the backbone per frame, once.
    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> pooled frame features (B, T, C)."""
        x, b, t = frames_to_batch(x)
        feats = global_pool(self.backbone(x))               # (B*T, C)
        return feats.reshape(b, t, feats.shape[-1])

    def classify_tokens(self, tokens: torch.Tensor):
        """(B, T, C) features of the last T frames -> logits."""
        b, t, c = tokens.shape
        return self.head(temporal_mean(tokens.reshape(b * t, c), b, t))


_TSN = dict(family="tsn", paper="TSN (Wang et al. 2016); the baseline of papers 000 and 001")


@register_model(name="tsn_b0", description="TSN on EfficientNet-B0", **_TSN)
def tsn_b0(num_classes, num_frames, image_size, **kw):
    return TSN("efficientnet_b0", num_classes, num_frames, image_size, **kw)


@register_model(name="tsn_r50", description="TSN on ResNet-50", **_TSN)
def tsn_r50(num_classes, num_frames, image_size, **kw):
    return TSN("resnet50", num_classes, num_frames, image_size, **kw)
