"""The common part of every video dataset: a list of samples, decoding, transforms, and
skipping unreadable videos.

A sample that cannot be decoded (missing, corrupt, truncated) becomes `None` with a warning;
`collate_skip_bad` drops those from the batch and reports how many it dropped, so the
training loop counts them across DataLoader workers (and stops a run when too many are).

With `device_transform` a dataset returns `RawClip`s (uint8 frames, cropped and flipped, plus
the remaining random draws) and `collate_skip_bad` a `ClipBatch`, whose `to_input(device)`
finishes the transform there: a quarter of the bytes of float32 through shared memory.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, default_collate

from mobilekit.data.transforms import AugmentConfig, ClipAugment, ClipTransform
from mobilekit.data.video import VideoDecodeError, decode_frames, load_image_frames
from mobilekit.errors import MobilekitError


class DatasetError(MobilekitError):
    """A dataset folder that does not have the expected layout."""


@dataclass
class VideoSample:
    """One clip: a video file, or a list of extracted frame files (EK100), and its label."""

    label: Any
    path: Path | None = None
    frames: list[Path] = field(default_factory=list)


@dataclass
class RawClip:
    """A clip before its float work: uint8 (T, 3, size, size) frames and the draws left."""

    frames: torch.Tensor
    augment: ClipAugment | None


@dataclass
class ClipBatch:
    """Collated RawClips: uint8 (B, T, 3, size, size) frames and one augment per clip."""

    frames: torch.Tensor
    augments: list[ClipAugment | None]

    def __len__(self) -> int:
        return len(self.frames)

    def pin_memory(self) -> "ClipBatch":  # called by DataLoader(pin_memory=True)
        return ClipBatch(self.frames.pin_memory(), self.augments)

    def to_input(self, device: torch.device | str) -> torch.Tensor:
        """float32 (B, T, 3, size, size), augmented and ImageNet-normalised on `device`:
        equal to what the dataset would have returned without `device_transform`."""
        clips = self.frames.to(device, non_blocking=True).float().div_(255)
        if all(a is None for a in self.augments):
            return ClipTransform.finish(clips, None)
        return torch.stack([ClipTransform.finish(c, a) for c, a in zip(clips, self.augments)])


class VideoClipDataset(Dataset):
    """Decodes `num_frames` TSN-sampled frames per sample and applies `ClipTransform`.

    Subclasses fill `samples` and `classes` (a list of names, or a dict of lists per head).
    An index may be `(epoch, index)`: the epoch then comes with it, which reaches persistent
    DataLoader workers (set_epoch in the main process does not). With `device_transform`,
    items are `(RawClip, label)` for the training loop to finish on its device.
    """

    def __init__(self, samples: list[VideoSample], classes, num_frames: int, image_size: int,
                 train: bool, augment: AugmentConfig | None = None, seed: int = 0):
        from mobilekit.data.sampling import tsn_indices  # noqa: F401  (keeps import errors early)

        self.samples = samples
        self.classes = classes
        self.num_frames = num_frames
        self.image_size = image_size
        self.train = train
        self.seed = seed
        self.transform = ClipTransform(image_size, train, augment)
        self.epoch = 0
        self.device_transform = False

    def set_epoch(self, epoch: int) -> None:
        """Training randomness (frame offsets, augmentations) depends on (seed, epoch, index),
        so runs and resumed runs see the same clips whatever the worker count."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def _generator(self, index: int, epoch: int) -> torch.Generator | None:
        if not self.train:
            return None
        return torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 10_000_019 + index)

    def load(self, index: int, g: torch.Generator | None) -> torch.Tensor:
        """uint8 (T, 3, H, W) for sample `index`."""
        from mobilekit.data.sampling import tsn_indices

        s = self.samples[index]
        # Decode at a short side a bit above the crop, so the random crop has room.
        short = round(self.image_size * 1.15) if self.train else self.image_size
        if s.frames:
            idx = tsn_indices(len(s.frames), self.num_frames, self.train, g)
            return load_image_frames([s.frames[i] for i in idx], short)
        return decode_frames(s.path, num_frames=self.num_frames, train=self.train, short_side=short, generator=g)

    def __getitem__(self, index: int | tuple[int, int]):
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        g = self._generator(index, epoch)
        try:
            clip = self.load(index, g)
        except VideoDecodeError as e:
            warnings.warn(f"skipping sample {index}: {e}", RuntimeWarning, stacklevel=2)
            return None
        label = self.samples[index].label
        if self.device_transform:
            return RawClip(*self.transform.prepare(clip, g)), label
        return self.transform(clip, g), label


def collate_skip_bad(batch: list) -> tuple[Any, Any, int]:
    """default_collate over the readable samples -> (clips, labels, num_skipped); RawClips
    collate to a ClipBatch. clips and labels are None when the whole batch was unreadable."""
    good = [b for b in batch if b is not None]
    skipped = len(batch) - len(good)
    if not good:
        return None, None, skipped
    if isinstance(good[0][0], RawClip):
        clips = ClipBatch(torch.stack([c.frames for c, _ in good]), [c.augment for c, _ in good])
        return clips, default_collate([label for _, label in good]), skipped
    clips, labels = default_collate(good)
    return clips, labels, skipped


def require_dir(path: Path, what: str, fix: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f"{what} {path} does not exist", fix)
    return path


def first_existing(candidates: list[Path]) -> Path | None:
    for c in candidates:
        if c.exists():
            return c
    return None
