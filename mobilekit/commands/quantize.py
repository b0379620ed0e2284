"""`mobilekit quantize`: a model -> a quantized artifact for one target, with what it cost
(size, host latency, agreement with fp32, accuracy) printed and stored in manifest.json."""

from __future__ import annotations

import json
import textwrap

import click

from converters.backends import TARGETS, quantizable_target_names
from mobilekit.commands.options import (NON_NEGATIVE, POSITIVE, THREADS, ModelSource, TargetName,
                                        check_set_options, model_source_options, split_names, target_help, writable_folder)
from mobilekit.commands.quantized import describe_quantization, stage_echo

# The observer names without torch (converters.quantize.pt2e imports torch).
OBSERVERS = ("histogram", "minmax", "percentile", "mse")
DEFAULT_OBSERVER = "histogram"


def schemes_table() -> str:
    """The schemes of every target, from the registry: targets with the same schemes share a
    block, one line per scheme (`*`: calibrated on --calibration clips)."""
    groups: dict[tuple, list[str]] = {}
    for t in TARGETS.values():
        if t.schemes:
            groups.setdefault(t.schemes, []).append(t.name)
    lines = ["Schemes per target (* calibrated on --calibration clips):"]
    for schemes, names in groups.items():
        lines.append(f"  {', '.join(names)}")
        for s in schemes:  # wrapped here: click leaves a \b block as it is
            lines += textwrap.wrap(s.description, 78, initial_indent=f"    {s.name + '*' * s.calibrated:14} ",
                                   subsequent_indent=" " * 19)
    return "\b\n" + "\n".join(lines)


def _float_layer_targets() -> list[str]:
    return [t.name for t in TARGETS.values() if any(s.float_layers for s in t.schemes)]


@click.command("quantize", epilog=schemes_table())
@model_source_options()
@click.option("--target", "-t", required=True, metavar="TARGET",
              type=TargetName(quantizable_target_names(), all_=False),
              help=f"{target_help(quantizable_target_names(), all_=False)}.")
@click.option("--scheme", "-s", required=True, metavar="SCHEME", help="A scheme of the target (the table below).")
@click.option("--calibration", metavar="DATA", default=None,
              help="Clips to calibrate on and to measure agreement with: a dataset folder (a folder per "
                   "class), FORMAT:PATH with FORMAT ssv2, kinetics or epic100, 'photos' (clips from photographs "
                   "that installed packages ship; the held-out photos carry ImageNet labels), or 'synthetic' "
                   "(the synthetic moving-shapes set). Required for static schemes unless the model was "
                   "trained on the synthetic set, which is then the default.")
@click.option("--samples", type=POSITIVE, default=32, show_default=True,
              help="Calibration clips (train split), for the calibrated schemes.")
@click.option("--eval-samples", type=POSITIVE, default=32, show_default=True,
              help="Held-out clips (val split) for agreement with fp32 and accuracy.")
@click.option("--out", type=click.Path(), callback=writable_folder,
              help="Output folder [default: artifacts/<model>-<target>-<scheme>/].")
@click.option("--latency-runs", type=NON_NEGATIVE, default=20, show_default=True,
              help="Timed host runs for the median latency before and after (0: none).")
@click.option("--threads", type=THREADS, help="Host runtime threads (runtime default otherwise).")
@click.option("--float-layers", metavar="NAMES", multiple=True,
              help=f"Keep these layers in floating point ({' and '.join(_float_layer_targets())}): module names or "
                   "globs as in the model's state dict, comma-separated or repeated, e.g. "
                   "'backbone.blocks.2.*.conv_dw'.")
@click.option("--explain", is_flag=True,
              help="Compare every quantized layer's output with fp32 on the calibration clips (SQNR, cosine, "
                   "worst first, with module paths) and, for xnnpack, each kernel's int8 vs fp32 time from an "
                   "ETDump profile; printed and stored in the report.")
@click.option("--observer", type=click.Choice(list(OBSERVERS)), default=DEFAULT_OBSERVER, show_default=True,
              help="How activation ranges are fixed from the calibration clips (static PT2E schemes).")
@click.option("--keep-accuracy", "keep_accuracy", type=float, metavar="FLOOR",
              help="Keep the most sensitive layers in float until the mean logit cosine with fp32 on the "
                   "held-out clips is >= FLOOR (in (0, 1], e.g. 0.99).")
@click.option("--prefer", type=click.Choice(["accuracy", "speed"]), default="accuracy", show_default=True,
              help="speed: also keep in float the layers whose int8 kernel is slower than fp32 in this host's "
                   "ETDump profile (xnnpack).")
@click.option("--bias-correction/--no-bias-correction", default=True, show_default=True,
              help="Static PT2E int8 (xnnpack, tflite): shift each conv's and linear's bias by the mean error "
                   "int8 puts on its output, measured on calibration clips.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@check_set_options()
def quantize_cmd(source: ModelSource, target, scheme, calibration, samples, eval_samples, out, latency_runs,
                 threads, float_layers, explain, observer, keep_accuracy, prefer, bias_correction, as_json,
                 check_set_kwargs):
    """Quantize a model for one target and report what it costs.

    \b
    Examples:
      mobilekit quantize --model vlf_b0 --target xnnpack --scheme int8
      mobilekit quantize --checkpoint runs/exp1/best.pt -t tflite -s int8 --calibration data/clips
      mobilekit quantize --model vtn_eff -t ane -s palettize4
      mobilekit quantize --model vlf_b0 -t xnnpack -s int8 --float-layers 'backbone.conv_stem,head.*'
      mobilekit quantize --model tsn_b0 -t xnnpack -s int8 --explain --keep-accuracy 0.99 --prefer speed
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
    from converters.quantize.mixed import check_floor

    check_floor(keep_accuracy)  # a bad floor fails before the model is built
    from converters.quantize import get_scheme
    from converters.quantize.calibration import require_calibration

    what = source.model
    sch = get_scheme(target, scheme)  # a bad target/scheme fails before the model is built
    if source.checkpoint_weights is not None or (calibration is None and sch.calibrated):
        what = source.resolve()  # official weights loaded into the zoo model first; its class names
        require_calibration(calibration, sch.calibrated, what.classes)
    click.echo(f"quantizing {source.label} for {target} ({scheme}) ...", err=True)
    art = quantize(what, target, scheme, out, **source.library_kwargs(),
                   calibration=calibration, samples=samples, eval_samples=eval_samples,
                   latency_runs=latency_runs, threads=threads, float_layers=split_names(float_layers),
                   on_stage=stage_echo(), explain=explain, observer=observer, keep_accuracy=keep_accuracy,
                   prefer=prefer, bias_correction=bias_correction, **check_set_kwargs)
    if as_json:
        click.echo(json.dumps(art.manifest, indent=2))
        return
    click.echo("\n".join(describe_quantization(art)))
    report = art.manifest["quantization"]["report"]
    if report.get("explain"):
        from converters.quantize.explain import explain_table

        click.echo("\n".join(explain_table(report["explain"]["layers"], report["explain"].get("kernel_times"))))
    if report.get("mixed"):
        click.echo("\n".join(_mixed_lines(report)))


def _mixed_lines(report: dict) -> list[str]:
    m = report["mixed"]
    kept = m["kept"]
    plain = m["simulated_all_int8"]
    lines = [f"mixed precision ({'--keep-accuracy ' + str(m['floor']) if m['floor'] is not None else ''}"
             f"{', ' if m['floor'] is not None else ''}--prefer {m['prefer']}): {len(kept)} op(s) kept in float"]
    for k in kept[:12]:
        lines.append(f"  {k['module'] or '-'} ({k['op']}, {k['node']}): {k['why']}")
    if len(kept) > 12:
        lines.append(f"  ... {len(kept) - 12} more in manifest.json")
    lines.append(f"  all int8 (simulated): cosine {plain['mean_cosine']:.4f}, top-1 agreement "
                 f"{100 * plain['top1_agreement']:.1f}%; tries: " + ", ".join(
                     f"{t['kept']} float -> {t['mean_cosine']:.4f}" for t in m["tries"]))
    return lines


commands = [quantize_cmd]
