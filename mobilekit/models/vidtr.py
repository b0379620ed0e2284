"""VidTr and compact VidTr (paper 002): a video transformer on raw 16x16 patches with
separable attention MSA(S) = MSA_s(MSA_t(S)).

Tokens form a 2-D grid (T+1) x (N+1): N patches per frame plus a spatial cls token per frame
(column 0), and one more row of temporal cls tokens (row 0), one per spatial location. The
intersection (0, 0) is classified.

One attention block (one qkv projection, one output projection, timm names attn.qkv /
attn.proj, so ViT weights load by key) does, as the paper and its public reference code:
1. temporal attention: per spatial location (and head), the T+1 rows attend to each other;
2. spatial attention: per (kept) row, the N+1 locations attend to each other, with q and k
   taken from the same projection as the temporal attention and the *output of the temporal
   attention as the values*.

Compact VidTr (C-VidTr) shrinks the temporal axis inside the temporal attention with
topK_std pooling (Eq. 9-11): of the T' frame rows of the temporal attention matrix, keep the
`keep` rows with the highest standard deviation (strongly localised attention), in temporal
order; the cls row is always kept. Selection is per head and per spatial location, and the
residual stream, q and k follow the same selection (as the reference code does). `keep` is a
Python int, so every shape is static. The kept rows are picked with a 0/1 selection matrix and
a bmm, the matrix built from 4-D means, clamp/ceil steps and constant-weight linears only
(`topk_std_selection`): XNNPACK delegates all of it (it has no topk, gather, var or comparison
kernel), Core ML converts it, and LiteRT runs it (it cannot load topk, lowered to a StableHLO
sort). `use_selection(model, "topk")` swaps in the textbook two topk + gather (same rows).

Choices of ours, recorded in the cards:
- the learnable positional embedding over the (T+1) x (N+1) grid is added once to the
  tokens (ViT style); the reference code adds it to the input of the first layer's qkv only;
- the pooled attention rows are used as they are; the reference code applies a second
  softmax to them (the paper's Eq. 3-4 has one);
- separable attention in every layer of C-VidTr (the reference's compact model switches to
  joint attention with a single cls token after the last pooling layer);
- `vidtr_ti` (d=192, 3 heads, ViT-Ti sized) is our phone-sized configuration, not the paper's.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from mobilekit.models.layers import Attention, ClassificationHeads, Mlp, init_token
from mobilekit.models.registry import register_model


def row_scores(rows: torch.Tensor) -> torch.Tensor:
    """The topK_std ranking score of each row of `rows` (G, R, K): its variance over dim 2 (the
    mean of squared deviations) -> (G, R).

    std is a monotonic function of this variance (and the reference's unbiased std a constant
    multiple), so the ranking is the std's. Written as 4-D keepdim means over dims (2, 3),
    the one mean XNNPACK delegates (global average pooling); aten.var / std have no XNNPACK
    kernel."""
    g, r, k = rows.shape
    x = rows.reshape(g, r, k, 1)
    d = x - x.mean((2, 3), keepdim=True)
    return (d * d).mean((2, 3), keepdim=True).reshape(g, r)


def topk_std_rows(rows: torch.Tensor, keep: int) -> torch.Tensor:
    """Indices (along dim 1) of the `keep` rows of `rows` (G, R, K) with the highest standard
    deviation over dim 2, in row (temporal) order -> (G, keep) int64. Of rows tied at the
    threshold, the earliest are kept.

    Written with two topk and no sort: ExecuTorch's portable kernels have no sort, and LiteRT
    cannot lower a sort of int64 indices. The first topk finds the threshold (the smallest
    of the `keep` highest scores: amin, not a slice, which at keep=1 would be a full-range
    slice that exports as aten.alias, an op Core ML cannot convert); the second ranks the
    selected rows by position (score R - position, unselected rows score <= 0)."""
    std = row_scores(rows)                                              # (G, R)
    r = std.shape[-1]
    threshold = std.topk(keep, dim=-1).values.amin(dim=-1, keepdim=True)
    selected = (std >= threshold).to(std.dtype)
    position = torch.arange(r, dtype=std.dtype, device=std.device)
    return (selected * r - position).topk(keep, dim=-1).indices


def selection_constants(frames: int, keep: int, dtype: torch.dtype = torch.float32,
                        device=None) -> tuple[torch.Tensor, ...]:
    """The constants of `topk_std_selection` for `frames` rows and `keep` kept: `earlier`
    (R, R), [i, j] = 1 where j < i (twice: as a mul operand and as a linear weight, since
    XNNPACK's partitioner cuts a linear whose weight another op shares into a delegate call of
    its own); the weight (1, R) = -1 and bias (1,) = keep of the linear that computes
    keep - (rows ranked before); `slots` (keep, 1) = 0 .. keep-1."""
    earlier = torch.ones(frames, frames, dtype=dtype, device=device).tril(-1)
    minus_ones = torch.full((1, frames), -1.0, dtype=dtype, device=device)
    keep_bias = torch.full((1,), float(keep), dtype=dtype, device=device)
    slots = torch.arange(keep, dtype=dtype, device=device).reshape(keep, 1)
    return earlier, minus_ones, keep_bias, earlier.clone(), slots


def _step(x: torch.Tensor) -> torch.Tensor:
    """1 where x > 0, else 0 (exactly): ceil(clamp(x, 0, 1)). Every target delegates clamp
    and ceil; comparison ops (gt, eq, ge) and their bool -> float casts XNNPACK does not."""
    return torch.ceil(torch.clamp(x, 0.0, 1.0))


def topk_std_selection(rows: torch.Tensor, keep: int, constants=None) -> torch.Tensor:
    """The rows of `topk_std_rows` as a 0/1 selection matrix (G, keep, R); picking rows is then
    a bmm (exact: every product is x * 1 or x * 0). No topk, sort, gather or comparison op:
    only sub, mul, abs, clamp, ceil, linear (with constant weights) and 4-D means, which
    XNNPACK, Core ML and LiteRT all run (LiteRT lowers topk to a StableHLO sort its
    interpreter cannot load; XNNPACK has no topk, gather, comparison or var kernel).

    Row i is selected when fewer than `keep` rows rank before it (a higher score, or an equal
    score and an earlier position: the same tie rule as `topk_std_rows`); it lands in output
    slot = number of selected rows before it. All counts are small integers, exact in fp32
    and fp16. `constants`: `selection_constants(R, keep)`, registered as buffers by
    SeparableAttention so that the linear weights are constants of the exported program."""
    s = row_scores(rows)                                                # (G, R)
    g, r = s.shape
    earlier, minus_ones, keep_bias, earlier_w, slots = constants if constants is not None else \
        selection_constants(r, keep, s.dtype, s.device)
    si, sj = s.reshape(g, r, 1), s.reshape(g, 1, r)
    higher = _step(sj - si)                                             # [g, i, j]: s_j > s_i
    lower = _step(si - sj)                                              # s_j < s_i
    before = higher + (1.0 - higher - lower) * earlier                  # j ranks before i
    # keep - count in the linear itself: coremltools' fuse_linear_bias pass crashes
    # (IndexError) on a linear followed by a scalar add/sub.
    room = torch.nn.functional.linear(before.reshape(g * r, r), minus_ones, keep_bias)  # keep - count
    selected = torch.clamp(room, 0.0, 1.0).reshape(g, r)                # count < keep
    slot = torch.nn.functional.linear(selected, earlier_w)              # (G, R): selected before i
    onehot = torch.clamp(1.0 - (slot.reshape(g, 1, r) - slots).abs(), 0.0, 1.0)
    return onehot * selected.reshape(g, 1, r)                           # (G, keep, R)


def _keep_rows(t: torch.Tensor, sel: torch.Tensor) -> torch.Tensor:
    """Row 0 of t (G, R, d) plus the frame rows 1: picked by `sel`, indices (G, keep) or a
    selection matrix (G, keep, R-1) -> (G, 1 + keep, d)."""
    if sel.is_floating_point():
        picked = torch.bmm(sel, t[:, 1:])
    else:
        picked = t[:, 1:].gather(1, sel.unsqueeze(-1).expand(-1, -1, t.shape[-1]))
    return torch.cat([t[:, :1], picked], dim=1)


# How topK_std picks rows: a 0/1 selection matrix + bmm (default: delegated on XNNPACK, runs on
# every target), or topk + gather (the textbook form; topk and gather stay on ExecuTorch's
# portable kernels and LiteRT cannot load topk). See `use_selection`.
SELECTIONS = {"topk": topk_std_rows, "onehot": topk_std_selection}


def use_selection(model: nn.Module, selection: str) -> int:
    """Switch every topK_std pooling in `model` (in place) to `selection` ("onehot", the
    default, or "topk"); the same rows, the same numbers. Returns how many attentions pool."""
    if selection not in SELECTIONS:
        raise ValueError(f"unknown selection {selection!r}; choose from {sorted(SELECTIONS)}")
    pooled = [m for m in model.modules() if isinstance(m, SeparableAttention) and m.keep is not None]
    for m in pooled:
        m.selection = selection
    return len(pooled)


class PatchEmbed(nn.Module):
    """ViT patch embedding per frame: a stride-16 16x16 conv (timm name patch_embed.proj)."""

    def __init__(self, patch_size: int, dim: int, in_chans: int = 3):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, dim, patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B*T, 3, H, W) -> (B*T, N, dim)"""
        return self.proj(x).flatten(2).transpose(1, 2)


class SeparableAttention(Attention):
    """MSA_s(MSA_t(S)) over a (B, R, P, C) grid: R = 1 + frames rows, P = 1 + patches columns.

    With `keep` set, topK_std pooling leaves 1 + keep rows. forward returns the attention
    output and the rows it kept (a selection matrix, or indices with selection="topk"; None
    without pooling), which the block uses to pick the same rows of its residual stream.
    `frames` (the frame rows R - 1 coming in, known to VidTr) lets the one-hot selection's
    constants be buffers (not in the state dict), so they export as constants.
    """

    def __init__(self, dim: int, num_heads: int, keep: int | None = None,
                 attn_drop: float = 0.0, proj_drop: float = 0.0, selection: str = "onehot",
                 frames: int | None = None):
        super().__init__(dim, num_heads, qkv_bias=True, attn_drop=attn_drop, proj_drop=proj_drop)
        if selection not in SELECTIONS:
            raise ValueError(f"unknown selection {selection!r}; choose from {sorted(SELECTIONS)}")
        self.keep = keep
        self.selection = selection
        self._sel_names = ("sel_earlier", "sel_minus_ones", "sel_keep", "sel_earlier_w", "sel_slots")
        if keep is not None and frames:
            for name, value in zip(self._sel_names, selection_constants(frames, keep)):
                self.register_buffer(name, value, persistent=False)

    def _select(self, rows: torch.Tensor) -> torch.Tensor:
        if self.selection == "topk":
            return topk_std_rows(rows, self.keep)
        constants = None
        earlier = self._buffers.get("sel_earlier")
        if earlier is not None and earlier.shape[0] == rows.shape[1]:
            constants = tuple(self._buffers[name] for name in self._sel_names)
            if rows.dtype != earlier.dtype:   # (autocast) a no-op .to() would export as an alias
                constants = tuple(t.to(rows.dtype) for t in constants)
        return topk_std_selection(rows, self.keep, constants)

    def _temporal(self, t: torch.Tensor) -> torch.Tensor:
        """(B, R, P, C) -> (B*h*P, R, d): one temporal sequence per head and location."""
        b, r, p, _ = t.shape
        return t.reshape(b, r, p, self.num_heads, self.head_dim).permute(0, 3, 2, 1, 4).reshape(
            b * self.num_heads * p, r, self.head_dim)

    def _from_temporal(self, t: torch.Tensor, b: int, p: int) -> torch.Tensor:
        """(B*h*P, R, d) -> (B, R, P, C), the inverse of _temporal."""
        r = t.shape[1]
        return t.reshape(b, self.num_heads, p, r, self.head_dim).permute(0, 3, 2, 1, 4).reshape(
            b, r, p, self.num_heads * self.head_dim)

    def _temporal_to_spatial(self, t: torch.Tensor, b: int, p: int) -> torch.Tensor:
        """(B*h*P, R, d) -> (B*h*R, P, d): one spatial sequence per head and row."""
        r = t.shape[1]
        return t.reshape(b, self.num_heads, p, r, self.head_dim).permute(0, 1, 3, 2, 4).reshape(
            b * self.num_heads * r, p, self.head_dim)

    def keep_rows(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Apply the rows kept by forward() (indices or selection matrix) to a (B, R, P, C)
        tensor (the residual stream)."""
        b, _, p, _ = x.shape
        return self._from_temporal(_keep_rows(self._temporal(x), idx), b, p)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        b, _, p, c = x.shape
        qkv = self.qkv(x)
        # Static slices of the last dim (delegable), as in layers.Attention.
        q = self._temporal(qkv[..., :c]) * self.scale
        k = self._temporal(qkv[..., c:2 * c])
        v = self._temporal(qkv[..., 2 * c:])
        attn_t = torch.bmm(q, k.transpose(1, 2)).softmax(dim=-1)          # (BhP, R, R)
        idx = None
        if self.keep is not None:
            idx = self._select(attn_t[:, 1:])                               # cls row excluded
            attn_t, q, k = (_keep_rows(t, idx) for t in (attn_t, q, k))
        out_t = torch.bmm(self.attn_drop(attn_t), v)                      # (BhP, R', d)

        q_s, k_s, v_s = (self._temporal_to_spatial(t, b, p) for t in (q, k, out_t))
        attn_s = self.attn_drop(torch.bmm(q_s, k_s.transpose(1, 2)).softmax(dim=-1))
        out = torch.bmm(attn_s, v_s)                                      # (BhR', P, d)
        r = out.shape[0] // (b * self.num_heads)
        out = out.reshape(b, self.num_heads, r, p, self.head_dim).permute(0, 2, 3, 1, 4).reshape(b, r, p, c)
        return self.proj_drop(self.proj(out)), idx


class VidTrBlock(nn.Module):
    """Pre-norm transformer layer with separable attention (timm Block names)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, keep: int | None = None,
                 dropout: float = 0.1, eps: float = 1e-6, frames: int | None = None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = SeparableAttention(dim, num_heads, keep=keep, attn_drop=dropout, proj_drop=dropout,
                                       frames=frames)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act="gelu", drop=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, idx = self.attn(self.norm1(x))
        if idx is not None:
            x = self.attn.keep_rows(x, idx)
        x = x + y
        return x + self.mlp(self.norm2(x))


def pooling_schedule(num_frames: int, depth: int, pool_layers: Sequence[int],
                     pool_k: Sequence[int]) -> list[int | None]:
    """Rows kept per layer (None: no pooling). Layer `pool_layers[i]` (0-based) drops
    `pool_k[i]` frames; at least one frame is always kept, so short clips (tests) still run,
    and a pooling that would drop nothing is skipped."""
    if len(pool_layers) != len(pool_k):
        raise ValueError(f"pool_layers {list(pool_layers)} and pool_k {list(pool_k)} differ in length")
    bad = [i for i in pool_layers if not 0 <= i < depth]
    if bad:
        raise ValueError(f"pool_layers {bad} outside the {depth} layers (0-based)")
    schedule: list[int | None] = [None] * depth
    rows = num_frames
    for layer in range(depth):
        if layer in pool_layers:
            keep = max(1, rows - int(pool_k[list(pool_layers).index(layer)]))
            if keep < rows:
                schedule[layer] = rows = keep
    return schedule


class VidTr(nn.Module):
    def __init__(self, num_classes, num_frames: int, image_size: int, dim: int = 768,
                 depth: int = 12, num_heads: int = 8, mlp_ratio: float = 4.0, patch_size: int = 16,
                 pool_layers: Sequence[int] = (), pool_k: Sequence[int] = (),
                 dropout: float = 0.1, head_dropout: float = 0.5):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of the patch size {patch_size}")
        self.num_frames = num_frames
        self.grid = image_size // patch_size
        n = self.grid * self.grid
        self.patch_embed = PatchEmbed(patch_size, dim)
        self.spatial_cls = init_token(1, num_frames, 1, dim)     # column 0: one per frame
        self.temporal_cls = init_token(1, 1, n + 1, dim)         # row 0: one per location
        self.pos_embed = init_token(1, num_frames + 1, n + 1, dim)
        self.keep_schedule = pooling_schedule(num_frames, depth, pool_layers, pool_k)
        frames_in = [num_frames]                    # frame rows entering each layer
        for keep in self.keep_schedule[:-1]:
            frames_in.append(frames_in[-1] if keep is None else keep)
        self.blocks = nn.ModuleList([
            VidTrBlock(dim, num_heads, mlp_ratio, keep=keep, dropout=dropout, frames=frames)
            for keep, frames in zip(self.keep_schedule, frames_in)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = ClassificationHeads(dim, num_classes, dropout=head_dropout)

    def forward(self, x: torch.Tensor):
        if x.dim() != 5:
            raise ValueError(f"expected a (B, T, 3, H, W) clip, got shape {tuple(x.shape)}")
        b, t = x.shape[:2]
        z = self.patch_embed(x.flatten(0, 1))
        n, c = z.shape[1], z.shape[2]
        z = z.reshape(b, t, n, c)
        # Static shapes: at batch 1 no expand is emitted (expand_copy is not delegated).
        s_cls = self.spatial_cls if b == 1 else self.spatial_cls.expand(b, t, 1, c)
        t_cls = self.temporal_cls if b == 1 else self.temporal_cls.expand(b, 1, n + 1, c)
        z = torch.cat([t_cls, torch.cat([s_cls, z], dim=2)], dim=1) + self.pos_embed
        for blk in self.blocks:
            z = blk(z)
        z = self.norm(z)
        return self.head(z[:, :1, :1].reshape(b, c))


_VIDTR = dict(family="vidtr", paper="VidTr: Video Transformer Without Convolutions (paper 002)",
              num_frames=8, image_size=224)
# Paper Table 1: C-VidTr-S pools after layers [1, 2, 4] down to tau = [6, 4, 2] of 8 frames
# (the reference code's 0-based `layer_pool` with 2 frames dropped each time).
C_VIDTR_S_POOL = dict(pool_layers=(1, 2, 4), pool_k=(2, 2, 2))


@register_model(name="vidtr_s", description="VidTr-S: ViT-B sized separable-attention transformer, 8x8 clips",
                paper_params="not reported; initialised from ViT-B (86M)",
                extra={"differences": "pos. embedding added to the tokens once (ViT style)"}, **_VIDTR)
def vidtr_s(num_classes, num_frames, image_size, **kw):
    return VidTr(num_classes, num_frames, image_size, **kw)


@register_model(name="c_vidtr_s", description="C-VidTr-S: VidTr-S with topK_std temporal pooling "
                "after layers 1, 2, 4 (8 -> 6 -> 4 -> 2 frames)",
                paper_params="not reported; initialised from ViT-B (86M)",
                extra={"pooling": "topK_std, Table 1: layers [1, 2, 4], tau [6, 4, 2]",
                       "differences": "single softmax on pooled rows; separable attention in every layer"},
                **_VIDTR)
def c_vidtr_s(num_classes, num_frames, image_size, **kw):
    return VidTr(num_classes, num_frames, image_size, **{**C_VIDTR_S_POOL, **kw})


@register_model(name="vidtr_ti", description="VidTr-Ti (ours, not in the paper): d=192, 3 heads, "
                "12 layers, ViT-Ti sized for phones", paper_params="n/a (our configuration)", **_VIDTR)
def vidtr_ti(num_classes, num_frames, image_size, **kw):
    return VidTr(num_classes, num_frames, image_size, **{"dim": 192, "num_heads": 3, **kw})
