"""A synthetic temporal dataset: the label is the ORDER of the frames, never their content.

Each clip shows one shape (a rectangle or an ellipse, random bright colour, size and place)
on a dark noisy background, undergoing one motion. Classes come in opposite pairs of one motion kind:

    0 moving right      1 moving left
    2 growing           3 shrinking
    4 rotating clockwise 5 rotating counter-clockwise
    6 moving down       7 moving up

A clip of an odd class is rendered exactly as its even partner and then played backwards
(`clip.flip(0)`), so the two classes have the same distribution of frame *sets*: a single
frame, or any order-free summary of the frames (TSN's average of per-frame scores), carries
no information about the direction. An order-blind model can at best tell the motion kind
(the pair), i.e. its accuracy ceiling is 2 / num_classes: with the default 2 classes it is
at chance, while a model that models time (VLF, VTN) can learn the task perfectly.

Deterministic by seed: item i is rendered from its own generator seeded with (seed, i), on
the fly (nothing is stored), so any worker in any process renders the same clip. This is also
the project's default calibration set for quantization.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from mobilekit.models.registry import IMAGENET_MEAN, IMAGENET_STD

CLASS_PAIRS = (
    ("moving right", "moving left"),
    ("growing", "shrinking"),
    ("rotating clockwise", "rotating counter-clockwise"),
    ("moving down", "moving up"),
)
MOTIONS = ("horizontal", "scale", "rotation", "vertical")


@dataclass(frozen=True)
class ClipParams:
    """Everything random about one clip, drawn from its own generator."""

    shape: str               # "rectangle" or "ellipse"
    cx: tuple[float, float]  # centre x at the start and end of the forward motion (0..1)
    cy: tuple[float, float]
    size: tuple[float, float]   # half-width at start and end (fraction of the image)
    angle: tuple[float, float]  # radians at start and end
    aspect: float            # half-height / half-width
    color: tuple[float, float, float]
    background: tuple[float, float, float]
    noise_seed: int


class SyntheticVideoDataset(Dataset):
    """`num_samples` clips of `num_frames` frames, `image_size` square, rendered on the fly.

    Items are `(clip, label)`: clip float32 (T, 3, H, W), normalised with ImageNet mean/std
    when `normalize` (else in [0, 1]); label an int in [0, num_classes). Labels are balanced
    (item i has label i % num_classes). `.classes` holds the class names.
    """

    def __init__(self, num_samples: int, num_frames: int, image_size: int, num_classes: int = 2,
                 seed: int = 0, normalize: bool = True, noise: float = 0.08):
        if num_classes < 2 or num_classes % 2 or num_classes > 2 * len(CLASS_PAIRS):
            raise ValueError(f"num_classes must be an even number from 2 to {2 * len(CLASS_PAIRS)} "
                             f"(pairs of opposite motions), got {num_classes}")
        if num_frames < 2:
            raise ValueError(f"num_frames must be at least 2 (the label is the order of frames), got {num_frames}")
        self.num_samples = int(num_samples)
        self.num_frames = int(num_frames)
        self.image_size = int(image_size)
        self.num_classes = int(num_classes)
        self.seed = int(seed)
        self.normalize = normalize
        self.noise = noise
        self.classes = [name for pair in CLASS_PAIRS[: num_classes // 2] for name in pair]
        self._mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        label = index % self.num_classes
        return self.render(self.sample_params(index, label // 2), label), label

    def generator(self, index: int) -> torch.Generator:
        # Distinct, reproducible stream per (seed, item); independent of workers and order.
        return torch.Generator().manual_seed(self.seed * 1_000_003 + index * 7_919 + 17)

    def sample_params(self, index: int, motion: int) -> ClipParams:
        """The random parameters of item `index` for motion kind `motion` (the class pair)."""
        g = self.generator(index)

        def u(lo: float, hi: float) -> float:
            return lo + (hi - lo) * float(torch.rand((), generator=g))

        shape = "rectangle" if float(torch.rand((), generator=g)) < 0.5 else "ellipse"
        size = u(0.12, 0.16)
        aspect = u(0.35, 0.6)
        angle = u(0, math.pi)
        # A bright shape on a dark background: colours vary, but within narrow ranges, so that
        # the shape (and its motion) dominates the image rather than the clip's colours.
        color = tuple(0.65 + 0.35 * float(c) for c in torch.rand(3, generator=g))
        background = tuple(0.35 * float(c) for c in torch.rand(3, generator=g))
        cx = (u(0.3, 0.7),) * 2
        cy = (u(0.3, 0.7),) * 2
        sizes = (size, size)
        angles = (angle, angle)
        kind = MOTIONS[motion]
        if kind in ("horizontal", "vertical"):
            travel = u(0.45, 0.6)               # fraction of the image crossed in the clip
            start = u(size + 0.02, 1 - size - 0.02 - travel)
            if kind == "horizontal":
                cx = (start, start + travel)
            else:
                cy = (start, start + travel)
        elif kind == "scale":
            sizes = (u(0.07, 0.11), u(0.22, 0.3))
        else:  # rotation; a rectangle/ellipse is 180-degree symmetric, so turn < 90 degrees per frame
            total = min(u(1.0, 2.0), 1.2 * (self.num_frames - 1))
            angles = (angle, angle + total)
        noise_seed = int(torch.randint(0, 2**31 - 1, (), generator=g))
        return ClipParams(shape, cx, cy, sizes, angles, aspect, color, background, noise_seed)

    def render(self, p: ClipParams, label: int) -> torch.Tensor:
        """The clip for `label` from parameters `p`: the forward motion, reversed in time for
        the odd class of the pair."""
        t_count, s = self.num_frames, self.image_size
        t = torch.linspace(0, 1, t_count).view(t_count, 1, 1)

        def lerp(a: tuple[float, float]) -> torch.Tensor:
            return a[0] + (a[1] - a[0]) * t

        cx, cy, size, angle = lerp(p.cx), lerp(p.cy), lerp(p.size), lerp(p.angle)
        coords = (torch.arange(s, dtype=torch.float32) + 0.5) / s
        yy, xx = coords.view(1, s, 1), coords.view(1, 1, s)
        # Image y grows downwards, so a growing angle turns the shape clockwise on screen.
        dx, dy = xx - cx, yy - cy
        cos, sin = torch.cos(angle), torch.sin(angle)
        u_ = (dx * cos + dy * sin) / size
        v_ = (-dx * sin + dy * cos) / (size * p.aspect)
        if p.shape == "rectangle":
            dist = torch.maximum(u_.abs(), v_.abs())
        else:
            dist = torch.sqrt(u_ * u_ + v_ * v_)
        # Soft edge about one pixel wide, so sub-pixel motion still changes the image.
        edge = size * s
        mask = torch.sigmoid((1 - dist) * edge * 1.5).unsqueeze(1)          # (T, 1, H, W)
        color = torch.tensor(p.color).view(1, 3, 1, 1)
        background = torch.tensor(p.background).view(1, 3, 1, 1)
        g = torch.Generator().manual_seed(p.noise_seed)
        # Static noise (one pattern for the clip): what changes between frames is the motion only.
        noise = torch.randn(1, 3, s, s, generator=g) * self.noise
        clip = (background + noise) * (1 - mask) + color * mask
        clip = clip.clamp(0, 1)
        if label % 2:
            clip = clip.flip(0)
        if self.normalize:
            clip = (clip - self._mean) / self._std
        return clip.contiguous()
