"""The ExecuTorch runtime on the host (pybindings), and what its errors mean."""

from __future__ import annotations

from pathlib import Path

from converters.runtimes import HostRuntime, missing_runtime, version_of
from mobilekit.errors import MobilekitError


# runtime/core/error.h of ExecuTorch 1.5.1: the code in "Failed to load method forward, error: 0x:14".
EXECUTORCH_ERRORS = {
    0x01: "Internal", 0x02: "InvalidState", 0x10: "NotSupported", 0x11: "NotImplemented",
    0x12: "InvalidArgument", 0x13: "InvalidType", 0x14: "OperatorMissing", 0x20: "NotFound",
    0x21: "MemoryAllocationFailed", 0x22: "AccessFailed", 0x23: "InvalidProgram",
    0x24: "InvalidExternalData", 0x25: "OutOfResources", 0x30: "DelegateInvalidCompatibility",
    0x31: "DelegateMemoryAllocationFailed", 0x32: "DelegateInvalidHandle",
}
OPERATOR_MISSING = 0x14
CHECK_HINT = "run `mobilekit check --target xnnpack` on the model to see which layer it comes from"


def executorch_error_code(error: BaseException | str) -> int | None:
    import re

    m = re.search(r"error: 0x:?([0-9a-fA-F]+)", str(error))
    return int(m.group(1), 16) if m else None


def missing_operators(log: str, file: Path | None = None) -> list[str]:
    """The operators a program needs that this runtime has no kernel for: from the runtime's
    log ("Missing operator: [0] aten::avg_pool3d.out"), else by comparing the program's
    operator table with the kernels registered here."""
    import re

    found = re.findall(r"Missing operator: \[\d+\] (\S+)", log) or re.findall(r"kernel '([^']+)' not found", log)
    if found or file is None:
        return list(dict.fromkeys(found))
    try:
        from executorch.exir._serialize._program import deserialize_pte_binary
        from executorch.extension.pybindings import portable_lib

        pte = deserialize_pte_binary(Path(file).read_bytes())
        program = getattr(pte, "program", pte)
        have = set(portable_lib._get_operator_names())
        needed = [f"{op.name}.{op.overload}" if op.overload else op.name
                  for plan in program.execution_plan for op in plan.operators]
        return list(dict.fromkeys(op for op in needed if op not in have))
    except Exception:  # an unreadable program: the caller says so without names
        return []


def operator_missing_error(file: Path, ops: list[str]) -> MobilekitError:
    named = ", ".join(ops) if ops else "an operator"
    return MobilekitError(f"{file.name} uses {named}, which this ExecuTorch runtime has no kernel for "
                          f"(error 0x14, OperatorMissing): the op was left to portable kernels and the "
                          f"runtime was built without it",
                          f"{CHECK_HINT}, then rewrite or replace that layer so XNNPACK delegates it "
                          f"(or link a runtime with that kernel)")


class ExecuTorchRuntime(HostRuntime):
    name = "executorch"

    def __init__(self, file: Path, threads: int | None):
        super().__init__(file, threads)
        try:
            from executorch.extension.pybindings import portable_lib
            from executorch.runtime import Runtime
        except ImportError as e:
            raise missing_runtime("executorch", e) from e
        self.version = version_of("executorch")
        if threads:
            # Process-wide pool; must be sized before the program loads.
            portable_lib._unsafe_reset_threadpool(int(threads))
        from converters.job import quiet

        with quiet() as log:  # the runtime says why only in its log (e.g. which operator is missing)
            try:
                self._method = Runtime.get().load_program(file).load_method("forward")
                error = None
            except Exception as e:
                error = e
        if error is not None:
            raise self._load_error(file, error, log.getvalue()) from error

    @staticmethod
    def _load_error(file: Path, error: Exception, log: str) -> MobilekitError:
        code = executorch_error_code(error)
        ops = missing_operators(log, file if code == OPERATOR_MISSING else None)
        if code == OPERATOR_MISSING or ops:
            return operator_missing_error(file, ops)
        name = f" ({EXECUTORCH_ERRORS[code]})" if code in EXECUTORCH_ERRORS else ""
        return MobilekitError(f"ExecuTorch could not load {file}: {error}{name}",
                              "re-convert with `mobilekit convert` (the file may be corrupt or "
                              "from another ExecuTorch version)")

    def _run(self, *xs):
        import torch

        return [o.numpy() for o in self._method.execute([torch.from_numpy(x) for x in xs])]


RUNTIME = ExecuTorchRuntime
