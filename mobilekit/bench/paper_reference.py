"""The papers' latency and memory tables, and the reproduction check against them.

Paper 001 Table 2: relative latency averaged over five desktop GPUs (MoViNet-A0 = 1.00),
mixed precision, training batch 8 x 16 x 224^2, batch-mode inference batch 32,
single-instance batch 1, and the VRAM each needs. Paper 000 Table 2a: relative training
latency on an RTX 3090 (VLF-b0 = 1.00), same training input, and training VRAM.

Zoo names are those the model issues use; a row counts only once its model is in the zoo
and was measured. Only the ordering is compared: the papers ran GPUs at full size, and a
run here may be on a CPU at a reduced size, so the check renormalises both sides to the
same base model (the paper's fastest among the common models) and lists every pair of
models whose order differs.
"""

from __future__ import annotations

from itertools import combinations

# paper name -> (zoo name, train, train VRAM GB, batch-mode, BM VRAM GB, single, SI VRAM GB)
PAPER_001_TABLE2 = {
    "TimeSformer": ("timesformer", 10.20, 22.2, 20.10, 8.2, 8.77, 2.8),
    "NL-R50": ("nl_r50", 4.65, 19.5, 8.53, 17.2, 4.25, 2.7),
    "TEA-R50": ("tea_r50", 4.25, 12.7, 7.71, 8.8, 4.57, 2.4),
    "Swin-T": ("swin_t", 3.64, 14.0, 6.87, 8.9, 3.43, 2.5),
    "ViViT-FE": ("vivit_fe", 2.95, 9.9, 5.54, 4.6, 2.83, 2.3),
    "I3D-BERT": ("i3d_bert", 2.49, 6.8, 3.69, 4.6, 2.44, 2.4),
    "VTN-R50": ("vtn_r50", 2.42, 8.9, 3.86, 7.6, 2.24, 2.4),
    "MViT-S": ("mvit_s", 1.96, 6.0, 3.00, 3.5, 2.30, 2.3),
    "VTN-EFF": ("vtn_eff", 1.75, 9.3, 2.23, 6.1, 1.62, 2.3),
    "TSM-R50": ("tsm_r50", 2.64, 10.3, 4.41, 7.6, 2.36, 2.4),
    "MoViNet-A2": ("movinet_a2", 1.70, 8.3, 2.33, 4.8, 1.93, 2.2),
    "X3D-XS": ("x3d_xs", 1.64, 6.7, 2.25, 5.0, 1.72, 2.2),
    "MoViNet-A0": ("movinet_a0", 1.00, 4.9, 1.00, 3.7, 1.00, 2.2),
}

# paper name -> (zoo name, training latency, training VRAM GB). Only rows whose
# configuration matches a zoo entry (paper 000's X3D, TimeSformer and I3D are other configs).
PAPER_000_TABLE2A = {
    "VTN (b0)": ("vtn_eff", 0.95, 7.8),
    "VLF (b0)": ("vlf_b0", 1.00, 8.0),
    "VLF (R50)": ("vlf_r50", 1.34, 8.2),
    "VLF (b2)": ("vlf_b2", 1.38, 10.9),
    "TSM (R50)": ("tsm_r50", 1.47, 9.3),
}


def references() -> list[dict]:
    """Every (source, mode, metric) column as {"source", "mode", "metric", "values": {zoo: v}}."""
    cols = []
    for i, mode in enumerate(("train", "batch", "single")):
        for metric, offset in (("latency", 1), ("memory", 2)):
            cols.append({"source": "paper 001 Table 2", "mode": mode, "metric": metric,
                         "values": {v[0]: v[2 * i + offset] for v in PAPER_001_TABLE2.values()}})
    for metric, idx in (("latency", 1), ("memory", 2)):
        cols.append({"source": "paper 000 Table 2a", "mode": "train", "metric": metric,
                     "values": {v[0]: v[idx] for v in PAPER_000_TABLE2A.values()}})
    return cols


def _ours(row: dict, metric: str) -> float | None:
    if row["status"] != "ok":
        return None
    return row["latency_ms"]["median"] if metric == "latency" else row.get("peak_memory_mb")


def reproduction_check(rows: list[dict], reference_size: tuple[int, int]) -> list[dict]:
    """Compare our ordering with each paper column that shares >= 2 measured models.

    Each entry: source, mode, metric, base (the model both sides are divided by), models
    (paper value, paper relative, ours, our relative, both ranks), agrees, how many of the
    pairs the paper orders (ties excluded) we order the same way, and differences (one
    sentence per pair of models in the other order).
    """
    measured = {}
    for r in rows:
        if (r["frames"], r["size"]) == tuple(reference_size):
            measured[(r["model"], r["mode"])] = r
    checks = []
    for col in references():
        common = {}
        for model, paper in col["values"].items():
            row = measured.get((model, col["mode"]))
            ours = _ours(row, col["metric"]) if row else None
            if ours is not None and ours > 0:
                common[model] = (paper, ours)
        if len(common) < 2:
            continue
        base = min(common, key=lambda m: common[m][0])
        paper_base, ours_base = common[base]
        paper_rank = {m: i + 1 for i, m in enumerate(sorted(common, key=lambda m: common[m][0]))}
        our_rank = {m: i + 1 for i, m in enumerate(sorted(common, key=lambda m: common[m][1]))}
        models = [{"model": m, "paper": p, "paper_relative": p / paper_base, "ours": o,
                   "ours_relative": o / ours_base, "paper_rank": paper_rank[m],
                   "our_rank": our_rank[m]}
                  for m, (p, o) in sorted(common.items(), key=lambda kv: kv[1][0])]
        unit = "ms" if col["metric"] == "latency" else "MB"
        differences, compared = [], 0
        for a, b in combinations(sorted(common, key=lambda m: common[m][0]), 2):
            (pa, oa), (pb, ob) = common[a], common[b]
            if pa == pb:  # a tie in the paper orders nothing
                continue
            compared += 1
            if oa > ob:  # the paper orders a before b (pa < pb); we measure b first
                differences.append(f"{a} before {b} in the paper ({pa:g} vs {pb:g}), "
                                   f"after it here ({oa:.4g} vs {ob:.4g} {unit})")
        checks.append({"source": col["source"], "mode": col["mode"], "metric": col["metric"],
                       "base": base, "models": models, "agrees": not differences,
                       "pairs_compared": compared, "pairs_in_paper_order": compared - len(differences),
                       "differences": differences})
    return checks
