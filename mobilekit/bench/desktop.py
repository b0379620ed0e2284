"""Desktop latency benchmark, paper 001 Sec. 3.2's method.

Three measurements per model, on the same random input for every model:

- train:  one full training step (forward, cross-entropy loss, backward, AdamW step),
          batch 8 x 16 x 3 x 224 x 224, mixed precision;
- batch:  batch-mode inference, forward only, batch 32;
- single: single-instance inference, forward only, batch 1.

Warm-up runs are excluded; every timed run is kept (median, p90, std ... in the JSON).
GPU runs are timed with CUDA events and a synchronisation per run, CPU runs with
`time.perf_counter` (CPU kernels are synchronous). Peak memory: see `memory.py`.
An out-of-memory model is a row with status "oom" and the run goes on.

Relative latency divides a row's median by the reference model's median for the same mode
(paper 001 averages; on a shared machine the median resists interference, and the mean is
in the JSON too).
"""

from __future__ import annotations

import gc
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from multiprocessing import get_context
from typing import Callable, Iterator

from mobilekit.bench.memory import PeakMemory
from mobilekit.timing import summarize
from mobilekit.errors import MobilekitError

RESULT_SCHEMA = "mobilekit.bench/1"
MODES = ("train", "batch", "single")
# Paper 001 Sec. 3.2: training batch 8, batch-mode inference 32, single-instance 1.
PAPER_BATCH = {"train": 8, "batch": 32, "single": 1}
PAPER_SIZE = (16, 224)
FASTEST = "fastest"


class BenchConfigError(MobilekitError, ValueError):
    """A benchmark option that cannot work (unknown mode, bad size, CUDA missing ...)."""


@dataclass(frozen=True)
class Job:
    """One measurement: a model at one input size in one mode. Picklable for --isolate."""

    model: str
    mode: str
    frames: int
    size: int
    batch_size: int
    device: str
    precision: str
    warmup: int
    iters: int
    num_classes: int | None
    threads: int | None


@dataclass
class BenchConfig:
    models: list[str]
    modes: list[str] = field(default_factory=lambda: list(MODES))
    device: str = "cpu"
    precision: str = "fp32"
    warmup: int = 10
    iters: int = 100
    sizes: list[tuple[int, int]] = field(default_factory=lambda: [PAPER_SIZE])
    batch_sizes: dict[str, int] = field(default_factory=lambda: dict(PAPER_BATCH))
    num_classes: int | None = None
    threads: int | None = None
    relative_to: str | None = None
    reference_size: tuple[int, int] | None = None
    isolate: bool = False

    def jobs(self) -> list[Job]:
        # Models outermost: a model's rows finish together, so partial results are useful.
        return [Job(m, mode, t, s, self.batch_sizes[mode], self.device, self.precision,
                    self.warmup, self.iters, self.num_classes, self.threads)
                for m in self.models for t, s in self.sizes for mode in self.modes]


# ----------------------------------------------------------------------------- parsing
def parse_modes(text: str) -> list[str]:
    """'all', one mode, or a comma list ('train,single')."""
    names = [p.strip() for p in text.split(",") if p.strip()]
    if names == ["all"]:
        return list(MODES)
    bad = [n for n in names if n not in MODES]
    if bad or not names:
        raise BenchConfigError(f"unknown mode {', '.join(bad) or repr(text)}",
                               f"use one of {', '.join(MODES)}, all, or a comma list")
    return list(dict.fromkeys(names))


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """'4x112,8x160,16x224' -> [(4, 112), (8, 160), (16, 224)] (frames x resolution)."""
    sizes = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            frames, size = (int(v) for v in part.lower().split("x"))
        except ValueError:
            raise BenchConfigError(f"cannot read size {part!r}",
                                   "write FRAMESxRESOLUTION, e.g. --sizes 4x112,8x160,16x224") from None
        if frames < 1 or size < 32:
            raise BenchConfigError(f"size {part!r} is too small", "use at least 1 frame and 32 pixels")
        sizes.append((frames, size))
    if not sizes:
        raise BenchConfigError("--sizes is empty", "e.g. --sizes 4x112,8x160,16x224")
    return list(dict.fromkeys(sizes))


def resolve_device(device: str | None) -> str:
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchConfigError(f"CUDA is not available in this torch build ({torch.__version__})",
                               "run with --device cpu, or install a CUDA build of torch")
    if device != "cpu" and not device.startswith("cuda"):
        raise BenchConfigError(f"unknown device {device!r}", "use cuda, cuda:N or cpu")
    return device


def make_config(models: list[str], *, modes: list[str] | None = None, device: str | None = None,
                precision: str | None = None, warmup: int = 10, iters: int = 100,
                sizes: list[tuple[int, int]] | None = None, frames: int = PAPER_SIZE[0],
                size: int = PAPER_SIZE[1], batch_sizes: dict[str, int] | None = None,
                num_classes: int | None = None, threads: int | None = None,
                relative_to: str | None = None, isolate: bool = False) -> BenchConfig:
    """Check every option before anything runs (a typo must not cost an hour of benchmark).

    Defaults follow paper 001: all modes, 16 x 224, batches 8 / 32 / 1, mixed precision on
    GPU; fp32 on CPU. The reference for relative latency is `relative_to` (a model, or
    'fastest' as in paper 001 where the fastest model is 1.0), default vlf_b0 when it is
    benchmarked, else the first model; its size is (frames, size) when that is in the sweep,
    else the sweep's first size.
    """
    from mobilekit.models import get_card

    models = list(dict.fromkeys(m.strip() for m in models if m.strip()))
    if not models:
        raise BenchConfigError("no models to benchmark", "pass --models vlf_b0,vtn_eff,...")
    for m in models:
        get_card(m)  # raises UnknownModelError with a did-you-mean hint
    device = resolve_device(device)
    precision = precision or ("amp" if device.startswith("cuda") else "fp32")
    if precision not in ("amp", "fp32"):
        raise BenchConfigError(f"unknown precision {precision!r}", "use amp or fp32")
    if warmup < 0 or iters < 1:
        raise BenchConfigError(f"cannot time {iters} runs after {warmup} warm-up runs",
                               "use --warmup >= 0 and --iters >= 1")
    if threads is not None and threads < 1:
        raise BenchConfigError(f"--threads {threads} is not a thread count", "use --threads 1 or more")
    batches = {**PAPER_BATCH, **(batch_sizes or {})}
    batches["single"] = 1
    if any(b < 1 for b in batches.values()):
        raise BenchConfigError(f"batch sizes must be positive, got {batches}", "use 1 or more")
    sizes = sizes or [(frames, size)]
    ref_size = (frames, size) if (frames, size) in sizes else sizes[0]
    if relative_to is None:
        relative_to = "vlf_b0" if "vlf_b0" in models else models[0]
    if relative_to != FASTEST and relative_to not in models:
        raise BenchConfigError(f"reference model {relative_to!r} is not among --models",
                               f"add it to --models, or use --relative-to {FASTEST}")
    return BenchConfig(models=models, modes=modes or list(MODES), device=device,
                       precision=precision, warmup=warmup, iters=iters, sizes=sizes,
                       batch_sizes=batches, num_classes=num_classes, threads=threads,
                       relative_to=relative_to, reference_size=ref_size, isolate=isolate)


# ------------------------------------------------------------------------- measuring
def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    # The CPU allocator raises a plain RuntimeError when malloc fails.
    return isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)


def _logits(out) -> list:
    """Logit tensors of a model output: a tensor, a dict of heads (EK100 verb/noun), or a
    tuple whose first item is the logits (streaming models return their state after it)."""
    if isinstance(out, dict):
        return list(out.values())
    if isinstance(out, (tuple, list)):
        return [out[0]]
    return [out]


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def time_calls(fn: Callable[[], object], warmup: int, iters: int, device: str) -> tuple[float, list[float]]:
    """Run `fn` warmup + iters times; return (first call ms, timed ms list).

    The first call (lazy init, cuDNN autotuning) is reported apart and is part of the warm-up
    when there is one. On GPU each run is bracketed by CUDA events and synchronised, so a
    run's time is its own and not the queue's.
    """
    import torch

    cuda = device.startswith("cuda")
    times = []
    for _ in range(warmup + iters):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return times[0], times[warmup:]


def _step_fn(job: Job, model, x):
    """The callable one timed run executes, for the job's mode."""
    import torch
    import torch.nn.functional as F

    dev = torch.device(job.device)
    amp = job.precision == "amp"
    # fp16 + loss scaling on GPU (what "mixed precision" meant in paper 001); bf16 on CPU.
    amp_dtype = torch.float16 if dev.type == "cuda" else torch.bfloat16

    def autocast():
        return torch.autocast(device_type=dev.type, dtype=amp_dtype, enabled=amp)

    if job.mode != "train":
        model.eval()

        def infer():
            with torch.inference_mode(), autocast():
                return model(x)

        return infer

    model.train()
    labels = torch.randint(0, 1 << 30, (x.shape[0],), device=dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda") if amp and dev.type == "cuda" else None

    def train_step():
        opt.zero_grad(set_to_none=True)
        with autocast():
            out = model(x)
            loss = sum(F.cross_entropy(o.float(), labels % o.shape[-1]) for o in _logits(out))
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        return loss

    return train_step


def _measure(job: Job, mem: PeakMemory) -> dict:
    import torch

    from mobilekit.models import create_model
    from mobilekit.models.info import count_params

    dev = torch.device(job.device)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = create_model(job.model, num_classes=job.num_classes, num_frames=job.frames,
                         image_size=job.size).to(dev)
    _synchronize(job.device)
    load_ms = (time.perf_counter() - t0) * 1e3
    x = torch.randn(job.batch_size, job.frames, 3, job.size, job.size, device=dev)
    step = _step_fn(job, model, x)
    first_ms, times = time_calls(step, job.warmup, job.iters, job.device)
    return {
        "params": count_params(model),
        "num_classes": model.mobilekit_config["num_classes"],
        "load_ms": load_ms,
        "first_ms": first_ms,
        "latency_ms": summarize(times),
        "latencies_ms": [round(t, 4) for t in times],
        "peak_memory_mb": mem.peak_mb(),
        "memory_method": mem.method,
    }


_PRIMED: set[tuple[str, str]] = set()


def _prime(device: str, precision: str) -> None:
    """One throwaway train step and forward of a small conv + attention net, once per
    process: torch allocates thread pools, oneDNN/cuBLAS workspaces and autograd state on
    first use, which would otherwise be charged to whichever model happens to run first."""
    import torch
    from torch import nn

    if (device, precision) in _PRIMED:
        return
    from mobilekit.models.layers import Attention

    dev = torch.device(device)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.BatchNorm2d(16), nn.SiLU(),
                        nn.Conv2d(16, 32, 3, groups=16), nn.AdaptiveAvgPool2d(4), nn.Flatten(2),
                        nn.LayerNorm(16), Attention(16, 2), nn.Flatten(1)).to(dev)
    job = Job("prime", "train", 1, 32, 2, device, precision, 0, 1, None, None)
    x = torch.randn(2, 3, 32, 32, device=dev)
    for mode in ("train", "single"):
        _step_fn(replace(job, mode=mode), net, x)()
    _synchronize(device)
    _PRIMED.add((device, precision))


def bench_one(job: Job) -> dict:
    """Measure one job in this process. Never raises for a model's own failure: an OOM is
    status "oom", any other exception status "error" with its message (a long run must not
    lose the rows it already has)."""
    import torch

    if job.threads:
        torch.set_num_threads(job.threads)
    if job.device.startswith("cuda"):
        # Fixed shapes: let cuDNN pick its fastest kernels during warm-up.
        torch.backends.cudnn.benchmark = True
    row: dict = {"model": job.model, "mode": job.mode, "frames": job.frames, "size": job.size,
                 "batch_size": job.batch_size, "precision": job.precision, "status": "ok",
                 "error": None, "threads": torch.get_num_threads()}
    _prime(job.device, job.precision)
    t0 = time.perf_counter()
    mem = PeakMemory(job.device)
    mem.start()
    try:
        row.update(_measure(job, mem))
    except Exception as e:  # noqa: BLE001 - recorded in the row, see docstring
        row["status"] = "oom" if _is_oom(e) else "error"
        row["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:500]
        # On GPU the peak tells how far it got before running out.
        if job.device.startswith("cuda"):
            row["peak_memory_mb"] = mem.peak_mb()
            row["memory_method"] = mem.method
    finally:
        # Drop the failed frame's tensors before the next model allocates.
        gc.collect()
        if job.device.startswith("cuda"):
            torch.cuda.empty_cache()
    row["wall_s"] = round(time.perf_counter() - t0, 3)
    return row


def _bench_isolated(job: Job) -> dict:
    # A fresh interpreter per job: clean allocator, per-model peak RSS even without the
    # Linux reset, and a model killed by the OS does not end the run.
    ctx = get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        try:
            return pool.submit(bench_one, job).result()
        except BrokenProcessPool:
            row = {k: getattr(job, k) for k in ("model", "mode", "frames", "size", "batch_size",
                                                "precision")}
            return {**row, "status": "oom",
                    "error": "worker process died (killed by the OS, most likely out of memory)"}


def iter_rows(cfg: BenchConfig, on_start: Callable[[Job], None] | None = None) -> Iterator[dict]:
    """Rows as they are measured (the CLI shows progress between them)."""
    for job in cfg.jobs():
        if on_start:
            on_start(job)
        yield _bench_isolated(job) if cfg.isolate else bench_one(job)


# --------------------------------------------------------------------------- results
def add_relative(rows: list[dict], relative_to: str, reference_size: tuple[int, int]) -> dict:
    """Set `relative` on every ok row: its median over the reference's median for the same
    mode. Returns {mode: {"model", "frames", "size", "median_ms"}} for the references used."""
    refs: dict[str, dict] = {}
    for mode in dict.fromkeys(r["mode"] for r in rows):
        candidates = [r for r in rows if r["mode"] == mode and r["status"] == "ok"
                      and (r["frames"], r["size"]) == tuple(reference_size)
                      and (relative_to == FASTEST or r["model"] == relative_to)]
        if not candidates:
            continue
        ref = min(candidates, key=lambda r: r["latency_ms"]["median"])
        refs[mode] = {"model": ref["model"], "frames": ref["frames"], "size": ref["size"],
                      "median_ms": ref["latency_ms"]["median"]}
    for r in rows:
        ref = refs.get(r["mode"])
        r["relative"] = (r["latency_ms"]["median"] / ref["median_ms"]
                         if ref and r["status"] == "ok" and ref["median_ms"] > 0 else None)
    return refs


def finalize(cfg: BenchConfig, rows: list[dict], env: dict, started_at: datetime) -> dict:
    """The results document written by --out: config, environment, rows, references and
    the reproduction check against the papers' tables."""
    import os

    from mobilekit.bench.paper_reference import reproduction_check

    refs = add_relative(rows, cfg.relative_to, cfg.reference_size)
    env = dict(env)
    if hasattr(os, "getloadavg"):
        env["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    config = asdict(cfg)
    config["sizes"] = [list(s) for s in cfg.sizes]
    config["reference_size"] = list(cfg.reference_size)
    config["amp_dtype"] = (None if cfg.precision == "fp32"
                           else "float16" if cfg.device.startswith("cuda") else "bfloat16")
    config["timer"] = "cuda events" if cfg.device.startswith("cuda") else "time.perf_counter"
    return {
        "schema": RESULT_SCHEMA,
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "config": config,
        "environment": env,
        "reference": refs,
        "results": rows,
        "reproduction": reproduction_check(rows, tuple(cfg.reference_size)),
    }


def run_benchmark(cfg: BenchConfig, on_start: Callable[[Job], None] | None = None,
                  on_row: Callable[[dict], None] | None = None) -> dict:
    """Run every job of `cfg` and return the results document (see `finalize`)."""
    from mobilekit.bench.environment import environment

    started = datetime.now(timezone.utc)
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    env = environment(cfg.device)
    rows = []
    for row in iter_rows(cfg, on_start):
        rows.append(row)
        if on_row:
            on_row(row)
    return finalize(cfg, rows, env, started)
