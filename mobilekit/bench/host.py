"""This host as a device: run a `mobilekit convert` artifact on the host runtime
(ExecuTorch, ONNX Runtime, LiteRT, PyTorch Lite) the way the phone apps do, and build the
same `DeviceReport` a phone posts (device.kind = "host", app "mobilekit-host").

The run follows the apps: load (timed), first inference (timed apart), the artifact's check
set (each clip once, compared with its expected outputs: the report's `numerics`; a check set
that cannot be run sets `error` beside the results), warm-up, timed iterations on a fixed
random input of the manifest's shape. A runtime that fails to load
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


def _check_timing(warmup: int, iters: int, threads: int | None) -> None:
    """The timing arguments of a host run, refused in one line before anything is read."""
    if warmup < 0 or iters < 1:
        raise MobilekitError(f"cannot time {iters} runs after {warmup} warm-up runs",
                             "use --warmup >= 0 and --iters >= 1")
    if threads is not None and threads < 1:
        raise MobilekitError(f"--threads {threads} is not a thread count", "use --threads 1 or more")


def _report_head(manifest, threads: int | None, warmup: int, iters: int) -> dict:
    """What every host report says before it runs: this machine, the artifact, the run's setup."""
    return {
        "report_id": f"host-{uuid.uuid4()}",
        "device": host_device(),
        "artifact": {"model": manifest.model, "target": manifest.target, "sha256": manifest.sha256,
                     "precision": manifest.precision,
                     "quantization": manifest.quantization.scheme if manifest.quantization else None},
        "config": {"compute_units": manifest.compute_units, "threads": threads, "warmup": warmup,
                   "iterations": iters, "batch_size": manifest.input.shape[0]},
        "thermal": None,
    }


def _input(manifest) -> "np.ndarray":  # noqa: F821 - numpy imported lazily
    import numpy as np

    spec = manifest.input
    rng = np.random.default_rng(0)
    if spec.dtype in ("int8", "uint8"):
        info = np.iinfo(spec.dtype)
        return rng.integers(info.min, info.max + 1, size=spec.shape, dtype=spec.dtype)
    return rng.standard_normal(spec.shape).astype(spec.dtype)


def _preload_runtime(runtime: str) -> None:
    """Import the Python modules behind a wire-format runtime (its backend's) before the clock
    starts: an app has its runtime linked in, so load_ms is loading the model, not the library
    (a cold `import executorch` alone takes seconds), and memory is the model's."""
    import importlib

    from converters.backends import BACKENDS

    for backend in BACKENDS.values():
        if backend.runtime != runtime:
            continue
        for name in backend.runtime_modules:
            try:
                importlib.import_module(name)
            except ImportError:
                return  # load_runtime raises the error that says what to install


def _open_runtime(model_file: Path, threads: int | None):
    from converters.runtimes import load_runtime

    return load_runtime(model_file.parent, threads=threads)


def run_check_set(folder: Path, manifest, runtime) -> dict:
    """The report's `numerics`: every check-set clip once through `runtime`, compared with the
    expected outputs (mobilekit/artifact/checkset.py). A check set that is missing, truncated or
    fails its sha256, or clips the runtime cannot take, give status "error" with the reason."""
    from mobilekit.artifact.checkset import CheckSetError, check_outputs, read_check_set

    def error(detail: str) -> dict:
        return {"status": "error", "detail": detail[:1000], "samples": 0}

    try:
        check = read_check_set(folder, manifest.check_set)
    except CheckSetError as e:
        return error(e.problem)
    run = runtime.run
    if manifest.input.dtype != "float32":  # integer I/O (LiteRT static int8): quantize as the app does
        io = (manifest.quantization.report.get("io") or {}) if manifest.quantization else {}
        spec = (io.get("inputs") or [{}])[0]
        if "scale" not in spec or "zero_point" not in spec:
            return error(f"the check set's clips are float32 and this artifact takes {manifest.input.dtype} "
                         "input with no scale / zero point in its manifest")
        import numpy as np

        info = np.iinfo(manifest.input.dtype)

        def run(clip):
            q = np.clip(np.round(clip / spec["scale"]) + spec["zero_point"], info.min, info.max)
            return runtime.run(q.astype(manifest.input.dtype))
    try:
        return check_outputs(check, run)
    except Exception as e:  # noqa: BLE001 - reported, as a phone reports it
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return error(f"the runtime failed on a check-set clip: {type(e).__name__}: {msg}")


def run_artifact(artifact_dir: str | Path, warmup: int = 10, iters: int = 100,
                 threads: int | None = None, keep_latencies: bool = True):
    """Benchmark an artifact on this host; returns a validated `DeviceReport`."""
    from mobilekit import __version__
    from mobilekit.collector.wire import DeviceReport

    _check_timing(warmup, iters, threads)
    manifest, model_file = read_artifact(artifact_dir)
    x = _input(manifest)
    report = _report_head(manifest, threads, warmup, iters)
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
        report["numerics"] = run_check_set(model_file.parent, manifest, runtime)  # before timing, as the apps
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
    numerics = report.get("numerics")
    if numerics is not None and numerics["status"] == "error" and "error" not in report:
        report["error"] = f"check set: {numerics['detail']}"  # timed, but its outputs are not checked
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


def run_stream(artifact_dir: str | Path, clip_dir: str | Path | None = None, warmup: int = 10,
               iters: int = 100, threads: int | None = None, keep_latencies: bool = True):
    """A streaming artifact (`mobilekit convert --streaming`) on this host, as the apps run it;
    returns a validated `DeviceReport` (schema 3) whose results time one new frame each: the
    step with its state fed back, or the encoder on the frame and the head over a full ring
    buffer. Load (every program, timed), the first frame (timed apart), warm-up frames (at least
    the window, so every timed frame runs the head), timed frames. With `clip_dir`, the clip
    artifact is timed in the same process and carried as `streaming.clip_latency_ms`."""
    import numpy as np

    from mobilekit import __version__
    from mobilekit.collector.wire import DeviceReport

    _check_timing(warmup, iters, threads)
    manifest, _ = read_artifact(artifact_dir)
    if manifest.streaming is None:
        raise MobilekitError(f"{artifact_dir} is a clip artifact, not a streaming one",
                             "pass the folder `mobilekit convert --streaming` wrote")
    clip = None
    if clip_dir is not None:  # a wrong --clip is refused before anything runs
        clip = read_artifact(clip_dir)
        if clip[0].streaming is not None:
            raise MobilekitError(f"{clip_dir} is a streaming artifact, not a clip", "give the clip model's folder")
    spec = manifest.streaming
    report = {"schema_version": 3, **_report_head(manifest, threads, warmup, iters)}
    runtime_version = "unknown"
    _preload_runtime(manifest.runtime)
    mem = PeakMemory("cpu")
    mem.start()
    try:
        from converters.streaming import open_stream

        t0 = time.perf_counter()
        stream = open_stream(artifact_dir, threads)
        load_ms = (time.perf_counter() - t0) * 1e3
        rt = stream.runtimes[0]
        runtime_version = str(getattr(rt, "version", None) or "unknown")
        frame = np.random.default_rng(0).standard_normal(stream.frame_shape).astype(np.float32)
        stream.push(frame)
        first_ms = stream.frame_ms
        for _ in range(max(warmup, (stream.window or 0) - 1)):  # the window full: every timed push runs the head
            stream.push(frame)
        pushed = 1 + max(warmup, (stream.window or 0) - 1)
        times = []
        for _ in range(iters):
            stream.push(frame)
            times.append(stream.frame_ms)
        frame_stats = summarize(times)
        block = {"mode": spec.mode, "window": spec.window, "frames": pushed + iters,
                 "frame_latency_ms": frame_stats, "clip_latency_ms": None, "clip_sha256": None}
        if clip is not None:
            clip_rt = _open_runtime(clip[1], threads)
            x = _input(clip[0])
            block["clip_latency_ms"] = summarize(timed_runs(lambda: clip_rt.run(x), iters, warmup))
            block["clip_sha256"] = clip[0].sha256
        report["results"] = {"load_ms": load_ms, "first_inference_ms": first_ms, "latency_ms": frame_stats,
                             "latencies_ms": [round(t, 4) for t in times] if keep_latencies else None,
                             "peak_memory_mb": mem.peak_mb()}
        report["streaming"] = block
        if threads is None:
            report["config"]["threads"] = getattr(rt, "threads", None) or None
    except MobilekitError:
        raise
    except Exception as e:  # noqa: BLE001 - a failed run is reported, as the apps do
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        report["error"] = f"{type(e).__name__}: {msg}"[:1000]
    report["created_at"] = datetime.now(timezone.utc)
    report["app"] = {"name": APP_NAME, "version": __version__, "runtime": manifest.runtime,
                     "runtime_version": runtime_version}
    return DeviceReport.model_validate(report)


def stream_latency(artifact_dir: str | Path, clip_dir: str | Path | None = None, warmup: int = 10,
                   iters: int = 100, threads: int | None = None) -> dict:
    """Per-new-frame latency of a streaming artifact and, with `clip_dir`, the clip artifact's
    timed in the same process, side by side (run_stream's figures):
    {"mode", "window", "frame_ms": stats, "clip_ms": stats or None, "frame_over_clip": median ratio or None}."""
    report = run_stream(artifact_dir, clip_dir, warmup=warmup, iters=iters, threads=threads, keep_latencies=False)
    if report.error:
        raise MobilekitError(f"the stream failed: {report.error}", "check the artifact with `mobilekit check`")
    s = report.streaming
    frame = s.frame_latency_ms.model_dump()
    clip = s.clip_latency_ms.model_dump() if s.clip_latency_ms else None
    return {"mode": s.mode, "window": s.window, "frame_ms": frame, "clip_ms": clip,
            "frame_over_clip": frame["median"] / clip["median"] if clip else None}
