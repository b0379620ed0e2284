"""What quantization cost: agreement with the fp32 model on held-out clips, accuracy where
labels exist, and size / host latency before and after."""

from __future__ import annotations

import numpy as np


def _rows(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], -1).astype(np.float64)


def agreement(reference: list[list[np.ndarray]], quantized: list[list[np.ndarray]]) -> dict:
    """Top-1 agreement and mean cosine similarity of logits, over every clip, output and batch
    row; max / mean abs difference for scale. Inputs: per clip, the list of outputs."""
    agree, cosines, diffs = [], [], []
    for ref_outs, q_outs in zip(reference, quantized):
        for r, q in zip(ref_outs, q_outs):
            r2, q2 = _rows(r), _rows(q)
            agree.extend((r2.argmax(-1) == q2.argmax(-1)).tolist())
            denom = np.linalg.norm(r2, axis=-1) * np.linalg.norm(q2, axis=-1)
            cosines.extend(np.where(denom > 0, (r2 * q2).sum(-1) / np.maximum(denom, 1e-30), 0.0).tolist())
            diffs.append(np.abs(r2 - q2).ravel())
    all_diffs = np.concatenate(diffs)
    return {"top1_agreement": float(np.mean(agree)), "mean_cosine": float(np.mean(cosines)),
            "max_abs_diff": float(all_diffs.max()), "mean_abs_diff": float(all_diffs.mean()),
            "compared_rows": len(agree)}


def top1_accuracy(outputs: list[list[np.ndarray]], labels: list, output_names: list[str]) -> float | None:
    """Top-1 accuracy of the first output against int labels; for named heads and dict labels
    ({"verb": 3, "noun": 7}), the mean over the heads the labels name. None if they fit no output."""
    hits = []
    for outs, label in zip(outputs, labels):
        if isinstance(label, dict):
            pairs = [(outs[output_names.index(k)], v) for k, v in label.items() if k in output_names]
        else:
            pairs = [(outs[0], label)]
        for logits, y in pairs:
            hits.extend((_rows(logits).argmax(-1) == int(y)).tolist())
    return float(np.mean(hits)) if hits else None


def ratio(after: float | None, before: float | None) -> float | None:
    return round(after / before, 4) if after is not None and before else None
