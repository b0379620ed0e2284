"""Clip transforms written on tensors (torchvision does not import with this torch build).

Every random choice is drawn once per clip and applied to all its frames, so an
augmentation never fakes motion (a per-frame random flip would). The augmentations are
the paper-001 set: random flip, random affine (translate, scale, shear, rotate), colour
jitter and random erasing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mobilekit.models.registry import IMAGENET_MEAN, IMAGENET_STD


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool = True              # off for SSV2, where left/right is the label
    degrees: float = 10.0          # random affine
    translate: float = 0.1         # fraction of the size
    scale: tuple[float, float] = (0.9, 1.1)
    shear: float = 5.0             # degrees
    brightness: float = 0.3        # colour jitter factors in [1 - x, 1 + x]
    contrast: float = 0.3
    saturation: float = 0.3
    erase_p: float = 0.25          # random erasing (Zhong et al.), area fraction range below
    erase_area: tuple[float, float] = (0.02, 0.2)


def _u(lo: float, hi: float, g: torch.Generator | None) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def to_float(clip: torch.Tensor) -> torch.Tensor:
    """uint8 (T, 3, H, W) -> float32 in [0, 1]."""
    return clip.float().div_(255) if clip.dtype == torch.uint8 else clip.float()


def crop(clip: torch.Tensor, size: int, train: bool, g: torch.Generator | None = None) -> torch.Tensor:
    """A size x size crop (random position when training, else the centre); smaller clips
    are resized up first."""
    h, w = clip.shape[-2:]
    if min(h, w) < size:
        scale = size / min(h, w)
        clip = F.interpolate(clip, size=(max(size, round(h * scale)), max(size, round(w * scale))),
                             mode="bilinear", align_corners=False)
        h, w = clip.shape[-2:]
    if train:
        top = int(torch.randint(0, h - size + 1, (), generator=g))
        left = int(torch.randint(0, w - size + 1, (), generator=g))
    else:
        top, left = (h - size) // 2, (w - size) // 2
    return clip[..., top:top + size, left:left + size]


def random_affine(clip: torch.Tensor, cfg: AugmentConfig, g: torch.Generator | None = None) -> torch.Tensor:
    """One random affine transform (rotation, scale, shear, translation) for all frames."""
    angle = math.radians(_u(-cfg.degrees, cfg.degrees, g))
    shear = math.radians(_u(-cfg.shear, cfg.shear, g))
    scale = _u(*cfg.scale, g)
    tx, ty = _u(-cfg.translate, cfg.translate, g) * 2, _u(-cfg.translate, cfg.translate, g) * 2
    # The inverse map used by grid_sample: output coords -> input coords.
    cos, sin = math.cos(angle), math.sin(angle)
    rot_shear = torch.tensor([[cos, -sin + math.tan(shear) * cos], [sin, cos + math.tan(shear) * sin]])
    inv = torch.linalg.inv(rot_shear * scale)
    theta = torch.cat([inv, -(inv @ torch.tensor([[tx], [ty]]))], dim=1).unsqueeze(0)
    grid = F.affine_grid(theta.expand(clip.shape[0], 2, 3), list(clip.shape), align_corners=False)
    return F.grid_sample(clip, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def color_jitter(clip: torch.Tensor, cfg: AugmentConfig, g: torch.Generator | None = None) -> torch.Tensor:
    """Brightness, contrast and saturation, one factor each per clip, in a random order."""
    ops = torch.randperm(3, generator=g).tolist()
    for op in ops:
        if op == 0 and cfg.brightness:
            clip = clip * _u(1 - cfg.brightness, 1 + cfg.brightness, g)
        elif op == 1 and cfg.contrast:
            gray = (clip * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
            mean = gray.mean(dim=(1, 2, 3), keepdim=True).mean(0, keepdim=True)
            clip = (clip - mean) * _u(1 - cfg.contrast, 1 + cfg.contrast, g) + mean
        elif op == 2 and cfg.saturation:
            gray = (clip * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
            clip = (clip - gray) * _u(1 - cfg.saturation, 1 + cfg.saturation, g) + gray
    return clip.clamp(0, 1)


def random_erasing(clip: torch.Tensor, cfg: AugmentConfig, g: torch.Generator | None = None) -> torch.Tensor:
    """With probability erase_p, replace one random rectangle (same place in every frame)
    with noise, on the normalised clip."""
    if float(torch.rand((), generator=g)) >= cfg.erase_p:
        return clip
    h, w = clip.shape[-2:]
    for _ in range(10):
        area = _u(*cfg.erase_area, g) * h * w
        ratio = math.exp(_u(math.log(0.3), math.log(3.3), g))
        eh, ew = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if 0 < eh < h and 0 < ew < w:
            top = int(torch.randint(0, h - eh + 1, (), generator=g))
            left = int(torch.randint(0, w - ew + 1, (), generator=g))
            clip = clip.clone()
            # One noise patch for all frames: per-frame noise would flicker like motion.
            clip[..., top:top + eh, left:left + ew] = torch.randn(1, clip.shape[1], eh, ew, generator=g)
            return clip
    return clip


def normalize(clip: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    return (clip - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


class ClipTransform:
    """uint8 or [0, 1] (T, 3, H, W) -> float32 (T, 3, size, size), ImageNet-normalised.

    Training: random crop, then (per clip) flip, affine, colour jitter, erasing.
    Evaluation: centre crop only.
    """

    def __init__(self, size: int, train: bool, augment: AugmentConfig | None = None):
        self.size = size
        self.train = train
        self.augment = augment or AugmentConfig()

    def __call__(self, clip: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
        clip = crop(to_float(clip), self.size, self.train, g)
        if self.train:
            cfg = self.augment
            if cfg.flip and float(torch.rand((), generator=g)) < 0.5:
                clip = clip.flip(-1)
            clip = random_affine(clip, cfg, g)
            clip = color_jitter(clip, cfg, g)
            clip = random_erasing(normalize(clip), cfg, g)
            return clip.contiguous()
        return normalize(clip).contiguous()
