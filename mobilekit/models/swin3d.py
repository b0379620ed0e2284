"""Video Swin Transformer (Liu et al. 2021), 3D Swin-Tiny as in paper 001 Table 1:
patch 2x4x4, window 8x7x7, embed 96, depths 2/2/6/2, heads 3/6/12/24, MLP x4.

Paper 001 left Swin out of its phone benchmark because the reference implementation was
not mobile compatible; this one exports with static shapes:
- shifted windows are a cyclic shift written as two slices + cat (what torch.roll computes;
  slices and cat delegate on XNNPACK) with the shifted-window attention mask precomputed
  per block as a buffer;
- window partition / reverse and patch merging are reshapes + 4-D permutes (XNNPACK takes up
  to 6 dims, but coremltools lowers a rank-6 transpose to shapes the ANE refuses), never
  strided slicing or in-place writes;
- the relative position bias is a gather from the learned table with a static index buffer;
  for export, `freeze_for_export()` (mobilekit.models.rewrites.freeze_weight_derived, applied
  to the converter's copy) precomputes it as a constant (1, heads, N, N) buffer: no index /
  unsqueeze ops are left for XNNPACK;
- the 2x4x4 patch embedding keeps its Conv3d parameter but runs as a conv2d over frame
  pairs stacked along channels (ExecuTorch has no conv3d kernel): a `FramesConv3d`, whose
  `freeze_for_export()` stores that conv2d's kernel as a buffer, since XNNPACK only delegates a
  convolution whose weight is a constant (a reshape of the parameter in forward is an op).

Sizes that do not divide: as in the reference, a window dimension larger than the feature
map shrinks to it (and is not shifted), and feature maps are zero-padded up to a multiple of
the window (e.g. 64x64 input: 16x16 tokens padded to 21x21 for 7x7 windows). Parameter names
follow the reference (patch_embed.proj/norm, layers.{i}.blocks.{j}.norm1 /
attn.qkv / attn.proj / attn.relative_position_bias_table / norm2 / mlp.fc1 / mlp.fc2,
layers.{i}.downsample.norm/reduction, norm).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mobilekit.models.layers import Attention, ClassificationHeads, FramesConv3d, Mlp, frames_kernel, global_pool
from mobilekit.models.registry import register_model

Size3 = tuple[int, int, int]


def effective_window(grid: Size3, window: Size3, shift: Size3) -> tuple[Size3, Size3]:
    """The reference's get_window_size: a window no larger than the feature map, and no
    shift along a dimension the window covers entirely."""
    ws = tuple(g if g <= w else w for g, w in zip(grid, window))
    ss = tuple(0 if g <= w else s for g, w, s in zip(grid, window, shift))
    return ws, ss


def cyclic_shift(x: torch.Tensor, shifts: Size3, dims: Size3 = (1, 2, 3)) -> torch.Tensor:
    """torch.roll(x, shifts, dims) as slice + cat per dimension (both delegate on XNNPACK)."""
    for s, d in zip(shifts, dims):
        n = x.shape[d]
        s %= n
        if s:
            x = torch.cat([x.narrow(d, n - s, s), x.narrow(d, 0, n - s)], dim=d)
    return x


def window_partition(x: torch.Tensor, ws: Size3) -> torch.Tensor:
    """(B, D, H, W, C) -> (B*nW, wd*wh*ww, C), windows in (b, d, h, w) order.

    Two 4-D permutes, not one 6-D one: coremltools splits a rank-6 transpose into flat
    (1, 1, 1, H*W*C) reshapes/transposes with a dimension over the ANE's 16384 (they run on
    the CPU), and XNNPACK takes either."""
    b, d, h, w, c = x.shape
    bd, nh, nw = b * (d // ws[0]), h // ws[1], w // ws[2]
    # (bd, wd*H, nW, ww*C) -> (bd, nW, wd*H, ww*C): the w-windows out front.
    x = x.reshape(bd, ws[0] * h, nw, ws[2] * c).permute(0, 2, 1, 3)
    # (bd, nW*wd, nH, wh*ww*C) -> (bd, nH, nW*wd, wh*ww*C): then the h-windows.
    x = x.reshape(bd, nw * ws[0], nh, ws[1] * ws[2] * c).permute(0, 2, 1, 3)
    return x.reshape(-1, ws[0] * ws[1] * ws[2], c)


def window_reverse(windows: torch.Tensor, ws: Size3, shape: tuple[int, ...]) -> torch.Tensor:
    """Inverse of window_partition back to `shape` = (B, D, H, W, C)."""
    b, d, h, w, c = shape
    bd, nh, nw = b * (d // ws[0]), h // ws[1], w // ws[2]
    x = windows.reshape(bd, nh, nw * ws[0], ws[1] * ws[2] * c).permute(0, 2, 1, 3)
    x = x.reshape(bd, nw, ws[0] * h, ws[2] * c).permute(0, 2, 1, 3)
    return x.reshape(b, d, h, w, c)


def shifted_window_mask(padded: Size3, ws: Size3, ss: Size3) -> torch.Tensor:
    """(nW, N, N) additive mask: 0 where two tokens of a shifted window come from the same
    region of the unshifted map, -100 where the cyclic shift put them side by side."""
    img = torch.zeros(1, *padded, 1)
    label = 0
    for dd in (slice(-ws[0]), slice(-ws[0], -ss[0]), slice(-ss[0], None)):
        for hh in (slice(-ws[1]), slice(-ws[1], -ss[1]), slice(-ss[1], None)):
            for ww in (slice(-ws[2]), slice(-ws[2], -ss[2]), slice(-ss[2], None)):
                img[:, dd, hh, ww, :] = label
                label += 1
    windows = window_partition(img, ws).squeeze(-1)                 # (nW, N)
    diff = windows.unsqueeze(1) - windows.unsqueeze(2)
    return torch.where(diff != 0, torch.tensor(-100.0), torch.tensor(0.0))


def relative_position_index(ws: Size3, table_window: Size3) -> torch.Tensor:
    """(N, N) index into a bias table built for `table_window` (>= ws in every dim), for
    the token pairs of a `ws` window."""
    coords = torch.stack(torch.meshgrid(*[torch.arange(n) for n in ws], indexing="ij")).flatten(1)
    rel = coords[:, :, None] - coords[:, None, :]                   # (3, N, N)
    wd, wh, ww = table_window
    return ((rel[0] + wd - 1) * (2 * wh - 1) * (2 * ww - 1)
            + (rel[1] + wh - 1) * (2 * ww - 1) + (rel[2] + ww - 1))


class WindowAttention3D(Attention):
    """Attention inside 3D windows with a learned relative position bias.

    `mask` (nW, N, N), the shifted-window mask of the block, is kept here as a non-persistent
    (nW, 1, N, N) buffer `window_mask`: already 4-D, so no unsqueeze is left in the graph.

    `freeze_for_export()` precomputes the position bias gathered from the table. The mask is
    not folded into it: (nW*h, N, N) would be h times the mask's size (hundreds of MB of
    constants at 16x224x224), and bias + mask at run time is one broadcast add."""

    def __init__(self, dim: int, num_heads: int, table_window: Size3, ws: Size3,
                 mask: torch.Tensor | None = None):
        super().__init__(dim, num_heads, qkv_bias=True)
        size = (2 * table_window[0] - 1) * (2 * table_window[1] - 1) * (2 * table_window[2] - 1)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(size, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.ws, self.table_window = tuple(ws), tuple(table_window)
        # Static index buffer: the gather's positions are fixed at build time.
        self.register_buffer("relative_position_index",
                             relative_position_index(ws, table_window).reshape(-1), persistent=False)
        # No None buffers: torch.export (2.x, here) raised IndexError on a module holding them.
        if mask is None:
            self.window_mask = None
        else:
            self.register_buffer("window_mask", mask.unsqueeze(1).contiguous(), persistent=False)
        self.window_tokens = ws[0] * ws[1] * ws[2]

    def position_bias(self) -> torch.Tensor:
        n = self.window_tokens
        bias = self.relative_position_bias_table[self.relative_position_index]   # (N*N, h)
        return bias.reshape(n, n, self.num_heads).permute(2, 0, 1)               # (h, N, N)

    @property
    def frozen(self) -> bool:
        """Whether freeze_for_export() stored the position bias (buffer `frozen_bias`)."""
        return "frozen_bias" in self._buffers

    def freeze_for_export(self) -> None:
        """Precompute position_bias() into a `frozen_bias` buffer (1, h, N, N): forward then
        adds a constant with the same numbers (bit-identical outputs) instead of gathering from
        the table (aten.index + unsqueeze: weight-only work XNNPACK does not delegate). The
        index buffer is dropped (ExecuTorch serializes unused buffers into the program). Only
        for an export copy: the table no longer trains; unfreeze() goes back."""
        if self.frozen:
            return
        with torch.no_grad():
            # Contiguous: the bias is a permuted view and clone() would keep its strides;
            # ExecuTorch then serializes the constant with a permuted dim order, which XNNPACK
            # rejects at run time ("Propagating input shapes failed", error 0x1).
            bias = self.position_bias().unsqueeze(0).detach().clone(memory_format=torch.contiguous_format)
        del self._buffers["relative_position_index"]
        self.register_buffer("frozen_bias", bias, persistent=False)

    def unfreeze(self) -> None:
        if not self.frozen:
            return
        del self._buffers["frozen_bias"]
        index = relative_position_index(self.ws, self.table_window).reshape(-1)
        self.register_buffer("relative_position_index", index.to(self.relative_position_bias_table.device),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bw, n, c = x.shape
        qkv = self.qkv(x)
        q = self._heads(qkv[..., :c], bw, n) * self.scale
        k = self._heads(qkv[..., c:2 * c], bw, n)
        v = self._heads(qkv[..., 2 * c:], bw, n)
        # Bias (+ mask) per (window, head), added in 4-D so nothing broadcasts in a matmul.
        bias = self.frozen_bias if self.frozen else self.position_bias().unsqueeze(0)  # (1, h, N, N)
        if self.window_mask is not None:
            bias = bias + self.window_mask                                       # (nW, h, N, N)
        groups = bias.shape[0] * self.num_heads
        attn = torch.bmm(q, k.transpose(1, 2)).reshape(-1, groups, n, n) + bias.reshape(1, groups, n, n)
        attn = self.attn_drop(attn.reshape(bw * self.num_heads, n, n).softmax(dim=-1))
        out = torch.bmm(attn, v).reshape(bw, self.num_heads, n, self.head_dim)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(bw, n, c)))


class SwinBlock3D(nn.Module):
    def __init__(self, dim: int, num_heads: int, grid: Size3, window: Size3, shifted: bool,
                 mlp_ratio: float = 4.0):
        super().__init__()
        shift = tuple(w // 2 for w in window) if shifted else (0, 0, 0)
        self.grid = grid
        self.ws, self.ss = effective_window(grid, window, shift)
        self.padded = tuple(math.ceil(g / w) * w for g, w in zip(grid, self.ws))
        mask = shifted_window_mask(self.padded, self.ws, self.ss) if any(self.ss) else None
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention3D(dim, num_heads, window, self.ws, mask)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    @property
    def attn_mask(self) -> torch.Tensor | None:
        """The shifted-window mask (nW, N, N), None for a block that does not shift."""
        mask = self.attn.window_mask
        return None if mask is None else mask[:, 0]

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        b, d, h, w, c = x.shape
        pd, ph, pw = (p - g for p, g in zip(self.padded, self.grid))
        if pd or ph or pw:
            x = F.pad(x, (0, 0, 0, pw, 0, ph, 0, pd))
        if any(self.ss):
            x = cyclic_shift(x, tuple(-s for s in self.ss))
        shape = x.shape
        x = window_reverse(self.attn(window_partition(x, self.ws)), self.ws, shape)
        if any(self.ss):
            x = cyclic_shift(x, self.ss)
        if pd or ph or pw:
            x = x[:, :d, :h, :w]
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attend(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2x2 spatial neighbours -> one token: (B, D, H, W, C) -> (B, D, H/2, W/2, 2C)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, d, h, w, c = x.shape
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
            h, w = h + h % 2, w + w % 2
        # Channel order of the reference's cat([x00, x10, x01, x11]): w-phase major. A 4-D
        # permute (rows of h-phase pairs: (.., 2, W, C) -> (.., W, 2, C)), not a 6-D one.
        x = x.reshape(b * d * (h // 2), 2, w, c).permute(0, 2, 1, 3)
        return self.reduction(self.norm(x.reshape(b, d, h // 2, w // 2, 4 * c)))


class SwinStage(nn.Module):
    def __init__(self, dim: int, depth: int, num_heads: int, grid: Size3, window: Size3,
                 downsample: bool):
        super().__init__()
        self.blocks = nn.ModuleList([SwinBlock3D(dim, num_heads, grid, window, shifted=i % 2 == 1)
                                     for i in range(depth)])
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return x if self.downsample is None else self.downsample(x)


class PatchEmbed3D(nn.Module):
    def __init__(self, patch: Size3, dim: int):
        super().__init__()
        self.patch = patch
        self.proj = FramesConv3d(3, dim, patch, patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, D, H', W', C).

        The Conv3d's kernel equals its stride, so it is a conv2d over each group of kt
        frames stacked along channels (channel-major, tap-minor: the flattened 5-D kernel's
        order). ExecuTorch has no conv3d kernel; the parameter keeps the reference's shape."""
        b, t, c, h, w = x.shape
        kt, kh, kw = self.patch
        pads = [(-n) % p for n, p in zip((t, h, w), self.patch)]
        if any(pads):
            x = F.pad(x, (0, pads[2], 0, pads[1], 0, 0, 0, pads[0]))
            t, h, w = t + pads[0], h + pads[1], w + pads[2]
        d = t // kt
        x = x.reshape(b * d, kt, c, h, w).transpose(1, 2).reshape(b * d, c * kt, h, w)
        x = F.conv2d(x, frames_kernel(self.proj), self.proj.bias, (kh, kw))                # (B*D, C, H', W')
        x = x.reshape(b, d, x.shape[1], -1).transpose(2, 3)
        return self.norm(x.reshape(b, d, h // kh, w // kw, -1))


class SwinTransformer3D(nn.Module):
    def __init__(self, num_classes, num_frames: int, image_size: int, embed_dim: int = 96,
                 depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window: Size3 = (8, 7, 7),
                 patch: Size3 = (2, 4, 4), head_dropout: float = 0.5):
        super().__init__()
        self.patch_embed = PatchEmbed3D(tuple(patch), embed_dim)
        grid = (math.ceil(num_frames / patch[0]), math.ceil(image_size / patch[1]),
                math.ceil(image_size / patch[2]))
        self.layers = nn.ModuleList()
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            last = i == len(depths) - 1
            self.layers.append(SwinStage(embed_dim * 2 ** i, depth, heads, grid, tuple(window),
                                         downsample=not last))
            grid = (grid[0], math.ceil(grid[1] / 2), math.ceil(grid[2] / 2))
        self.num_features = embed_dim * 2 ** (len(depths) - 1)
        self.norm = nn.LayerNorm(self.num_features)
        self.head = ClassificationHeads(self.num_features, num_classes, head_dropout)

    def forward(self, x: torch.Tensor):
        if x.dim() != 5:
            raise ValueError(f"expected a (B, T, 3, H, W) clip, got shape {tuple(x.shape)}")
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)
        b, c = x.shape[0], x.shape[-1]
        pooled = global_pool(x.reshape(b, -1, c).transpose(1, 2).unsqueeze(-1))
        return self.head(pooled)


@register_model(name="swin_t", family="swin3d",
                paper="Video Swin Transformer (Liu et al. 2021), 3D Swin-Tiny as in paper 001 Table 1",
                description="3D Swin-Tiny: shifted 8x7x7 windows, patch 2x4x4, depths 2/2/6/2",
                paper_params="28.0M (paper 001 Table 4)")
def swin_t(num_classes, num_frames, image_size, **kw):
    return SwinTransformer3D(num_classes, num_frames, image_size, **kw)
