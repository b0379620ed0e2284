"""The Fig. 5 kind of plot (paper 001): one panel per compute unit (CPU, GPU, ANE, each with
its own y scale), models along x, one bar per device; bar height is latency relative to the
reference model (or to the fastest model) on that device, the median in ms on top, and below
it the per-new-frame median (`f` ms) where a streaming run of the same artifact kind was reported."""

from __future__ import annotations

import io
from typing import Optional


def _text(s: str) -> str:
    """Names from reports shown literally: a `$` would start matplotlib mathtext, and an
    unbalanced one fails the whole plot."""
    return s.replace("$", r"\$")


def plot_summary(summary: list[dict], relative_to: Optional[str] = None) -> bytes:
    """PNG bytes of the plot for summarize() rows (an empty plot says there is no data)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    timed = [s for s in summary if s["median_ms"] is not None]
    units = sorted({s["unit"] for s in timed}, key=lambda u: ({"CPU": 0, "GPU": 1, "ANE": 2}.get(u, 9), u))
    fig, axes = plt.subplots(1, max(1, len(units)), figsize=(max(6.0, 5.0 * len(units)), 4.2),
                             squeeze=False)
    if not units:
        ax = axes[0][0]
        ax.text(0.5, 0.5, "no reports yet", ha="center", va="center", fontsize=14)
        ax.set_axis_off()
    # One order of models (mean relative latency, ascending) and one colour per device
    # across all panels, so a model or a phone is easy to follow from panel to panel.
    mean_rel = {m: sum(s["relative"] or 0 for s in timed if s["model"] == m)
                / max(1, sum(1 for s in timed if s["model"] == m)) for m in {s["model"] for s in timed}}
    order = sorted(mean_rel, key=lambda m: (mean_rel[m], m))
    all_series = sorted({(s["device"], s["target"]) for s in timed})
    devices = sorted({s["device"] for s in timed})
    colors = {d: plt.cm.tab10(i % 10) for i, d in enumerate(devices)}
    for ax, unit in zip(axes[0], units):
        rows = [s for s in timed if s["unit"] == unit]
        models = [m for m in order if any(s["model"] == m for s in rows)]
        several_targets = len({(s["device"], s["target"]) for s in rows}) > len({s["device"] for s in rows})
        series = [k for k in all_series if any((s["device"], s["target"]) == k for s in rows)]
        width = min(0.8 / len(series), 0.4)
        for i, (device, target) in enumerate(series):
            xs, ys, labels = [], [], []
            for j, m in enumerate(models):
                hit = next((s for s in rows if s["model"] == m and s["device"] == device
                            and s["target"] == target), None)
                if hit and hit["relative"] is not None:
                    xs.append(j + width * (i - (len(series) - 1) / 2))
                    ys.append(hit["relative"])
                    frame = hit.get("frame_ms")
                    labels.append(f"{hit['median_ms']:.3g}" + (f"\nf {frame:.3g}" if frame is not None else ""))
            name = _text(f"{device} ({target})" if several_targets else device)
            # Same device, second target in this panel: same colour, hatched.
            hatch = "//" if any(k[0] == device for k in series[:i]) else None
            bars = ax.bar(xs, ys, width=width, label=name, color=colors[device], hatch=hatch,
                          edgecolor="white" if hatch else None)
            ax.bar_label(bars, labels=labels, fontsize=7, padding=1)
        ax.set_xticks(range(len(models)), [_text(m) for m in models], rotation=30, ha="right")
        ax.set_title(_text(unit))
        ax.set_ylabel(_text(f"latency relative to {relative_to or 'the fastest model'}"))
        ax.axhline(1.0, color="grey", linewidth=0.6, linestyle="--")
        ax.legend(fontsize=8)
        ax.margins(y=0.15)
    fig.suptitle("Single-instance latency per model, device and compute unit (label: median ms per clip; "
                 "f: per new frame, streaming)",
                 fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
