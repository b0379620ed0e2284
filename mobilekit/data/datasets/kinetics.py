"""Kinetics (400/600/700) in its public layouts: annotation CSVs with the columns
`label,youtube_id,time_start,time_end,split[,is_cc]` and videos named
`<youtube_id>_<start:06d>_<end:06d>.mp4`, either flat per split (the CVDF release) or in a
folder per class (the official downloader):

    root/annotations/train.csv   (or root/train.csv); val: validate.csv or val.csv
    root/train/<youtube_id>_000010_000020.mp4   or   root/train/<label>/<youtube_id>_...mp4

Class indices are the sorted label names of the training CSV, so every split agrees.
A row whose video was never downloaded is counted as missing and skipped (Kinetics is
always incomplete), not an error.
"""

from __future__ import annotations

import csv
from pathlib import Path

from mobilekit.data.datasets.base import DatasetError, VideoClipDataset, VideoSample, first_existing
from mobilekit.data.transforms import AugmentConfig

SPLIT_NAMES = {"train": ("train",), "val": ("validate", "val", "validation"),
               "validation": ("validate", "val", "validation"), "test": ("test",)}


def _csv_for(root: Path, split: str) -> Path | None:
    names = SPLIT_NAMES.get(split, (split,))
    return first_existing([d / f"{n}.csv" for d in (root / "annotations", root) for n in names])


def _read_rows(path: Path) -> list[dict]:
    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError) as e:
        raise DatasetError(f"cannot read {path} ({e})", "re-download the Kinetics annotation CSVs") from e
    need = {"label", "youtube_id", "time_start", "time_end"}
    if rows and not need <= set(rows[0]):
        raise DatasetError(f"{path} lacks the columns {sorted(need - set(rows[0]))}",
                           "use the official Kinetics annotation CSVs")
    return rows


def kinetics_dataset(root: str | Path, split: str, num_frames: int, image_size: int, train: bool,
                     augment: AugmentConfig | None = None, seed: int = 0) -> VideoClipDataset:
    root = Path(root)
    split_csv = _csv_for(root, split)
    if split_csv is None:
        raise DatasetError(f"no Kinetics annotation CSV for split {split!r} under {root}",
                           "expected annotations/train.csv and annotations/validate.csv (or val.csv)")
    train_csv = _csv_for(root, "train") or split_csv
    classes = sorted({r["label"] for r in _read_rows(train_csv)})
    index = {c: i for i, c in enumerate(classes)}
    folder_names = SPLIT_NAMES.get(split, (split,))
    video_dir = first_existing([root / n for n in folder_names] + [root / "videos"]) or root
    samples = []
    for r in _read_rows(split_csv):
        if r["label"] not in index:
            raise DatasetError(f"{split_csv}: label {r['label']!r} is not in the training classes",
                               "use annotation CSVs of the same Kinetics release")
        name = f"{r['youtube_id']}_{int(float(r['time_start'])):06d}_{int(float(r['time_end'])):06d}"
        candidates = [video_dir / f"{name}{ext}" for ext in (".mp4", ".webm", ".mkv")]
        candidates += [video_dir / r["label"] / f"{name}{ext}" for ext in (".mp4", ".webm", ".mkv")]
        candidates += [video_dir / r["label"].replace(" ", "_") / f"{name}.mp4"]
        path = first_existing(candidates) or candidates[0]
        samples.append(VideoSample(label=index[r["label"]], path=path))
    return VideoClipDataset(samples, classes, num_frames, image_size, train, augment, seed)
