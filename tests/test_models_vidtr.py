"""VidTr / C-VidTr (paper 002): topK_std pooling against a straightforward reference of the
paper's equations, the pooling schedule of Table 1, export with topk/gather, ViT key names.
(Forward/export at the TINY config for every zoo model is in test_models.py.)"""

from __future__ import annotations

import statistics

import pytest
import torch

from mobilekit.models import create_model
from mobilekit.models.vidtr import (SeparableAttention, pooling_schedule, topk_std_rows, topk_std_selection,
                                    use_selection)


def _reference_topk_std(rows: torch.Tensor, keep: int) -> list[list[int]]:
    """Per group: the `keep` rows with the largest (sample) std, then in row order."""
    picks = []
    for group in rows.tolist():
        stds = [statistics.stdev(r) for r in group]
        best = sorted(range(len(stds)), key=lambda i: -stds[i])[:keep]
        picks.append(sorted(best))
    return picks


def test_topk_std_rows_matches_reference():
    torch.manual_seed(0)
    rows = torch.randn(6, 7, 8).softmax(-1)
    assert topk_std_rows(rows, 4).tolist() == _reference_topk_std(rows, 4)


def test_topk_std_rows_keeps_the_earliest_of_tied_rows():
    rows = torch.tensor([[0.1, 0.9], [0.5, 0.5], [0.9, 0.1], [0.1, 0.9], [0.9, 0.1]])[None]
    assert topk_std_rows(rows, 2).tolist() == [[0, 2]] == _reference_topk_std(rows, 2)


@pytest.mark.parametrize("tied", [False, True])
def test_onehot_selection_picks_the_same_rows_as_topk(tied):
    torch.manual_seed(0)
    rows = torch.randn(6, 7, 8).softmax(-1)
    if tied:  # identical rows (identical frames) tie at the threshold
        rows[:, 4] = rows[:, 1]
        rows[:, 6] = rows[:, 1]
    idx = topk_std_rows(rows, 3)
    onehot = torch.nn.functional.one_hot(idx, 7).float()
    assert torch.equal(topk_std_selection(rows, 3), onehot)


def test_topk_std_prefers_peaked_rows_and_keeps_temporal_order():
    uniform = torch.full((5,), 0.2)
    peaked = torch.tensor([0.9, 0.025, 0.025, 0.025, 0.025])
    rows = torch.stack([peaked, uniform, uniform, peaked * 0.5 + uniform * 0.5, uniform])[None]
    assert topk_std_rows(rows, 2).tolist() == [[0, 3]]


def _naive_separable_attention(attn: SeparableAttention, x: torch.Tensor):
    """Eq. 2-8 with the reference code's choices, one (head, location) / (head, row) at a time."""
    b, r, p, c = x.shape
    h, d = attn.num_heads, attn.head_dim
    qkv = attn.qkv(x)
    q, k, v = (qkv[..., i * c:(i + 1) * c].reshape(b, r, p, h, d) for i in range(3))
    keep = attn.keep
    r_out = r if keep is None else 1 + keep
    out = torch.zeros(b, r_out, p, h, d)
    picked_rows = torch.zeros(b, h, p, r_out, dtype=torch.long)
    for bi in range(b):
        for hi in range(h):
            qs, ks, vs = [], [], []                       # per location, after temporal attention
            for pi in range(p):
                qt, kt, vt = q[bi, :, pi, hi], k[bi, :, pi, hi], v[bi, :, pi, hi]      # (R, d)
                a = torch.softmax(qt @ kt.T * attn.scale, dim=-1)                      # (R, R)
                rows = list(range(r))
                if keep is not None:  # cls row 0 always kept, frame rows by topK_std
                    rows = [0] + [1 + i for i in _reference_topk_std(a[1:][None], keep)[0]]
                picked_rows[bi, hi, pi] = torch.tensor(rows)
                qs.append(qt[rows]), ks.append(kt[rows]), vs.append(a[rows] @ vt)
            for ri in range(r_out):
                qr = torch.stack([t[ri] for t in qs])                                   # (P, d)
                kr = torch.stack([t[ri] for t in ks])
                vr = torch.stack([t[ri] for t in vs])
                out[bi, ri, :, hi] = torch.softmax(qr @ kr.T * attn.scale, dim=-1) @ vr
    return attn.proj(out.reshape(b, r_out, p, c)), picked_rows


def _as_indices(idx: torch.Tensor) -> torch.Tensor:
    """Row indices (G, keep) from either selection: indices, or a 0/1 matrix (G, keep, R)."""
    if not idx.is_floating_point():
        return idx
    assert ((idx == 0) | (idx == 1)).all() and (idx.sum(-1) == 1).all()     # one row per slot
    return idx.argmax(-1)


@pytest.mark.parametrize("keep, selection, frames", [(None, "onehot", None), (2, "onehot", None),
                                                     (2, "onehot", 4), (2, "topk", None)])
def test_separable_attention_matches_naive_equations(keep, selection, frames):
    torch.manual_seed(0)
    attn = SeparableAttention(dim=8, num_heads=2, keep=keep, selection=selection, frames=frames).eval()
    x = torch.randn(2, 5, 4, 8)                       # 1 + 4 frames, 1 + 3 patches
    with torch.no_grad():
        out, idx = attn(x)
        expected, picked = _naive_separable_attention(attn, x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    if keep is not None:
        assert out.shape == (2, 1 + keep, 4, 8)
        # idx covers frame rows 1: (offset by one) per (batch, head, location)
        torch.testing.assert_close(_as_indices(idx).reshape(2, 2, 4, keep) + 1, picked[..., 1:])


@pytest.mark.parametrize("selection", ["onehot", "topk"])
def test_residual_follows_the_kept_rows(selection):
    torch.manual_seed(0)
    attn = SeparableAttention(dim=8, num_heads=2, keep=2, selection=selection).eval()
    x = torch.randn(1, 5, 3, 8)
    _, sel = attn(x)
    kept = attn.keep_rows(x, sel)
    idx = _as_indices(sel)
    rows = idx.reshape(1, 2, 3, 2)                    # (B, heads, locations, keep)
    for hi in range(2):
        for pi in range(3):
            chans = slice(hi * 4, (hi + 1) * 4)
            torch.testing.assert_close(kept[0, 0, pi, chans], x[0, 0, pi, chans])      # cls row
            torch.testing.assert_close(kept[0, 1:, pi, chans], x[0, 1 + rows[0, hi, pi], pi, chans])


def test_c_vidtr_s_schedule_is_table_1():
    model = create_model("c_vidtr_s", num_classes=5, image_size=32, dim=16, num_heads=2)
    # Table 1, C-VidTr-S: 8 frames, pooling at layers [1, 2, 4] to tau = [6, 4, 2].
    assert model.keep_schedule == [None, 6, 4, None, 2] + [None] * 7
    assert pooling_schedule(2, 12, (1, 2, 4), (2, 2, 2)) == [None, 1] + [None] * 10
    with pytest.raises(ValueError, match="outside the 12 layers"):
        pooling_schedule(8, 12, (1, 12), (2, 2))


def test_c_vidtr_exports_with_static_topk_and_gather():
    torch.manual_seed(0)
    model = create_model("c_vidtr_s", num_classes=5, num_frames=8, image_size=32,
                         dim=16, num_heads=2, depth=5).eval()
    assert use_selection(model, "topk") == 3
    x = torch.randn(1, 8, 3, 32, 32)
    ep = torch.export.export(model, (x,))
    topks = [n for n in ep.graph.nodes if n.target == torch.ops.aten.topk.default]
    # two topk per pooling layer (threshold, then position), k a static int
    assert [n.args[1] for n in topks] == [6, 6, 4, 4, 2, 2]
    assert any(n.target == torch.ops.aten.gather.default for n in ep.graph.nodes)
    with torch.no_grad():
        torch.testing.assert_close(ep.module()(x), model(x), atol=1e-5, rtol=1e-5)


def test_onehot_selection_exports_without_topk_and_gives_the_same_output():
    torch.manual_seed(0)
    model = create_model("c_vidtr_s", num_classes=5, num_frames=8, image_size=32,
                         dim=16, num_heads=2, depth=5).eval()
    x = torch.randn(1, 8, 3, 32, 32)
    with torch.no_grad():
        assert use_selection(model, "topk") == 3
        expected = model(x)
        assert use_selection(model, "onehot") == 3                  # the default
        ep = torch.export.export(model, (x,))
        ops = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
        # Nothing XNNPACK lacks a kernel for: no topk / gather / var / comparisons / casts / alias.
        for op in ("topk", "gather", "var", "std", "ge.", "gt.", "eq.", "lt.", "alias", "_to_copy", "arange"):
            assert not [o for o in ops if op in o], (op, sorted(ops))
        torch.testing.assert_close(model(x), expected, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(ep.module()(x), expected, atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown selection"):
        use_selection(model, "sort")


def test_vidtr_uses_vit_parameter_names():
    keys = create_model("vidtr_ti", num_classes=5, num_frames=2, image_size=32).state_dict()
    for key in ("patch_embed.proj.weight", "blocks.0.norm1.weight", "blocks.0.attn.qkv.weight",
                "blocks.11.attn.proj.bias", "blocks.11.mlp.fc2.weight", "norm.weight"):
        assert key in keys
    assert keys["blocks.0.attn.qkv.weight"].shape == (3 * 192, 192)
