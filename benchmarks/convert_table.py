"""Conversion benchmark: zoo models x every target at the papers' input (16x224x224).

    python benchmarks/convert_table.py [--models vlf_b0,vtn_eff,tsn_b0] [--targets all]
                                            [--threads 1] [--markdown] [--out DIR]
    python benchmarks/convert_table.py --from-artifacts DIR   # re-tabulate kept artifacts

For each pair: seconds the conversion itself took (wall, and CPU of all threads, which is
what to quote on a busy machine; validation excluded), artifact MB, max
abs diff against eager PyTorch on 3 random clips, and the host runtime's median latency of
20 runs at batch 1 where a runtime runs here (Core ML and et-coreml need Apple platforms).
Untrained models get measured BatchNorm statistics first (converters.validate.settle_batchnorm)
so the diffs compare logits that depend on the input. Timings on a shared machine are
noisy: say so when quoting them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

DEFAULT_MODELS = ("vlf_b0", "vtn_eff", "tsn_b0")
HEADERS = ["model", "target", "convert s", "CPU s", "MB", "max abs diff", "host ms (median of 20)", "validation"]


def row_from_manifest(m: dict) -> list:
    """One table row from an artifact's manifest."""
    v = m["validation"]
    status = v["status"] if v["status"] != "skipped" else f"skipped ({v['reason'].split(' (')[0]})"
    return [m["model"], m["target"], m["conversion"].get("seconds"), m["conversion"].get("cpu_seconds"),
            round(m["size_bytes"] / 1e6, 1), v.get("max_abs_diff"), v.get("host_latency_ms"), status]


def rows_for(model_name: str, targets: list[str], out_root: Path, frames: int, size: int,
             threads: int | None, progress=None) -> list[list]:
    """Convert one zoo model to `targets`; one table row per target (errors are rows too)."""
    from converters import convert_targets, resolve_model
    from converters.validate import settle_batchnorm
    from mobilekit.models import create_model

    model = create_model(model_name, num_frames=frames, image_size=size).eval()
    settle_batchnorm(model, [1, frames, 3, size, size], steps=2)
    src = resolve_model(model)
    rows = []
    for target, result in convert_targets(src, targets, out_root, threads=threads, latency_runs=20):
        if isinstance(result, Exception):
            art = getattr(result, "artifact", None)  # a failed validation still has its manifest
            rows.append(row_from_manifest(art.manifest) if art else
                        [model_name, target, None, None, None, None, None, f"error: {result}"[:100]])
        else:
            rows.append(row_from_manifest(result.manifest))
        if progress:
            progress(model_name, target)
    return rows


def rows_from_folder(root: Path) -> list[list]:
    """Rows from the manifests under `root` (artifacts kept with --out), without converting."""
    from mobilekit.artifact import read_manifest

    return [row_from_manifest(read_manifest(p.parent).model_dump(mode="json")) for p in sorted(root.glob("*/manifest.json"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/convert_table.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated zoo models")
    parser.add_argument("--targets", default="all", help="comma-separated targets, or all")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=1, help="host runtime threads for latency")
    parser.add_argument("--out", help="keep the artifacts here (default: a temporary folder)")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    parser.add_argument("--from-artifacts", metavar="DIR",
                        help="only tabulate the manifests of artifacts kept earlier with --out DIR")
    args = parser.parse_args(argv)

    from mobilekit.table import format_table

    if args.from_artifacts:
        print(format_table(rows_from_folder(Path(args.from_artifacts)), HEADERS, markdown=args.markdown))
        return 0

    import torch
    from tqdm import tqdm

    from converters import target_names

    torch.set_num_threads(args.threads)
    models = [m for m in args.models.split(",") if m]
    targets = target_names() if args.targets == "all" else [t for t in args.targets.split(",") if t]
    with tempfile.TemporaryDirectory(prefix="mobilekit-convert-table-") as tmp:
        out_root = Path(args.out) if args.out else Path(tmp)
        rows = []
        with tqdm(total=len(models) * len(targets), unit="conversion", file=sys.stderr) as bar:
            for name in models:
                rows += rows_for(name, targets, out_root, args.frames, args.size, args.threads,
                                 progress=lambda m, t: (bar.set_postfix_str(f"{m} {t}"), bar.update(1)))
    print(f"# {args.frames}x{args.size}x{args.size}, batch 1, host threads {args.threads}, "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}")
    print(format_table(rows, HEADERS, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
