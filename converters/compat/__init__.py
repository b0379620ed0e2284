"""Operator-compatibility checks: which ops of a model each target runs on its accelerated
path, which it does not (with the module path they come from, why, what to rewrite, and the
name of the rewrite that removes it where one does), and which it cannot convert at all.
Each backend's compat.py (converters/backends/<family>/compat.py) checks its targets:

    executorch   xnnpack: ExecuTorch's real XNNPACK partitioner (+ one host run, + ETDump
                 profile); vulkan: the Vulkan partitioner
    coreml       ane / coreml-gpu / coreml-cpu: coremltools conversion + ANE heuristics
                 (MLComputePlan on macOS)
    litert       tflite: builtin vs custom / Flex ops, LiteRT GPU-delegate analyzer
    torchscript  ptl: trace / freeze / lite interpreter
    onnx         onnx: dynamo exporter + ONNX Runtime session

    from converters.compat import check
    result = check("x3d_xs", ["xnnpack"], num_frames=2, image_size=64, fix=True)
    result.reports[0].verdict, result.reports[0].findings   # Finding.fix: what --fix applies
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch

from converters.backends import DEFAULT_TARGET
from converters.compat.report import (ACCELERATED, CANNOT_CONVERT, FALLBACKS, NOT_CHECKED, VERDICT_TEXT,
                                      Finding, TargetReport)
from mobilekit.errors import MobilekitError



@dataclass
class CheckResult:
    model: str
    input_shape: list[int]
    rewrites: list[str] = field(default_factory=list)   # applied by fix=True
    reports: list[TargetReport] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"model": self.model, "input_shape": self.input_shape, "rewrites": self.rewrites,
                "targets": [r.to_dict() for r in self.reports]}

    @property
    def clean(self) -> bool:
        """True when every target runs fully accelerated (what --strict requires)."""
        return all(r.verdict == ACCELERATED for r in self.reports)


def resolve_targets(targets) -> list[str]:
    from converters.backends import checked_target_names, get_target

    checked = checked_target_names()
    names = [targets] if isinstance(targets, str) else list(targets)
    if "all" in names:
        return checked
    out = []
    for n in names:
        name = get_target(n).name
        if name not in checked:
            raise MobilekitError(f"no compatibility check for target {name!r}",
                                 f"check one of {', '.join(checked)} (for et-coreml, check ane)")
        out.append(name)
    return list(dict.fromkeys(out))


def check(model_or_name=None, targets=(DEFAULT_TARGET,), *, fix: bool = False, profile: bool = False,
          module: str | None = None, checkpoint: str | None = None, example_input: torch.Tensor | None = None,
          input_shape: list[int] | None = None, num_classes=None, num_frames: int | None = None,
          image_size: int | None = None, on_target=None, as_written: bool = False) -> CheckResult:
    """Check one model (zoo name, nn.Module, checkpoint or `file.py:Class`) against targets.

    The caller's model is never modified: each target gets a private copy (eval mode, tuple
    outputs) with the converter's own rewrites for that target; `as_written` skips them (the
    model as the user wrote it). Each finding names the rewrite that removes it, if one does
    (`Finding.fix`). With `fix`, each target's check is followed by exactly the rewrites its
    findings name, applied to a fresh copy, and a re-check (again while the re-check names new
    ones); the report lists them (`TargetReport.fixed`, and all of them in `CheckResult.rewrites`).
    `on_target(name)` is called as each target starts (progress bars)."""
    from converters.source import prepare_for_export, resolve_model

    names = resolve_targets(targets)
    src = resolve_model(model_or_name, checkpoint=checkpoint, module=module, example_input=example_input,
                        input_shape=input_shape, num_classes=num_classes, num_frames=num_frames,
                        image_size=image_size)
    base = prepare_for_export(src)[0]
    result = CheckResult(model=src.name, input_shape=src.input_shape)
    x = src.example_input
    coreml_caches: dict = {}   # Core ML converts once per precision and set of rewrites
    for name in names:
        if on_target:
            on_target(name)
        t0 = time.perf_counter()
        try:
            report = _check_target(name, base, x, profile, coreml_caches, as_written=as_written, fix=fix)
        except MobilekitError:
            raise
        except ImportError as e:
            report = TargetReport(target=name, verdict=NOT_CHECKED, notes=[f"a tool is missing: {e}"])
        except Exception as e:  # a bug in a check must not hide the other targets' reports
            first = str(e).splitlines()[0] if str(e) else ""
            report = TargetReport(target=name, verdict=NOT_CHECKED,
                                  notes=[f"the check itself failed: {type(e).__name__}: {first[:300]}"])
        report.seconds = round(time.perf_counter() - t0, 1)
        result.rewrites += [r for r in report.fixed if r not in result.rewrites]
        result.reports.append(report)
    return result


# A pass can leave work for another (global pooling leaves a 5-D mean): re-check while the
# re-check names fixes not applied yet, at most this many times.
MAX_FIX_ROUNDS = 3


def _check_target(name: str, base, x, profile: bool, coreml_caches: dict, *, as_written: bool,
                  fix: bool) -> TargetReport:
    from converters.compat.rewrites import FIXES
    from converters.graph_rewrites import GRAPH_PASSES

    module_fixes: list[str] = []
    graph_fixes: list[str] = []
    first = report = _check_variant(name, base, x, profile, coreml_caches, as_written, module_fixes, graph_fixes)
    if not fix:
        return report
    for _ in range(MAX_FIX_ROUNDS):
        wanted = list(dict.fromkeys(f.fix for f in report.findings if f.fix))
        new_module = [n for n in wanted if n in FIXES and n not in module_fixes]
        new_graph = [n for n in wanted if n in GRAPH_PASSES and n not in graph_fixes]
        if not new_module and not new_graph:
            break
        module_fixes += new_module
        graph_fixes += new_graph
        report = _check_variant(name, base, x, profile, coreml_caches, as_written, module_fixes, graph_fixes)
    if report is not first:
        gone = [f"{f.op} x{f.count}" for f in first.findings
                if f.fix and not any(g.op == f.op for g in report.findings)]
        left = [f"{f.op} ({f.fix})" for f in report.findings if f.fix]
        report.notes.insert(0, f"--fix applied {', '.join(report.fixed) or 'nothing'}"
                               + (f"; removed {', '.join(gone)}" if gone else "")
                               + (f"; still there: {', '.join(left)}" if left else ""))
    return report


def _check_variant(name: str, base, x, profile: bool, coreml_caches: dict, as_written: bool,
                   module_fixes: list[str], graph_fixes: list[str]) -> TargetReport:
    """The check of a fresh copy of `base` with the named module fixes, the converter's rewrites
    for the target (unless as written), then the named graph passes."""
    from converters.compat.rewrites import apply_module_fixes, fix_advice, module_fix_for
    from converters.graph_rewrites import rewrite_graph
    from converters.pipeline import rewrite_for_target

    model = copy.deepcopy(base)
    module_applied = apply_module_fixes(model, module_fixes)
    model, converter_rewrites = rewrite_for_target(model, x, name, module_rewrites=not as_written,
                                                   graph_passes=not as_written)
    graph_applied: list[str] = []
    if graph_fixes:
        model, graph_applied = rewrite_graph(model, x, name, passes=graph_fixes)
    fixed = module_applied + graph_applied
    applied = module_applied + converter_rewrites + graph_applied
    report = _check_one(name, model, x, profile, coreml_caches.setdefault(tuple(applied), {}))
    for f in report.findings:  # module fixes: the layer is in the user's model, not in the graph
        if f.fix is None and (found := module_fix_for(f.op, base)) and found not in fixed:
            f.fix, f.rewrite = found, fix_advice(name, found)
    report.rewrites = applied + report.rewrites
    report.fixed = fixed
    return report


def _check_one(name: str, model, x, profile: bool, coreml_cache: dict) -> TargetReport:
    from converters.backends import backend_of, get_target

    target = get_target(name)
    return backend_of(target).check(target, model, x, profile=profile, cache=coreml_cache)


__all__ = ["ACCELERATED", "CANNOT_CONVERT", "CheckResult", "FALLBACKS", "Finding", "MAX_FIX_ROUNDS",
           "NOT_CHECKED", "TargetReport", "VERDICT_TEXT", "check", "resolve_targets"]
