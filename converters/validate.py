"""Numeric validation of an artifact against eager PyTorch on the host runtime.

A few seeded random clips; max / mean abs diff and top-1 agreement over every output;
median host latency at batch 1. The tolerance scales with the size of the logits
(`base * max(1, max|eager|)`): fp32 targets get 1e-3, fp16 ones 5e-2.
"""

from __future__ import annotations

import statistics

import numpy as np
import torch

from converters.runtimes import HostRuntime

TOLERANCE = {"fp32": 1e-3, "fp16": 5e-2}


def settle_batchnorm(model: torch.nn.Module, input_shape: list[int], steps: int = 3, seed: int = 0) -> torch.nn.Module:
    """Give an untrained model BatchNorm statistics measured on random clips (in place).

    With BN in eval mode and untrained statistics (running mean 0, var 1), a deep CNN's signal
    decays layer by layer (EfficientNet's squeeze-excite gates halve it per block: a fresh
    EfficientNet-B0 emits features ~1e-2 of its input scale), so the logits barely depend on
    the input and validation would compare near-constants. Tests and
    benchmarks call this on untrained zoo models; trained checkpoints do not need it.
    """
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [(m, m.momentum) for m in bns]
    was_training = model.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the steps
    model.train()
    with torch.no_grad():
        for _ in range(steps):
            model(torch.randn(*input_shape, generator=gen))
    for m, momentum in saved:
        m.momentum = momentum
    return model.train(was_training)


def random_clips(shape: list[int], samples: int, seed: int = 0) -> list[np.ndarray]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=gen).numpy() for _ in range(samples)]


def eager_outputs(model: torch.nn.Module, clips: list[np.ndarray]) -> list[list[np.ndarray]]:
    with torch.no_grad():
        return [[o.numpy() for o in model(torch.from_numpy(c))] for c in clips]


def median_latency_ms(runtime: HostRuntime, clip: np.ndarray, runs: int, warmup: int = 2) -> float | None:
    from mobilekit.bench.stats import timed_runs

    if runs <= 0:
        return None
    return statistics.median(timed_runs(lambda: runtime.run(clip), runs, warmup))


def compare(runtime: HostRuntime, clips: list[np.ndarray], expected: list[list[np.ndarray]],
            precision: str, latency_runs: int = 20) -> dict:
    """The manifest's `validation` block (status passed/failed) for one runtime, plus
    `input_sensitive` (False when eager logits barely change between clips), which the
    caller moves to the conversion notes."""
    diffs, top1 = [], []
    scale = 1.0
    for clip, want in zip(clips, expected):
        got = runtime.run(clip)
        if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want)):
            return {"status": "failed", "runtime": f"{runtime.name} {runtime.version}",
                    "samples": len(clips),
                    "reason": f"output shapes {[g.shape for g in got]} != eager {[w.shape for w in want]}"}
        for g, w in zip(got, want):
            diffs.append(np.abs(g.astype(np.float64) - w.astype(np.float64)))
            scale = max(scale, float(np.abs(w).max()))
            top1.append(bool((g.reshape(g.shape[0], -1).argmax(-1) == w.reshape(w.shape[0], -1).argmax(-1)).all()))
    # Logits that do not change with the input (untrained weights, dead signal) make the
    # comparison vacuous: say so instead of reporting a reassuring 0.
    spread = max((float(np.abs(a - b).max()) for a, b in zip(expected[0], expected[-1])), default=0.0)
    input_sensitive = len(expected) < 2 or spread > 1e-4 * scale
    all_diffs = np.concatenate([d.ravel() for d in diffs])
    max_diff, mean_diff = float(all_diffs.max()), float(all_diffs.mean())
    tolerance = TOLERANCE[precision] * scale
    ok = bool(np.isfinite(max_diff) and max_diff <= tolerance)
    result = {
        "status": "passed" if ok else "failed",
        "reason": None if ok else f"max abs diff {max_diff:.3g} > tolerance {tolerance:.3g}",
        "runtime": f"{runtime.name} {runtime.version}",
        "samples": len(clips),
        "max_abs_diff": max_diff,
        "mean_abs_diff": mean_diff,
        "top1_agreement": sum(top1) / len(top1),
        "tolerance": tolerance,
        "host_latency_ms": median_latency_ms(runtime, clips[0], latency_runs) if ok else None,
        "input_sensitive": input_sensitive,
    }
    return result
