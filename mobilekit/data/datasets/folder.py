"""A folder per class of videos, optionally under a folder per split:

    root/train/<class>/*.mp4   root/val/<class>/*.mp4     (or root/<class>/*.mp4 for any split)

Class indices are the sorted class folder names (of the training split when there is one).
"""

from __future__ import annotations

from pathlib import Path

from mobilekit.data.datasets.base import DatasetError, VideoClipDataset, VideoSample
from mobilekit.data.transforms import AugmentConfig
from mobilekit.data.video import VIDEO_EXTENSIONS

SPLIT_DIRS = {"train": ("train",), "val": ("val", "validation", "valid"),
              "validation": ("val", "validation", "valid"), "test": ("test",)}


def _class_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_dataset(root: str | Path, split: str, num_frames: int, image_size: int, train: bool,
                   augment: AugmentConfig | None = None, seed: int = 0) -> VideoClipDataset:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist", "check --data-root")
    split_dir = next((root / n for n in SPLIT_DIRS.get(split, (split,)) if (root / n).is_dir()), None)
    has_splits = (root / "train").is_dir()
    if split_dir is None and has_splits:
        raise DatasetError(f"{root} has train/ but no folder for split {split!r}",
                           f"add one of {', '.join(SPLIT_DIRS.get(split, (split,)))}/ with a folder per class")
    base = split_dir or root
    reference = root / "train" if has_splits else base
    classes = [p.name for p in _class_dirs(reference)]
    if not classes:
        raise DatasetError(f"no class folders in {reference}", "put each class's videos in its own folder")
    index = {c: i for i, c in enumerate(classes)}
    samples = []
    for d in _class_dirs(base):
        if d.name not in index:
            raise DatasetError(f"class folder {d} is not among the training classes",
                               "use the same class folders in every split")
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in VIDEO_EXTENSIONS:
                samples.append(VideoSample(label=index[d.name], path=f))
    if not samples:
        raise DatasetError(f"no videos ({', '.join(VIDEO_EXTENSIONS)}) under {base}", "check --data-root")
    return VideoClipDataset(samples, classes, num_frames, image_size, train, augment, seed)
