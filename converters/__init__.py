"""PyTorch -> device formats: one package per runtime family (converters/backends/), one
pipeline that every entry point goes through.

    from converters import convert, load_runtime
    art = convert("vlf_b0", "xnnpack", "artifacts/vlf_b0-xnnpack")
    art.manifest["validation"]            # max/mean abs diff, top-1 agreement, host latency
    load_runtime(art.path).run(clip)      # the same host runtime, for benchmarks

Targets come from the registry (converters.backends.TARGETS). Names are imported on first
use (PEP 562), so `import converters` (and `mobilekit --help`) does not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Artifact": "converters.api", "ValidationFailed": "converters.api", "convert": "converters.api",
    "convert_targets": "converters.api", "HostRuntime": "converters.runtimes", "load_runtime": "converters.runtimes",
    "SourceModel": "converters.source", "resolve_model": "converters.source",
    "TARGETS": "converters.backends", "Target": "converters.backends", "get_target": "converters.backends",
    "target_names": "converters.backends",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'converters' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
