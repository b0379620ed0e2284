"""`mobilekit bench`: desktop latency (paper 001's train / batch / single method) for zoo
models, or this host as a device running a converted artifact."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mobilekit.commands.options import NON_NEGATIVE, POSITIVE, THREADS, writable_file
from mobilekit.errors import MobilekitError


def _fmt_ms(row: dict) -> str:
    if row is None:
        return "-"
    if row["status"] != "ok":
        return row["status"].upper()
    ms = row["latency_ms"]["median"]
    return f"{ms:.4g}" if ms < 1000 else f"{ms:.0f}"


def results_table(result: dict, markdown: bool = False) -> str:
    """Paper 001 Table 2's layout: per model (and size), per mode: median ms, relative
    latency, peak memory MB (VRAM on GPU, RSS added on CPU). p90 / std / mean are in the JSON."""
    from mobilekit.table import format_table

    modes = result["config"]["modes"]
    rows_by_key: dict = {}
    for r in result["results"]:
        rows_by_key.setdefault((r["model"], r["frames"], r["size"]), {})[r["mode"]] = r
    headers = ["model", "input"]
    for m in modes:
        headers += [f"{m} ms", f"{m} rel", f"{m} MB"]
    table = []
    for (model, frames, size), by_mode in rows_by_key.items():
        line = [model, f"{frames}x{size}"]
        for m in modes:
            r = by_mode.get(m)
            ok = r is not None and r["status"] == "ok"
            line += [_fmt_ms(r),
                     f"{r['relative']:.2f}" if ok and r.get("relative") is not None else None,
                     f"{r['peak_memory_mb']:.0f}" if r and r.get("peak_memory_mb") is not None else None]
        table.append(line)
    return format_table(table, headers, markdown=markdown)


def reproduction_text(result: dict, markdown: bool = False) -> str:
    """Each paper column next to ours, and where the ordering differs."""
    from mobilekit.table import format_table

    checks = result["reproduction"]
    if not checks:
        return ("reproduction check: fewer than two benchmarked models appear in paper 001 "
                "Table 2 or paper 000 Table 2a at the reference size (e.g. add vtn_eff,vtn_r50)")
    cfg = result["config"]
    where = (f"{'GPU' if cfg['device'].startswith('cuda') else 'CPU'}, {cfg['precision']}, "
             f"{cfg['reference_size'][0]}x{cfg['reference_size'][1]}, batches "
             f"{cfg['batch_sizes']['train']}/{cfg['batch_sizes']['batch']}/1")
    out = [f"reproduction check (ordering; both sides divided by the paper's fastest common "
           f"model; paper: GPUs at 16x224, VRAM; ours: {where}, "
           f"{'VRAM' if cfg['device'].startswith('cuda') else 'RSS'}):"]
    for c in checks:
        rows = [(m["model"], f"{m['paper']:g}", f"{m['paper_relative']:.2f}", f"{m['ours_relative']:.2f}",
                 m["paper_rank"], m["our_rank"]) for m in c["models"]]
        out.append("")
        out.append(f"{c['source']}, {c['mode']} {c['metric']}:")
        out.append(format_table(rows, ["model", "paper", "paper rel", "ours rel", "paper rank",
                                       "our rank"], markdown=markdown))
        if c["agrees"]:
            out.append("  same ordering as the paper")
        else:
            out.append(f"  {c['pairs_in_paper_order']} of {c['pairs_compared']} pairs in the "
                       f"paper's order; the others:")
        for d in c["differences"]:
            out.append(f"  differs: {d}")
    return "\n".join(out)


def _parse_batches(train_batch: int | None, infer_batch: int | None) -> dict:
    return {k: v for k, v in (("train", train_batch), ("batch", infer_batch)) if v is not None}


def _post_all(url: str, token: str | None, reports: list, fallback_dir: Path) -> list[str]:
    """Post every report; a report that cannot be posted is saved to a file, never dropped."""
    from mobilekit.bench.host import save_report
    from mobilekit.bench.reports import post_reports

    lines, failed = [], []
    for rep, answer in post_reports(url, reports, token):
        if isinstance(answer, Exception):
            failed.append((rep, answer))
            continue
        dup = " (duplicate: already stored)" if answer.get("duplicate") else ""
        lines.append(f"posted {rep.artifact.model} [{rep.artifact.target}, batch "
                     f"{rep.config.batch_size}] to {url} as {answer.get('id', rep.report_id)}{dup}")
    if failed:
        saved = [str(save_report(rep, fallback_dir / f"{rep.report_id}.json")) for rep, _ in failed]
        raise MobilekitError(f"could not post {len(failed)} of {len(reports)} reports ({failed[0][1]})",
                             f"nothing is lost: saved to {', '.join(saved)}, the exact body of "
                             "POST /api/v1/reports, to post again")
    return lines


def numerics_line(n) -> str:
    """One line for a report's `numerics` block."""
    if n.status == "error":
        return f"outputs: NOT CHECKED ({n.detail})"
    figures = [f"max abs diff {n.max_abs_diff:.3g}" if n.max_abs_diff is not None else "max abs diff -",
               f"cosine {n.cosine:.5f}" if n.cosine is not None else "cosine -",
               f"top-1 agreement {n.top1_agreement:.0%}" if n.top1_agreement is not None else "top-1 -"]
    if n.accuracy is not None:
        figures.append(f"accuracy {n.accuracy:.0%} (eager {n.reference_accuracy:.0%})")
    verdict = "agree" if n.status == "agrees" else f"DISAGREE ({n.detail})"
    return f"outputs on {n.samples} check-set clips {verdict}: {', '.join(figures)}"


def _bench_artifact(artifact, warmup, iters, threads, post, token, out, as_json):
    from mobilekit.bench.host import run_artifact, save_report

    click.echo(f"running {artifact}: load, {warmup} warm-up and {iters} timed runs ...", err=True)
    report = run_artifact(artifact, warmup=warmup, iters=iters, threads=threads)
    if out:
        save_report(report, out)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        d, a = report.device, report.app
        click.echo(f"{report.artifact.model} [{report.artifact.target}, {report.artifact.precision}] "
                   f"on {d.chip} ({d.cpu_cores} cores), {a.runtime} {a.runtime_version}")
        if report.results:
            r, s = report.results, report.results.latency_ms
            mem = "-" if r.peak_memory_mb is None else f"+{r.peak_memory_mb:.0f} MB"
            click.echo(f"load {r.load_ms:.1f} ms, first inference {r.first_inference_ms:.2f} ms, "
                       f"peak memory {mem}")
            click.echo(f"latency ms over {report.config.iterations} runs: median {s.median:.3f}  "
                       f"p90 {s.p90:.3f}  mean {s.mean:.3f}  std {s.std:.3f}  min {s.min:.3f}")
        if report.numerics is not None:
            click.echo(numerics_line(report.numerics))
    if post:
        for line in _post_all(post, token, [report], Path(out).parent if out else Path.cwd()):
            click.echo(line, err=True)
    if report.error and report.results is not None:  # timed; its check set could not be run
        raise MobilekitError(f"the outputs were not checked: {report.error}",
                             "the report records it; copy the whole artifact folder or re-run `mobilekit convert`")
    if report.error:
        raise MobilekitError(f"the run failed: {report.error}",
                             "the report records the failure; check the artifact with `mobilekit check`")


def _is_stream(artifact) -> bool:
    from mobilekit.bench.host import read_artifact

    return read_artifact(artifact)[0].streaming is not None


def stream_lines(report) -> list[str]:
    """Per-new-frame latency and, when the same run timed it, the clip's, side by side."""
    s = report.streaming
    f = s.frame_latency_ms
    lines = [f"per new frame ({s.mode}{', window ' + str(s.window) if s.window else ''}): median "
             f"{f.median:.3f} ms  p90 {f.p90:.3f}  min {f.min:.3f} over {report.config.iterations} frames"]
    if s.clip_latency_ms is not None:
        c = s.clip_latency_ms
        ratio = f.median / c.median if c.median else None
        lines.append(f"per clip: median {c.median:.3f} ms  p90 {c.p90:.3f}  min {c.min:.3f}"
                     + (f"; per frame / clip = {ratio:.3f} (1/{1 / ratio:.1f})" if ratio else ""))
    return lines


def _bench_stream(artifact, clip, warmup, iters, threads, post, token, out, as_json):
    """A streaming artifact: per-new-frame latency, next to the clip artifact's (--clip), as a
    schema-3 report (its `streaming` block) that --post sends and --out writes."""
    from mobilekit.bench.host import run_stream, save_report

    click.echo(f"timing {artifact} one frame at a time{' and ' + str(clip) + ' per clip' if clip else ''} ...", err=True)
    report = run_stream(artifact, clip, warmup=warmup, iters=iters, threads=threads)
    if out:
        save_report(report, out)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    elif report.streaming is not None:
        d, a = report.device, report.app
        click.echo(f"{report.artifact.model} [{report.artifact.target}, {report.artifact.precision}, stream] "
                   f"on {d.chip} ({d.cpu_cores} cores), {a.runtime} {a.runtime_version}")
        for line in stream_lines(report):
            click.echo(line)
    if post:
        for line in _post_all(post, token, [report], Path(out).parent if out else Path.cwd()):
            click.echo(line, err=True)
    if report.error:
        raise MobilekitError(f"the stream failed: {report.error}",
                             "the report records the failure; check the artifact with `mobilekit check`")


@click.command("bench")
@click.option("--models", help="Comma list of zoo models, e.g. vlf_b0,vtn_eff,tsn_b0.")
@click.option("--artifact", type=click.Path(exists=True, file_okay=True, dir_okay=True),
              help="Instead: run this `mobilekit convert` folder on the host runtime, as a phone would.")
@click.option("--mode", "mode", default="all", show_default=True,
              help="train | batch | single | all, or a comma list.")
@click.option("--device", type=click.Choice(["cuda", "cpu"]), default=None,
              help="Default: cuda when available, else cpu.")
@click.option("--precision", type=click.Choice(["amp", "fp32"]), default=None,
              help="amp (fp16 autocast + loss scaling on GPU, bf16 on CPU) or fp32, the mobile "
                   "setting. Default: amp on GPU, fp32 on CPU.")
@click.option("--warmup", default=10, show_default=True, type=NON_NEGATIVE, help="Untimed runs before timing.")
@click.option("--iters", default=100, show_default=True, type=POSITIVE, help="Timed runs.")
@click.option("--frames", default=16, show_default=True, type=POSITIVE, help="Frames per clip.")
# 32 px: the smallest input every zoo model downsamples (the same floor as --sizes)
@click.option("--size", default=224, show_default=True, type=click.IntRange(min=32), help="Frame height and width.")
@click.option("--sizes", help="Sweep FRAMESxSIZE list, e.g. 4x112,8x160,16x224 (latency side of "
                              "a Pareto plot; overrides --frames/--size).")
@click.option("--train-batch", type=POSITIVE, help="Training batch (paper: 8; use 1-2 on CPU).")
@click.option("--infer-batch", type=POSITIVE, help="Batch-mode inference batch (paper: 32; use 2-4 on CPU).")
@click.option("--classes", "num_classes", type=POSITIVE, help="Classes of the head (default: the model card's).")
@click.option("--relative-to", help="Reference model for relative latency, or 'fastest' (paper 001). "
                                    "Default: vlf_b0 when benchmarked, else the first model.")
@click.option("--threads", type=THREADS, help="CPU threads (torch intra-op, or the artifact runtime's).")
@click.option("--isolate", is_flag=True,
              help="Each measurement in a fresh process: per-model peak RSS on any OS, and a "
                   "model killed by the OS does not end the run (costs an interpreter start each).")
@click.option("--post", metavar="URL", help="Post host reports to a collector, e.g. http://127.0.0.1:8765.")
@click.option("--token", envvar="MOBILEKIT_TOKEN", help="Collector bearer token [env MOBILEKIT_TOKEN].")
@click.option("--out", type=click.Path(dir_okay=False), callback=writable_file,
              help="Write the results (or the report) as JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--markdown", is_flag=True, help="Tables as markdown.")
@click.option("--clip", "clip_artifact", type=click.Path(exists=True),
              help="With a streaming --artifact: the clip model's artifact, timed in the same run next to "
                   "the per-frame latency.")
def bench_cmd(models, artifact, mode, device, precision, warmup, iters, frames, size, sizes,
              train_batch, infer_batch, num_classes, relative_to, threads, isolate, post, token,
              out, as_json, markdown, clip_artifact=None):
    """Measure latency and memory, the way paper 001 does, or run an artifact on this host.

    \b
    Desktop (eager PyTorch, zoo models):
      mobilekit bench --models vlf_b0,vtn_eff,tsn_b0 --mode all --device cuda
      mobilekit bench --models vlf_b0,vtn_eff --device cpu --sizes 8x112 \\
                      --train-batch 2 --infer-batch 4 --warmup 2 --iters 10

    train = one training step (forward, loss, backward, AdamW) at batch 8; batch = forward at
    batch 32; single = forward at batch 1; 16 x 224 x 224 clips, warm-up excluded, median /
    p90 / std, relative to --relative-to, peak memory (GPU: max_memory_allocated; CPU: peak
    RSS the measurement added). An out-of-memory model is reported as OOM and the run goes
    on. The table is followed by a check of our ordering against paper 001 Table 2 and
    paper 000 Table 2a for the models in both.

    \b
    Host as a device (a converted artifact, posted like a phone's report):
      mobilekit bench --artifact out/vlf_b0-xnnpack --iters 100 --post http://127.0.0.1:8765 --token T

    \b
    A streaming artifact (convert --streaming): per-new-frame latency, beside the clip's (--clip):
      mobilekit bench --artifact out/vlf_b0-xnnpack-stream --clip out/vlf_b0-xnnpack --threads 1 --post URL
    """
    if artifact and models:
        raise MobilekitError("--artifact and --models are two different benchmarks",
                             "pass one of them")
    if artifact and (clip_artifact or _is_stream(artifact)):
        return _bench_stream(artifact, clip_artifact, warmup, iters, threads, post, token, out, as_json)
    if artifact:
        return _bench_artifact(artifact, warmup, iters, threads, post, token, out, as_json)
    if not models:
        raise MobilekitError("nothing to benchmark", "pass --models vlf_b0,vtn_eff,... or --artifact DIR")

    from tqdm import tqdm

    from mobilekit.bench.desktop import make_config, parse_modes, parse_sizes, run_benchmark

    cfg = make_config(models.split(","), modes=parse_modes(mode), device=device,
                      precision=precision, warmup=warmup, iters=iters,
                      sizes=parse_sizes(sizes) if sizes else None, frames=frames, size=size,
                      batch_sizes=_parse_batches(train_batch, infer_batch),
                      num_classes=num_classes, threads=threads, relative_to=relative_to,
                      isolate=isolate)
    if post:
        from mobilekit.bench.reports import eager_target

        eager_target()  # fail before the run, not after it
    with tqdm(total=len(cfg.jobs()), desc="bench", unit="run", file=click.get_text_stream("stderr"),
              leave=False) as bar:
        def on_start(job):
            bar.set_postfix_str(f"{job.model} {job.mode} {job.frames}x{job.size}")

        result = run_benchmark(cfg, on_start=on_start, on_row=lambda row: bar.update())
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        env = result["environment"]
        hw = env.get("gpu") or f"{env['cpu']} ({env['torch_threads']} threads)"
        batches = ", ".join(f"{m} {cfg.batch_sizes[m]}" for m in cfg.modes)
        click.echo(f"{hw}, torch {env['torch']}, {cfg.precision}, warm-up {cfg.warmup}, "
                   f"{cfg.iters} timed runs; batch: {batches}; load avg "
                   f"{env.get('load_avg_1m')} -> {env.get('load_avg_1m_end')}")
        refs = ", ".join(f"{m}: {r['model']} {r['frames']}x{r['size']}"
                         for m, r in result["reference"].items())
        click.echo(f"relative to {refs or 'nothing (reference failed)'}; memory: "
                   f"{next((r['memory_method'] for r in result['results'] if r.get('memory_method')), '-')}")
        click.echo(results_table(result, markdown=markdown))
        for r in result["results"]:
            if r["status"] != "ok":
                click.echo(f"{r['model']} {r['mode']} {r['frames']}x{r['size']}: "
                           f"{r['status'].upper()}: {r['error']}", err=True)
        click.echo("")
        click.echo(reproduction_text(result, markdown=markdown))
    if post:
        from mobilekit.bench.reports import desktop_reports

        for line in _post_all(post, token, desktop_reports(result),
                              Path(out).parent if out else Path.cwd()):
            click.echo(line, err=True)


commands = [bench_cmd]
