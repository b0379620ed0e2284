"""The comparison a researcher wants (paper 001, Fig. 5): latency per model per device and
compute unit, relative to a reference model.

One summary row per (model variant, device, compute unit, target): the number of runs, the
median of the runs' median latencies, the median of the runs' p90 latencies, and that median
relative to the reference model measured on the same device, compute unit and target. With
no reference model the fastest model of each such column is 1.0, the paper's convention.
Target is part of the key so that, say, ExecuTorch and LiteRT on the same phone CPU are not
mixed; so is precision. Failed runs (reports with no results) are counted, never averaged.

Outputs (report schema 2's `numerics`, the artifact's check set run on the device): per row
the runs checked, how many agree / disagree with the expected outputs / could not be
checked, the largest max abs diff, the lowest top-1 agreement, the median accuracy, and
`outputs`, one line of text; `flagged` is true when any run's outputs disagree or could not
be checked.

Per frame (report schema 3's `streaming`, a stream artifact's run): a streaming report's
latency is per new frame, so it never joins the clip figures; it lands in the same row (same
model, device, compute unit, target, precision) as `frame_runs`, `frame_ms` (median of the
runs' per-frame medians), `frame_p90_ms` and `frame_over_clip` (frame_ms / median_ms). A
clip latency the same run timed beside the stream (`--clip`) counts as a clip run.
"""

from __future__ import annotations

import csv
import io
import json
import math
from statistics import median
from typing import Iterable, Optional

# Display names for compute units, in the paper's order (Fig. 5: CPU, GPU, ANE).
UNIT_LABELS = {"cpu": "CPU", "cpuonly": "CPU", "cpuandgpu": "GPU", "gpu": "GPU",
               "cpuandneuralengine": "ANE", "ane": "ANE", "all": "all"}
_UNIT_ORDER = {"CPU": 0, "GPU": 1, "ANE": 2, "all": 3}

COLUMNS = ["model", "device", "unit", "target", "precision", "runs", "failed", "median_ms", "p90_ms", "frame_ms",
           "frame_over_clip", "relative", "outputs"]


def unit_label(compute_units: str) -> str:
    return UNIT_LABELS.get(compute_units.lower(), compute_units)


def variant(model: str, quantization: Optional[str]) -> str:
    """A quantized artifact is its own row: `vlf_b0+int8`."""
    return f"{model}+{quantization}" if quantization else model


def summarize(rows: Iterable[dict], relative_to: Optional[str] = None) -> list[dict]:
    """Summary rows from Store.summary_rows()-shaped dicts (see module doc)."""
    groups: dict[tuple, dict] = {}
    for r in rows:
        key = (variant(r["model"], r.get("quantization")), r["device_make"], r["device_model"],
               r["compute_units"], r["target"], r.get("precision"))
        g = groups.setdefault(key, dict(runtime=r["runtime"], medians=[], p90s=[], failed=0, checks=[],
                                        frames=[], frame_p90s=[]))
        if r.get("numerics") is not None:
            g["checks"].append((r["numerics"], r.get("max_abs_diff"), r.get("top1_agreement"), r.get("accuracy")))
        if r.get("stream_mode") is not None and r.get("frame_median_ms") is not None:
            g["frames"].append(r["frame_median_ms"])
            g["frame_p90s"].append(r["frame_p90_ms"])
            if r.get("clip_median_ms") is not None:  # the clip timed beside the stream, same run
                g["medians"].append(r["clip_median_ms"])
                g["p90s"].append(r["clip_p90_ms"])
        elif r.get("median_ms") is None:  # no results (an error beside results is a check-set problem)
            g["failed"] += 1
        else:
            g["medians"].append(r["median_ms"])
            g["p90s"].append(r["p90_ms"])

    out = []
    for (model, make, device, units, target, precision), g in groups.items():
        clip_ms = median(g["medians"]) if g["medians"] else None
        frame_ms = median(g["frames"]) if g["frames"] else None
        out.append(dict(
            model=model, device=device, make=make, unit=unit_label(units), compute_units=units,
            target=target, precision=precision, runtime=g["runtime"], runs=len(g["medians"]), failed=g["failed"],
            median_ms=clip_ms, p90_ms=median(g["p90s"]) if g["p90s"] else None,
            frame_runs=len(g["frames"]), frame_ms=frame_ms,
            frame_p90_ms=median(g["frame_p90s"]) if g["frame_p90s"] else None,
            frame_over_clip=_ratio(frame_ms, clip_ms) if frame_ms is not None and clip_ms else None,
            **_outputs(g["checks"]),
        ))

    # Relative latency within each (device, compute unit, target) column.
    columns: dict[tuple, list[dict]] = {}
    for row in out:
        columns.setdefault((row["make"], row["device"], row["compute_units"], row["target"]), []).append(row)
    for members in columns.values():
        timed = [m for m in members if m["median_ms"]]
        if relative_to:
            ref = next((m for m in timed if m["model"] == relative_to), None)
        else:
            ref = min(timed, key=lambda m: m["median_ms"], default=None)
        for m in members:
            m["reference"] = ref["model"] if ref else None
            m["relative"] = (_ratio(m["median_ms"], ref["median_ms"])
                             if ref and m["median_ms"] is not None else None)

    out.sort(key=lambda m: (_UNIT_ORDER.get(m["unit"], 9), m["unit"], m["device"], m["target"],
                            m["relative"] if m["relative"] is not None else float("inf"), m["model"]))
    return out


def _outputs(checks: list[tuple]) -> dict:
    """The outputs figures of one summary row from its runs' (status, max diff, top-1, accuracy)."""
    status = [c[0] for c in checks]
    agrees, disagrees, errors = status.count("agrees"), status.count("disagrees"), status.count("error")
    diffs = [c[1] for c in checks if c[1] is not None]
    top1 = [c[2] for c in checks if c[2] is not None]
    acc = [c[3] for c in checks if c[3] is not None]
    row = dict(checked=len(checks), agrees=agrees, disagrees=disagrees, numerics_errors=errors,
               max_abs_diff=max(diffs) if diffs else None, top1_agreement=min(top1) if top1 else None,
               accuracy=median(acc) if acc else None, flagged=bool(disagrees or errors))
    if not checks:
        text = None
    elif disagrees:
        text = f"DISAGREES {disagrees}/{len(checks)}"
    elif agrees:
        text = f"agrees {agrees}/{len(checks)}"
    else:
        text = f"NOT CHECKED {errors}/{len(checks)}"
    if text and diffs:
        text += f", max diff {max(diffs):.2g}"
    if text and acc:
        text += f", acc {median(acc):.0%}"
    if text and errors and (agrees or disagrees):
        text += f", {errors} not checked"
    return dict(row, outputs=text)


def _ratio(a: float, b: float) -> Optional[float]:
    """a / b, or None where it overflows (a denormal reference): JSON has no Infinity."""
    r = a / b
    return r if math.isfinite(r) else None


def render(summary: list[dict], fmt: str = "table", relative_to: Optional[str] = None) -> str:
    """The summary as table, markdown, csv or json text."""
    if fmt == "json":
        return json.dumps(summary, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        keys = COLUMNS + ["compute_units", "runtime", "make", "reference", "checked", "agrees", "disagrees",
                          "numerics_errors", "max_abs_diff", "top1_agreement", "accuracy", "flagged",
                          "frame_runs", "frame_p90_ms"]
        writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(summary)
        return buf.getvalue().rstrip("\n")
    from mobilekit.table import format_table

    rel = f"rel. ({relative_to or 'fastest'}=1)"
    # Per-frame columns only once a streaming run was reported: clip-only tables keep their shape.
    frames = any(s.get("frame_ms") is not None for s in summary)
    headers = ["model", "device", "unit", "target", "precision", "runs", "failed", "median ms", "p90 ms",
               *(["frame ms", "frame/clip"] if frames else []), rel, "outputs"]
    rows = [[s["model"], s["device"], s["unit"], s["target"], s.get("precision"), s["runs"], s["failed"],
             _ms(s["median_ms"]), _ms(s["p90_ms"]),
             *([_ms(s.get("frame_ms")), _fraction(s.get("frame_over_clip"))] if frames else []),
             f"{s['relative']:.2f}" if s["relative"] is not None else None, s.get("outputs")] for s in summary]
    return format_table(rows, headers, markdown=fmt == "markdown")


def _fraction(r: Optional[float]) -> Optional[str]:
    """frame/clip as the ratio and as 1/n, e.g. `0.071 (1/14)`."""
    return None if r is None else (f"{r:.3f} (1/{1 / r:.0f})" if r > 0 else f"{r:.3f}")


def _ms(v: Optional[float]) -> Optional[str]:
    return None if v is None else (f"{v:.2f}" if v < 100 else f"{v:.1f}")
