"""The check set: a few input clips and the eager PyTorch outputs for them, stored beside the
model so any device can say whether its runtime computes the same numbers. One layout, one
reader and one comparison for the converter (which writes it, converters/checkset.py), the
host bench, the collector and the apps (android_app/benchcore CheckSet.java and
ios_app/BenchCore CheckSet.swift mirror `compare`).

Layout, in the artifact folder (every tensor C order, little-endian, no header):

    checkset/input.bin          float32, N x <manifest input shape>   (N clips, N = count)
    checkset/<output name>.bin  float32, N x <that output's shape>     one per manifest output
    checkset/labels.bin         int32,   N                             only when labels are known

indexed by the manifest's `check_set` object: version, source (where the clips came from),
count, precision (the artifact's), reference (what computed the expected outputs),
tolerance (the rule that counts as "agrees" and its numbers), and per tensor {file, dtype,
shape, bytes, sha256} (`input`, `outputs` in the manifest's output order, `labels`), with
`total_bytes`. `file` is relative to the artifact folder.

Figures (`compare`), over the N clips: max and mean |got - expected| over every output
value; cosine: the lowest per-clip cosine similarity of all of a clip's outputs together;
top-1 agreement: the share of (clip, output, batch row) whose argmax is the expected one;
accuracy: the share of clips whose first output's argmax (batch row 0) is the label, beside
the reference's own accuracy on the same clips.

Tolerance rules (`tolerance_for`):
  max_abs_diff   fp32 and fp16 (the host validation's rule, converters/validate.py): clip i
                 agrees when max |got - expected| <= max_abs_diff[i], written per clip as
                 base x max(1, max |expected logit|) (fp32 base 1e-3, fp16 5e-2), widened to
                 20 x eager fp32's own distance from float64 on that clip where that is larger.
  top1_cosine    int8 and mixed: quantization moves every logit by design, so no absolute
                 bound means anything; what must survive is the decision and the direction
                 of the logit vector. Agrees when top-1 agreement >= 0.75 (with the default
                 4 clips: at most one flip, a near-tie that quantization may break) and every
                 clip's cosine >= 0.98 (a broken kernel or wrong scale gives far less; PTQ of
                 a working model stays above 0.99 on its logits).
A check set that is missing, truncated or fails its sha256 raises CheckSetError: reported as
an error, never a pass.

Ground floor: numpy and the standard library only.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from mobilekit.artifact.digest import sha256_file
from mobilekit.errors import MobilekitError

CHECKSET_VERSION = 1
CHECKSET_DIR = "checkset"
INPUT_FILE = "input.bin"
LABELS_FILE = "labels.bin"
DEFAULT_COUNT = 4
MAX_ABS_DIFF_BASE = {"fp32": 1e-3, "fp16": 5e-2}
NOISE_FACTOR = 20  # x eager fp32's own rounding on an ill-conditioned clip (converters/validate.py measured it)
MIN_TOP1_AGREEMENT = 0.75
MIN_COSINE = 0.98
_DTYPES = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4")}


class CheckSetError(MobilekitError):
    """The check set cannot be read: missing, truncated, or not the bytes its manifest hashed."""


def output_file(name: str) -> str:
    return f"{CHECKSET_DIR}/{name}.bin"


def tolerance_for(precision: str, expected: list[np.ndarray] | None = None,
                  noise: list[float] | None = None) -> dict:
    """The manifest's `check_set.tolerance` for `precision`. `expected`: per output, the N x
    shape expected outputs (max_abs_diff rule: the per-clip bounds come from them); `noise`:
    per clip, eager fp32's distance from float64 (None: unknown, no widening)."""
    if precision in MAX_ABS_DIFF_BASE:
        base = MAX_ABS_DIFF_BASE[precision]
        n = expected[0].shape[0]
        per_clip = []
        for i in range(n):
            scale = max([1.0] + [float(np.abs(e[i][np.isfinite(e[i])]).max(initial=0.0)) for e in expected])
            tol = base * scale
            if noise is not None and math.isfinite(noise[i]):
                tol = max(tol, NOISE_FACTOR * noise[i])
            per_clip.append(float(tol))
        return {"rule": "max_abs_diff", "base": base, "max_abs_diff": per_clip,
                "min_top1_agreement": None, "min_cosine": None,
                "description": f"per clip: max|got-expected| <= max_abs_diff[i] = the larger of {base:g} x "
                               f"max(1, max|expected|) and {NOISE_FACTOR} x eager fp32's distance from float64"}
    return {"rule": "top1_cosine", "base": None, "max_abs_diff": None,
            "min_top1_agreement": MIN_TOP1_AGREEMENT, "min_cosine": MIN_COSINE,
            "description": f"{precision}: top-1 agreement >= {MIN_TOP1_AGREEMENT:g} and every clip's cosine "
                           f">= {MIN_COSINE:g} (quantization moves every logit; the decision must survive)"}


def tensor_entry(folder: Path, rel: str, array: np.ndarray, name: str | None = None) -> dict:
    """Write `array` little-endian C order to folder/rel; its manifest entry."""
    dtype = "int32" if array.dtype.kind in "iu" else "float32"
    data = np.ascontiguousarray(array, dtype=_DTYPES[dtype])
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())
    entry = {"file": rel, "dtype": dtype, "shape": list(data.shape), "bytes": data.nbytes,
             "sha256": sha256_file(path)}
    return {"name": name, **entry} if name is not None else entry


class CheckSet:
    """A read and verified check set: `inputs` (N, *input shape) float32, `expected` (per
    output, N x shape), `labels` (N,) int32 or None, `meta` the manifest's `check_set` dict."""

    def __init__(self, inputs: np.ndarray, expected: list[np.ndarray], labels: np.ndarray | None, meta: dict):
        self.inputs, self.expected, self.labels, self.meta = inputs, expected, labels, meta

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def output_names(self) -> list[str]:
        return [o["name"] for o in self.meta["outputs"]]


def _load(folder: Path, entry: dict) -> np.ndarray:
    rel = entry["file"]
    path = folder / rel
    fix = "copy the whole artifact folder again (checkset/ included), or re-run `mobilekit convert`"
    if ".." in Path(rel).parts or Path(rel).is_absolute():
        raise CheckSetError(f"check set file {rel!r} is outside the artifact folder", fix)
    if not path.is_file():
        raise CheckSetError(f"check set file {rel} is missing", fix)
    dtype = _DTYPES.get(entry["dtype"])
    count = math.prod(entry["shape"])
    if dtype is None or entry["bytes"] != count * dtype.itemsize:
        raise CheckSetError(f"check set file {rel}: the manifest's dtype/shape/bytes disagree", fix)
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise CheckSetError(f"check set file {rel} is truncated or padded ({size} bytes, the manifest says "
                            f"{entry['bytes']})", fix)
    if sha256_file(path) != entry["sha256"]:
        raise CheckSetError(f"check set file {rel} does not match the manifest's sha256", fix)
    return np.frombuffer(path.read_bytes(), dtype=dtype).reshape(entry["shape"])


def read_check_set(folder: str | Path, meta) -> CheckSet:
    """The check set of an artifact folder, every file's size and sha256 checked. `meta`: the
    manifest's `check_set` (a dict or the pydantic model); None raises CheckSetError."""
    folder = Path(folder)
    if meta is None:
        raise CheckSetError("the artifact has no check set (its manifest has no check_set)",
                            "re-convert it with this mobilekit (`mobilekit convert` writes one)")
    if hasattr(meta, "model_dump"):
        meta = meta.model_dump(mode="json")
    inputs = _load(folder, meta["input"]).astype(np.float32)
    expected = [_load(folder, o).astype(np.float32) for o in meta["outputs"]]
    labels = _load(folder, meta["labels"]) if meta.get("labels") else None
    n = meta["count"]
    if inputs.shape[0] != n or any(e.shape[0] != n for e in expected) or (labels is not None and labels.shape != (n,)):
        raise CheckSetError(f"check set tensors do not hold {n} clips each",
                            "re-run `mobilekit convert`; the check set is inconsistent")
    return CheckSet(inputs, expected, labels, meta)


def abs_diff(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in float64, 0 where both are the same inf or both NaN: a probe can overflow
    eager too, and a runtime that does what eager does agrees with it."""
    g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(g - w)
    d[(g == w) | (np.isnan(g) & np.isnan(w))] = 0.0
    return d


def _rows(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(1, -1)


def _finite_or_none(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def compare(expected: list[np.ndarray], got: list[list[np.ndarray]], tolerance: dict,
            labels: np.ndarray | None = None) -> dict:
    """The report's `numerics` figures and verdict. `expected`: per output, N x shape (as read);
    `got`: per clip, the runtime's outputs in the manifest's order; `tolerance`: the manifest's
    `check_set.tolerance`. Keys: status (agrees / disagrees), detail (why not, or None),
    samples, rule, max_abs_diff, mean_abs_diff, cosine, top1_agreement, accuracy,
    reference_accuracy (None where not measured or not finite)."""
    n = expected[0].shape[0]
    out = {"status": "disagrees", "detail": None, "samples": n, "rule": tolerance["rule"],
           "max_abs_diff": None, "mean_abs_diff": None, "cosine": None, "top1_agreement": None,
           "accuracy": None, "reference_accuracy": None}
    if len(got) != n:
        out["detail"] = f"{len(got)} clips of outputs for {n} clips"
        return out
    shapes_ok = all(len(g) == len(expected) and all(np.shape(x) == e.shape[1:] for x, e in zip(g, expected))
                    for g in got)
    if not shapes_ok:
        out["detail"] = (f"output shapes {[list(np.shape(x)) for x in got[0]]} != expected "
                         f"{[list(e.shape[1:]) for e in expected]}")
        return out
    clip_max, cosines, agree, diffs = [], [], [], []
    for i, outs in enumerate(got):
        g = np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in outs])
        w = np.concatenate([e[i].astype(np.float64).ravel() for e in expected])
        d = abs_diff(g, w)
        diffs.append(d)
        clip_max.append(float(d.max(initial=0.0)))
        with np.errstate(invalid="ignore", over="ignore"):
            norm = float(np.linalg.norm(g) * np.linalg.norm(w))
            cos = float(g @ w / norm) if norm > 0 else (1.0 if not g.any() and not w.any() else 0.0)
            cosines.append(min(1.0, max(-1.0, cos)) if math.isfinite(cos) else cos)  # rounding past +-1
        for x, e in zip(outs, expected):
            agree.extend((_rows(np.asarray(x)).argmax(-1) == _rows(e[i]).argmax(-1)).tolist())
    all_d = np.concatenate(diffs)
    out.update(max_abs_diff=_finite_or_none(max(clip_max)), mean_abs_diff=_finite_or_none(float(all_d.mean())),
               cosine=_finite_or_none(min(cosines)), top1_agreement=float(np.mean(agree)))
    if labels is not None:
        first = [_rows(np.asarray(outs[0]))[0].argmax() for outs in got]
        out["accuracy"] = float(np.mean([int(p) == int(y) for p, y in zip(first, labels)]))
        ref = [_rows(expected[0][i])[0].argmax() for i in range(n)]
        out["reference_accuracy"] = float(np.mean([int(p) == int(y) for p, y in zip(ref, labels)]))
    if tolerance["rule"] == "max_abs_diff":
        bounds = tolerance["max_abs_diff"]
        over = [i for i, (d, t) in enumerate(zip(clip_max, bounds)) if not (math.isfinite(d) and d <= t)]
        if over:
            i = over[0]
            out["detail"] = (f"clip {i}: max abs diff {clip_max[i]:.3g} > tolerance {bounds[i]:.3g}"
                             + (f" ({len(over)} of {n} clips over)" if len(over) > 1 else ""))
    else:
        cos = out["cosine"]
        if out["top1_agreement"] < tolerance["min_top1_agreement"]:
            out["detail"] = (f"top-1 agreement {out['top1_agreement']:.2f} < {tolerance['min_top1_agreement']:g}")
        elif cos is None or cos < tolerance["min_cosine"]:
            out["detail"] = f"cosine {cos if cos is None else round(cos, 4)} < {tolerance['min_cosine']:g}"
    if out["detail"] is None:
        out["status"] = "agrees"
    return out


def check_outputs(check: CheckSet, run) -> dict:
    """Run every clip through `run(clip) -> list of outputs` and compare (see `compare`)."""
    got = [list(run(check.inputs[i])) for i in range(len(check))]
    return compare(check.expected, got, check.meta["tolerance"], check.labels)
