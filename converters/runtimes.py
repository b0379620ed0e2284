"""Host runtimes for converted artifacts: load a file (or an artifact folder) and run it.

    rt = load_runtime("artifacts/vlf_b0-xnnpack", threads=1)
    logits, = rt.run(clip)          # clip: np.ndarray float32 (1, T, 3, H, W)
    rt.name, rt.version             # "executorch", "1.5.1"

One small, stable API used by validation, `mobilekit bench --artifact` and quantization:
`run(x) -> list[np.ndarray]` (outputs in the artifact's order, float32), `.name` (the
wire-format runtime), `.version`, `.threads`, `.file`. `threads=None` keeps the runtime's
default. Runtimes that take a thread count: onnxruntime and LiteRT per session;
ExecuTorch and the PyTorch Lite interpreter only per process (their thread pools are
global), so for those the last `load_runtime(threads=...)` wins.

Core ML packages and ExecuTorch programs with the Core ML delegate run only on Apple
platforms; on Linux loading one raises a MobilekitError that says so.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from pathlib import Path

import numpy as np

from mobilekit.errors import MobilekitError

EXTENSIONS = ("pte", "ptl", "tflite", "onnx", "mlpackage")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _missing(dist: str, e: ImportError) -> MobilekitError:
    return MobilekitError(f"the {dist} runtime is not installed ({e})",
                          "pip install -e '.[convert]' for every host runtime")


class HostRuntime:
    """Base class: subclasses set `name`, `version`, and implement `_run`."""

    name = ""
    version = ""

    def __init__(self, file: Path, threads: int | None):
        self.file = file
        self.threads = threads

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Outputs for one input batch: float32 in (int8/uint8 pass through for quantized
        inputs), float32 out (quantized outputs dequantized), in the artifact's order."""
        x = np.ascontiguousarray(x)
        if x.dtype not in (np.int8, np.uint8):
            x = x.astype(np.float32, copy=False)
        return [np.asarray(o, dtype=np.float32) for o in self._run(x)]

    def _run(self, x: np.ndarray) -> list[np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.version} {self.file.name} threads={self.threads}>"


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
            raise _missing("executorch", e) from e
        self.version = _version("executorch")
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

    def _run(self, x):
        import torch

        return [o.numpy() for o in self._method.execute([torch.from_numpy(x)])]


class LiteInterpreterRuntime(HostRuntime):
    name = "pytorch-lite"

    def __init__(self, file: Path, threads: int | None):
        super().__init__(file, threads)
        import torch
        from torch.jit.mobile import _load_for_lite_interpreter

        self.version = torch.__version__.split("+")[0]
        if threads:
            torch.set_num_threads(int(threads))  # the lite interpreter uses torch's intra-op pool
        try:
            self._module = _load_for_lite_interpreter(str(file))
        except Exception as e:
            raise MobilekitError(f"the PyTorch Lite interpreter could not load {file}: "
                                 f"{str(e).splitlines()[0] if str(e) else type(e).__name__}",
                                 "re-convert with `mobilekit convert --target ptl`") from e

    def _run(self, x):
        import torch

        with torch.no_grad():
            out = self._module(torch.from_numpy(x))
        outs = out if isinstance(out, (tuple, list)) else [out]
        return [o.numpy() for o in outs]


class LiteRTRuntime(HostRuntime):
    name = "litert"

    def __init__(self, file: Path, threads: int | None):
        super().__init__(file, threads)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise _missing("ai-edge-litert", e) from e
        self.version = _version("ai-edge-litert")
        try:
            self._interp = Interpreter(model_path=str(file), num_threads=threads or None)
            self._interp.allocate_tensors()
        except Exception as e:
            raise MobilekitError(f"LiteRT could not load {file}: {e}",
                                 "re-convert with `mobilekit convert --target tflite`") from e
        self._input = self._interp.get_input_details()[0]
        # litert-torch names outputs output_0, output_1, ... in the model's order; the
        # tensor indices are not in that order, so sort by the name's number.
        sig = self._interp.get_signature_list()
        outputs = self._interp.get_output_details()
        if sig:
            runner = self._interp.get_signature_runner(next(iter(sig)))
            by_name = runner.get_output_details()
            order = sorted(by_name, key=lambda n: (int(n.rsplit("_", 1)[-1]) if n.rsplit("_", 1)[-1].isdigit()
                                                   else 1 << 30, n))
            outputs = [by_name[n] for n in order]
        self._outputs = outputs

    def _run(self, x):
        det = self._input
        if det["dtype"] != np.float32 and x.dtype == np.float32:  # quantize with the tensor's params
            scale, zero = det["quantization"]
            info = np.iinfo(det["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(det["dtype"])
        self._interp.set_tensor(det["index"], x)
        self._interp.invoke()
        outs = []
        for d in self._outputs:
            y = self._interp.get_tensor(d["index"])
            if y.dtype != np.float32 and d["quantization"][0]:
                scale, zero = d["quantization"]
                y = (y.astype(np.float32) - zero) * scale
            outs.append(y)
        return outs


class OnnxRuntime(HostRuntime):
    name = "onnxruntime"

    def __init__(self, file: Path, threads: int | None):
        super().__init__(file, threads)
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise _missing("onnxruntime", e) from e
        self.version = ort.__version__
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(file), opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise MobilekitError(f"onnxruntime could not load {file}: {str(e).splitlines()[0]}",
                                 "re-convert with `mobilekit convert --target onnx`") from e
        self._input_name = self._session.get_inputs()[0].name

    def _run(self, x):
        return self._session.run(None, {self._input_name: x})


class CoreMLRuntime(HostRuntime):
    """coremltools' predict: macOS only."""

    name = "coreml"

    def __init__(self, file: Path, threads: int | None, compute_units: str = "cpuOnly"):
        super().__init__(file, threads)
        if platform.system() != "Darwin":
            raise MobilekitError(f"{file.name} is a Core ML package: running it needs macOS",
                                 "run it on a Mac or in the iOS app (ios_app/)")
        import coremltools as ct

        self.version = ct.__version__
        units = {"cpuOnly": ct.ComputeUnit.CPU_ONLY, "cpuAndGPU": ct.ComputeUnit.CPU_AND_GPU,
                 "cpuAndNeuralEngine": ct.ComputeUnit.CPU_AND_NE, "all": ct.ComputeUnit.ALL}
        self._model = ct.models.MLModel(str(file), compute_units=units.get(compute_units, ct.ComputeUnit.ALL))
        spec = self._model.get_spec()
        self._input_name = spec.description.input[0].name
        self._output_names = [o.name for o in spec.description.output]

    def _run(self, x):
        out = self._model.predict({self._input_name: x})
        return [out[n] for n in self._output_names]


_BY_EXTENSION = {"pte": ExecuTorchRuntime, "ptl": LiteInterpreterRuntime, "tflite": LiteRTRuntime,
                 "onnx": OnnxRuntime, "mlpackage": CoreMLRuntime}


def resolve_artifact_file(path: str | Path) -> tuple[Path, dict | None]:
    """An artifact folder (with manifest.json) or a model file -> (file, manifest or None)."""
    path = Path(path)
    if not path.exists():
        raise MobilekitError(f"{path} does not exist", "give an artifact folder from `mobilekit convert` "
                                                       "or a model file")
    if path.is_dir() and path.suffix != ".mlpackage":
        manifest_path = path / "manifest.json"
        if not manifest_path.is_file():
            raise MobilekitError(f"{path} has no manifest.json",
                                 "give the model file itself, or a folder written by `mobilekit convert`")
        try:
            manifest = json.loads(manifest_path.read_text())
            file = path / manifest["file"]
        except (ValueError, KeyError, TypeError) as e:
            raise MobilekitError(f"{manifest_path} is not a mobilekit manifest ({e})",
                                 "re-convert the model with `mobilekit convert`") from e
        if not file.exists():
            raise MobilekitError(f"{file} named by {manifest_path} is missing", "re-convert the model")
        return file, manifest
    manifest_path = path.parent / "manifest.json"
    manifest = None
    if manifest_path.is_file():
        try:
            m = json.loads(manifest_path.read_text())
            manifest = m if m.get("file") == path.name else None
        except ValueError:
            manifest = None
    return path, manifest


def _uses_coreml_delegate(file: Path, manifest: dict | None) -> bool:
    if manifest is not None:
        return manifest.get("delegate") == "coreml"
    # The delegate id is stored as a plain string in the program's flatbuffer.
    with open(file, "rb") as f:
        return b"CoreMLBackend" in f.read()


def load_runtime(artifact: str | Path, threads: int | None = None) -> HostRuntime:
    """A host runtime for an artifact folder or a .pte/.ptl/.tflite/.onnx/.mlpackage file."""
    file, manifest = resolve_artifact_file(artifact)
    ext = file.suffix.lstrip(".")
    cls = _BY_EXTENSION.get(ext)
    if cls is None:
        raise MobilekitError(f"no host runtime for {file.name}",
                             f"give a file ending in {', '.join('.' + e for e in EXTENSIONS)}")
    if cls is CoreMLRuntime:
        return CoreMLRuntime(file, threads, (manifest or {}).get("compute_units", "cpuOnly"))
    if cls is ExecuTorchRuntime and platform.system() != "Darwin" and _uses_coreml_delegate(file, manifest):
        raise MobilekitError(f"{file.name} uses ExecuTorch's Core ML delegate: running it needs macOS or iOS",
                             "use the xnnpack target on this machine, or run it in the iOS app")
    return cls(file, threads)
