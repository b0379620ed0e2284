"""`mobilekit quantize`: a model -> a quantized artifact for one target, with what it cost
(size, host latency, agreement with fp32, accuracy) printed and stored in manifest.json."""

from __future__ import annotations

import json

import click

from mobilekit.commands.options import (NON_NEGATIVE, POSITIVE, THREADS, Classes, InputShape,
                                        checkpoint_weights_option, writable_folder)
from mobilekit.errors import MobilekitError

# Kept literal so `mobilekit --help` does not import torch; tests check it equals
# converters.quantize.schemes.SCHEMES.
SCHEMES_HELP = {
    "xnnpack": ("int8", "int8-dynamic"),
    "ane, coreml-gpu, coreml-cpu": ("w8", "palettize4", "palettize6", "w8a8"),
    "tflite": ("int8", "int8-dynamic"),
    "onnx": ("int8", "int8-dynamic"),
}


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


def _schemes_text() -> str:
    return "; ".join(f"{t}: {', '.join(s)}" for t, s in SCHEMES_HELP.items())


@click.command("quantize")
@click.option("--model", "model_name", metavar="NAME", help="A zoo model (`mobilekit models`).")
@click.option("--checkpoint", type=click.Path(), help="A mobilekit.train checkpoint; carries model, config, classes.")
@click.option("--module", "module_spec", metavar="FILE.py:CLASS",
              help="Any nn.Module class, built without arguments (needs --input-shape).")
@click.option("--input-shape", type=InputShape(), help="Input shape for --module, e.g. 1,8,3,112,112.")
@click.option("--target", "-t", required=True, metavar="TARGET",
              help="xnnpack, tflite, onnx, ane, coreml-gpu or coreml-cpu.")
@click.option("--scheme", "-s", required=True, metavar="SCHEME", help=f"Per target: {_schemes_text()}.")
@click.option("--calibration", metavar="DATA", default="synthetic", show_default=True,
              help="Clips to calibrate on and to measure agreement with: 'synthetic' (the synthetic "
                   "dataset), a dataset folder (a folder per class), or FORMAT:PATH with FORMAT ssv2, "
                   "kinetics or epic100.")
@click.option("--samples", type=POSITIVE, default=32, show_default=True,
              help="Calibration clips (train split), for int8 and w8a8.")
@click.option("--eval-samples", type=POSITIVE, default=32, show_default=True,
              help="Held-out clips (val split) for agreement with fp32 and accuracy.")
@click.option("--frames", type=POSITIVE, help="Frames per clip T (zoo default otherwise).")
@click.option("--size", type=POSITIVE, help="Frame height = width S (zoo default otherwise).")
@click.option("--classes", type=Classes(), help="Number of classes, or named heads like verb=97,noun=300.")
@click.option("--out", type=click.Path(), callback=writable_folder,
              help="Output folder [default: artifacts/<model>-<target>-<scheme>/].")
@click.option("--latency-runs", type=NON_NEGATIVE, default=20, show_default=True,
              help="Timed host runs for the median latency before and after (0: none).")
@click.option("--threads", type=THREADS, help="Host runtime threads (runtime default otherwise).")
@click.option("--float-layers", metavar="NAMES", multiple=True,
              help="Keep these layers in floating point (xnnpack and tflite): module names or globs as in the "
                   "model's state dict, comma-separated or repeated, e.g. 'backbone.blocks.2.*.conv_dw'.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@checkpoint_weights_option
def quantize_cmd(model_name, checkpoint, module_spec, input_shape, target, scheme, calibration, samples,
                 eval_samples, frames, size, classes, out, latency_runs, threads, float_layers, as_json,
                 checkpoint_weights=None):
    """Quantize a model for one target and report what it costs.

    \b
    Examples:
      mobilekit quantize --model vlf_b0 --target xnnpack --scheme int8
      mobilekit quantize --checkpoint runs/exp1/best.pt -t tflite -s int8 --calibration data/clips
      mobilekit quantize --model vtn_eff -t ane -s palettize4
      mobilekit quantize --model vlf_b0 -t xnnpack -s int8 --float-layers 'backbone.conv_stem,head.*'
      mobilekit convert --model vlf_b0 --target onnx --quantize int8-dynamic   (the same, from convert)

    \b
    int8 is static (activation ranges calibrated on --samples clips), int8-dynamic quantizes
    activations at run time (no calibration). Calibration clips come from the train split of
    --calibration, held-out clips from its val split (never the same clips; never random
    noise). The report, printed and stored in manifest.json under `quantization`: size before
    and after, host latency before and after (median, same runtime), top-1 agreement and mean
    cosine similarity of the logits with the fp32 model on the held-out clips, and top-1
    accuracy fp32 vs quantized when the clips' labels match the model's classes. Core ML runs
    only on macOS: elsewhere the saved package is checked and agreement is not measured; w8a8
    needs macOS. --float-layers keeps named layers fp32 (a layer that loses accuracy, or one
    whose int8 kernel is slower on the device); the manifest's precision is then "mixed".
    """
    from converters.quantize import quantize

    shape = input_shape
    if shape and not module_spec:
        raise MobilekitError("--input-shape goes with --module", "use --frames/--size for zoo models")
    what = model_name
    if checkpoint_weights is not None:  # the official weights loaded into the zoo model first
        from converters.quantize import get_scheme
        from converters.source import resolve_model
        from converters.backends import get_target

        get_scheme(get_target(target).name, scheme)  # a bad target/scheme fails before the model is built
        what = resolve_model(model_name, checkpoint=checkpoint, module=module_spec, input_shape=shape,
                             num_classes=classes, num_frames=frames, image_size=size,
                             checkpoint_weights=checkpoint_weights)
    click.echo(f"quantizing {model_name or checkpoint or module_spec} for {target} ({scheme}) ...", err=True)
    art = quantize(what, target, scheme, out, checkpoint=checkpoint, module=module_spec, input_shape=shape,
                   num_classes=classes, num_frames=frames, image_size=size,
                   calibration=calibration, samples=samples, eval_samples=eval_samples,
                   latency_runs=latency_runs, threads=threads, float_layers=split_names(float_layers),
                   on_stage=_stage_echo())
    if as_json:
        click.echo(json.dumps(art.manifest, indent=2))
    else:
        click.echo("\n".join(describe_quantization(art)))


def quantize_targets(model_name, targets: list[str], out, scheme: str, what: dict, latency_runs: int,
                     threads, as_json: bool) -> None:
    """`mobilekit convert ... --quantize SCHEME`: one quantized artifact per target (out is the
    folder for one target, the parent of <model>-<target>-<scheme>/ for several)."""
    from pathlib import Path

    from converters import resolve_model
    from converters.quantize import get_scheme, quantize

    for t in targets:  # an unsupported scheme fails before any work
        get_scheme(t, scheme)
    src = resolve_model(model_name, **what)
    arts = []
    for t in targets:
        folder = out if len(targets) == 1 else (Path(out) / f"{src.name}-{t}-{scheme}" if out else None)
        click.echo(f"quantizing {src.name} for {t} ({scheme}) ...", err=True)
        arts.append(quantize(src, t, scheme, folder, latency_runs=latency_runs, threads=threads,
                             on_stage=_stage_echo()))
        if not as_json:
            click.echo("\n".join(describe_quantization(arts[-1])))
    if as_json:
        manifests = [a.manifest for a in arts]
        click.echo(json.dumps(manifests[0] if len(arts) == 1 else dict(zip(targets, manifests)), indent=2))


def split_names(values) -> list[str]:
    """--float-layers a,b --float-layers c -> [a, b, c]."""
    return [n.strip() for v in values or () for n in v.split(",") if n.strip()]


def _stage_echo():
    """Stage names on stderr as the work goes (conversion and calibration take minutes)."""
    def echo(stage: str) -> None:
        click.echo(f"  {stage} ...", err=True)
    return echo


commands = [quantize_cmd]
