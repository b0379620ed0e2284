"""Quantized artifacts on the terminal, shared by `mobilekit quantize` and `mobilekit convert
--quantize`: the report lines of one artifact, and the per-target loop of `convert --quantize`."""

from __future__ import annotations

import json

import click

from mobilekit.commands.options import ModelSource


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def describe_quantization(art) -> list[str]:
    """The report of one quantized artifact as lines for the terminal."""
    m = art.manifest
    q = m["quantization"]
    r = q["report"]
    lines = [f"{m['model']} -> {m['target']} {q['scheme']} in {art.seconds:.1f} s: {art.file} "
             f"({_mb(m['size_bytes'])}, {m['precision']})"]
    if q["calibration"]:
        lines.append(f"  calibration: {q['calibration_samples']} clips from {q['calibration']}")
    lines.append(f"  size: {_mb(r['size_bytes_before'])} {r['baseline_precision']} -> {_mb(r['size_bytes_after'])} "
                 f"({r['size_ratio']:.2f}x)")
    if r.get("agreement_skipped"):
        lines.append(f"  agreement with fp32 and latency: not measured here, {r['agreement_skipped']}")
        if r.get("simulated_top1_agreement") is not None:
            lines.append(f"  estimate ({r['simulated_how']}) on {r['held_out_samples']} held-out clips: top-1 "
                         f"agreement {_pct(r['simulated_top1_agreement'])}, mean cosine "
                         f"{r['simulated_mean_cosine']:.4f}")
        if r.get("simulated_accuracy_quantized") is not None:
            lines.append(f"  top-1 accuracy (estimate): fp32 {_pct(r['accuracy_fp32'])} -> {q['scheme']} "
                         f"{_pct(r['simulated_accuracy_quantized'])}")
    else:
        if r.get("host_latency_ms_before") is not None:
            threads = f", {r['threads']} thread(s)" if r.get("threads") else ""
            lines.append(f"  host latency ({r['runtime']}{threads}, median of {r['latency_runs']}): "
                         f"{r['host_latency_ms_before']:.3g} ms -> {r['host_latency_ms_after']:.3g} ms "
                         f"({r['latency_ratio']:.2f}x)")
        lines.append(f"  vs fp32 on {r['held_out_samples']} held-out clips ({r['held_out_source']}): top-1 agreement "
                     f"{_pct(r['top1_agreement'])}, mean cosine {r['mean_cosine']:.4f}, "
                     f"max abs diff {r['max_abs_diff']:.3g}")
        if r.get("accuracy_fp32") is not None:
            lines.append(f"  top-1 accuracy: fp32 {_pct(r['accuracy_fp32'])} -> {q['scheme']} "
                         f"{_pct(r['accuracy_quantized'])}")
    if r.get("float_layers"):
        kept = r["float_layers"]
        lines.append(f"  kept in floating point (--float-layers): {len(kept)} layer(s): "
                     f"{', '.join(kept[:4])}{', ...' if len(kept) > 4 else ''}")
    for io in (r.get("io") or {}).get("inputs", []):
        lines.append(f"  input is {io['dtype']}: q = round(x / {io['scale']:.6g}) + {io['zero_point']}")
    for note in m["conversion"].get("notes", []):
        lines.append(f"  note: {note}")
    lines.append(f"  manifest: {art.path / 'manifest.json'}")
    return lines


def stage_echo():
    """Stage names on stderr as the work goes (conversion and calibration take minutes)."""
    def echo(stage: str) -> None:
        click.echo(f"  {stage} ...", err=True)
    return echo


def quantize_targets(source: ModelSource, targets: list[str], out, scheme: str, latency_runs: int,
                     threads, as_json: bool, check_set_kwargs: dict | None = None,
                     calibration: str | None = None) -> None:
    """`mobilekit convert ... --quantize SCHEME`: one quantized artifact per target (out is the
    folder for one target, the parent of <model>-<target>-<scheme>/ for several)."""
    from pathlib import Path

    from converters.quantize import get_scheme, quantize

    for t in targets:  # an unsupported scheme fails before any work
        get_scheme(t, scheme)
    from converters.quantize.calibration import require_calibration

    src = source.resolve()
    for t in targets:  # no silent synthetic calibration, said before any work
        require_calibration(calibration, get_scheme(t, scheme).calibrated, src.classes)
    arts = []
    for t in targets:
        folder = out if len(targets) == 1 else (Path(out) / f"{src.name}-{t}-{scheme}" if out else None)
        click.echo(f"quantizing {src.name} for {t} ({scheme}) ...", err=True)
        arts.append(quantize(src, t, scheme, folder, calibration=calibration, latency_runs=latency_runs, threads=threads,
                             on_stage=stage_echo(), **(check_set_kwargs or {})))
        if not as_json:
            click.echo("\n".join(describe_quantization(arts[-1])))
    if as_json:
        manifests = [a.manifest for a in arts]
        click.echo(json.dumps(manifests[0] if len(arts) == 1 else dict(zip(targets, manifests)), indent=2))
