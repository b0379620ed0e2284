"""Operator-compatibility checks: which ops of a model each target runs on its accelerated
path, which it does not (with the module path they come from, why, and what to rewrite),
and which it cannot convert at all. One module per target:

    xnnpack.py   ExecuTorch's real XNNPACK partitioner (+ one host run, + ETDump profile)
    coreml.py    ane / coreml-gpu / coreml-cpu: coremltools conversion + ANE heuristics
                 (MLComputePlan on macOS)
    tflite.py    builtin vs custom / Flex ops, LiteRT GPU-delegate analyzer
    ptl.py       trace / freeze / lite interpreter
    onnx.py      dynamo exporter + ONNX Runtime session

    from converters.compat import check
    result = check("x3d_xs", ["xnnpack"], num_frames=2, image_size=64, fix=True)
    result.reports[0].verdict, result.reports[0].findings

"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch

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


def check(model_or_name=None, targets=("xnnpack",), *, fix: bool = False, profile: bool = False,
          module: str | None = None, checkpoint: str | None = None, example_input: torch.Tensor | None = None,
          input_shape: list[int] | None = None, num_classes=None, num_frames: int | None = None,
          image_size: int | None = None, on_target=None, as_written: bool = False) -> CheckResult:
    """Check one model (zoo name, nn.Module, checkpoint or `file.py:Class`) against targets.

    The caller's model is never modified: each target gets a private copy (eval mode, tuple
    outputs) with the converter's own rewrites for that target and, with `fix`, the
    compat rewrites. `as_written` skips the converter's rewrites (the model as the user wrote
    it). `on_target(name)` is called as each target starts (progress bars)."""
    from converters.compat.rewrites import apply_fixes
    from converters.pipeline import rewrite_for_target
    from converters.source import prepare_for_export, resolve_model

    names = resolve_targets(targets)
    src = resolve_model(model_or_name, checkpoint=checkpoint, module=module, example_input=example_input,
                        input_shape=input_shape, num_classes=num_classes, num_frames=num_frames,
                        image_size=image_size)
    base = prepare_for_export(src)[0]
    result = CheckResult(model=src.name, input_shape=src.input_shape)
    if fix:
        result.rewrites = apply_fixes(base)
    x = src.example_input
    coreml_cache: dict = {}
    for name in names:
        if on_target:
            on_target(name)
        t0 = time.perf_counter()
        model = copy.deepcopy(base)
        try:
            # The converter's own rewrites for this target; as written, only --fix's graph passes.
            model, converter_rewrites = rewrite_for_target(model, x, name, module_rewrites=not as_written,
                                                           graph_passes=not as_written or fix)
            report = _check_one(name, model, x, profile, coreml_cache)
            report.rewrites = converter_rewrites + report.rewrites
        except MobilekitError:
            raise
        except ImportError as e:
            report = TargetReport(target=name, verdict=NOT_CHECKED, notes=[f"a tool is missing: {e}"])
        except Exception as e:  # a bug in a check must not hide the other targets' reports
            first = str(e).splitlines()[0] if str(e) else ""
            report = TargetReport(target=name, verdict=NOT_CHECKED,
                                  notes=[f"the check itself failed: {type(e).__name__}: {first[:300]}"])
        report.seconds = round(time.perf_counter() - t0, 1)
        report.rewrites = list(result.rewrites) + report.rewrites
        result.reports.append(report)
    return result


def _check_one(name: str, model, x, profile: bool, coreml_cache: dict) -> TargetReport:
    from converters.backends import backend_of, get_target

    target = get_target(name)
    return backend_of(target).check(target, model, x, profile=profile, cache=coreml_cache)


__all__ = ["ACCELERATED", "CANNOT_CONVERT", "CheckResult", "FALLBACKS", "Finding",
           "NOT_CHECKED", "TargetReport", "VERDICT_TEXT", "check", "resolve_targets"]
