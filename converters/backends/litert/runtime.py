"""LiteRT's interpreter on the host (ai-edge-litert)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from converters.runtimes import HostRuntime, missing_runtime, version_of
from mobilekit.errors import MobilekitError


class LiteRTRuntime(HostRuntime):
    name = "litert"

    def __init__(self, file: Path, threads: int | None):
        super().__init__(file, threads)
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise missing_runtime("ai-edge-litert", e) from e
        self.version = version_of("ai-edge-litert")
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
        # Several inputs (a streaming step) are fed by their signature names.
        self._inputs_by_name = (self._interp.get_signature_runner(next(iter(sig))).get_input_details()
                                if sig else {})

    def _input_details(self, count: int) -> list[dict]:
        if count == 1:
            return [self._input]
        names = self.input_names or list(self._inputs_by_name)
        missing = [n for n in names if n not in self._inputs_by_name]
        if missing or len(names) != count:
            raise MobilekitError(f"{self.file.name} takes inputs {list(self._inputs_by_name)}, "
                                 f"given {count} (by name {names})", "feed the inputs the manifest names")
        return [self._inputs_by_name[n] for n in names]

    def _run(self, *xs):
        for det, x in zip(self._input_details(len(xs)), xs):
            self._set_input(det, x)
        self._interp.invoke()
        return self._read_outputs()

    def _set_input(self, det: dict, x):
        if det["dtype"] != np.float32 and x.dtype == np.float32:  # quantize with the tensor's params
            scale, zero = det["quantization"]
            info = np.iinfo(det["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(det["dtype"])
        self._interp.set_tensor(det["index"], x)

    def _read_outputs(self):
        outs = []
        for d in self._outputs:
            y = self._interp.get_tensor(d["index"])
            if y.dtype != np.float32 and d["quantization"][0]:
                scale, zero = d["quantization"]
                y = (y.astype(np.float32) - zero) * scale
            outs.append(y)
        return outs


RUNTIME = LiteRTRuntime
