"""Automatic mixed precision: which quantized ops to keep in float.

`--keep-accuracy FLOOR`: the ops ranked by explain.py (the noise each adds, worst first) are
kept in float greedily, the worst first, until the mean logit cosine with the fp32 model on
the held-out clips reaches FLOOR. Each try prepares, calibrates and converts the graph again
with the first k ops kept float (pt2e.float_nodes) and runs it in PyTorch; k doubles until the
floor is met, then a bisection finds the smallest k. The chosen set is lowered once and the
artifact measured on the runtime (the report says both).

`--prefer speed`: also keeps in float the ops whose int8 XNNPACK kernel took longer than its
fp32 kernel in the host's ETDump profile (explain.kernel_times).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from converters.quantize.report import agreement
from mobilekit.errors import MobilekitError

PREFER = ("accuracy", "speed")


def check_floor(floor: float | None) -> None:
    if floor is not None and not 0 < floor <= 1:
        raise MobilekitError(f"--keep-accuracy {floor} is not a cosine floor in (0, 1]",
                             "give the mean logit cosine to keep, e.g. --keep-accuracy 0.99")


def check_floor_reachable(floor: float, float_cosine: float, runtime: str) -> None:
    """The fp32 artifact itself must meet the floor, or no mix of layers can."""
    if float_cosine < floor:
        raise MobilekitError(f"--keep-accuracy {floor} cannot be met: the all-float artifact's mean logit cosine "
                             f"with the eager model on the held-out clips is {float_cosine:.6f} on {runtime}",
                             f"give a floor of at most {float_cosine:.6f}")


def outputs_of(graph: torch.fx.GraphModule, clips: list[np.ndarray]) -> list[list[np.ndarray]]:
    with torch.no_grad():
        outs = [graph(torch.from_numpy(c)) for c in clips]
    return [[o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))] for out in outs]


def keep_accuracy(build: Callable[[set[str]], torch.fx.GraphModule], ranking: list[str], clips: list[np.ndarray],
                  reference: list[list[np.ndarray]], floor: float, always: set[str] | None = None
                  ) -> tuple[set[str], list[dict]]:
    """(the ops to keep float, the tries). `build(nodes)`: the converted graph with `nodes` in
    float; `ranking`: candidate ops, the most harmful first; `always`: kept float regardless
    (--prefer speed). If even every ranked op in float misses the floor, all are kept."""
    always = set(always or ())
    tried: dict[int, dict] = {}

    def score(k: int) -> dict:
        if k not in tried:
            kept = always | set(ranking[:k])
            got = agreement(reference, outputs_of(build(kept), clips))
            tried[k] = {"kept": len(kept), "ranked_kept": k, "mean_cosine": round(got["mean_cosine"], 6),
                        "top1_agreement": round(got["top1_agreement"], 4)}
        return tried[k]

    def meets(k: int) -> bool:
        return score(k)["mean_cosine"] >= floor

    if meets(0):
        return always, [tried[0]]
    low, k = 0, 1
    while k < len(ranking) and not meets(k):
        low, k = k, min(2 * k, len(ranking))
    k = min(k, len(ranking))
    if k == len(ranking) and not meets(k):
        return always | set(ranking), [tried[i] for i in sorted(tried)]
    high = k
    while high - low > 1:
        mid = (low + high) // 2
        if meets(mid):
            high = mid
        else:
            low = mid
    return always | set(ranking[:high]), [tried[i] for i in sorted(tried)]
