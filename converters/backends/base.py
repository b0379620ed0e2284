"""What a backend declares: its targets, and for each the rewrites it needs, its quantization
schemes and the manifest's fields; and what it does: lower, run on the host, check, quantize.

Declarations are plain data, so importing the registry (`converters.backends`) is instant and
`--help` can list targets and schemes; every heavy import happens inside a method.
"""

from __future__ import annotations

import importlib
import platform
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Scheme:
    """A quantization scheme of one target. Names are shared across targets where they mean
    the same thing: `int8` is static int8 (activation ranges calibrated on clips),
    `int8-dynamic` int8 weights with run-time activation ranges."""

    name: str
    tool: str                 # the library that quantizes, for the manifest
    calibrated: bool          # needs calibration clips (activation ranges)
    precision: str            # the manifest's precision after quantization
    description: str
    float_layers: bool = False       # can keep chosen layers in float (PT2E annotations)
    tools: tuple[str, ...] = ()      # extra distributions whose versions the manifest records


@dataclass(frozen=True)
class Target:
    """One target: a file for one runtime and compute unit on the device."""

    name: str
    backend: str              # the family (registry key) that builds and runs it
    extension: str            # the artifact file's extension, without the dot
    runtime: str              # wire-format runtime on the device
    compute_units: str        # Core ML MLComputeUnits name, "cpu", "gpu" or "all"
    precision: str            # fp32 / fp16 (quantization is a separate step)
    delegate: str | None      # ExecuTorch backend, where there is one
    description: str
    # Numerically identical module rewrites the lowering needs (functions of
    # mobilekit.models.rewrites, by name, applied in order), then graph passes
    # (converters.graph_rewrites.GRAPH_PASSES, by name) that work on any model.
    rewrites: tuple[str, ...] = ()
    graph_passes: tuple[str, ...] = ()
    schemes: tuple[Scheme, ...] = ()
    checked: bool = True      # `mobilekit check` has a compatibility check for it
    # Compute units an app may pick for the same file (LiteRT: cpu, or its GPU delegate).
    device_compute_units: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()    # the sample apps that run it: "android" (android_app/), "ios" (ios_app/)
    profiled: bool = False        # `mobilekit check --profile` times its program per op on this host
    in_matrix: bool = True        # a column of the zoo x target support matrix (`check --model all`)

    @property
    def host_skip_reason(self) -> str | None:
        """Why no runtime here runs this target's file (None: one does)."""
        from converters.backends import backend_of

        return backend_of(self).host_skip_reason(self)

    @property
    def host_runtime(self) -> bool:
        return self.host_skip_reason is None

    def scheme(self, name: str) -> Scheme | None:
        return next((s for s in self.schemes if s.name == name), None)


@dataclass(frozen=True)
class Backend:
    """A runtime family. Subclasses declare `targets` and `tools` and implement the methods
    (importing their own submodules lazily)."""

    name: str
    runtime: str                        # wire-format runtime name
    tools: tuple[str, ...]              # distributions whose versions every manifest records
    targets: tuple[Target, ...] = field(default=())
    # Python modules behind the runtime: `mobilekit bench` imports them before the clock starts,
    # as an app has its runtime linked in.
    runtime_modules: tuple[str, ...] = ()

    # --- what the pipeline calls -------------------------------------------------------------
    def lower(self, job) -> dict:
        """Write `job.path` from `job.model` for `job.target`; return manifest extras (notes, ...)."""
        return self._module("lower").lower(job)

    def quantize(self, job):
        """Write a quantized `job.path` (converters.quantize.job.QuantJob) -> QuantResult."""
        return self._module("quantize").quantize(job)

    def check(self, target: Target, model, example_input, *, profile: bool = False, cache: dict | None = None):
        """A compatibility report (converters.compat.report.TargetReport) for `target`; `model` is
        a private copy with the target's rewrites applied. One-target families need no more."""
        return self._module("compat").check(model, example_input)

    def check_written(self, target: Target, file: Path, input_name: str, input_shape: list[int],
                      outputs: list[tuple[str, list[int]]]) -> None:
        """What can be checked of a written file where no runtime runs it (raise MobilekitError)."""

    def before_quantize(self, target: Target, scheme: Scheme) -> None:
        """Refuse, before any work, a scheme this machine cannot carry out (raise MobilekitError)."""

    def simulate_quantized(self, target: Target, scheme: Scheme, model):
        """An eager stand-in for the quantized model where the artifact cannot run here (or None)."""
        return None

    def host_skip_reason(self, target: Target) -> str | None:
        """Why no runtime on this machine runs `target`'s file; None when one does."""
        return None

    def open_runtime(self, target: Target | None, file: Path, threads: int | None, manifest: dict | None):
        """The host runtime for `file` (converters.runtimes.HostRuntime)."""
        from mobilekit.errors import MobilekitError

        if target is not None and (reason := self.host_skip_reason(target)):
            raise MobilekitError(f"{file.name} is a {target.name} artifact: running it {reason}",
                                 "run it on the device (ios_app/ or android_app/), or convert for a target "
                                 "this machine runs")
        return self._module("runtime").RUNTIME(file, threads)

    def target_of_file(self, file: Path) -> Target:
        """The target a bare model file (no manifest beside it) was built for."""
        return self.targets[0]

    def tool_versions(self, target: Target, extra: tuple[str, ...] = ()) -> dict[str, str]:
        """Versions of python, torch, mobilekit, this backend's tools and `extra` distributions."""
        import importlib.metadata

        names = ["torch", "mobilekit", *self.tools, *self.delegate_tools(target), *extra]
        versions = {"python": platform.python_version()}
        for name in dict.fromkeys(names):
            try:
                versions[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                versions[name] = "not installed"
        return versions

    def delegate_tools(self, target: Target) -> tuple[str, ...]:
        return ()

    # ------------------------------------------------------------------------------------------
    def _module(self, part: str):
        return importlib.import_module(f"converters.backends.{self.name}.{part}")


def on_macos() -> bool:
    return platform.system() == "Darwin"
