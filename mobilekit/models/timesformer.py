"""TimeSformer with divided space-time attention (Bertasius et al., ICML 2021), base size
as in paper 001 Table 1 (ViT/DeiT-base: 768 wide, 12 blocks, 12 heads, 16x16 patches).

Each block: temporal attention over the T tokens at each patch position, added through
`temporal_fc` (zero-initialised, as in the reference code, so an ImageNet-initialised
model starts as a per-frame ViT); then spatial attention within each frame together with
the video's cls token (one copy per frame, averaged back); then the MLP.

Layout: the ViT parts live in `model.backbone` with timm's names (patch_embed.proj,
cls_token, pos_embed, blocks.{i}.norm1/attn.qkv/attn.proj/norm2/mlp.fc1/mlp.fc2, norm), so a
timm `vit_base_patch16_224` / `deit_base_patch16_224` state dict loads by key through
`create_model(..., backbone_weights=...)`. The temporal parts (`temporal.{i}.temporal_norm1,
temporal_attn, temporal_fc`) and `time_embed` sit beside it.
"""

from __future__ import annotations

import torch
from torch import nn

from mobilekit.models.backbones.vit import VIT_EPS, create_vit
from mobilekit.models.layers import Attention, ClassificationHeads, frames_to_batch, temporal_mean
from mobilekit.models.registry import register_model


class TemporalAttention(nn.Module):
    """The temporal half of a divided space-time block (names as in TimeSformer)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.temporal_norm1 = nn.LayerNorm(dim, eps=VIT_EPS)
        self.temporal_attn = Attention(dim, num_heads)
        self.temporal_fc = nn.Linear(dim, dim)
        nn.init.zeros_(self.temporal_fc.weight)
        nn.init.zeros_(self.temporal_fc.bias)

    def forward(self, x: torch.Tensor, b: int, t: int) -> torch.Tensor:
        """x: (B*T, P, C) patch tokens -> same, after attention along T at each patch."""
        _, p, c = x.shape
        seq = x.reshape(b, t, p, c).permute(0, 2, 1, 3).reshape(b * p, t, c)
        res = self.temporal_attn(self.temporal_norm1(seq))
        res = res.reshape(b, p, t, c).permute(0, 2, 1, 3).reshape(b * t, p, c)
        return x + self.temporal_fc(res)


class TimeSformer(nn.Module):
    def __init__(self, num_classes, num_frames: int, image_size: int, vit: str = "deit_base",
                 patch_size: int = 16, head_dropout: float = 0.0):
        super().__init__()
        self.num_frames = num_frames
        self.backbone = create_vit(vit, image_size, patch_size)
        dim = self.backbone.num_features
        heads = self.backbone.blocks[0].attn.num_heads
        self.time_embed = nn.Parameter(torch.zeros(1, num_frames, 1, dim))
        self.temporal = nn.ModuleList([TemporalAttention(dim, heads) for _ in self.backbone.blocks])
        self.head = ClassificationHeads(dim, num_classes, head_dropout)
        # Broadcasting against this copies the cls token to every frame: an add, which
        # XNNPACK delegates, where expand would leave an expand_copy behind.
        self.register_buffer("frame_ones", torch.ones(1, num_frames, 1), persistent=False)

    def forward(self, x: torch.Tensor):
        frames, b, t = frames_to_batch(x)
        if t != self.num_frames:
            raise ValueError(f"this TimeSformer was built for {self.num_frames} frames, got {t}; "
                             f"create it with num_frames={t}")
        vit = self.backbone
        patches = vit.patch_embed(frames) + vit.pos_embed[:, 1:]            # (B*T, P, C)
        p, c = patches.shape[1], patches.shape[2]
        patches = (patches.reshape(b, t, p, c) + self.time_embed).reshape(b * t, p, c)
        cls = (vit.cls_token + vit.pos_embed[:, :1]).reshape(1, 1, c)
        if b > 1:
            cls = cls.expand(b, 1, c)
        for blk, temporal in zip(vit.blocks, self.temporal):
            patches = temporal(patches, b, t)
            # Spatial attention per frame, each frame with its own copy of the cls token.
            cls_rows = (cls * self.frame_ones).reshape(b * t, 1, c)
            res = blk.attn(blk.norm1(torch.cat([cls_rows, patches], dim=1)))
            cls = cls + temporal_mean(res[:, :1].reshape(b * t, c), b, t).reshape(b, 1, c)
            patches = patches + res[:, 1:]
            # The MLP is per token: cls and patches go through it separately, no concat.
            cls = cls + blk.mlp(blk.norm2(cls))
            patches = patches + blk.mlp(blk.norm2(patches))
        return self.head(vit.norm(cls).reshape(b, c))


@register_model(name="timesformer", family="timesformer",
                paper="TimeSformer (Bertasius et al. 2021), divided space-time attention, "
                      "base size as in paper 001 Table 1",
                description="ViT-base, divided space-time attention (temporal then spatial per block)",
                paper_params="121.0M (paper 001 Table 4)")
def timesformer(num_classes, num_frames, image_size, **kw):
    return TimeSformer(num_classes, num_frames, image_size, **kw)
