"""The registry of backends: one package per runtime family, each declaring its targets.

    from converters.backends import get_target, backend_of, target_names
    tgt = get_target("xnnpack")            # Target: extension, runtime, precision, rewrites, schemes
    backend_of(tgt).lower(job)             # the family's lowering

    executorch/    xnnpack, et-coreml, vulkan    (.pte)
    coreml/        ane, coreml-gpu, coreml-cpu   (.mlpackage)
    litert/        tflite                        (.tflite)
    onnx/          onnx                          (.onnx)
    torchscript/   ptl                           (.ptl)

Convert, check, quantize, the host runtimes, the manifest writer, the wire format's target
list and every `--help` read targets from here; nothing else names one. Importing this
module imports no torch.
"""

from __future__ import annotations

import difflib

from converters.backends.base import Backend, Scheme, Target
from converters.backends.coreml import BACKEND as _COREML
from converters.backends.executorch import BACKEND as _EXECUTORCH
from converters.backends.litert import BACKEND as _LITERT
from converters.backends.onnx import BACKEND as _ONNX
from converters.backends.torchscript import BACKEND as _TORCHSCRIPT
from mobilekit.errors import MobilekitError

# Order is the order `--target all`, `--help` and tables list targets in.
BACKENDS: dict[str, Backend] = {b.name: b for b in (_COREML, _EXECUTORCH, _TORCHSCRIPT, _LITERT, _ONNX)}
_ORDER = ("ane", "coreml-gpu", "coreml-cpu", "xnnpack", "ptl", "tflite", "onnx", "et-coreml", "vulkan")
TARGETS: dict[str, Target] = dict(sorted(((t.name, t) for b in BACKENDS.values() for t in b.targets),
                                         key=lambda kv: _ORDER.index(kv[0]) if kv[0] in _ORDER else len(_ORDER)))


# What `mobilekit convert`, `quantize` and `check` build when no target is named: runs on
# Android and iOS CPUs and on this host, so it validates where it is built.
DEFAULT_TARGET = "xnnpack"


def target_names() -> list[str]:
    return list(TARGETS)


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(TARGETS), n=2, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise MobilekitError(f"unknown target {name!r}",
                             f"{hint}choose one of {', '.join(TARGETS)} (or all)") from None


def backend_of(target: Target | str) -> Backend:
    return BACKENDS[(target if isinstance(target, Target) else get_target(target)).backend]


def checked_target_names() -> list[str]:
    """Targets `mobilekit check` has a compatibility check for."""
    return [t.name for t in TARGETS.values() if t.checked]


def matrix_target_names() -> list[str]:
    """The columns of the zoo x target support matrix (`mobilekit check --model all --target all`)."""
    return [t.name for t in TARGETS.values() if t.checked and t.in_matrix]


def quantizable_target_names() -> list[str]:
    return [t.name for t in TARGETS.values() if t.schemes]


def schemes_for(target: str | Target) -> list[str]:
    """Scheme names a target supports (empty for targets without a quantization step)."""
    return [s.name for s in (target if isinstance(target, Target) else get_target(target)).schemes]


def get_scheme(target: str | Target, scheme: str) -> Scheme:
    """The scheme, or a MobilekitError listing what the target supports."""
    tgt = target if isinstance(target, Target) else get_target(target)
    found = tgt.scheme(scheme)
    if found is not None:
        return found
    if not tgt.schemes:
        raise MobilekitError(f"target {tgt.name} has no quantization schemes",
                             f"quantize for one of {', '.join(quantizable_target_names())}")
    raise MobilekitError(f"scheme {scheme!r} is not supported for {tgt.name}",
                         f"{tgt.name} supports {', '.join(s.name for s in tgt.schemes)}")


def app_target_names(app: str) -> list[str]:
    """Targets a sample app ("android", "ios") runs."""
    return [t.name for t in TARGETS.values() if app in t.apps]


def profiled_target_names() -> list[str]:
    """Targets `mobilekit check --profile` can time per op on this host."""
    return [t.name for t in TARGETS.values() if t.profiled]


def runtime_names() -> list[str]:
    """Wire-format runtime names, one per backend."""
    return list(dict.fromkeys(b.runtime for b in BACKENDS.values()))


def extensions() -> dict[str, Backend]:
    """Artifact file extension -> the backend whose runtime opens it."""
    return {t.extension: BACKENDS[t.backend] for t in TARGETS.values()}


def compute_unit_names() -> list[str]:
    """Every compute unit a target declares (its own, and the ones an app may pick)."""
    names = [u for t in TARGETS.values() for u in (t.compute_units, *t.device_compute_units)]
    return list(dict.fromkeys(names))


__all__ = ["BACKENDS", "Backend", "DEFAULT_TARGET", "Scheme", "TARGETS", "Target", "app_target_names", "backend_of",
           "checked_target_names", "profiled_target_names",
           "compute_unit_names", "extensions", "get_scheme", "get_target", "matrix_target_names", "quantizable_target_names", "runtime_names",
           "schemes_for", "target_names"]
