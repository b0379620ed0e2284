"""Rewrites `mobilekit check --fix` applies (on a private copy of the model), and the advice
the checks print for each op that leaves a target's fast path.

The module rewrites themselves live with the zoo's layers in mobilekit/models/rewrites.py
(`rewrite_conv3d`, `decompose_layer_norms`) and mobilekit/models/tsm.py (`temporal_shift`,
written with cat/pad); this file decides which to apply and what to suggest.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from mobilekit.models.rewrites import rewrite_conv3d


def _shift_forward(self, x: torch.Tensor) -> torch.Tensor:
    from mobilekit.models.tsm import temporal_shift

    return self.net(temporal_shift(x, self.n_segment, self.fold_div))


def rewrite_temporal_shifts(model: nn.Module) -> int:
    """Give every reference-style TSM `TemporalShift` (attributes `net`, `n_segment`,
    `fold_div`; MIT HAN lab's temporal_shift.py) a forward that shifts with slices + F.pad +
    cat instead of slice assignment into a zero tensor (`out[:, :-1, :fold] = ...`), which
    torch.export, Core ML and LiteRT do not all take. Same channels moved, same numbers."""
    count = 0
    for module in model.modules():
        if all(hasattr(module, a) for a in ("net", "n_segment", "fold_div")) and \
                not getattr(type(module), "_mobilekit_shift_rewritten", False):
            cls = type(module)
            module.__class__ = type(f"{cls.__name__}Cat", (cls,), {"forward": _shift_forward,
                                                                     "_mobilekit_shift_rewritten": True})
            count += 1
    return count


# name -> (rewrite in place returning a count, what it does). Order matters: applied in turn.
FIXES: dict[str, tuple[Callable[[nn.Module], int], str]] = {
    "conv3d_as_conv2d": (rewrite_conv3d, "Conv3d -> sum of conv2d over time-shifted frames "
                                         "(and BatchNorm3d on a 4-D view)"),
    "temporal_shift_cat": (rewrite_temporal_shifts, "TSM shift with slices + pad + cat, no slice assignment"),
}


def apply_fixes(model: nn.Module) -> list[str]:
    """Apply every rewrite that finds something to change (in place); their names."""
    return [name for name, (fn, _) in FIXES.items() if fn(model)]


def _is_conv3d(nodes) -> bool:
    for n in nodes:
        w = n.args[1].meta.get("val") if len(n.args) > 1 and isinstance(n.args[1], torch.fx.Node) else None
        if w is not None and w.dim() == 5:
            return True
    return False


# Advice per op (the name without its overload), by target family.
_ADVICE = {
    "aten.native_layer_norm": "converters apply decompose_layer_norms for xnnpack (DecomposedLayerNorm, "
                              "mobilekit.models.rewrites); use it in your own pipeline",
    "aten.layer_norm": "DecomposedLayerNorm (mobilekit.models.rewrites.decompose_layer_norms)",
    "aten.expand_copy": "fold heads into the batch and use 3-D torch.bmm (mobilekit.models.layers.Attention); "
                        "avoid broadcasting 4-D matmuls and .expand",
    "aten.select_copy": "x[:, i:i+1].reshape(...) instead of x[:, i] (layers.first_token)",
    "aten.alias_copy": "drop the no-op slice/view",
    "aten.mean": "`mobilekit convert` rewrites it for xnnpack (graph_mean_as_4d, converters/graph_rewrites.py: "
                 "a keepdim 4-D mean over (2, 3)); check without --as-written to see the result",
    "aten._adaptive_avg_pool2d": "global pooling as a 4-D mean over (2, 3) (graph_adaptive_pool_as_mean does it "
                                 "for output size 1); fixed-size pooling as avg_pool2d",
    "aten.avg_pool3d": "`mobilekit convert` rewrites it for xnnpack (graph_avg_pool3d_as_2d, "
                       "converters/graph_rewrites.py: avg_pool2d per frame, then over time)",
    "aten._softmax": "`mobilekit convert` rewrites it for xnnpack (graph_softmax_last_dim, "
                     "converters/graph_rewrites.py: permute + softmax over the last dim + permute)",
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
    "aten._native_batch_norm_legit_no_training": "BatchNorm on a 4-D view (BatchNorm3dAs2d; `--fix` does it "
                                                 "together with the conv3d rewrite)",
}


def suggest_rewrite(target: str, op: str, nodes) -> str | None:
    base = op.rsplit(".", 1)[0] if op.count(".") >= 2 else op
    if base == "aten.convolution" and _is_conv3d(nodes):
        return "`mobilekit check --fix` / rewrite_conv3d: Conv3d as a sum of conv2d over shifted frames"
    return _ADVICE.get(base)
