"""EPIC-KITCHENS-100 in its public layout: the annotation CSVs of epic-kitchens-100-annotations
over the extracted RGB frames.

    root/EPIC_100_train.csv, root/EPIC_100_validation.csv   (or under root/annotations/)
        narration_id,participant_id,video_id,...,start_frame,stop_frame,...,verb,verb_class,noun,noun_class,...
    root/EPIC_100_verb_classes.csv, root/EPIC_100_noun_classes.csv   (id,key,...; optional)
    root/P01/rgb_frames/P01_01/frame_0000000001.jpg     (1-based frame numbers)
      (also accepted: root/rgb_frames/P01/P01_01/ and root/P01/P01_01/)

Labels are dicts {"verb": int, "noun": int, "action": int} with action = verb * num_nouns + noun;
action accuracy is "verb and noun both right", the EK100 convention. `.classes` is
{"verb": [...], "noun": [...]}; the model gets one head per key (num_classes as a dict).
"""

from __future__ import annotations

import csv
from pathlib import Path

from mobilekit.data.datasets.base import DatasetError, VideoClipDataset, VideoSample, first_existing
from mobilekit.data.transforms import AugmentConfig

SPLIT_FILES = {"train": "EPIC_100_train.csv", "val": "EPIC_100_validation.csv",
               "validation": "EPIC_100_validation.csv"}


def _read_csv(path: Path) -> list[dict]:
    try:
        with path.open(newline="") as f:
            return list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError) as e:
        raise DatasetError(f"cannot read {path} ({e})", "re-download epic-kitchens-100-annotations") from e


def _class_names(root: Path, head: str, rows: list[dict]) -> list[str]:
    path = first_existing([root / f"EPIC_100_{head}_classes.csv", root / "annotations" / f"EPIC_100_{head}_classes.csv"])
    if path is not None:
        table = _read_csv(path)
        names = {int(r["id"]): r["key"] for r in table}
        return [names.get(i, str(i)) for i in range(max(names) + 1)]
    # Without the class list, name the ids seen in the annotations.
    names = {int(r[f"{head}_class"]): r[head] for r in rows}
    return [names.get(i, str(i)) for i in range(max(names) + 1)]


def _frame_dir(root: Path, participant: str, video: str) -> Path:
    return first_existing([root / participant / "rgb_frames" / video, root / "rgb_frames" / participant / video,
                           root / participant / video, root / "rgb_frames" / video]) \
        or root / participant / "rgb_frames" / video


def epic100_dataset(root: str | Path, split: str, num_frames: int, image_size: int, train: bool,
                    augment: AugmentConfig | None = None, seed: int = 0) -> VideoClipDataset:
    root = Path(root)
    if split not in SPLIT_FILES:
        raise DatasetError(f"EPIC-KITCHENS-100 has no labelled split {split!r}", f"use one of {sorted(SPLIT_FILES)}")
    ann_dir = root / "annotations" if (root / "annotations" / SPLIT_FILES[split]).is_file() else root
    split_csv = ann_dir / SPLIT_FILES[split]
    if not split_csv.is_file():
        raise DatasetError(f"EK100 annotations {split_csv} not found",
                           "point --data-root at the folder with EPIC_100_train.csv / EPIC_100_validation.csv "
                           "and the participants' rgb_frames")
    rows = _read_csv(split_csv)
    need = {"participant_id", "video_id", "start_frame", "stop_frame", "verb_class", "noun_class"}
    if rows and not need <= set(rows[0]):
        raise DatasetError(f"{split_csv} lacks the columns {sorted(need - set(rows[0]))}",
                           "use the official EPIC_100_*.csv annotation files")
    all_rows = rows + (_read_csv(ann_dir / SPLIT_FILES["train"]) if split != "train" and
                       (ann_dir / SPLIT_FILES["train"]).is_file() else [])
    classes = {"verb": _class_names(ann_dir, "verb", all_rows), "noun": _class_names(ann_dir, "noun", all_rows)}
    num_nouns = len(classes["noun"])
    samples = []
    for r in rows:
        frame_dir = _frame_dir(root, r["participant_id"], r["video_id"])
        start, stop = int(r["start_frame"]), int(r["stop_frame"])
        frames = [frame_dir / f"frame_{i:010d}.jpg" for i in range(start, max(start, stop) + 1)]
        verb, noun = int(r["verb_class"]), int(r["noun_class"])
        samples.append(VideoSample(label={"verb": verb, "noun": noun, "action": verb * num_nouns + noun},
                                   frames=frames))
    return VideoClipDataset(samples, classes, num_frames, image_size, train, augment, seed)
