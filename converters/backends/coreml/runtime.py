"""Core ML predictions through coremltools: macOS only."""

from __future__ import annotations

import platform
from pathlib import Path

from converters.runtimes import HostRuntime
from mobilekit.errors import MobilekitError


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
        from converters.backends.coreml.lower import compute_unit

        self._model = ct.models.MLModel(str(file), compute_units=compute_unit(ct, compute_units))
        spec = self._model.get_spec()
        self._input_names = [i.name for i in spec.description.input]
        self._output_names = [o.name for o in spec.description.output]

    def _run(self, *xs):
        out = self._model.predict(dict(zip(self._input_names, xs)))
        return [out[n] for n in self._output_names]


RUNTIME = CoreMLRuntime
