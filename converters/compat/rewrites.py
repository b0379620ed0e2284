"""What `mobilekit check --fix` applies, keyed by the findings it removes, and the advice the
checks print for each op that leaves a target's fast path.

Two kinds of fix, one name space (a finding's `fix`):

- graph passes (converters/graph_rewrites.py, GRAPH_PASSES): work on the torch.export graph
  of any model; each declares the ops (and the condition on the node) it removes, and the
  check that finds such a node names the pass on the finding (`fix_for`);
- module fixes (FIXES below): retype a third-party layer whose pattern no graph pass can
  undo (TSM's slice-assignment shift is functionalized into slice_scatter before any pass
  sees it); a finding of one of their ops is theirs when the model holds such a layer.

The zoo's module rewrites (`rewrite_conv3d`, `decompose_layer_norms`) live with its layers in
mobilekit/models/rewrites.py and are the backends' business (Target.rewrites).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from converters.graph_rewrites import GRAPH_PASSES, fix_for


def _shift_forward(self, x: torch.Tensor) -> torch.Tensor:
    from mobilekit.models.tsm import temporal_shift

    return self.net(temporal_shift(x, self.n_segment, self.fold_div))


def _reference_shifts(model: nn.Module) -> list[nn.Module]:
    """Reference-style TSM `TemporalShift` layers (attributes `net`, `n_segment`, `fold_div`;
    MIT HAN lab's temporal_shift.py) not rewritten yet."""
    return [m for m in model.modules() if all(hasattr(m, a) for a in ("net", "n_segment", "fold_div"))
            and not getattr(type(m), "_mobilekit_shift_rewritten", False)]


def rewrite_temporal_shifts(model: nn.Module) -> int:
    """Give every reference-style TSM `TemporalShift` a forward that shifts with slices +
    F.pad + cat instead of slice assignment into a zero tensor (`out[:, :-1, :fold] = ...`),
    which torch.export, Core ML and LiteRT do not all take. Same channels moved, same numbers."""
    count = 0
    for module in _reference_shifts(model):
        cls = type(module)
        module.__class__ = type(f"{cls.__name__}Cat", (cls,), {"forward": _shift_forward,
                                                                 "_mobilekit_shift_rewritten": True})
        count += 1
    return count


@dataclass(frozen=True)
class ModuleFix:
    name: str
    apply: Callable[[nn.Module], int]      # in place; how many layers it rewrote
    finds: Callable[[nn.Module], int]      # how many it would rewrite (changes nothing)
    ops: tuple[str, ...]                   # the findings it removes (ops without overload)
    description: str


FIXES: dict[str, ModuleFix] = {f.name: f for f in (
    ModuleFix("temporal_shift_cat", rewrite_temporal_shifts, lambda m: len(_reference_shifts(m)),
              # what a slice assignment into zeros leaves (xnnpack; measured on the reference shift)
              ("aten.slice_scatter", "aten.copy", "aten.copy_", "aten.full_like", "aten.zeros_like",
               "aten.index_put", "aten.index_put_"),
              "TSM shift with slices + pad + cat, no slice assignment"),
)}


def _base(op: str) -> str:
    return op.rsplit(".", 1)[0] if op.count(".") >= 2 else op


def module_fix_for(op: str, model: nn.Module) -> str | None:
    """The module fix that removes a finding of `op` in `model`, if the model has its layer."""
    return next((f.name for f in FIXES.values() if _base(op) in f.ops and f.finds(model)), None)


def apply_module_fixes(model: nn.Module, names) -> list[str]:
    """Apply the named module fixes (in place) in FIXES' order; those that changed something."""
    return [name for name, f in FIXES.items() if name in names and f.apply(model)]


def describe(name: str) -> str:
    """What the fix of that name does, in words."""
    return (GRAPH_PASSES[name] if name in GRAPH_PASSES else FIXES[name]).description


def fix_advice(target: str, name: str) -> str:
    """The suggested rewrite for a finding `--fix` removes."""
    from converters.backends import get_target

    by_convert = name in get_target(target).graph_passes
    return f"`--fix` applies {name}: {describe(name)}" + ("; `mobilekit convert` does too" if by_convert else "")


# Advice per op (the name without its overload), by target family.
_ADVICE = {
    "aten.native_layer_norm": "converters apply decompose_layer_norms for xnnpack (DecomposedLayerNorm, "
                              "mobilekit.models.rewrites); use it in your own pipeline",
    "aten.layer_norm": "DecomposedLayerNorm (mobilekit.models.rewrites.decompose_layer_norms)",
    "aten.expand_copy": "fold heads into the batch and use 3-D torch.bmm (mobilekit.models.layers.Attention); "
                        "avoid broadcasting 4-D matmuls and .expand",
    "aten.select_copy": "x[:, i:i+1].reshape(...) instead of x[:, i] (layers.first_token)",
    "aten.alias_copy": "drop the no-op slice/view",
    "aten.mean": "a keepdim 4-D mean over (2, 3) between reshapes (what mean_as_4d writes; it leaves means "
                 "that cast with dtype=)",
    "aten._adaptive_avg_pool2d": "global pooling as a 4-D mean over (2, 3) (graph_adaptive_pool_as_mean does it "
                                 "for output size 1); fixed-size pooling as avg_pool2d",
    "aten.avg_pool3d": "avg_pool2d per frame, then over time (what avg_pool3d_as_2d writes; it leaves "
                       "ceil_mode, divisor_override and uncounted temporal padding)",
    "aten.any": "write attention from Linear + 3-D bmm + softmax (mobilekit.models.layers.Attention), "
                "not SDPA / nn.MultiheadAttention",
    "aten.eq": "same as above: no masks at inference (layers.Attention)",
    "aten.logical_not": "same as above: no masks at inference (layers.Attention)",
    "aten.where": "same as above, or arithmetic masking (x * m + (1 - m) * y)",
    "aten.full_like": "precompute constants as buffers",
    "aten.arange": "precompute it as a buffer at build time",
    "aten.split_with_sizes_copy": "static slices (x[..., :c], x[..., c:2c]) instead of chunk/split/unbind",
    "aten.cumsum": "a matmul with a precomputed lower-triangular ones matrix (delegable bmm/mm)",
    "aten.topk": "no delegable equivalent: keep it (runs on portable kernels), or select frames "
                 "with a fixed pattern instead of data-dependent top-k",
    "aten.gather": "no delegable equivalent for data-dependent indices; with static indices, slices + cat",
    "aten.var": "var = mean((x - mean(x))^2) with 4-D keepdim means over (2, 3)",
    "aten._native_batch_norm_legit_no_training": "BatchNorm right after a conv / linear with constant weights, "
                                                 "or on a rank 2-4 input (batch_norm_5d_as_4d for rank 5)",
}


def suggest_rewrite(target: str, op: str, nodes) -> str | None:
    fix = fix_for(op, nodes)
    if fix:
        return fix_advice(target, fix)
    return _ADVICE.get(_base(op))
