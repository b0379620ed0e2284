"""Dataset builders by name: `build_dataset(name, root, split, num_frames, image_size, train)`.

Every dataset returns (clip, label) with clip float32 (T, 3, H, W), ImageNet-normalised, and
has `.classes` (a list of names; EK100: {"verb": [...], "noun": [...]}). With
`device_transform=True` the video datasets return (RawClip, label) instead: uint8 frames that
`collate_skip_bad` batches into a ClipBatch and `ClipBatch.to_input(device)` finishes
(synthetic clips are rendered in float and come as before).
"""

from __future__ import annotations

from pathlib import Path

from mobilekit.data.datasets.base import ClipBatch, DatasetError, RawClip, VideoClipDataset, collate_skip_bad

DATASETS = ("ssv2", "epic100", "kinetics", "folder", "synthetic")


def build_dataset(name: str, root: str | Path | None, split: str, num_frames: int, image_size: int,
                  train: bool, seed: int = 0, device_transform: bool = False, **kw):
    """A dataset by name. `split` is "train" or "val". For "synthetic", `root` is ignored and
    `num_samples` (default 2048 train / 512 val) and `num_classes` (default 2) may be given.
    "photos" (mobilekit/data/photos.py) ignores `root` too: its "train" split is the
    calibration photos, "val" the held-out ones."""
    if name == "synthetic":
        from mobilekit.data.synthetic import SyntheticVideoDataset

        num_samples = kw.pop("num_samples", None) or (2048 if split == "train" else 512)
        # Different splits never share clips: the split picks a disjoint seed stream.
        split_seed = seed * 2 + (0 if split == "train" else 1)
        return SyntheticVideoDataset(num_samples, num_frames, image_size, seed=split_seed, **kw)
    if name == "photos":  # photographs that installed packages ship (calibration / check sets, not training)
        from mobilekit.data.photos import photos_dataset

        return photos_dataset(split, num_frames, image_size, seed=seed, **kw)
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}", f"choose one of {', '.join(DATASETS)}")
    if root is None:
        raise DatasetError(f"dataset {name!r} needs --data-root", "point it at the dataset's folder")
    if not Path(root).is_dir():
        raise DatasetError(f"dataset folder {root} does not exist", "check --data-root")
    if name == "ssv2":
        from mobilekit.data.datasets.ssv2 import ssv2_dataset as build
    elif name == "epic100":
        from mobilekit.data.datasets.epic100 import epic100_dataset as build
    elif name == "kinetics":
        from mobilekit.data.datasets.kinetics import kinetics_dataset as build
    else:
        from mobilekit.data.datasets.folder import folder_dataset as build
    ds = build(root, split, num_frames, image_size, train, seed=seed, **kw)
    ds.device_transform = device_transform
    return ds


__all__ = ["DATASETS", "ClipBatch", "DatasetError", "RawClip", "VideoClipDataset", "build_dataset",
           "collate_skip_bad"]
