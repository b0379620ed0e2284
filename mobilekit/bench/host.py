"""This host as a device: run a `mobilekit convert` artifact on the host runtime
(ExecuTorch, ONNX Runtime, LiteRT, PyTorch Lite) the way the phone apps do, and build the
same `DeviceReport` a phone posts (device.kind = "host", app "mobilekit-host").

The run follows the apps: load (timed), first inference (timed apart), warm-up, timed
iterations on a fixed random input of the manifest's shape. A runtime that fails to load
or run the artifact gives a report with `error` set, as a failed phone run does; a folder
that is not an artifact, or a model file whose sha256 differs from its manifest, is a user
error (nothing trustworthy to report).
"""

from __future__ import annotations

import os
import platform
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from mobilekit.bench.memory import PeakMemory
from mobilekit.timing import summarize, timed_runs
from mobilekit.errors import MobilekitError

APP_NAME = "mobilekit-host"


def read_artifact(artifact_dir: str | Path):
    """(manifest, model file path) of an artifact folder (or of its model file), with the
    file's sha256 checked: mobilekit.artifact.open_artifact, whose errors say what is wrong."""
    from mobilekit.artifact import open_artifact

    art = open_artifact(artifact_dir, verify=True)
    return art.manifest, art.file


def host_device() -> dict:
    """This machine as the wire format's `Device` (kind "host")."""
    from mobilekit.bench.environment import cpu_model, host_identity, os_version, ram_mb, usable_cpus

    return {"kind": "host", **host_identity(), "os": platform.system() or "unknown",
            "os_version": os_version(), "chip": cpu_model(), "cpu_cores": usable_cpus(),
            "ram_mb": ram_mb()}


def _input(manifest) -> "np.ndarray":  # noqa: F821 - numpy imported lazily
    import numpy as np

    spec = manifest.input
    rng = np.random.default_rng(0)
    if spec.dtype in ("int8", "uint8"):
        info = np.iinfo(spec.dtype)
        return rng.integers(info.min, info.max + 1, size=spec.shape, dtype=spec.dtype)
    return rng.standard_normal(spec.shape).astype(spec.dtype)


# Python modules behind each wire-format runtime. An app has its runtime linked in, so the
# host imports it before the clock starts: load_ms is loading the model, not the library
# (a cold `import executorch` alone takes seconds), and memory is the model's.
_RUNTIME_MODULES = {
    "executorch": ("executorch.runtime", "executorch.extension.pybindings.portable_lib"),
    "onnxruntime": ("onnxruntime",),
    "litert": ("ai_edge_litert.interpreter",),
    "pytorch-lite": ("torch.jit.mobile",),
    "coreml": ("coremltools",),
}


def _preload_runtime(runtime: str) -> None:
    import importlib

    for name in _RUNTIME_MODULES.get(runtime, ()):
        try:
            importlib.import_module(name)
        except ImportError:
            return  # load_runtime raises the error that says what to install


def _open_runtime(model_file: Path, threads: int | None):
    from converters.runtimes import load_runtime

    return load_runtime(model_file.parent, threads=threads)


def run_artifact(artifact_dir: str | Path, warmup: int = 10, iters: int = 100,
                 threads: int | None = None, keep_latencies: bool = True):
    """Benchmark an artifact on this host; returns a validated `DeviceReport`."""
    from mobilekit import __version__
    from mobilekit.collector.wire import DeviceReport

    if warmup < 0 or iters < 1:
        raise MobilekitError(f"cannot time {iters} runs after {warmup} warm-up runs",
                             "use --warmup >= 0 and --iters >= 1")
    if threads is not None and threads < 1:
        raise MobilekitError(f"--threads {threads} is not a thread count", "use --threads 1 or more")
    manifest, model_file = read_artifact(artifact_dir)
    x = _input(manifest)
    report = {
        "report_id": f"host-{uuid.uuid4()}",
        "device": host_device(),
        "artifact": {"model": manifest.model, "target": manifest.target, "sha256": manifest.sha256,
                     "precision": manifest.precision,
                     "quantization": manifest.quantization.scheme if manifest.quantization else None},
        "config": {"compute_units": manifest.compute_units, "threads": threads, "warmup": warmup,
                   "iterations": iters, "batch_size": manifest.input.shape[0]},
        "thermal": None,
    }
    runtime_version = "unknown"
    _preload_runtime(manifest.runtime)
    mem = PeakMemory("cpu")
    mem.start()
    try:
        t0 = time.perf_counter()
        runtime = _open_runtime(model_file, threads)
        load_ms = (time.perf_counter() - t0) * 1e3
        runtime_version = str(getattr(runtime, "version", None) or "unknown")
        t0 = time.perf_counter()
        runtime.run(x)
        first_ms = (time.perf_counter() - t0) * 1e3
        times = timed_runs(lambda: runtime.run(x), iters, warmup)
        report["results"] = {"load_ms": load_ms, "first_inference_ms": first_ms,
                             "latency_ms": summarize(times),
                             "latencies_ms": [round(t, 4) for t in times] if keep_latencies else None,
                             "peak_memory_mb": mem.peak_mb()}
        if threads is None:
            report["config"]["threads"] = getattr(runtime, "threads", None) or None
    except MobilekitError:
        raise
    except Exception as e:  # noqa: BLE001 - a failed run is reported, as the apps do
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        report["error"] = f"{type(e).__name__}: {msg}"[:1000]
    report["created_at"] = datetime.now(timezone.utc)
    report["app"] = {"name": APP_NAME, "version": __version__, "runtime": manifest.runtime,
                     "runtime_version": runtime_version}
    return DeviceReport.model_validate(report)


def save_report(report, path: str | Path) -> Path:
    """Write a report as the JSON it is posted as (for --out, or when posting fails)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(report.model_dump_json(indent=2) + "\n")
    tmp.replace(path)  # a crash mid-write never leaves half a report
    return path
