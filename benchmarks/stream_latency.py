"""Per-new-frame latency of streaming artifacts next to the clip latency (issue #22).

    python benchmarks/stream_latency.py [--models vlf_b0,vtn_eff,tsn_b0,movinet_a0_stream]
                                        [--targets xnnpack,tflite] [--frames 16] [--size N]
                                        [--threads 1] [--runs 20] [--markdown] [--out DIR]

For each model and target, in one process and with the same thread count: the clip artifact
(`mobilekit convert`: T frames in, logits out) and the streaming artifact (`mobilekit convert
--streaming`: the step with its state fed back, or the per-frame encoder + the head over a
ring buffer of T frames' tokens) are converted at the same input size, then timed side by
side, alternating one clip run and one new frame per round so drift on a shared machine hits
both alike. Printed: median ms of the clip, median ms per new frame, their ratio (frame / clip)
and both validations. A causal stream model is timed against its clip model
(movinet_a0_stream -> movinet_a0, at movinet_a0_stream's size): the same network seeing T
frames at once.

The models are untrained (random weights, BatchNorm statistics measured on synthetic clips by
converters.validate.settle_batchnorm) and the inputs synthetic: the figures are latencies of
the architectures, not of trained checkpoints (which have the same ops and shapes). Timings on
a shared machine are noisy: say so when quoting them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_MODELS = ("vlf_b0", "vtn_eff", "tsn_b0", "movinet_a0_stream")
DEFAULT_TARGETS = ("xnnpack", "tflite")
# A causal stream model and the clip model it is timed against (same state dict, see movinet.py).
CLIP_MODEL = {"movinet_a0_stream": "movinet_a0", "movinet_a2_stream": "movinet_a2"}
HEADERS = ["model", "clip model", "target", "input", "clip ms", "per-frame ms", "frame / clip", "clip validation",
           "stream validation"]


def build_pair(name: str, frames: int, size: int | None, num_classes: int | None = None):
    """(clip model, stream model, T, size): untrained, BatchNorm settled, eval mode. For a
    frame-cache model both are the same module."""
    from converters.validate import settle_batchnorm
    from mobilekit.models import create_model, model_info

    size = size or model_info(name)["image_size"]
    kw = {"num_classes": num_classes} if num_classes else {}
    if name in CLIP_MODEL:
        stream = create_model(name, image_size=size, **kw).eval()
        settle_batchnorm(stream, [2, 2, 3, size, size], steps=2)  # batch 2: BN needs >1 value at 1x1
        clip = create_model(CLIP_MODEL[name], num_frames=frames, image_size=size, **kw).eval()
        # The clip model is the stream's network seeing the T frames at once: same weights.
        if clip.load_state_dict(stream.state_dict(), strict=False).missing_keys:
            settle_batchnorm(clip, [2, frames, 3, size, size], steps=2)
        return clip, stream, frames, size
    model = create_model(name, num_frames=frames, image_size=size, **kw).eval()
    settle_batchnorm(model, [2, frames, 3, size, size], steps=2)
    return model, model, frames, size


def time_side_by_side(clip_rt, stream, clip_input, frame, runs: int, warmup: int = 3) -> tuple[float, float]:
    """Median ms of one clip run and of one new frame, alternating per round (the stream's
    window filled first, so every timed push runs the encoder and the head, or the step)."""
    for _ in range(warmup):
        clip_rt.run(clip_input)
    for _ in range(max(warmup, stream.window or 0)):
        stream.push(frame)
    clip_ms, frame_ms = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        clip_rt.run(clip_input)
        clip_ms.append((time.perf_counter() - t0) * 1e3)
        stream.push(frame)
        frame_ms.append(stream.frame_ms)
    return statistics.median(clip_ms), statistics.median(frame_ms)


def _status(v: dict) -> str:
    """passed (with the worst |diff| as a share of its tolerance, which scales with the logits), or why not."""
    if v["status"] == "passed":
        d, tol = v.get("max_abs_diff"), v.get("tolerance")
        return f"passed ({d / tol:.2g} of tolerance)" if d is not None and tol else "passed"
    return f"{v['status']}: {(v.get('reason') or '')[:60]}"


def row_for(name: str, target: str, out_root: Path, frames: int, size: int | None, threads: int, runs: int,
            num_classes: int | None = None) -> list:
    """Convert the clip and the stream artifact of one model for one target and time them."""
    import numpy as np

    from converters import convert
    from converters.api import ValidationFailed
    from converters.runtimes import load_runtime
    from converters.streaming import convert_stream, open_stream
    from mobilekit.errors import MobilekitError

    clip_model, stream_model, t, size = build_pair(name, frames, size, num_classes)
    clip_name = CLIP_MODEL.get(name, name)
    shape = f"{t}x{size}x{size}"
    try:
        # An artifact whose validation failed is still timed (its row says so): the latency is
        # the architecture's; the failure is a finding of its own (kept in <folder>.failed).
        try:
            clip = convert(clip_model, target, out_root / f"{name}-{target}-clip", latency_runs=0, threads=threads,
                           check_set=False)
        except ValidationFailed as e:
            clip = e.artifact
        try:
            stream_art = convert_stream(stream_model, target, out_root / f"{name}-{target}-stream",
                                        latency_runs=0, threads=threads)
        except ValidationFailed as e:
            stream_art = e.artifact
        clip_rt = load_runtime(clip.path, threads=threads)
        stream = open_stream(stream_art.path, threads=threads)
    except MobilekitError as e:
        return [name, clip_name, target, shape, None, None, None, f"error: {e}"[:100], None]
    gen = np.random.default_rng(0)
    clip_input = gen.standard_normal((1, t, 3, size, size), dtype=np.float32)
    frame = clip_input[:, :1].copy()
    clip_ms, frame_ms = (round(ms, 3) for ms in time_side_by_side(clip_rt, stream, clip_input, frame, runs))
    return [name, clip_name, target, shape, clip_ms, frame_ms, f"1/{clip_ms / frame_ms:.1f}",
            _status(clip.manifest["validation"]), _status(stream_art.manifest["streaming"]["validation"])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/stream_latency.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated zoo models")
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help="comma-separated targets")
    parser.add_argument("--frames", type=int, default=16, help="clip length T (the frame cache's window)")
    parser.add_argument("--size", type=int, help="frame side (default: each model's own, 224; MoViNet-A0 172)")
    parser.add_argument("--classes", type=int, help="classes (default: each model's own)")
    parser.add_argument("--threads", type=int, default=1, help="host runtime threads, clip and stream alike")
    parser.add_argument("--runs", type=int, default=20, help="timed rounds (one clip run + one new frame each)")
    parser.add_argument("--out", help="keep the artifacts here (default: a temporary folder)")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    args = parser.parse_args(argv)
    if args.frames < 1 or args.runs < 1 or args.threads < 1:
        parser.error("--frames, --runs and --threads take 1 or more")

    import torch
    from tqdm import tqdm

    from mobilekit.table import format_table

    torch.set_num_threads(args.threads)
    models = [m for m in args.models.split(",") if m]
    targets = [t for t in args.targets.split(",") if t]
    rows = []
    with tempfile.TemporaryDirectory(prefix="mobilekit-stream-latency-") as tmp:
        out_root = Path(args.out) if args.out else Path(tmp)
        with tqdm(total=len(models) * len(targets), unit="pair", file=sys.stderr) as bar:
            for name in models:
                for target in targets:
                    bar.set_postfix_str(f"{name} {target}")
                    rows.append(row_for(name, target, out_root, args.frames, args.size, args.threads, args.runs,
                                        args.classes))
                    bar.update(1)
    print(f"# untrained models (random weights, BatchNorm settled on synthetic clips), synthetic input; "
          f"batch 1, host threads {args.threads}, {args.runs} alternating rounds (median), {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}. frame / clip: per-new-frame latency over the T-frame clip's.")
    print(format_table(rows, HEADERS, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
