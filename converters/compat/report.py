"""What a compatibility check reports, and the graph helpers every target's check shares.

A `TargetReport` per target: a verdict, the share of compute on the target's accelerated
path, and one `Finding` per op (or rule) that is not on it, with where in the user's model
it comes from (the exported graph's nn_module_stack), why, and what to do about it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field

import torch

from converters.diagnose import _module_path

# Verdicts, from best to worst.
ACCELERATED = "accelerated"        # every op on the target's fast path
FALLBACKS = "fallbacks"            # converts and runs, some ops elsewhere (portable kernels, CPU, flex)
CANNOT_CONVERT = "cannot-convert"  # the converter (or the runtime loading the file) fails
NOT_CHECKED = "not-checked"        # the check itself could not run here (a tool is missing)

VERDICT_TEXT = {ACCELERATED: "runs fully accelerated", FALLBACKS: "runs with fallbacks",
                CANNOT_CONVERT: "cannot convert", NOT_CHECKED: "not checked"}


@dataclass
class Finding:
    """One op (or one heuristic rule) that keeps work off the accelerated path."""

    op: str                        # aten.topk.default, MIL `gather`, TFLite FlexErfinv ...
    count: int
    modules: list[str]             # "path.to.module (Class)", where the op comes from
    why: str
    rewrite: str | None = None     # what to change in the model (or `--fix` when it can)
    placement: str = "fallback"    # portable, cpu, flex, custom, gpu-fallback, ...
    evidence: str = "tool"         # tool (partitioner / converter / runtime) or heuristic
    severity: str = "fallback"     # fallback (leaves the fast path) or perf / numeric (warnings)
    flops_share: float | None = None  # this op's share of the model's FLOPs, where known
    # The rewrite that removes it, by name: a graph pass (converters.graph_rewrites.GRAPH_PASSES)
    # or a module fix (converters.compat.rewrites.FIXES); `check --fix` applies exactly these.
    fix: str | None = None


@dataclass
class TargetReport:
    target: str
    verdict: str
    accelerated_share: float | None = None   # of compute on the fast path (see share_basis)
    share_basis: str | None = None            # "flops" (MAC-weighted) or "ops" (op count)
    op_share: float | None = None             # of ops (nodes) on the fast path
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rewrites: list[str] = field(default_factory=list)   # rewrites applied before the check
    fixed: list[str] = field(default_factory=list)      # of those, what --fix applied (keyed by findings)
    tool: str = ""                            # what decided: partitioner, converter, heuristics
    profile: list[dict] | None = None         # --profile: per-op times (xnnpack)
    seconds: float | None = None

    @property
    def fallbacks(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "fallback"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity != "fallback"]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["verdict_text"] = VERDICT_TEXT[self.verdict]
        return d


def verdict_for(findings: list[Finding]) -> str:
    return FALLBACKS if any(f.severity == "fallback" for f in findings) else ACCELERATED


# ---- graph helpers ------------------------------------------------------------------------

def op_name(node: torch.fx.Node) -> str:
    """aten.topk.default for ATen and edge-dialect nodes alike."""
    target = node.target
    name = getattr(target, "_name", None) or getattr(target, "__name__", None) or str(target)
    name = str(name).replace("::", ".")
    overload = getattr(target, "_overloadname", None)
    if overload and not name.endswith("." + overload):
        name = f"{name}.{overload}"
    return name


def where(node: torch.fx.Node) -> str:
    """`path.in.model (Class)` from nn_module_stack, `(top level)` when the stack is empty."""
    path, cls = _module_path(node)
    if not path:
        return "(top level)"
    return f"{path} ({cls})"


def _numel(val) -> int:
    if isinstance(val, torch.Tensor):
        return val.numel()
    if isinstance(val, (tuple, list)):
        return sum(_numel(v) for v in val)
    return 0


def _val(arg):
    return arg.meta.get("val") if isinstance(arg, torch.fx.Node) else None


def node_flops(node: torch.fx.Node) -> float:
    """FLOPs of one node, a multiply-add counted once (the papers' convention): MACs for
    convolutions and matrix products, one per output element for everything else."""
    name = op_name(node)
    out = node.meta.get("val")
    n_out = _numel(out)
    if "convolution" in name:
        w = _val(node.args[1])
        if w is not None:
            return float(n_out * w.shape[1] * math.prod(w.shape[2:]))
    if any(k in name for k in ("aten.mm", "aten.bmm", "aten.addmm", "aten.linear", "aten.matmul")):
        a = _val(node.args[1] if "addmm" in name else node.args[0])
        if a is not None and a.dim() >= 1:
            return float(n_out * a.shape[-1])
    return float(n_out)


def is_compute(node: torch.fx.Node) -> bool:
    """A node that does work (not getitem, not placeholders, not the delegate calls)."""
    if node.op != "call_function":
        return False
    name = op_name(node)
    return not (name in ("getitem", "_operator.getitem") or "getitem" in name or "executorch_call_delegate" in name)


class FindingGroups:
    """Collects nodes per op into Findings (count, module paths, FLOPs)."""

    def __init__(self, total_flops: float | None = None):
        self.total_flops = total_flops
        self._nodes: dict[str, list[torch.fx.Node]] = defaultdict(list)

    def add(self, key: str, node: torch.fx.Node) -> None:
        self._nodes[key].append(node)

    def __len__(self) -> int:
        return len(self._nodes)

    def findings(self, why, rewrite, fix=None, **kw) -> list[Finding]:
        """`why(key, nodes)` and `rewrite(key, nodes)` give the texts per op, `fix(key, nodes)`
        the name of the rewrite that removes it (converters.graph_rewrites.fix_for)."""
        out = []
        for key, nodes in sorted(self._nodes.items(), key=lambda kv: -len(kv[1])):
            paths = list(dict.fromkeys(where(n) for n in nodes))
            flops = sum(node_flops(n) for n in nodes)
            out.append(Finding(op=key, count=len(nodes), modules=paths, why=why(key, nodes),
                               rewrite=rewrite(key, nodes), fix=fix(key, nodes) if fix else None,
                               flops_share=round(flops / self.total_flops, 4) if self.total_flops else None,
                               **kw))
        return out
