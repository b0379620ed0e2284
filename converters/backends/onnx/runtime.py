"""ONNX Runtime on the host (CPU execution provider)."""

from __future__ import annotations

from pathlib import Path

from converters.runtimes import HostRuntime, missing_runtime
from mobilekit.errors import MobilekitError


class OnnxRuntime(HostRuntime):
    name = "onnxruntime"

    def __init__(self, file: Path, threads: int | None):
        super().__init__(file, threads)
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise missing_runtime("onnxruntime", e) from e
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
        self._input_names = [i.name for i in self._session.get_inputs()]

    def _run(self, *xs):
        return self._session.run(None, dict(zip(self._input_names, xs)))


RUNTIME = OnnxRuntime
