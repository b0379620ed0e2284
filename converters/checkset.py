"""Write an artifact's check set (layout and reading: mobilekit/artifact/checkset.py): `count`
clips from `--check-data` (a dataset folder or FORMAT:PATH, as `--calibration`) or else the
synthetic dataset's val split, never random noise, and the eager PyTorch outputs for them.

For a quantized artifact the expected outputs are the fp32 eager model's and the tolerance is
its precision's (int8: top-1 agreement and cosine); for fp32/fp16 targets the per-clip bound
is the host validation's rule, widened where eager fp32 is itself off float64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from mobilekit.artifact.checkset import (CHECKSET_DIR, CHECKSET_VERSION, INPUT_FILE, LABELS_FILE, output_file,
                                         tensor_entry, tolerance_for)
from mobilekit.errors import MobilekitError


def check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise MobilekitError(f"--check-samples {count!r} is not a whole number of 1 or more",
                             "give --check-samples 1 or more")


def _clips(input_shape: list[int], source: str | None, count: int, classes, num_classes: int):
    """(clips, int labels or None, source description)."""
    from converters.quantize.calibration import load_clips

    data = load_clips(input_shape, source, samples=0, eval_samples=count, model_classes=classes,
                      num_classes=num_classes)
    held = data.held_out
    labels = held.labels
    if labels is not None and not all(isinstance(y, (int, np.integer)) for y in labels):
        labels = None  # named heads ({verb, noun}): accuracy is the quantize report's
    return held.clips, labels, held.source


def write_check_set(folder: Path, model: nn.Module, input_shape: list[int], output_names: list[str],
                    precision: str, source: str | None = None, count: int = 4, classes=None,
                    num_classes: int = 0) -> tuple[dict | None, str | None]:
    """Write folder/checkset/ for `model` (the eager fp32 model, tuple outputs); returns (the
    manifest's `check_set` dict, None), or (None, a conversion note) for a model whose input
    is not a square RGB video clip when no `source` was asked for (clips come from video
    datasets; noise is never a check set)."""
    from converters.validate import eager_noise, eager_outputs

    check_count(count)
    square_video = len(input_shape) == 5 and input_shape[2] == 3 and input_shape[3] == input_shape[4]
    if not square_video and source is None:
        return None, (f"no check set: its clips are square RGB videos (B, T, 3, S, S) and this model takes "
                      f"{input_shape}")
    clips, labels, where = _clips(input_shape, source, count, classes, num_classes)
    per_clip = eager_outputs(model, clips)
    expected = [np.stack([outs[k] for outs in per_clip]) for k in range(len(output_names))]
    noise = eager_noise(model, clips, per_clip) if precision in ("fp32", "fp16") else None
    inputs = np.stack(clips).astype(np.float32)
    entries = {"input": tensor_entry(folder, f"{CHECKSET_DIR}/{INPUT_FILE}", inputs),
               "outputs": [tensor_entry(folder, output_file(n), e, name=n) for n, e in zip(output_names, expected)]}
    if labels is not None:
        entries["labels"] = tensor_entry(folder, f"{CHECKSET_DIR}/{LABELS_FILE}", np.asarray(labels, dtype=np.int32))
    total = entries["input"]["bytes"] + sum(o["bytes"] for o in entries["outputs"]) \
        + (entries["labels"]["bytes"] if "labels" in entries else 0)
    return {"version": CHECKSET_VERSION, "source": where, "count": len(clips), "precision": precision,
            "reference": "eager PyTorch fp32", "tolerance": tolerance_for(precision, expected, noise),
            **entries, "total_bytes": total}, None
