"""ViT / DeiT image encoders in plain PyTorch with timm's parameter names:
patch_embed.proj, cls_token, pos_embed, blocks.{i}.(norm1, attn.qkv, attn.proj, norm2,
mlp.fc1, mlp.fc2), norm. A `deit_small_patch16_224` / `vit_base_patch16_224` state dict
saved by timm loads by key (its `head.*` classifier is ignored by the weight loader).

The position embedding has one row per patch of the configured image size, so timm's
224x224 weights fit at image_size=224; other sizes get a fresh embedding of their own shape.
"""

from __future__ import annotations

import torch
from torch import nn

from mobilekit.models.layers import TransformerLayer, init_token

# timm's ViT uses LayerNorm eps 1e-6 everywhere.
VIT_EPS = 1e-6

VIT_CONFIGS = {
    # name: (embed_dim, depth, num_heads)
    "deit_tiny": (192, 12, 3),
    "deit_small": (384, 12, 6),
    "deit_base": (768, 12, 12),
}


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> tokens. A Conv2d with kernel == stride, as in timm."""

    def __init__(self, image_size: int, patch_size: int, dim: int, in_chans: int = 3):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        self.grid = image_size // patch_size
        self.num_patches = self.grid * self.grid
        self.proj = nn.Conv2d(in_chans, dim, patch_size, patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, P, C)"""
        return self.proj(x).flatten(2).transpose(1, 2)


def vit_block(dim: int, num_heads: int, mlp_ratio: float = 4.0) -> TransformerLayer:
    """A timm ViT `Block`: pre-norm, GELU MLP, no dropout (timm's defaults)."""
    return TransformerLayer(dim, num_heads, int(dim * mlp_ratio), act="gelu", dropout=0.0,
                            attn_dropout=0.0, norm_first=True, eps=VIT_EPS)


class VisionTransformer(nn.Module):
    """ViT/DeiT feature extractor (no classifier). `forward` returns the normalised
    cls token (N, C); `forward_tokens` all normalised tokens (N, 1 + P, C)."""

    def __init__(self, image_size: int = 224, patch_size: int = 16, embed_dim: int = 384,
                 depth: int = 12, num_heads: int = 6, mlp_ratio: float = 4.0, frames: int = 1):
        super().__init__()
        self.num_features = embed_dim
        self.patch_embed = PatchEmbed(image_size, patch_size, embed_dim)
        self.cls_token = init_token(1, 1, embed_dim)
        self.pos_embed = init_token(1, 1 + self.patch_embed.num_patches, embed_dim)
        self.blocks = nn.ModuleList([vit_block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=VIT_EPS)
        # Video models run the encoder on the T frames of a clip at once; multiplying by
        # these ones copies the cls token to every frame with a broadcast mul, which
        # XNNPACK delegates, where expand would leave an expand_copy behind.
        self.register_buffer("frame_ones", torch.ones(frames, 1, 1), persistent=False)

    def cls_rows(self, n: int) -> torch.Tensor:
        """The cls token for `n` images: (n, 1, C)."""
        if n == self.frame_ones.shape[0]:
            return self.cls_token * self.frame_ones
        return self.cls_token.expand(n, 1, self.cls_token.shape[-1])

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embed(x)
        z = torch.cat([self.cls_rows(patches.shape[0]), patches], dim=1) + self.pos_embed
        for blk in self.blocks:
            z = blk(z)
        return self.norm(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.forward_tokens(x)
        return z[:, :1].reshape(z.shape[0], z.shape[2])   # slice, not select: delegable


def create_vit(name: str, image_size: int = 224, patch_size: int = 16, frames: int = 1) -> VisionTransformer:
    """A timm-named ViT/DeiT by size name; `frames` is the number of images per call it is
    tuned for (the frames of one clip in a video model)."""
    try:
        dim, depth, heads = VIT_CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown ViT {name!r}; choose from {sorted(VIT_CONFIGS)}") from None
    return VisionTransformer(image_size, patch_size, dim, depth, heads, frames=frames)
