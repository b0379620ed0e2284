"""ViViT factorised encoder (Arnab et al., ICCV 2021, "Model 2") in the configuration of
paper 001 Table 1: a DeiT-small spatial encoder applied to every frame, then a small
temporal transformer over the per-frame cls tokens.

frames -> DeiT-small (timm names, `model.backbone`) -> cls token per frame (384)
       -> [temporal cls] + learned temporal position embedding -> 2 pre-norm layers
       -> LayerNorm -> Linear head on the temporal cls token.

Two temporal layers of DeiT-small width give paper 001's 25.4M at 400 classes (a third
would give 27.2M); the temporal layers have the ViT block layout (pre-norm, GELU, 4x MLP).
"""

from __future__ import annotations

import torch
from torch import nn

from mobilekit.models.backbones.vit import VIT_EPS, create_vit, vit_block
from mobilekit.models.layers import (ClassificationHeads, first_token, frames_to_batch,
                                     init_token, prepend_token)
from mobilekit.models.registry import register_model


class ViViTFactorisedEncoder(nn.Module):
    def __init__(self, num_classes, num_frames: int, image_size: int, spatial: str = "deit_small",
                 patch_size: int = 16, temporal_layers: int = 2, head_dropout: float = 0.0):
        super().__init__()
        self.num_frames = num_frames
        self.backbone = create_vit(spatial, image_size, patch_size, frames=num_frames)
        dim = self.backbone.num_features
        heads = self.backbone.blocks[0].attn.num_heads
        self.temporal_cls_token = init_token(1, 1, dim)
        self.temporal_pos_embed = init_token(1, 1 + num_frames, dim)
        self.temporal_blocks = nn.ModuleList([vit_block(dim, heads) for _ in range(temporal_layers)])
        self.temporal_norm = nn.LayerNorm(dim, eps=VIT_EPS)
        self.head = ClassificationHeads(dim, num_classes, head_dropout)

    def forward(self, x: torch.Tensor):
        if x.dim() == 5 and x.shape[1] != self.num_frames:
            raise ValueError(f"this ViViT was built for {self.num_frames} frames, got {x.shape[1]}; "
                             f"create it with num_frames={x.shape[1]}")
        return self.classify_tokens(self.encode_frames(x))

    # Frame-cached streaming (converters/streaming.py): the spatial encoder per frame, once.
    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> spatial cls tokens (B, T, C); any T (one frame when streaming)."""
        frames, b, t = frames_to_batch(x)
        per_frame = self.backbone(frames)                       # (B*T, C) spatial cls tokens
        return per_frame.reshape(b, t, per_frame.shape[-1])

    def classify_tokens(self, tokens: torch.Tensor):
        """(B, num_frames, C) tokens of the last frames, oldest first -> logits."""
        z = prepend_token(self.temporal_cls_token, tokens)
        z = z + self.temporal_pos_embed
        for blk in self.temporal_blocks:
            z = blk(z)
        return self.head(first_token(self.temporal_norm(z)))


@register_model(name="vivit_fe", family="vivit",
                paper="ViViT factorised encoder (Arnab et al. 2021), DeiT-small backbone "
                      "as in paper 001 Table 1",
                description="DeiT-small per frame + 2-layer temporal transformer (factorised encoder)",
                paper_params="25.4M (paper 001 Table 4)")
def vivit_fe(num_classes, num_frames, image_size, **kw):
    return ViViTFactorisedEncoder(num_classes, num_frames, image_size, **kw)
