"""Video Transformer Network (paper 003) in the configuration of paper 001.

backbone per frame -> global average pool -> Linear to 256 -> [CLS] + learned temporal
positional embedding -> 3 transformer layers -> MLP head (LayerNorm, Linear, GELU,
Dropout, Linear). Paper 003 uses a Longformer; for 16 frames its 32-token attention window
covers the whole clip, so full attention is the same computation (paper 001 does this too).
"""

from __future__ import annotations

import torch
from torch import nn

from mobilekit.models.backbones import create_backbone
from mobilekit.models.layers import (ClassificationHeads, TransformerLayer, first_token,
                                     frames_to_batch, global_pool, init_token, prepend_token)
from mobilekit.models.registry import register_model


class VTNHead(nn.Module):
    def __init__(self, dim: int, num_classes, hidden: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.fc2 = ClassificationHeads(hidden, num_classes)

    def forward(self, x: torch.Tensor):
        return self.fc2(self.drop(self.act(self.fc1(self.norm(x)))))


class VTN(nn.Module):
    def __init__(self, backbone: str, num_classes, num_frames: int, image_size: int,
                 dim: int = 256, layers: int = 3, num_heads: int = 8, mlp_dim: int = 1024,
                 dropout: float = 0.1, head_dropout: float = 0.5):
        super().__init__()
        self.num_frames = num_frames
        self.backbone = create_backbone(backbone)
        self.proj = nn.Linear(self.backbone.num_features, dim)
        self.cls_token = init_token(1, 1, dim)
        self.pos_embed = init_token(1, 1 + num_frames, dim)
        self.blocks = nn.ModuleList([
            TransformerLayer(dim, num_heads, mlp_dim, act="gelu", dropout=dropout, attn_dropout=0.1)
            for _ in range(layers)])
        self.head = VTNHead(dim, num_classes, dim, head_dropout)

    def forward(self, x: torch.Tensor):
        return self.classify_tokens(self.encode_frames(x))

    # Frame-cached streaming (converters/streaming.py): backbone and projection per frame, once.
    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> projected frame features (B, T, dim)."""
        x, b, t = frames_to_batch(x)
        feats = self.proj(global_pool(self.backbone(x)))      # (B*T, dim)
        return feats.reshape(b, t, feats.shape[-1])

    def classify_tokens(self, tokens: torch.Tensor):
        """(B, T, dim) features of the last T frames, oldest first -> logits."""
        z = prepend_token(self.cls_token, tokens) + self.pos_embed
        for blk in self.blocks:
            z = blk(z)
        return self.head(first_token(z))


_VTN = dict(family="vtn", paper="VTN (paper 003), configured as in paper 001 Table 1")


@register_model(name="vtn_eff", description="VTN on EfficientNet-B0, 3 temporal layers",
                paper_params="6.8M (paper 001 Table 4)", **_VTN)
def vtn_eff(num_classes, num_frames, image_size, **kw):
    return VTN("efficientnet_b0", num_classes, num_frames, image_size, **kw)


@register_model(name="vtn_r50", description="VTN on ResNet-50, 3 temporal layers",
                paper_params="26.5M (paper 001 Table 4)", **_VTN)
def vtn_r50(num_classes, num_frames, image_size, **kw):
    return VTN("resnet50", num_classes, num_frames, image_size, **kw)
