"""Numeric validation of an artifact against eager PyTorch on the host runtime.

The clips (`validation_clips`, seeded with torch.Generator(seed 0), the same on every run):
`samples` standard-normal clips N(0, 1), then four probes that take the other side of
whatever a trace or a lowering could have baked in for one kind of input (a branch on the
sign or the size of the input, a saturating op):
  positive   |N(0, 1)|          every value > 0
  negative   -|N(0, 1)|         every value < 0
  small      0.01 * N(0, 1)     near zero
  large      100 * N(0, 1)      far outside normalised video (|x| < ~3)
so `validation.samples` in the manifest is `samples + 4`; `conversion.validation_inputs`
describes the set. Max / mean abs diff and top-1 agreement over every output; median host
latency at batch 1 on the first standard clip. The tolerance is per clip and scales with the
size of that clip's logits (`base * max(1, max|eager|)`): fp32 targets get 1e-3, fp16 ones
5e-2, so the large probe's big logits do not loosen the check of the others. Far from the
inputs a model was fitted to (a probe, an untrained model), its output can hinge on rounding:
eager fp32 itself is then measurably off its own float64 result (`eager_noise`), and no
artifact can match eager more closely than a small multiple of that, so a clip's tolerance is
at least NOISE_FACTOR times it (the caller notes where this widened it). This follows
PyTorch Inductor's accuracy check, which also judges against a float64 reference. The
manifest's `max_abs_diff` and `tolerance` are those of the clip nearest to (or furthest over)
its tolerance; `mean_abs_diff` is over every clip.
"""

from __future__ import annotations

import copy
import statistics

import numpy as np
import torch

from converters.runtimes import HostRuntime
from mobilekit.artifact.checkset import MAX_ABS_DIFF_BASE, NOISE_FACTOR, abs_diff

# The same rule devices apply to a check set (one definition, mobilekit/artifact/checkset.py):
# base x max(1, max|expected|) per clip, widened to NOISE_FACTOR x eager's distance from float64.
# A converter's different kernels, fusions and folded weights round differently from eager:
# measured up to ~9x eager's own distance from float64 on an ill-conditioned clip (an
# untrained vtn_eff on the negative probe, ptl and onnx), with a margin.
TOLERANCE = MAX_ABS_DIFF_BASE
STANDARD = "standard"
# The probes after the standard clips: kind -> (how a N(0, 1) draw becomes it, description).
PROBES = {
    "positive": (lambda x: x.abs(), "|N(0,1)|"),
    "negative": (lambda x: -x.abs(), "-|N(0,1)|"),
    "small": (lambda x: 1e-2 * x, "0.01*N(0,1)"),
    "large": (lambda x: 1e2 * x, "100*N(0,1)"),
}
# Clips at the input's own scale: whether the logits depend on the input is judged on these.
_UNIT_SCALE = (STANDARD, "positive", "negative")


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
    """`samples` seeded standard-normal clips."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=gen).numpy() for _ in range(samples)]


def validation_clips(shape: list[int], samples: int, seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    """The clips validation compares on and their kinds: `samples` standard-normal clips (the
    same as `random_clips`), then one clip per probe (module docstring)."""
    gen = torch.Generator().manual_seed(seed)
    clips = [torch.randn(*shape, generator=gen) for _ in range(samples)]
    clips += [make(torch.randn(*shape, generator=gen)) for make, _ in PROBES.values()]
    return [c.numpy() for c in clips], [STANDARD] * samples + list(PROBES)


def describe_inputs(samples: int, seed: int = 0) -> dict:
    """`conversion.validation_inputs` of the manifest: what the validation clips were."""
    return {"seed": seed, "standard": f"{samples} x N(0,1)",
            "probes": {kind: how for kind, (_, how) in PROBES.items()},
            "tolerance": f"per clip: the larger of base x max(1, max|eager logit| of that clip) and "
                         f"{NOISE_FACTOR} x max|eager fp32 - eager float64| on that clip"}


def eager_outputs(model: torch.nn.Module, clips: list[np.ndarray]) -> list[list[np.ndarray]]:
    with torch.no_grad():
        return [[o.numpy() for o in model(torch.from_numpy(c))] for c in clips]


def eager_noise(model: torch.nn.Module, clips: list[np.ndarray],
                expected: list[list[np.ndarray]]) -> list[float] | None:
    """Per clip, how far eager fp32 (`expected`) is from the same model run in float64: the
    rounding noise of fp32 on that input. None when the model does not run in float64."""
    try:
        model64 = copy.deepcopy(model).double()
        with torch.no_grad():
            exact = [[o.numpy() for o in model64(torch.from_numpy(c).double())] for c in clips]
    except Exception:  # e.g. a float32 constant built in forward: no estimate, no widening
        return None
    return [max((float(np.abs(w.astype(np.float64) - e).max()) for w, e in zip(want, ref)), default=0.0)
            for want, ref in zip(expected, exact)]


def median_latency_ms(runtime: HostRuntime, clip: np.ndarray, runs: int, warmup: int = 2) -> float | None:
    from mobilekit.timing import timed_runs

    if runs <= 0:
        return None
    return statistics.median(timed_runs(lambda: runtime.run(clip), runs, warmup))


def _finite_max(a: np.ndarray) -> float:
    return float(np.abs(a[np.isfinite(a)]).max(initial=0.0))


def compare(runtime: HostRuntime, clips: list[np.ndarray], expected: list[list[np.ndarray]],
            precision: str, latency_runs: int = 20, kinds: list[str] | None = None,
            noise: list[float] | None = None) -> dict:
    """The manifest's `validation` block (status passed/failed; every number finite, as the
    wire format requires) for one runtime, plus keys `pop_notes` turns into conversion notes:
    `input_sensitive` (False when eager logits barely change between clips at the input's own
    scale), `widened` ({kind: eager's float64 distance} for the clips whose tolerance `noise`
    raised) and `eager_not_finite` (kinds of clip where eager itself gives inf/NaN: an artifact
    giving the same agrees on a probe; on a standard clip the model is broken). `kinds` names each clip (`validation_clips`; default: all standard);
    `noise` is `eager_noise`'s estimate."""
    kinds = kinds or [STANDARD] * len(clips)
    noise = noise or [0.0] * len(clips)
    base = TOLERANCE[precision]
    per_clip, top1, widened, eager_not_finite = [], [], {}, []   # per clip: (max abs diff, tolerance, diffs)
    for clip, want, kind, eager_off in zip(clips, expected, kinds, noise):
        got = runtime.run(clip)
        if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want)):
            return {"status": "failed", "runtime": f"{runtime.name} {runtime.version}",
                    "samples": len(clips),
                    "reason": f"output shapes {[g.shape for g in got]} != eager {[w.shape for w in want]}"}
        diffs = np.concatenate([abs_diff(g, w).ravel() for g, w in zip(got, want)])
        tolerance = base * max([1.0] + [_finite_max(w) for w in want])
        if np.isfinite(eager_off) and NOISE_FACTOR * eager_off > tolerance:
            tolerance = NOISE_FACTOR * eager_off
            widened[kind] = max(widened.get(kind, 0.0), eager_off)
        if not all(np.isfinite(w).all() for w in want):
            eager_not_finite.append(kind)
        per_clip.append((float(diffs.max()), tolerance, diffs))
        top1.extend(bool((g.reshape(g.shape[0], -1).argmax(-1) == w.reshape(w.shape[0], -1).argmax(-1)).all())
                    for g, w in zip(got, want))
    # Logits that do not change with the input (untrained weights, dead signal) make the
    # comparison vacuous: say so instead of reporting a reassuring 0. Judged at the input's
    # own scale (the large probe would move even a nearly dead model's logits).
    unit = [e for e, k in zip(expected, kinds) if k in _UNIT_SCALE]
    unit_scale = max([1.0] + [_finite_max(o) for outs in unit for o in outs])
    spread = max((_finite_max(abs_diff(a, b)) for other in unit[1:] for a, b in zip(unit[0], other)),
                 default=0.0)
    input_sensitive = len(unit) < 2 or spread > 1e-4 * unit_scale
    # The clip nearest to (or furthest over) its own tolerance speaks for the set; a difference
    # that is not finite (inf/NaN on one side only) is the furthest over.
    worst = max(range(len(per_clip)),
                key=lambda i: per_clip[i][0] / per_clip[i][1] if np.isfinite(per_clip[i][0]) else np.inf)
    worst_diff, tolerance, _ = per_clip[worst]
    finite = bool(np.isfinite(worst_diff))
    ok = finite and all(d <= tol for d, tol, _ in per_clip) and STANDARD not in eager_not_finite
    if ok:
        reason = None
    elif STANDARD in eager_not_finite:  # a probe may overflow a model; an ordinary clip must not
        reason = "eager PyTorch's own outputs are not finite (inf/NaN) on a standard clip: the model is broken"
    elif finite:
        reason = f"max abs diff {worst_diff:.3g} > tolerance {tolerance:.3g} (on a {kinds[worst]} clip)"
    else:
        reason = f"outputs not finite where eager's are, or the reverse (on a {kinds[worst]} clip)"
    return {
        "status": "passed" if ok else "failed",
        "reason": reason,
        "runtime": f"{runtime.name} {runtime.version}",
        "samples": len(clips),
        "max_abs_diff": worst_diff if finite else None,
        "mean_abs_diff": float(np.concatenate([d for _, _, d in per_clip]).mean()) if finite else None,
        "top1_agreement": sum(top1) / len(top1),
        "tolerance": tolerance,
        "host_latency_ms": median_latency_ms(runtime, clips[0], latency_runs) if ok else None,
        "input_sensitive": input_sensitive,
        "widened": widened,
        "eager_not_finite": eager_not_finite,
    }


def pop_notes(validation: dict) -> list[str]:
    """Take compare()'s keys for the conversion notes out of `validation`, as notes."""
    notes = []
    if validation.pop("input_sensitive", True) is False:
        notes.append("eager outputs barely change with the input (untrained weights?): the numeric "
                     "comparison checks little; validate a trained model")
    notes += [f"eager PyTorch's outputs are not finite (inf/NaN) on the {kind} clip"
              for kind in validation.pop("eager_not_finite", [])]
    notes += [f"on the {kind} clip eager fp32 is itself {off:.2g} off its float64 result (the model is "
              f"ill-conditioned there): its tolerance was widened to {NOISE_FACTOR}x that"
              for kind, off in validation.pop("widened", {}).items()]
    return notes
