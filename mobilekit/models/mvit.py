"""Multiscale Vision Transformer (MViT v1, Fan et al. ICCV 2021) with pooling attention,
the small model of paper 001 Table 1 (MViT-S, 16x4).

The layout follows PySlowFast's MViT v1 (the reference code): a 3x7x7 / stride 2x4x4 conv
stem to 96 channels, a cls token and separable (spatial + temporal + cls) position
embeddings, four scale stages that double the width and halve the spatial resolution
(query pooling with stride 1x2x2 at each stage's first block, max-pooled residual), keys
and values pooled with an adaptive stride that starts at 1x8x8, 3x3x3 depthwise conv pooling
followed by LayerNorm per head, heads 1/2/4/8 with head width 96.

The MViT authors never released MViT-S's configuration (SlowFast issue #459; paper 001:
"Neither ImageNet nor K400 pretrained weights are publicly available for MViT-S"). The MViT
paper reports 26.1M parameters for it. We take MViT-B-16x4's recipe with stage depths
1/2/5/2 (10 blocks, the depth split MViTv2 uses for its smaller "T" model) instead of B's
1/2/11/2, which gives 26.1M at 400 classes.

Export notes: the 3-D convolutions (stem, pooling) keep their Conv3d parameters but run as
conv2d over stacked time taps (`conv3d_frames`: ExecuTorch has no conv3d kernel); the
max-pooled residual has a temporal kernel of 1, so it is a 2-D max pool over frames. The
conv2d kernel is the Conv3d weight reshaped; `FramesConv3d.freeze_for_export` (called by the
converters on their copy) stores it as a buffer, since XNNPACK delegates a conv only when its
weight is a constant, not a view of one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mobilekit.models.layers import (ClassificationHeads, FramesConv3d, first_token, frames_kernel, init_token,
                                     prepend_token)
from mobilekit.models.registry import register_model

Size3 = tuple[int, int, int]
MVIT_EPS = 1e-6
# The pooled q/k/v LayerNorms keep nn.LayerNorm's default eps: PySlowFast's MViT v1 (the code
# that trained the released checkpoints) builds them with a bare nn.LayerNorm, as PyTorchVideo
# does; only the block and final norms take 1e-6.
POOL_NORM_EPS = 1e-5


def conv_out(n: int, kernel: int, stride: int, pad: int) -> int:
    return (n + 2 * pad - kernel) // stride + 1


def conv3d_frames(x: torch.Tensor, conv: nn.Conv3d) -> torch.Tensor:
    """`conv` applied to frames (N, T, C, H, W) -> (N, T', O, H', W'), computed as one
    conv2d over the kt time taps stacked along channels (channel-major, tap-minor: the
    order of the flattened (O, C/groups, kt) kernel, so groups keep their taps together).

    ExecuTorch has no conv3d kernel (portable or XNNPACK); conv2d runs everywhere. The
    module keeps its 5-D Conv3d weight, so parameter names and shapes are the reference's.
    Temporal zero padding; a temporal stride picks every st-th tap through a reshape, not a
    strided slice."""
    n, t, c, h, w = x.shape
    kt, st, pt = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    t_out = conv_out(t, kt, st, pt)
    length = (t_out - 1) * st + kt + st - 1         # + st - 1 so that each tap reshapes evenly
    back = length - t - pt
    if pt or back > 0:
        x = F.pad(x, (0, 0, 0, 0, 0, 0, pt, max(back, 0)))
    if back < 0:
        x = x[:, :length]
    # At most 5-D throughout: Core ML rejects rank-6 tensors.
    taps = []
    for j in range(kt):
        tap = x[:, j:j + t_out * st]
        if st > 1:
            tap = tap.reshape(n, t_out, st, c, h * w)[:, :, :1]
        taps.append(tap.reshape(n * t_out, c, 1, h * w))
    stacked = torch.cat(taps, dim=2).reshape(n * t_out, c * kt, h, w)
    y = F.conv2d(stacked, frames_kernel(conv), conv.bias, conv.stride[1:], conv.padding[1:], groups=conv.groups)
    return y.reshape(n, t_out, *y.shape[1:])


class PoolingAttention(nn.Module):
    """Multi-head pooling attention (MHPA). Queries, keys and values are projected, then
    pooled per head by a depthwise Conv3d + LayerNorm; the cls token bypasses pooling."""

    def __init__(self, dim: int, num_heads: int, thw: Size3, stride_q: Size3, stride_kv: Size3,
                 kernel: Size3 = (3, 3, 3)):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.thw = thw
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        pad = tuple(k // 2 for k in kernel)
        hd = self.head_dim

        def pool(stride):
            # The reference skips query pooling when there is nothing to pool (stride 1);
            # keys and values are always pooled (kernel 3x3x3, even at stride 1).
            return FramesConv3d(hd, hd, kernel, stride, pad, groups=hd, bias=False)

        self.pool_q = pool(stride_q) if stride_q != (1, 1, 1) else None
        self.norm_q = nn.LayerNorm(hd, eps=POOL_NORM_EPS) if self.pool_q is not None else None
        self.pool_k, self.norm_k = pool(stride_kv), nn.LayerNorm(hd, eps=POOL_NORM_EPS)
        self.pool_v, self.norm_v = pool(stride_kv), nn.LayerNorm(hd, eps=POOL_NORM_EPS)
        self.q_thw = tuple(conv_out(n, k, s, p) for n, k, s, p in zip(thw, kernel, stride_q, pad)) \
            if self.pool_q is not None else thw
        self.kv_thw = tuple(conv_out(n, k, s, p) for n, k, s, p in zip(thw, kernel, stride_kv, pad))

    def _heads(self, t: torch.Tensor, b: int, n: int) -> torch.Tensor:
        """(B, N, C) -> (B*h, N, d)"""
        return t.reshape(b, n, self.num_heads, self.head_dim).permute(0, 2, 1, 3).reshape(
            b * self.num_heads, n, self.head_dim)

    def _pool(self, t: torch.Tensor, conv: nn.Conv3d, norm: nn.LayerNorm) -> torch.Tensor:
        """(B*h, 1 + THW, d) -> (B*h, 1 + T'H'W', d): pool the grid tokens, keep cls."""
        bh, _, d = t.shape
        cls, grid = t[:, :1], t[:, 1:]
        frames = grid.reshape(bh, self.thw[0], self.thw[1] * self.thw[2], d).transpose(2, 3)
        pooled = conv3d_frames(frames.reshape(bh, self.thw[0], d, *self.thw[1:]), conv)
        pooled = pooled.flatten(3).transpose(2, 3).reshape(bh, -1, d)     # (B*h, T'H'W', d)
        return norm(torch.cat([cls, pooled], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q = self._heads(self.q(x), b, n)
        k = self._pool(self._heads(self.k(x), b, n), self.pool_k, self.norm_k)
        v = self._pool(self._heads(self.v(x), b, n), self.pool_v, self.norm_v)
        if self.pool_q is not None:
            q = self._pool(q, self.pool_q, self.norm_q)
        attn = torch.bmm(q * self.scale, k.transpose(1, 2)).softmax(dim=-1)
        out = torch.bmm(attn, v)                                            # (B*h, Nq, d)
        nq = out.shape[1]
        out = out.reshape(b, self.num_heads, nq, self.head_dim).transpose(1, 2).reshape(b, nq, c)
        return self.proj(out)


class WideningMlp(nn.Module):
    """fc1 -> GELU -> fc2 where fc2 may widen: MViT doubles the width inside the MLP of
    the block before each new stage."""

    def __init__(self, dim: int, hidden: int, dim_out: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class MultiScaleBlock(nn.Module):
    def __init__(self, dim: int, dim_out: int, num_heads: int, thw: Size3, stride_q: Size3,
                 stride_kv: Size3, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=MVIT_EPS)
        self.attn = PoolingAttention(dim, num_heads, thw, stride_q, stride_kv)
        self.norm2 = nn.LayerNorm(dim, eps=MVIT_EPS)
        self.mlp = WideningMlp(dim, int(dim * mlp_ratio), dim_out)
        self.proj = nn.Linear(dim, dim_out) if dim != dim_out else None
        if stride_q[0] != 1:
            raise ValueError(f"temporal query stride {stride_q[0]} is not supported (the residual "
                             "is max-pooled frame by frame); use 1")
        self.stride_q = stride_q
        self.thw = thw
        self.out_thw = self.attn.q_thw

    def _skip(self, x: torch.Tensor) -> torch.Tensor:
        """Max-pool the residual like the queries (kernel stride+1, temporal stride 1):
        a 2-D max pool over each frame, cls token untouched."""
        if self.stride_q == (1, 1, 1):
            return x
        b, _, c = x.shape
        t, h, w = self.thw
        kernel = tuple(s + 1 if s > 1 else s for s in self.stride_q[1:])
        grid = x[:, 1:].reshape(b, t, h, w, c).permute(0, 1, 4, 2, 3).reshape(b * t, c, h, w)
        grid = F.max_pool2d(grid, kernel, self.stride_q[1:], tuple(k // 2 for k in kernel))
        ho, wo = grid.shape[2], grid.shape[3]
        grid = grid.reshape(b, t, c, ho * wo).permute(0, 1, 3, 2).reshape(b, t * ho * wo, c)
        return torch.cat([x[:, :1], grid], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._skip(x) + self.attn(self.norm1(x))
        x_norm = self.norm2(x)
        shortcut = x if self.proj is None else self.proj(x_norm)
        return shortcut + self.mlp(x_norm)


class MViT(nn.Module):
    def __init__(self, num_classes, num_frames: int, image_size: int, embed_dim: int = 96,
                 stage_depths=(1, 2, 5, 2), kv_stride: Size3 = (1, 8, 8), head_dropout: float = 0.5):
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = FramesConv3d(3, embed_dim, (3, 7, 7), (2, 4, 4), (1, 3, 3))
        thw = (conv_out(num_frames, 3, 2, 1), conv_out(image_size, 7, 4, 3), conv_out(image_size, 7, 4, 3))
        self.cls_token = init_token(1, 1, embed_dim)
        self.pos_embed_spatial = init_token(1, thw[1] * thw[2], embed_dim)
        self.pos_embed_temporal = init_token(1, thw[0], embed_dim)
        self.pos_embed_class = init_token(1, 1, embed_dim)

        # Stage boundaries: the first block of stages 2..4 pools queries and doubles heads;
        # the block before it doubles the width in its MLP (PySlowFast's DIM_MUL/HEAD_MUL).
        starts = [sum(stage_depths[:i]) for i in range(1, len(stage_depths))]
        depth = sum(stage_depths)
        dim, heads, stride = embed_dim, 1, kv_stride
        self.blocks = nn.ModuleList()
        for i in range(depth):
            stride_q = (1, 1, 1)
            if i in starts:
                heads *= 2
                stride_q = (1, 2, 2)
                stride = tuple(max(s // q, 1) for s, q in zip(stride, stride_q))
            dim_out = dim * 2 if i + 1 in starts else dim
            blk = MultiScaleBlock(dim, dim_out, heads, thw, stride_q, stride)
            self.blocks.append(blk)
            dim, thw = dim_out, blk.out_thw
        self.num_features = dim
        self.norm = nn.LayerNorm(dim, eps=MVIT_EPS)
        self.head = ClassificationHeads(dim, num_classes, head_dropout)

    def pos_embed(self) -> torch.Tensor:
        """(1, 1 + T*H*W, C): spatial + temporal embeddings broadcast over the grid, plus cls."""
        s, t = self.pos_embed_spatial, self.pos_embed_temporal
        c = s.shape[-1]
        grid = (t.reshape(1, t.shape[1], 1, c) + s.reshape(1, 1, s.shape[1], c)).reshape(1, -1, c)
        return torch.cat([self.pos_embed_class, grid], dim=1)

    def forward(self, x: torch.Tensor):
        if x.dim() != 5:
            raise ValueError(f"expected a (B, T, 3, H, W) clip, got shape {tuple(x.shape)}")
        x = conv3d_frames(x, self.patch_embed.proj)                   # (B, T', C, H', W')
        b, t, c = x.shape[:3]
        tokens = x.reshape(b, t, c, -1).transpose(2, 3).reshape(b, -1, c)  # (t, h, w) order
        z = prepend_token(self.cls_token, tokens) + self.pos_embed()
        for blk in self.blocks:
            z = blk(z)
        return self.head(first_token(self.norm(z)))


@register_model(name="mvit_s", family="mvit",
                paper="MViT (Fan et al. 2021), MViT-S 16x4 as in paper 001 Table 1; "
                      "stage depths reconstructed",
                description="MViT v1 small: pooling attention, 4 scale stages 96-768 wide, depths 1/2/5/2",
                paper_params="26.1M (MViT paper, Kinetics-400 table; paper 001 gives none)")
def mvit_s(num_classes, num_frames, image_size, **kw):
    return MViT(num_classes, num_frames, image_size, **kw)
