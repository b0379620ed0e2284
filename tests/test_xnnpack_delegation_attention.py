"""Transformer baselines on XNNPACK, for real: Swin's weight-only relative-position bias and
patch-embedding kernel are frozen into constants (freeze_weight_derived), C-VidTr's topK_std
pooling is built from delegable ops (4-D means, clamp/ceil steps, constant-weight linears and
a one-hot bmm), the converter's xnnpack rewrites leave the numbers as they are, and ExecuTorch's
real partitioner delegates every op of a program that then runs on the host.

Budget (2 slow cores): the tiny config (2 frames, 64x64, 5 classes, batch 1). The rewrites are
compared on the zoo models as they are; the partitioner runs on shallow variants (`SHALLOW`,
the same code and every kind of block, fewer of them). The full-depth check is
`mobilekit check --model swin_t --target xnnpack --frames 2 --size 64 --classes 5`.
"""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import TINY, assert_rewrite_keeps_model

from converters.compat import ACCELERATED, check
from mobilekit.models import create_model
from converters.pipeline import apply_module_rewrites as apply_target_rewrites
from mobilekit.models.swin3d import PatchEmbed3D, WindowAttention3D
from mobilekit.models.vidtr import SeparableAttention

MODELS = ["swin_t", "c_vidtr_s"]
# swin_t: stage 0 (16x16 tokens padded to 21x21: unshifted + shifted 7x7 windows, patch
# merging), stage 1 (8x8 padded to 14x14, shifted), stage 2 (4x4: one window, no shift).
# c_vidtr_s: layer 1 pools 2 frame rows to 1 (topK_std), layer 0 does not.
SHALLOW = {"swin_t": dict(depths=(2, 2, 1), num_heads=(3, 6, 12)),
           "c_vidtr_s": dict(depth=2, pool_layers=(1,), pool_k=(1,))}
# What may stay on ExecuTorch's portable kernels, with the reason. Nothing: the one op that has
# no XNNPACK kernel, topk, is only used with use_selection(model, "topk") (not the default).
DOCUMENTED_LEFTOVERS: dict[str, set[str]] = {"swin_t": set(), "c_vidtr_s": set()}


def _model(name: str, shallow: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, **TINY, **(SHALLOW[name] if shallow else {})).eval()


def _clips(n: int = 2) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(1, TINY["num_frames"], 3, TINY["image_size"], TINY["image_size"], generator=g)
            for _ in range(n)]


@pytest.mark.parametrize("name", MODELS)
def test_xnnpack_rewrites_keep_the_outputs_and_the_state_dict(name):
    model = _model(name)
    rewritten = copy.deepcopy(model)
    applied = apply_target_rewrites(rewritten, "xnnpack")
    assert "decompose_layer_norms" in applied
    assert ("freeze_weight_derived" in applied) == (name == "swin_t")
    # No buffer the rewritten forward leaves unused: ExecuTorch serializes unused buffers into the
    # .pte (Swin's index into the bias table; per-tap kernels of the patch embedding's Conv3d).
    assert not [n for n, _ in rewritten.named_buffers() if "relative_position_index" in n or "tap_weight" in n]
    assert_rewrite_keeps_model(model, rewritten, _clips(), min_spread=1e-4)


def test_swin_freeze_is_bit_identical_and_leaves_contiguous_constants():
    """Core ML targets apply freeze_weight_derived alone: the numbers must not move at all.
    The frozen buffers must be contiguous: ExecuTorch serializes a strided constant with a
    permuted dim order, and XNNPACK then fails at run time (shape propagation, error 0x1)."""
    model = _model("swin_t")
    frozen = copy.deepcopy(model)
    assert apply_target_rewrites(frozen, "ane") == ["freeze_weight_derived"]
    attns = [m for m in frozen.modules() if isinstance(m, WindowAttention3D)]
    assert attns and all(a.frozen and a.frozen_bias.is_contiguous() for a in attns)
    embed = next(m for m in frozen.modules() if isinstance(m, PatchEmbed3D))
    assert embed.proj.frozen and embed.proj.frames_weight.is_contiguous()
    assert list(model.state_dict()) == list(frozen.state_dict())     # buffers are non-persistent
    with torch.no_grad():
        for clip in _clips():
            assert torch.equal(frozen(clip), model(clip))
    # Nothing weight-only is left in the attention: no gather from the table, no unsqueeze.
    nodes = [n for n in torch.export.export(frozen, (_clips(1)[0],)).graph.nodes if n.op == "call_function"]
    in_attn = {str(n.target) for n in nodes
               if "WindowAttention3D" in str(n.meta.get("nn_module_stack", {}).values())}
    assert "aten.bmm.default" in in_attn
    assert not [op for op in in_attn if "index" in op or "unsqueeze" in op], sorted(in_attn)
    assert not [n for n in nodes if "index" in str(n.target)]
    for m in frozen.modules():                             # and back: unfreeze() restores the gather
        if hasattr(m, "unfreeze"):
            m.unfreeze()
    assert not any(getattr(m, "frozen", False) for m in frozen.modules())
    with torch.no_grad():
        assert torch.equal(frozen(_clips(1)[0]), model(_clips(1)[0]))


def test_c_vidtr_selection_uses_constant_buffers():
    model = _model("c_vidtr_s")
    pooled = [m for m in model.modules() if isinstance(m, SeparableAttention) and m.keep is not None]
    assert [(m.keep, m.sel_earlier.shape[0]) for m in pooled] == [(1, 2)]
    assert not any(k.startswith(("blocks.1.attn.sel_",)) for k in model.state_dict())


@pytest.mark.parametrize("name", MODELS)
def test_xnnpack_partitioner_delegates_every_op(name):
    """The real check: ExecuTorch's XnnpackPartitioner on the converter's rewritten copy, plus
    one run of the .pte on the host (a failing run makes the verdict cannot-convert)."""
    model = _model(name, shallow=True)
    result = check(model, ["xnnpack"], example_input=_clips(1)[0])
    report = result.reports[0]
    assert "decompose_layer_norms" in report.rewrites
    left = {f.op.rsplit(".", 1)[0] for f in report.findings}
    assert left <= DOCUMENTED_LEFTOVERS[name], [(f.op, f.modules, f.why) for f in report.findings]
    assert report.verdict == ACCELERATED, (report.notes, [(f.op, f.why) for f in report.findings])
    assert report.accelerated_share == 1.0 and report.op_share == 1.0
    assert report.notes[0].startswith("1 delegated subgraph(s)"), report.notes   # one delegate call
