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

The runtime classes live with their backend (converters/backends/<family>/runtime.py); this
module holds their common base and picks one by the artifact's target or file extension.
Core ML packages and ExecuTorch programs with the Core ML or Vulkan delegate do not run on
this machine; loading one raises a MobilekitError that says why (the backend's reason).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np

from mobilekit.errors import MobilekitError


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def missing_runtime(dist: str, e: ImportError) -> MobilekitError:
    return MobilekitError(f"the {dist} runtime is not installed ({e})",
                          "pip install -e '.[convert]' for every host runtime")


class HostRuntime:
    """Base class: subclasses set `name`, `version`, and implement `_run`."""

    name = ""
    version = ""

    def __init__(self, file: Path, threads: int | None):
        self.file = file
        self.threads = threads

    # The model's input names in argument order where the runtime needs them to feed several
    # inputs by name (LiteRT); None: the file's own order. Set by who knows them (the manifest).
    input_names: list[str] | None = None

    def run(self, x: np.ndarray, *more: np.ndarray) -> list[np.ndarray]:
        """Outputs for one input batch: float32 in (int8/uint8 pass through for quantized
        inputs), float32 out (quantized outputs dequantized), in the artifact's order.
        `more`: the inputs after the first (a streaming step's state), in the model's order."""
        xs = []
        for a in (x, *more):
            a = np.ascontiguousarray(a)
            if a.dtype not in (np.int8, np.uint8):
                a = a.astype(np.float32, copy=False)
            xs.append(a)
        return [np.asarray(o, dtype=np.float32) for o in self._run(*xs)]

    def _run(self, x: np.ndarray, *more: np.ndarray) -> list[np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.version} {self.file.name} threads={self.threads}>"


def resolve_artifact_file(path: str | Path) -> tuple[Path, dict | None]:
    """An artifact folder (with manifest.json) or a model file -> (file, manifest dict or None:
    a bare file, or one whose folder's manifest names another file). The manifest is validated;
    the sha256 is not checked here (loading is timed, and callers that need it verify first)."""
    from mobilekit.artifact import open_artifact

    art = open_artifact(path, verify=False, bare_ok=True)
    return art.file, (art.manifest.model_dump(mode="json") if art.manifest is not None else None)


def load_runtime(artifact: str | Path, threads: int | None = None) -> HostRuntime:
    """A host runtime for an artifact folder or a model file (.pte, .ptl, .tflite, .onnx,
    .mlpackage): the backend of the manifest's target, else of the file's extension."""
    from converters.backends import TARGETS, backend_of, extensions

    file, manifest = resolve_artifact_file(artifact)
    target = TARGETS.get((manifest or {}).get("target"))
    if target is None:
        by_ext = extensions()
        backend = by_ext.get(file.suffix.lstrip("."))
        if backend is None:
            raise MobilekitError(f"no host runtime for {file.name}",
                                 f"give a file ending in {', '.join('.' + e for e in by_ext)}")
        target = backend.target_of_file(file)
    return backend_of(target).open_runtime(target, file, threads, manifest)
