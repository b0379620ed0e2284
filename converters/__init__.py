"""PyTorch -> device formats, one module per target family, behind one entry point.

    from converters import convert, load_runtime
    art = convert("vlf_b0", "xnnpack", "artifacts/vlf_b0-xnnpack")
    art.manifest["validation"]            # max/mean abs diff, top-1 agreement, host latency
    load_runtime(art.path).run(clip)      # the same host runtime, for benchmarks

Targets (converters.targets.TARGETS): ane, coreml-gpu, coreml-cpu (coreml.py), xnnpack,
et-coreml (executorch.py), ptl (torchscript.py), tflite (litert.py), onnx (onnx.py).
Heavy libraries are imported inside each converter, so importing this package is cheap.
"""

from __future__ import annotations

from converters.api import Artifact, ValidationFailed, convert, convert_targets
from converters.runtimes import HostRuntime, load_runtime
from converters.source import SourceModel, resolve_model
from converters.targets import TARGETS, Target, get_target, target_names

__all__ = ["Artifact", "HostRuntime", "SourceModel", "TARGETS", "Target", "ValidationFailed", "convert",
           "convert_targets", "get_target", "load_runtime", "resolve_model", "target_names"]
