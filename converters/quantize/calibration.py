"""Clips for calibration and for measuring what quantization costs.

Two disjoint sets of real clips, never random noise:

- `calibration`: what static schemes observe to fix activation ranges;
- `held_out`: what the quantized artifact is compared on against the fp32 model.

From a dataset folder (any layout of mobilekit.data: `folder` by default, `ssv2:PATH`,
`kinetics:PATH`, `epic100:PATH`): calibration from the train split, held-out clips from the
val split, both with the deterministic evaluation transform; when the folder has no separate
splits, one seeded shuffle of its clips is cut in two. `photos`: clips made from photographs
that installed packages ship (mobilekit/data/photos.py), calibration and held-out clips from
disjoint photos, held-out ones with ImageNet labels. `synthetic`: the synthetic temporal
dataset (mobilekit.data.SyntheticVideoDataset), whose train and val splits never share a
clip. Unreadable videos are skipped and counted.

No source given: the synthetic set only for a model trained on it (its class names are the
synthetic set's, as a mobilekit.train checkpoint records them). For any other model a static
scheme refuses: ranges observed on moving shapes say nothing about a real model's domain
(issue #20: a pretrained ImageNet network calibrated on them kept 59% top-1 agreement).
Schemes without calibration still compare on synthetic held-out clips, with a note.

Labels are kept only when they mean something for the model: its class names equal the
dataset's (e.g. a checkpoint trained on the synthetic dataset), or, for a real dataset and
a model without class names, the class counts match (assumed in the dataset's order).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mobilekit.errors import MobilekitError

SYNTHETIC = "synthetic"
PHOTOS = "photos"
FORMATS = ("folder", "ssv2", "kinetics", "epic100")
SOURCES_HELP = ("a dataset folder (a folder per class), FORMAT:PATH with FORMAT one of ssv2, kinetics, epic100, "
                "'photos' (photographs shipped by installed packages), or 'synthetic'")


@dataclass
class ClipSet:
    """Clips as (1, T, 3, H, W) float32 arrays and their labels (None: no usable labels)."""

    clips: list[np.ndarray]
    labels: list | None
    source: str

    def __len__(self) -> int:
        return len(self.clips)


@dataclass
class CalibrationData:
    calibration: ClipSet
    held_out: ClipSet
    source: str                       # "synthetic" or "<format>:<path>"
    skipped: int = 0                  # unreadable videos passed over
    notes: list[str] = field(default_factory=list)


def parse_source(text: str | None) -> tuple[str, Path | None]:
    """`None`/"synthetic" -> ("synthetic", None); "photos" -> ("photos", None); "PATH" -> ("folder", PATH);
    "ssv2:PATH" -> ("ssv2", PATH)."""
    if text is None or text == SYNTHETIC:
        return SYNTHETIC, None
    if text == PHOTOS:
        return PHOTOS, None
    fmt, sep, rest = text.partition(":")
    if sep and fmt in FORMATS:
        fmt, path = fmt, Path(rest)
    else:
        fmt, path = "folder", Path(text)
    if not path.is_dir():
        raise MobilekitError(f"calibration folder {path} does not exist",
                             f"give {SOURCES_HELP}")
    return fmt, path


def trained_on_synthetic(model_classes) -> bool:
    """Whether the model's class names are the synthetic set's (what a mobilekit.train
    checkpoint trained on it records)."""
    from mobilekit.data.synthetic import CLASS_PAIRS

    if not isinstance(model_classes, list) or not model_classes or len(model_classes) % 2:
        return False
    return list(model_classes) == [n for pair in CLASS_PAIRS[: len(model_classes) // 2] for n in pair]


def _clip_geometry(input_shape: list[int]) -> tuple[int, int]:
    if len(input_shape) != 5 or input_shape[2] != 3 or input_shape[3] != input_shape[4]:
        raise MobilekitError(f"calibration clips are square RGB videos (B, T, 3, S, S); this model takes "
                             f"{input_shape}",
                             "quantize a video model with a (B, T, 3, S, S) input")
    return input_shape[1], input_shape[3]


def _labels_usable(data_classes, model_classes, num_classes: int, by_count: bool) -> tuple[bool, str | None]:
    if model_classes is not None:
        same = (model_classes == data_classes if isinstance(data_classes, dict)
                else list(model_classes) == list(data_classes))
        if same:
            return True, None
        return False, "the model's class names differ from the calibration data's: accuracy not measured"
    if by_count and not isinstance(data_classes, dict) and len(data_classes) == num_classes:
        return True, (f"the model has no class names; its {num_classes} logits are assumed to be the "
                      "data's classes in sorted order for accuracy")
    return False, "the model's classes do not match the calibration data's: accuracy not measured"


def _take(dataset, indices, count: int, batch_size: int) -> tuple[list[np.ndarray], list, int]:
    """Up to `count` readable clips from `indices`, batched as (batch_size, T, 3, S, S)."""
    clips, labels, skipped = [], [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # unreadable videos are counted instead
        for i in indices:
            if len(clips) >= count:
                break
            item = dataset[int(i)]
            if item is None:
                skipped += 1
                continue
            clip, label = item
            clips.append(clip.unsqueeze(0).expand(batch_size, *clip.shape).numpy().astype(np.float32))
            labels.append(label)
    return clips, labels, skipped


def require_calibration(source: str | None, calibrated: bool, model_classes) -> None:
    """No silent synthetic calibration: a calibrated scheme with no source refuses (before any
    work) unless the model was trained on the synthetic set (its class names say so)."""
    if source is None and calibrated and not trained_on_synthetic(model_classes):
        real_sources = SOURCES_HELP.removesuffix(", or 'synthetic'")
        raise MobilekitError("no --calibration given, and this model was not trained on the synthetic set: "
                             "ranges calibrated on moving shapes say nothing about its domain",
                             f"pass --calibration with real clips ({real_sources}), or --calibration "
                             "synthetic to calibrate on the synthetic set anyway")


def load_clips(input_shape: list[int], source: str | None = None, *, samples: int = 32,
               eval_samples: int = 32, model_classes=None, num_classes: int = 0,
               seed: int = 0) -> CalibrationData:
    """`samples` calibration clips and `eval_samples` held-out clips shaped like the model's input.

    `source`: None or "synthetic" (the synthetic dataset), a dataset folder, or FORMAT:PATH.
    `model_classes` (names, when the model carries them) and `num_classes` decide whether the
    data's labels can measure accuracy.
    """
    if samples < 0 or eval_samples < 1:
        raise MobilekitError(f"need at least 1 held-out clip and 0 or more calibration clips "
                             f"(got {eval_samples} and {samples})", "raise --eval-samples / --samples")
    frames, size = _clip_geometry(input_shape)
    batch = input_shape[0]
    fmt, root = parse_source(source)
    from mobilekit.data import build_dataset

    notes: list[str] = []
    if source is None and not trained_on_synthetic(model_classes):
        require_calibration(source, bool(samples), model_classes)
        notes.append("held-out clips from the synthetic set (no --calibration): agreement on moving shapes says "
                     "little about this model's domain; pass real clips for a figure that does")
    if fmt == SYNTHETIC:
        n_cls = 2
        if isinstance(model_classes, list) and len(model_classes) % 2 == 0 and 2 <= len(model_classes) <= 8:
            n_cls = len(model_classes)  # a model trained on the synthetic task: its labels apply
        try:
            calib = build_dataset(SYNTHETIC, None, "train", frames, size, train=False, seed=seed,
                                  num_samples=max(samples, 1), num_classes=n_cls)
            held = build_dataset(SYNTHETIC, None, "val", frames, size, train=False, seed=seed,
                                 num_samples=eval_samples, num_classes=n_cls)
        except ValueError as e:
            raise MobilekitError(f"the synthetic calibration set cannot render these clips: {e}",
                                 "give --calibration a dataset folder") from e
        calib_idx, held_idx = range(len(calib)), range(len(held))
        source_name = SYNTHETIC
    elif fmt == PHOTOS:
        from mobilekit.data.photos import CLIPS_PER_PHOTO, available_photos

        def per_photo(split: str, wanted: int) -> int:  # enough clips per photo for the count asked
            return max(CLIPS_PER_PHOTO, -(-wanted // max(1, len(available_photos(split)))))

        try:
            calib = build_dataset(PHOTOS, None, "train", frames, size, train=False, seed=seed,
                                  clips_per_photo=per_photo("train", samples))
            held = build_dataset(PHOTOS, None, "val", frames, size, train=False, seed=seed,
                                 clips_per_photo=per_photo("val", eval_samples))
        except MobilekitError as e:
            raise MobilekitError(f"photo clips: {e.problem}", e.fix) from e
        # Disjoint photos; the first clips cover every photo (the dataset interleaves them).
        calib_idx, held_idx = range(len(calib)), range(len(held))
        source_name = PHOTOS
    else:
        calib = build_dataset(fmt, root, "train", frames, size, train=False, seed=seed)
        try:
            held = build_dataset(fmt, root, "val", frames, size, train=False, seed=seed)
        except MobilekitError:
            held = calib
        order = torch.randperm(len(calib), generator=torch.Generator().manual_seed(seed)).tolist()
        if held is calib or [s.path for s in getattr(held, "samples", [])] == \
                [s.path for s in getattr(calib, "samples", [])]:
            held = calib  # no separate val split: cut one shuffle in two, disjoint
            n_held = min(eval_samples, max(len(order) - samples, len(order) // 2))
            held_idx, calib_idx = order[:n_held], order[n_held:]
            notes.append("no separate val split: calibration and held-out clips are disjoint parts of one split")
        else:
            calib_idx = order
            held_idx = torch.randperm(len(held), generator=torch.Generator().manual_seed(seed + 1)).tolist()
        source_name = f"{fmt}:{root}"

    c_clips, c_labels, c_skip = _take(calib, calib_idx, samples, batch)
    h_clips, h_labels, h_skip = _take(held, held_idx, eval_samples, batch)
    if samples and not c_clips:
        raise MobilekitError(f"no readable calibration clips in {source_name}",
                             "check the dataset folder (see `mobilekit train --help` for layouts)")
    if not h_clips:
        raise MobilekitError(f"no readable held-out clips in {source_name}",
                             "give a dataset with a val split or more videos")
    if len(c_clips) < samples or len(h_clips) < eval_samples:
        notes.append(f"{source_name} gave {len(c_clips)} calibration and {len(h_clips)} held-out clips "
                     f"(asked for {samples} and {eval_samples})")
    if fmt == PHOTOS:
        notes.append(f"photos: {len(c_clips)} calibration clips from {len(calib.photos)} photos, {len(h_clips)} "
                     f"held-out clips from {len(held.photos)} other photos (ImageNet labels)")
    usable, why = _labels_usable(held.classes, model_classes, num_classes, by_count=fmt != SYNTHETIC)
    if why and (usable or fmt != SYNTHETIC):  # synthetic labels only matter to synthetic-trained models
        notes.append(why)
    labels = h_labels if usable else None
    return CalibrationData(
        calibration=ClipSet(c_clips, c_labels if usable else None, f"{source_name} train"),
        held_out=ClipSet(h_clips, labels, f"{source_name} val"),
        source=source_name, skipped=c_skip + h_skip, notes=notes)
