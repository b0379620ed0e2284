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
        args = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
        return torch.export.export(model, args).graph


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


class ConversionError(MobilekitError):
    """A converter's failure, diagnosed. The facts travel as attributes, and the one-line
    message is made from them, so callers read `op` / `module_path`, never the text:

        kind          "export" (torch.export cannot capture the model), "op" (an op the target
                      cannot take), "failed" (the tool failed without naming an op)
        target        the target it was converting to
        op            the op as the graph names it (aten.erfinv.default), or as the tool did
                      when it is not in the graph; None for "export" / "failed"
        module_path   where in the user's model the op comes from ("" for the top level);
                      None when the op was not found in the graph
        module_class  that module's class name
        detail        the tool's first line ("export" / "failed")
    """

    def __init__(self, kind: str, target: str, *, op: str | None = None, module_path: str | None = None,
                 module_class: str | None = None, detail: str = "", alternatives: tuple[str, ...] = ()):
        self.kind, self.target, self.op = kind, target, op
        self.module_path, self.module_class, self.detail = module_path, module_class, detail
        self.alternatives = tuple(alternatives)
        super().__init__(*self._render())

    def _render(self) -> tuple[str, str]:
        others = ", ".join(self.alternatives)
        check = "run `mobilekit check` to list every op the target cannot take"
        if self.kind == "export":
            return (f"torch.export cannot capture the model (needed for {self.target}): {self.detail}",
                    "make forward export-safe (static shapes, no data-dependent Python control flow, "
                    "no in-place slice writes); --debug shows where")
        if self.kind == "op" and self.module_path is not None:
            at = (f" in `{self.module_path}` ({self.module_class})" if self.module_path
                  else " (at the model's top level)")
            return (f"target {self.target} cannot convert op {self.op}{at}",
                    f"replace that op in the model, convert to another target ({others}), or {check}")
        if self.kind == "op":
            return (f"target {self.target} cannot convert op {self.op}",
                    f"convert to another target ({others}), or {check}")
        return (f"conversion to {self.target} failed: {self.detail}",
                f"run with --debug for the traceback; try another target ({others}) or {check}")

    def __reduce__(self):  # keyword facts: the default (cls, args) would lose them
        return _conversion_error, (self.kind, self.target, self.op, self.module_path, self.module_class,
                                   self.detail, self.alternatives)

    def for_target(self, target: str) -> "ConversionError":
        """The same facts for another target sharing the conversion (Core ML's fp16 targets)."""
        return ConversionError(self.kind, target, op=self.op, module_path=self.module_path,
                               module_class=self.module_class, detail=self.detail, alternatives=self.alternatives)

    @property
    def modules(self) -> list[str]:
        """`path (Class)` as compat findings list modules; empty when not located."""
        if self.module_path is None:
            return []
        return [f"{self.module_path} ({self.module_class})" if self.module_path else "(top level)"]


def _conversion_error(kind, target, op, module_path, module_class, detail, alternatives) -> ConversionError:
    return ConversionError(kind, target, op=op, module_path=module_path, module_class=module_class, detail=detail,
                           alternatives=alternatives)


def unsupported_op_error(exc: BaseException, model: torch.nn.Module, example_input: torch.Tensor,
                         target: str, alternatives: list[str]) -> ConversionError:
    """A ConversionError naming the op, its module path and the target, or a short generic one."""
    text = _messages(exc)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    try:
        graph = _export_graph(model, example_input)
    except Exception as export_exc:  # the model itself does not export: not the target's fault
        line = next((line.strip() for line in str(export_exc).splitlines() if line.strip()),
                    type(export_exc).__name__)
        return ConversionError("export", target, detail=f"{type(export_exc).__name__}: {line[:300]}",
                               alternatives=alternatives)
    ops = ops_named_in(text)
    where = locate_op(graph, ops) if ops else None
    if where:
        op, path, cls = where
        return ConversionError("op", target, op=op, module_path=path, module_class=cls, alternatives=alternatives)
    if ops:
        return ConversionError("op", target, op=ops[0], alternatives=alternatives)
    return ConversionError("failed", target, detail=f"{type(exc).__name__}: {first[:300]}",
                           alternatives=alternatives)
