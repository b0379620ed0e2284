"""`mobilekit convert`: a zoo model, checkpoint or user module -> device artifacts + manifest."""

from __future__ import annotations

import json

import click

from converters.backends import DEFAULT_TARGET, TARGETS, target_names
from mobilekit.commands.options import (NON_NEGATIVE, POSITIVE, THREADS, ModelSource, TargetName,
                                        check_set_options, model_source_options, target_help, writable_folder)
from mobilekit.errors import MobilekitError


def _scheme_names() -> list[str]:
    return list(dict.fromkeys(s.name for t in TARGETS.values() for s in t.schemes))


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _describe_validation(v: dict) -> str:
    if v["status"] == "skipped":
        return f"validation skipped: {v['reason']}"
    line = (f"validation {v['status']} on {v['runtime']}: max abs diff {v['max_abs_diff']:.2g} "
            f"(tolerance {v['tolerance']:.2g}), mean {v['mean_abs_diff']:.2g}, "
            f"top-1 agreement {v['top1_agreement']:.0%} over {v['samples']} clips of several signs and scales")
    if v.get("host_latency_ms") is not None:
        line += f"; host latency {v['host_latency_ms']:.3g} ms (median)"
    return line


def _echo_artifact(art) -> None:
    m = art.manifest
    cpu = m["conversion"].get("cpu_seconds")
    took = f"{art.seconds:.1f} s" + (f" (CPU {cpu:.1f} s)" if cpu is not None else "")
    click.echo(f"{m['model']} -> {m['target']} in {took}: {art.file} ({_mb(m['size_bytes'])})")
    click.echo(f"  {_describe_validation(m['validation'])}")
    conv = m["conversion"]
    if conv.get("rewrites"):
        click.echo(f"  rewrites: {', '.join(conv['rewrites'])}")
    if conv.get("delegation"):
        d = conv["delegation"]
        click.echo(f"  delegated: {d['delegated_nodes']} of {d['delegated_nodes'] + d['non_delegated_nodes']} "
                   f"nodes in {d['delegated_subgraphs']} subgraph(s)")
    for note in conv.get("notes", []):
        click.echo(f"  note: {note}")
    if b := m.get("bundled"):
        click.echo(f"  bundled: {art.path / b['file']} ({_mb(b['size_bytes'])}), {b['test_cases']} test cases, "
                   f"ExecuTorch's own check: {b['verified']['status']}")
    if cs := m.get("check_set"):
        click.echo(f"  check set: {cs['count']} clips ({cs['source']}) and their eager outputs, "
                   f"{_mb(cs['total_bytes'])} in {art.path / 'checkset'}")
    click.echo(f"  manifest: {art.path / 'manifest.json'}")


@click.command("convert")
@model_source_options()
@click.option("--target", "-t", "targets", multiple=True, default=(DEFAULT_TARGET,), show_default=True,
              metavar="TARGET", type=TargetName(target_names()),
              help=f"{target_help(target_names())}. Repeat for several.")
@click.option("--out", type=click.Path(), callback=writable_folder,
              help="Output folder (one target), or the parent folder of <model>-<target>/ folders "
                   "(several). [default: artifacts/]")
@click.option("--no-validate", is_flag=True, help="Skip the numeric check against eager PyTorch.")
@click.option("--samples", type=POSITIVE, default=3, show_default=True,
              help="Standard-normal clips compared in validation (four seeded probes are added: "
                   "all positive, all negative, x0.01, x100).")
@click.option("--latency-runs", type=NON_NEGATIVE, default=20, show_default=True,
              help="Timed host runs for the median latency (0: none).")
@click.option("--threads", type=THREADS, help="Host runtime threads during validation (runtime default otherwise).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest(s) as JSON.")
@click.option("--quantize", "quantize_scheme", metavar="SCHEME",
              help=f"Quantize with SCHEME ({', '.join(_scheme_names())}): `mobilekit quantize` with its defaults "
                   "(see its --help for the schemes of each target); static schemes need --calibration.")
@click.option("--calibration", metavar="DATA",
              help="With --quantize: clips to calibrate on, as `mobilekit quantize --calibration` (a dataset "
                   "folder, FORMAT:PATH, 'photos' or 'synthetic').")
@check_set_options()
@click.option("--streaming", is_flag=True,
              help="Export the live-video form: the step with explicit state (movinet_*_stream), or the "
                   "per-frame encoder + temporal head over a window of --frames (vlf, tsn, vtn, ...), "
                   "validated as a stream against the clip model (see `mobilekit stream`).")
@click.option("--state-rank4", is_flag=True,
              help="With --streaming, state models: keep every state tensor at rank <= 4 at the program "
                   "boundary, (N, C, T, H, W) stored as (N, C*T, H, W), for delegates that take no 5-D "
                   "tensors (LiteRT GPU, some NPUs).")
@click.option("--coreml-state", is_flag=True,
              help="With --streaming, state models, Core ML targets: keep the state inside the model as "
                   "Core ML states (ct.StateType, iOS 18, fp16) instead of explicit inputs and outputs.")
@click.option("--bundled", is_flag=True,
              help="ExecuTorch targets: also write model.bpte, ExecuTorch's BundledProgram of the program and its "
                   "check set, verified here with ExecuTorch's own check where the host runs the delegate (xnnpack).")
def convert_cmd(source: ModelSource, targets, out, no_validate, samples, latency_runs, threads, as_json,
                quantize_scheme=None, check_set_kwargs=None, streaming=False, state_rank4=False,
                coreml_state=False, bundled=False, calibration=None):
    """Convert a model to device formats, validate it on the host, write manifest.json.

    \b
    Examples:
      mobilekit convert --model vlf_b0 --target xnnpack
      mobilekit convert --model vtn_eff --frames 8 --size 160 --target all
      mobilekit convert --checkpoint runs/exp1/best.pt --target ane
      mobilekit convert --model x3d_xs --checkpoint-weights X3D_XS.pyth --target xnnpack
      mobilekit convert --module my_net.py:Net --input-shape 1,8,3,112,112 --target tflite

    Each artifact lands in its own folder (default artifacts/<model>-<target>/): the model
    file and manifest.json (input spec, outputs, target, runtime, precision, sha256, tool
    versions, validation). Validation runs the artifact on this machine's runtime for
    ExecuTorch XNNPACK, PyTorch Lite, LiteRT and ONNX; Core ML runs only on macOS (elsewhere
    the saved spec is checked). A mismatch above tolerance is an error; the folder is kept.
    """
    from pathlib import Path

    from converters import convert, convert_targets

    names = list(targets)
    if "all" in names:
        names = target_names()
    names = list(dict.fromkeys(names))
    opts = dict(validate=not no_validate, samples=samples, latency_runs=latency_runs, threads=threads,
                **(check_set_kwargs or {}))
    if not streaming and (state_rank4 or coreml_state):
        flag = "--state-rank4" if state_rank4 else "--coreml-state"
        raise MobilekitError(f"{flag} shapes a streaming step's state", f"add --streaming, or drop {flag}")
    if bundled:  # before any work: a bundle is an ExecuTorch .pte with its check set
        not_et = [n for n in names if TARGETS[n].runtime != "executorch"]
        if not_et:
            raise MobilekitError(f"--bundled makes an ExecuTorch BundledProgram and {', '.join(not_et)} "
                                 f"{'is' if len(not_et) == 1 else 'are'} not an ExecuTorch target",
                                 "use --bundled with the ExecuTorch targets only ("
                                 + ", ".join(n for n, t in TARGETS.items() if t.runtime == "executorch") + ")")
        if streaming or quantize_scheme or (check_set_kwargs or {}).get("check_set") is False:
            raise MobilekitError("--bundled bundles a plain conversion with its check set",
                                 "drop --streaming / --quantize / --no-check-set, or drop --bundled")
    if calibration and not quantize_scheme:
        raise MobilekitError("--calibration calibrates a quantized conversion", "add --quantize SCHEME, or drop it")
    if streaming:  # converters/streaming.py: one or two programs, validated as a stream
        from mobilekit.commands.stream import convert_streaming

        return convert_streaming(source, names, out, quantize_scheme, not no_validate, latency_runs, threads, as_json,
                                 state_rank4=state_rank4, coreml_state=coreml_state)
    if quantize_scheme:  # the quantization pass instead of a plain conversion
        from mobilekit.commands.quantized import quantize_targets

        return quantize_targets(source, names, out, quantize_scheme, latency_runs, threads, as_json,
                                check_set_kwargs, calibration)

    src = source.resolve()  # bad input fails here, before any work (built once)
    if len(names) == 1:
        click.echo(f"converting {src.name} {'x'.join(map(str, src.input_shape))} to {names[0]} ...", err=True)
        art = convert(src, names[0], out, on_stage=lambda st: click.echo(f"  {st} ...", err=True), **opts)
        if bundled:
            from converters.backends.executorch.bundled import bundle_artifact

            art.manifest["bundled"] = bundle_artifact(art.path)
        if as_json:
            click.echo(json.dumps(art.manifest, indent=2))
        else:
            _echo_artifact(art)
        return

    from tqdm import tqdm

    from mobilekit.table import format_table

    results = []
    with tqdm(total=len(names), desc="convert", unit="target", file=click.get_text_stream("stderr"),
              dynamic_ncols=True) as bar:
        def show(stage: str) -> None:
            bar.set_postfix_str(f"{names[len(results)]}: {stage}")

        for name, result in convert_targets(src, names, Path(out) if out else None, on_stage=show, **opts):
            if bundled and not isinstance(result, Exception):
                from converters.backends.executorch.bundled import bundle_artifact

                try:
                    result.manifest["bundled"] = bundle_artifact(result.path)
                except MobilekitError as e:
                    result = e
            results.append((name, result))
            bar.update(1)
    if as_json:
        click.echo(json.dumps({n: (r.manifest if not isinstance(r, Exception) else {"error": str(r)})
                               for n, r in results}, indent=2))
    else:
        rows = []
        for name, r in results:
            if isinstance(r, Exception):
                art = getattr(r, "artifact", None)
                rows.append((name, "error", None, None, None, None, str(r)[:90] if art is None else str(art.file)))
                continue
            v = r.manifest["validation"]
            rows.append((name, v["status"], f"{r.seconds:.1f}", f"{r.manifest['size_bytes'] / 1e6:.1f}",
                         v.get("max_abs_diff"), v.get("host_latency_ms"), str(r.file)))
        click.echo(format_table(rows, ["target", "validation", "convert s", "MB", "max abs diff",
                                       "host ms", "artifact"]))
    failed = [(n, r) for n, r in results if isinstance(r, Exception)]
    if failed:
        for n, r in failed:
            click.secho(f"{n}: {r}", fg="red", err=True)
        raise MobilekitError(f"{len(failed)} of {len(results)} targets failed ({', '.join(n for n, _ in failed)})",
                             "see the lines above; each names the problem and a fix")


commands = [convert_cmd]
