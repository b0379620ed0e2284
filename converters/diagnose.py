"""Turn a converter's exception into one line a user can act on: which op, where in the
model (the module path from the exported graph's nn_module_stack), which target, what to do.

Each tool names the op differently (coremltools: "Unsupported fx node special_erfinv",
litert: "Lowering not found: aten.erfinv.default", ExecuTorch: "aten.erfinv.default is not in
Core ATen opset", the ONNX exporter: "prims.erf_inv"); names are compared after folding the
namespace, the overload, "special_"/"linalg_" prefixes and underscores.
"""

from __future__ import annotations

import re

import torch

from mobilekit.errors import MobilekitError

_OP_PATTERNS = (
    re.compile(r"\b(?:aten|prims|quantized_decomposed)\.(\w+)"),          # aten.erfinv.default
    re.compile(r"Unsupported fx node (\w+)(?:, kind (\w+))?"),            # coremltools
    re.compile(r"[Cc]onvert function for op '(\w+)'"),                    # coremltools (older)
    re.compile(r"No ONNX function found for .*?op='[\w.]*?(\w+)'"),      # onnx dynamo exporter
)
_PREFIXES = ("special_", "linalg_", "fft_", "_")


def _fold(name: str) -> str:
    """aten.special_erfinv.default, special_erfinv_1, prims.erf_inv -> "erfinv"."""
    name = str(name)
    for ns in ("torch.ops.", "aten.", "prims.", "quantized_decomposed."):
        name = name.removeprefix(ns)
    name = re.sub(r"_\d+$", "", name.split(".")[0])   # overload; fx's numbering of repeats
    for p in _PREFIXES:
        name = name.removeprefix(p)
    return name.replace("_", "").lower()


def _messages(exc: BaseException) -> str:
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def ops_named_in(text: str) -> list[str]:
    found = []
    for pat in _OP_PATTERNS:
        for m in pat.finditer(text):
            for g in m.groups():
                if g and g not in found and g not in ("default", "Tensor"):
                    found.append(g)
    return found


def _module_path(node) -> tuple[str, str]:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", ""
    path, cls = list(stack.values())[-1]
    cls_name = cls if isinstance(cls, str) else getattr(cls, "__name__", str(cls))
    # Paths look like "model.block.0" (FlatOutputs wraps the user's model as `model`).
    path = re.sub(r"^L\['self'\]\.?", "", str(path)).removeprefix("model").lstrip(".")
    return path, cls_name.rsplit(".", 1)[-1]


def _export_graph(model: torch.nn.Module, example_input: torch.Tensor):
    with torch.no_grad():
        return torch.export.export(model, (example_input,)).graph


def locate_op(graph, op_names: list[str]):
    """The first graph node whose op matches one of `op_names`: (aten name, module path, class)."""
    wanted = {_fold(n) for n in op_names}
    for node in graph.nodes:
        if node.op != "call_function":
            continue
        target = str(node.target)
        if _fold(target) in wanted or _fold(node.name) in wanted:
            path, cls = _module_path(node)
            return target, path, cls
    return None


def unsupported_op_error(exc: BaseException, model: torch.nn.Module, example_input: torch.Tensor,
                         target: str, alternatives: list[str]) -> MobilekitError:
    """A MobilekitError naming the op, its module path and the target, or a short generic one."""
    text = _messages(exc)
    others = ", ".join(alternatives)
    check = "run `mobilekit check` to list every op the target cannot take"
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    try:
        graph = _export_graph(model, example_input)
    except Exception as export_exc:  # the model itself does not export: not the target's fault
        first = next((line.strip() for line in str(export_exc).splitlines() if line.strip()),
                     type(export_exc).__name__)
        return MobilekitError(f"torch.export cannot capture the model (needed for {target}): "
                              f"{type(export_exc).__name__}: {first[:300]}",
                              "make forward export-safe (static shapes, no data-dependent Python "
                              "control flow, no in-place slice writes); --debug shows where")
    ops = ops_named_in(text)
    where = locate_op(graph, ops) if ops else None
    if where:
        op, path, cls = where
        at = f" in `{path}` ({cls})" if path else " (at the model's top level)"
        return MobilekitError(f"target {target} cannot convert op {op}{at}",
                              f"replace that op in the model, convert to another target ({others}), "
                              f"or {check}")
    if ops:
        return MobilekitError(f"target {target} cannot convert op {ops[0]}",
                              f"convert to another target ({others}), or {check}")
    return MobilekitError(f"conversion to {target} failed: {type(exc).__name__}: {first[:300]}",
                          f"run with --debug for the traceback; try another target ({others}) or {check}")
