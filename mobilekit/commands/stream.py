"""`mobilekit stream`: a streaming artifact on a real video, frame by frame, on the host
runtime; and `mobilekit convert --streaming` (the conversion side, called from convert.py)."""

from __future__ import annotations

import json

import click

from mobilekit.commands.options import POSITIVE, THREADS
from mobilekit.errors import MobilekitError


def convert_streaming(source, names: list[str], out, quantize_scheme, validate: bool, latency_runs: int,
                      threads: int | None, as_json: bool, *, state_rank4: bool = False,
                      coreml_state: bool = False) -> None:
    """`mobilekit convert --streaming`: each target's streaming artifact (converters/streaming.py)."""
    from pathlib import Path

    from converters.backends import get_target
    from converters.streaming import check_stream_options, convert_stream, step_refused, stream_mode

    if quantize_scheme:
        raise MobilekitError("--streaming does not combine with --quantize yet", "drop one of them")
    for name in names:  # an option that does not apply to a target: refused before any target converts
        check_stream_options(get_target(name), state_rank4=state_rank4, coreml_state=coreml_state)
    src = source.resolve()  # bad input fails here, before any work
    mode = stream_mode(src.module)
    for name in names:  # (a target that takes no step fails on its own below, the others still convert)
        tgt = get_target(name)
        check_stream_options(tgt, None if step_refused(tgt, mode) else mode, state_rank4=state_rank4,
                             coreml_state=coreml_state)
    failed = []
    for name in names:
        folder = out if len(names) == 1 else (Path(out) / f"{src.name}-{name}-stream" if out else None)
        click.echo(f"converting {src.name} to a {name} stream ...", err=True)
        try:
            art = convert_stream(src, name, folder, validate=validate, latency_runs=latency_runs, threads=threads,
                                 state_rank4=state_rank4, coreml_state=coreml_state,
                                 on_stage=lambda st: click.echo(f"  {st} ...", err=True))
        except MobilekitError as e:
            if len(names) == 1:
                raise
            failed.append(name)
            click.secho(f"{name}: {e}", fg="red", err=True)
            continue
        m = art.manifest
        if as_json:
            click.echo(json.dumps(m, indent=2))
            continue
        s, v = m["streaming"], m["streaming"]["validation"]
        progs = ", ".join(f"{p['role']} {p['file']}" for p in s["programs"])
        click.echo(f"{m['model']} -> {m['target']} stream ({s['mode']}{', window ' + str(s['window']) if s['window'] else ''}"
                   f") in {art.seconds:.1f} s: {progs}")
        if v["status"] == "skipped":
            click.echo(f"  stream validation skipped: {v['reason']}")
        else:
            line = (f"  stream validation {v['status']} on {v['runtime']}: {v['frames']} frames one at a time, "
                    f"{v['compared']} outputs vs the eager clip model, max abs diff {v['max_abs_diff']:.2g} "
                    f"(tolerance {v['tolerance']:.2g})")
            if v.get("frame_latency_ms") is not None:
                line += f"; {v['frame_latency_ms']:.3g} ms per new frame (median)"
            click.echo(line)
        for note in m["conversion"].get("notes", []):
            click.echo(f"  note: {note}")
        click.echo(f"  manifest: {art.path / 'manifest.json'}")
    if failed:
        raise MobilekitError(f"{len(failed)} of {len(names)} targets failed ({', '.join(failed)})",
                             "see the lines above; each names the problem and a fix")


@click.command("stream")
@click.option("--artifact", required=True, type=click.Path(exists=True),
              help="A folder written by `mobilekit convert --streaming`.")
@click.option("--video", required=True, type=click.Path(exists=True, dir_okay=False), help="A video file (PyAV).")
@click.option("--threads", type=THREADS, help="Host runtime threads (runtime default otherwise).")
@click.option("--top", type=POSITIVE, default=3, show_default=True, help="Classes printed per frame.")
@click.option("--max-frames", type=POSITIVE, help="Stop after this many frames.")
def stream_cmd(artifact, video, threads, top, max_frames):
    """Run a streaming artifact over a video, one frame at a time, on this machine's runtime.

    \b
    Prints one JSON line per frame: {"frame", "ms" (that frame's latency), "top" ([class,
    probability] pairs; null while a frame-cache model's window fills)}.
    Example:
      mobilekit convert --model vlf_b0 --frames 8 --streaming --out artifacts/vlf-stream
      mobilekit stream --artifact artifacts/vlf-stream --video clip.mp4
    """
    from converters.streaming import stream_video

    for row in stream_video(artifact, video, threads=threads, top=top, max_frames=max_frames):
        click.echo(json.dumps(row))


commands = [stream_cmd]
