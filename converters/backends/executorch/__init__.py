"""ExecuTorch (.pte): `xnnpack` (XNNPACK delegate, Android / iOS CPU; runs on this host),
`et-coreml` (Core ML delegate, iOS; lowers here, runs on Apple platforms) and `vulkan`
(Vulkan delegate, Android GPUs; lowers here, no Vulkan runtime here).

    lower.py     the one lowering: torch.export -> to_edge_transform_and_lower -> .pte
    runtime.py   the pybindings runtime, and what its error codes mean
    compat.py    what the XNNPACK partitioner takes, op by op (+ a host run, + an ETDump profile)
    etdump.py    the profiling child process
    quantize.py  PT2E int8 with XNNPACKQuantizer
    vulkan.py    the Vulkan partitioner and its check
"""

from __future__ import annotations

from pathlib import Path

from converters.backends.base import Backend, Scheme, Target

_PT2E = "torchao pt2e + ExecuTorch XNNPACKQuantizer"
_XNNPACK_SCHEMES = (
    Scheme("int8", _PT2E, True, "int8",
           "static int8: per-channel weights, per-tensor activations calibrated on clips",
           float_layers=True, tools=("torchao",)),
    Scheme("int8-dynamic", _PT2E, False, "mixed",
           "int8 weights and run-time activation ranges, Linear layers only (convolutions stay fp32: "
           "whole-model dynamic quantization fails on the 5-D video input in ExecuTorch 1.5.1)",
           float_layers=True, tools=("torchao",)),
    Scheme("fp16", "ExecuTorch XNNPACK (fp16 program)", False, "fp16",
           "fp16 weights and arithmetic (ARM phones run XNNPACK's fp16 kernels natively); the input and "
           "outputs stay fp32"),
)
_FREEZE = "freeze_weight_derived"


class ExecuTorchBackend(Backend):
    def host_skip_reason(self, target: Target) -> str | None:
        if target.delegate == "coreml":
            return "needs macOS or iOS (ExecuTorch's Core ML delegate)"
        if target.delegate == "vulkan":
            from converters.backends.executorch.vulkan import HOST_REASON

            return HOST_REASON
        return None

    def target_of_file(self, file: Path) -> Target:
        # A delegate's id is stored as a plain string in the program's flatbuffer.
        data = Path(file).read_bytes()
        by_delegate = {t.delegate: t for t in self.targets}
        if b"CoreMLBackend" in data:
            return by_delegate["coreml"]
        if b"VulkanBackend" in data:
            return by_delegate["vulkan"]
        return by_delegate["xnnpack"]

    def check(self, target: Target, model, example_input, *, profile: bool = False, cache: dict | None = None):
        from converters.compat.conversion import failure_report
        from converters.job import quiet
        from mobilekit.errors import MobilekitError

        if target.delegate == "vulkan":
            from converters.backends.executorch import vulkan as check_module
        else:
            from converters.backends.executorch import compat as check_module
        try:
            with quiet():
                return check_module.check(model, example_input, profile=profile)
        except MobilekitError:  # e.g. the runtime aborted while profiling: one line, not a verdict
            raise
        except Exception as e:
            return failure_report(e, model, example_input, target.name, check_module.TOOL)

    def delegate_tools(self, target: Target) -> tuple[str, ...]:
        return ("coremltools",) if target.delegate == "coreml" else ()


BACKEND = ExecuTorchBackend(
    name="executorch", runtime="executorch", tools=("executorch",),
    runtime_modules=("executorch.runtime", "executorch.extension.pybindings.portable_lib"),
    targets=(
        Target("xnnpack", "executorch", "pte", "executorch", "cpu", "fp32", "xnnpack",
               "ExecuTorch with the XNNPACK delegate (Android / iOS CPU)",
               # XNNPACK never delegates native_layer_norm, and neither it nor ExecuTorch's
               # portable kernels have conv3d (a 3-D model lowers but fails at run time, 0x12).
               rewrites=(_FREEZE, "decompose_layer_norms", "rewrite_conv3d"),
               graph_passes=("conv3d_as_conv2d", "batch_norm_5d_as_4d", "adaptive_pool_as_mean", "avg_pool3d_as_2d",
                             "mean_as_4d", "softmax_last_dim"),
               schemes=_XNNPACK_SCHEMES, apps=("android",), profiled=True),
        Target("et-coreml", "executorch", "pte", "executorch", "all", "fp16", "coreml",
               "ExecuTorch with the Core ML delegate (iOS apps that embed ExecuTorch)",
               rewrites=(_FREEZE,), checked=False, apps=()),
        Target("vulkan", "executorch", "pte", "executorch", "gpu", "fp32", "vulkan",
               "ExecuTorch with the Vulkan delegate (Android GPUs)",
               # Its conv2d takes batch 1, and 5-D tensors not at all: one conv per frame, 3-D as 2-D.
               rewrites=(_FREEZE, "rewrite_conv3d"),
               graph_passes=("conv3d_as_conv2d", "batch_norm_5d_as_4d", "split_batched_conv2d"),
               apps=("android",),
               # Its partitioner takes minutes on a 3-D model (x3d_xs at 2x64: 594 s here), so the
               # zoo matrix leaves it out; `mobilekit check --target vulkan` checks one model.
               in_matrix=False),
    ),
)
