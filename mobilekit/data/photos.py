"""Real photographs as clips: the `photos` source (`--calibration photos`, `--check-data photos`).

No video dataset ships with a package, but photographs do (scikit-learn, matplotlib and
scikit-image, the last through mobilekit's [realnet] extra); nothing is downloaded. Each photo
becomes several clips: a crop window (scales 1 to 0.625 of the short side, mirrored in every
other clip) that pans and zooms a little from frame to frame, like a hand-held camera, so the
frames of a clip differ the way a video's do. Frames are resized with Pillow's antialiasing
and normalised with ImageNet mean/std (the zoo's input convention).

Splits are disjoint *photos*, not crops of the same ones: "train" (calibration) and "val"
(held out). Every held-out photo has an ImageNet-1k label, chosen by what it shows:

- grace_hopper.jpg (matplotlib): 652 military uniform. Grace Hopper in US Navy uniform;
  TensorFlow's label_image example expects this class for this photo.
- chelsea.png (scikit-image): 281 tabby. A striped orange tabby cat (ImageNet's cat classes
  overlap: 282 tiger cat and 285 Egyptian cat are the near misses).
- coffee.png (scikit-image): 967 espresso. A cup of coffee on a saucer, from an espresso bar
  (968 cup is the near miss).
- rocket.jpg (scikit-image): 657 missile. A Falcon 9 lifting off; ImageNet has no rocket
  class and its "missile" images include launches.
- calibration, no label (no ImageNet class fits): astronaut.png (a portrait), camera.png
  (grey, a cameraman), hubble_deep_field.jpg (a star field), motorcycle_left/right.png (a
  sport motorcycle) from scikit-image; china.jpg (a temple roof), flower.jpg from scikit-learn.

The motorcycle stereo pair is nearly one photo twice: both sides stay in the same split.
Class names are the indices "0" ... "999" (no package here ships ImageNet's names).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mobilekit.data.datasets.base import DatasetError
from mobilekit.models.registry import IMAGENET_MEAN, IMAGENET_STD

IMAGENET_CLASSES = [str(i) for i in range(1000)]
SCALES = (1.0, 0.875, 0.75, 0.625)  # crop side / the photo's short side
CLIPS_PER_PHOTO = 8
_PAN = 0.15                          # at most this fraction of the crop side between first and last frame
_ZOOM = 0.08                         # and at most this much zoom in or out


@dataclass(frozen=True)
class Photo:
    name: str
    package: str          # the importable package that ships it
    relpath: str          # inside that package
    split: str            # "train" (calibration) or "val" (held out)
    label: int | None     # ImageNet-1k class index


PHOTOS = (
    Photo("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "val", 652),
    Photo("chelsea", "skimage", "data/chelsea.png", "val", 281),
    Photo("coffee", "skimage", "data/coffee.png", "val", 967),
    Photo("rocket", "skimage", "data/rocket.jpg", "val", 657),
    Photo("astronaut", "skimage", "data/astronaut.png", "train", None),
    Photo("camera", "skimage", "data/camera.png", "train", None),
    Photo("hubble_deep_field", "skimage", "data/hubble_deep_field.jpg", "train", None),
    Photo("motorcycle_left", "skimage", "data/motorcycle_left.png", "train", None),
    Photo("motorcycle_right", "skimage", "data/motorcycle_right.png", "train", None),
    Photo("china", "sklearn", "datasets/images/china.jpg", "train", None),
    Photo("flower", "sklearn", "datasets/images/flower.jpg", "train", None),
)
_FIX = "pip install 'mobilekit[realnet]' (scikit-image ships most of the photos; scikit-learn and matplotlib the rest)"


def photo_path(photo: Photo) -> Path | None:
    """Where the installed package keeps the photo; None when the package is not installed."""
    spec = importlib.util.find_spec(photo.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / photo.relpath
    return path if path.is_file() else None


def available_photos(split: str) -> list[tuple[Photo, Path]]:
    if split not in ("train", "val"):
        raise DatasetError(f"unknown split {split!r} for photos", "use 'train' (calibration) or 'val' (held out)")
    return [(p, path) for p in PHOTOS if p.split == split and (path := photo_path(p)) is not None]


def _window(w: int, h: int, scale: float, rng: np.random.Generator) -> tuple[float, float, float]:
    """(centre x, centre y, side) of a square crop of `scale` x the short side, anywhere inside."""
    side = scale * min(w, h)
    return (rng.uniform(side / 2, w - side / 2), rng.uniform(side / 2, h - side / 2), side)


def clip_windows(w: int, h: int, variant: int, frames: int, seed: int) -> list[tuple[float, float, float, float]]:
    """The crop box (left, top, right, bottom) of every frame of clip `variant` of a w x h photo:
    a start and an end window (the end within _PAN of the start, zoomed by at most _ZOOM),
    linearly in between. Seeded: the same clip every time."""
    rng = np.random.default_rng([seed, variant, w, h])
    scale = SCALES[(variant // 2) % len(SCALES)]
    x0, y0, s0 = _window(w, h, scale, rng)
    s1 = float(np.clip(s0 * rng.uniform(1 - _ZOOM, 1 + _ZOOM), 8, min(w, h)))
    x1 = float(np.clip(x0 + rng.uniform(-_PAN, _PAN) * s0, s1 / 2, w - s1 / 2))
    y1 = float(np.clip(y0 + rng.uniform(-_PAN, _PAN) * s0, s1 / 2, h - s1 / 2))
    boxes = []
    for t in range(frames):
        a = t / (frames - 1) if frames > 1 else 0.0
        x, y, s = x0 + a * (x1 - x0), y0 + a * (y1 - y0), s0 + a * (s1 - s0)
        boxes.append((x - s / 2, y - s / 2, x + s / 2, y + s / 2))
    return boxes


class PhotoClips(torch.utils.data.Dataset):
    """`clips_per_photo` clips of every available photo of a split, interleaved (clip 0 of each
    photo, then clip 1, ...) so any first N clips cover the photos evenly. Items: (clip
    (T, 3, S, S) float32 ImageNet-normalised, ImageNet label or None); `.classes` are the
    1000 ImageNet indices as names; `.photos` the photos used."""

    def __init__(self, split: str, num_frames: int, image_size: int, seed: int = 0,
                 clips_per_photo: int = CLIPS_PER_PHOTO):
        if num_frames < 1 or image_size < 8 or clips_per_photo < 1:
            raise DatasetError(f"photo clips of {num_frames} frames of {image_size}px, {clips_per_photo} per photo",
                               "give at least 1 frame, 8 px and 1 clip per photo")
        found = available_photos(split)
        if not found:
            raise DatasetError(f"no photos for the {'calibration' if split == 'train' else 'held-out'} split "
                               "are installed", _FIX)
        self.photos = [p for p, _ in found]
        self._paths = [path for _, path in found]
        self.split, self.num_frames, self.image_size, self.seed = split, num_frames, image_size, seed
        self.clips_per_photo = clips_per_photo
        self.classes = list(IMAGENET_CLASSES)
        self._images: dict[int, object] = {}
        self._mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def __len__(self) -> int:
        return len(self.photos) * self.clips_per_photo

    def _image(self, i: int):
        if i not in self._images:
            from PIL import Image

            with Image.open(self._paths[i]) as im:
                self._images[i] = im.convert("RGB")  # camera.png is grey: three equal channels
        return self._images[i]

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(index)
        variant, i = divmod(index, len(self.photos))
        from PIL import Image

        img = self._image(i)
        size = (self.image_size, self.image_size)
        frames = []
        for box in clip_windows(img.width, img.height, variant, self.num_frames, self.seed):
            frame = img.resize(size, Image.Resampling.BILINEAR, box=box)  # antialiased when shrinking
            if variant % 2:
                frame = frame.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            frames.append(np.asarray(frame))
        clip = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255)
        return (clip - self._mean) / self._std, self.photos[i].label

    def describe(self) -> str:
        return (f"{len(self.photos)} photos x {self.clips_per_photo} clips "
                f"({', '.join(p.name for p in self.photos)})")


def photos_dataset(split: str, num_frames: int, image_size: int, seed: int = 0, **kw) -> PhotoClips:
    return PhotoClips(split, num_frames, image_size, seed=seed, **kw)
