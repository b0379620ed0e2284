"""Core ML (.mlpackage, ML program for iOS 17+): `ane` (Neural Engine, fp16), `coreml-gpu`
(GPU, fp16), `coreml-cpu` (CPU, fp32). Converts on Linux; runs only on macOS and iOS.

    lower.py     torch.export -> coremltools.convert -> .mlpackage; the saved-spec check
    runtime.py   coremltools' predict (macOS)
    compat.py    conversion + ANE placement rules (MLComputePlan on macOS)
    quantize.py  coremltools.optimize: w8, palettize4/6, w8a8
"""

from __future__ import annotations

from pathlib import Path

from converters.backends.base import Backend, Scheme, Target, on_macos

_SCHEMES = (
    Scheme("w8", "coremltools.optimize linear_quantize_weights", False, "mixed",
           "int8 weights (linear symmetric, per channel), fp16/fp32 compute"),
    Scheme("palettize4", "coremltools.optimize palettize_weights", False, "mixed",
           "4-bit k-means lookup tables for the weights (16 values per tensor)"),
    Scheme("palettize6", "coremltools.optimize palettize_weights", False, "mixed",
           "6-bit k-means lookup tables for the weights (64 values per tensor)"),
    Scheme("w8a8", "coremltools.optimize linear_quantize_activations + linear_quantize_weights", True, "int8",
           "int8 weights and activations calibrated on clips (needs macOS: Core ML predictions)"),
)
_FREEZE = "freeze_weight_derived"


class CoreMLBackend(Backend):
    def host_skip_reason(self, target: Target) -> str | None:
        return None if on_macos() else "needs macOS"

    def open_runtime(self, target, file: Path, threads, manifest):
        from converters.backends.coreml.runtime import CoreMLRuntime

        units = target.compute_units if target is not None else "cpuOnly"
        return CoreMLRuntime(file, threads, (manifest or {}).get("compute_units", units))

    def check(self, target: Target, model, example_input, *, profile: bool = False, cache: dict | None = None):
        from converters.backends.coreml import compat

        return compat.check(model, example_input, [target.name], cache=cache)[0]

    def check_written(self, target, file, input_name, input_shape, outputs) -> None:
        from converters.backends.coreml.lower import check_saved_spec
        from converters.job import quiet

        with quiet():
            check_saved_spec(file, input_name, input_shape, outputs)

    def before_quantize(self, target: Target, scheme: Scheme) -> None:
        from converters.backends.coreml.quantize import require_platform

        require_platform(scheme.name)

    def simulate_quantized(self, target: Target, scheme: Scheme, model):
        from converters.backends.coreml.quantize import simulate

        return simulate(model, scheme.name)


BACKEND = CoreMLBackend(
    name="coreml", runtime="coreml", tools=("coremltools",), runtime_modules=("coremltools",),
    targets=(
        # The Neural Engine runs no 3-D convolution (see compat.py); the conv2d-sum form keeps
        # it there. Core ML's GPU and CPU take conv3d natively.
        Target("ane", "coreml", "mlpackage", "coreml", "cpuAndNeuralEngine", "fp16", None,
               "Core ML ML program for the iPhone Neural Engine",
               rewrites=(_FREEZE, "rewrite_conv3d"), schemes=_SCHEMES, apps=("ios",),
               graph_passes=("conv3d_as_conv2d", "batch_norm_5d_as_4d")),
        Target("coreml-gpu", "coreml", "mlpackage", "coreml", "cpuAndGPU", "fp16", None,
               "Core ML ML program for the iPhone GPU", rewrites=(_FREEZE,), schemes=_SCHEMES, apps=("ios",)),
        Target("coreml-cpu", "coreml", "mlpackage", "coreml", "cpuOnly", "fp32", None,
               "Core ML ML program on the CPU, fp32", rewrites=(_FREEZE,), schemes=_SCHEMES, apps=("ios",)),
    ),
)
