"""Something-Something V2 in its public layout:

    root/20bn-something-something-v2/<id>.webm   (or root/videos/<id>.webm, or root/<id>.webm)
    root/labels/labels.json        {"Approaching something with your camera": "0", ...}
    root/labels/train.json         [{"id": "78687", "template": "Holding [something] next to [something]", ...}]
    root/labels/validation.json

The class of a video is its template with the brackets removed. Horizontal flipping is off:
left/right is part of the label ("pushing something from left to right").
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from mobilekit.data.datasets.base import DatasetError, VideoClipDataset, VideoSample, first_existing
from mobilekit.data.transforms import AugmentConfig

SPLIT_FILES = {"train": "train.json", "val": "validation.json", "validation": "validation.json"}


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f"cannot read {path} ({e})", "re-download the SSV2 label files") from e


def ssv2_dataset(root: str | Path, split: str, num_frames: int, image_size: int, train: bool,
                 augment: AugmentConfig | None = None, seed: int = 0) -> VideoClipDataset:
    root = Path(root)
    if split not in SPLIT_FILES:
        raise DatasetError(f"SSV2 has no split {split!r}", f"use one of {sorted(SPLIT_FILES)} (test has no labels)")
    labels_dir = first_existing([root / "labels", root]) or root
    labels_file = labels_dir / "labels.json"
    split_file = labels_dir / SPLIT_FILES[split]
    for f in (labels_file, split_file):
        if not f.is_file():
            raise DatasetError(f"SSV2 file {f} not found",
                               "point --data-root at the folder holding labels/ (labels.json, train.json, "
                               "validation.json) and the .webm videos")
    label_ids = {name: int(i) for name, i in _read_json(labels_file).items()}
    classes = [name for name, _ in sorted(label_ids.items(), key=lambda kv: kv[1])]
    video_dir = first_existing([root / "20bn-something-something-v2", root / "videos"]) or root
    samples = []
    for entry in _read_json(split_file):
        name = entry["template"].replace("[", "").replace("]", "")
        if name not in label_ids:
            raise DatasetError(f"SSV2 template {name!r} of video {entry['id']} is not in {labels_file}",
                               "use labels.json from the same release as the split file")
        samples.append(VideoSample(label=label_ids[name], path=video_dir / f"{entry['id']}.webm"))
    augment = replace(augment or AugmentConfig(), flip=False)
    return VideoClipDataset(samples, classes, num_frames, image_size, train, augment, seed)
