"""Clip transforms written on tensors (torchvision does not import with this torch build).

Every random choice is drawn once per clip and applied to all its frames, so an
augmentation never fakes motion (a per-frame random flip would). The augmentations are
the paper-001 set: random flip, random affine (translate, scale, shear, rotate), colour
jitter and random erasing.

Each random augmentation is a `draw_*` (the random numbers, from the clip's generator) and
an `apply_*` (the float work). `ClipTransform.prepare` does the exact part in the DataLoader
worker (crop and flip, on uint8 frames) and draws the rest; `ClipTransform.finish` applies it,
on whatever device the frames are on: the training loop ships uint8 frames (4x less shared
memory than float32) and finishes on the GPU, with the same numbers as the all-CPU path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class ClipAugment:
    """The random draws for one training clip that are applied after `prepare`."""

    affine: tuple[float, float, float, float, float]        # angle, shear (radians), scale, tx, ty
    jitter: tuple[tuple[int, float], ...]                   # (op, factor) in the order applied
    erase: tuple[int, int, torch.Tensor] | None = field(default=None)  # top, left, noise (1, C, h, w)


def _u(lo: float, hi: float, g: torch.Generator | None) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def to_float(clip: torch.Tensor) -> torch.Tensor:
    """uint8 (T, 3, H, W) -> float32 in [0, 1]."""
    return clip.float().div_(255) if clip.dtype == torch.uint8 else clip.float()


def crop(clip: torch.Tensor, size: int, train: bool, g: torch.Generator | None = None) -> torch.Tensor:
    """A size x size crop (random position when training, else the centre); smaller clips
    are resized up first."""
    h, w = clip.shape[-2:]
    if min(h, w) < size:  # never for decoded clips: they are resized to a short side >= size
        scale = size / min(h, w)
        out = (max(size, round(h * scale)), max(size, round(w * scale)))
        if clip.dtype == torch.uint8:
            clip = F.interpolate(clip.float(), size=out, mode="bilinear", align_corners=False)
            clip = clip.round_().clamp_(0, 255).to(torch.uint8)
        else:
            clip = F.interpolate(clip, size=out, mode="bilinear", align_corners=False)
        h, w = clip.shape[-2:]
    if train:
        top = int(torch.randint(0, h - size + 1, (), generator=g))
        left = int(torch.randint(0, w - size + 1, (), generator=g))
    else:
        top, left = (h - size) // 2, (w - size) // 2
    return clip[..., top:top + size, left:left + size]


def draw_affine(cfg: AugmentConfig, g: torch.Generator | None = None) -> tuple[float, float, float, float, float]:
    """(angle, shear, scale, tx, ty) of one random affine transform."""
    angle = math.radians(_u(-cfg.degrees, cfg.degrees, g))
    shear = math.radians(_u(-cfg.shear, cfg.shear, g))
    scale = _u(*cfg.scale, g)
    tx, ty = _u(-cfg.translate, cfg.translate, g) * 2, _u(-cfg.translate, cfg.translate, g) * 2
    return angle, shear, scale, tx, ty


def apply_affine(clip: torch.Tensor, params: tuple[float, float, float, float, float]) -> torch.Tensor:
    angle, shear, scale, tx, ty = params
    # The inverse map used by grid_sample: output coords -> input coords.
    cos, sin = math.cos(angle), math.sin(angle)
    rot_shear = torch.tensor([[cos, -sin + math.tan(shear) * cos], [sin, cos + math.tan(shear) * sin]])
    inv = torch.linalg.inv(rot_shear * scale)
    theta = torch.cat([inv, -(inv @ torch.tensor([[tx], [ty]]))], dim=1).unsqueeze(0).to(clip.device)
    grid = F.affine_grid(theta.expand(clip.shape[0], 2, 3), list(clip.shape), align_corners=False)
    return F.grid_sample(clip, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_affine(clip: torch.Tensor, cfg: AugmentConfig, g: torch.Generator | None = None) -> torch.Tensor:
    """One random affine transform (rotation, scale, shear, translation) for all frames."""
    return apply_affine(clip, draw_affine(cfg, g))


def draw_color_jitter(cfg: AugmentConfig, g: torch.Generator | None = None) -> tuple[tuple[int, float], ...]:
    """(op, factor) for brightness (0), contrast (1), saturation (2), in a random order."""
    amounts = (cfg.brightness, cfg.contrast, cfg.saturation)
    return tuple((op, _u(1 - amounts[op], 1 + amounts[op], g))
                 for op in torch.randperm(3, generator=g).tolist() if amounts[op])


def apply_color_jitter(clip: torch.Tensor, ops: tuple[tuple[int, float], ...]) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114], device=clip.device).view(1, 3, 1, 1)
    for op, factor in ops:
        if op == 0:
            clip = clip * factor
        elif op == 1:
            gray = (clip * weights).sum(1, keepdim=True)
            mean = gray.mean(dim=(1, 2, 3), keepdim=True).mean(0, keepdim=True)
            clip = (clip - mean) * factor + mean
        else:
            gray = (clip * weights).sum(1, keepdim=True)
            clip = (clip - gray) * factor + gray
    return clip.clamp(0, 1)


def color_jitter(clip: torch.Tensor, cfg: AugmentConfig, g: torch.Generator | None = None) -> torch.Tensor:
    """Brightness, contrast and saturation, one factor each per clip, in a random order."""
    return apply_color_jitter(clip, draw_color_jitter(cfg, g))


def draw_erasing(channels: int, h: int, w: int, cfg: AugmentConfig, g: torch.Generator | None = None
                 ) -> tuple[int, int, torch.Tensor] | None:
    """With probability erase_p, (top, left, noise) of one random rectangle, else None."""
    if float(torch.rand((), generator=g)) >= cfg.erase_p:
        return None
    for _ in range(10):
        area = _u(*cfg.erase_area, g) * h * w
        ratio = math.exp(_u(math.log(0.3), math.log(3.3), g))
        eh, ew = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if 0 < eh < h and 0 < ew < w:
            top = int(torch.randint(0, h - eh + 1, (), generator=g))
            left = int(torch.randint(0, w - ew + 1, (), generator=g))
            # One noise patch for all frames: per-frame noise would flicker like motion.
            return top, left, torch.randn(1, channels, eh, ew, generator=g)
    return None


def apply_erasing(clip: torch.Tensor, erase: tuple[int, int, torch.Tensor] | None) -> torch.Tensor:
    if erase is None:
        return clip
    top, left, noise = erase
    clip = clip.clone()
    clip[..., top:top + noise.shape[-2], left:left + noise.shape[-1]] = noise.to(clip.device)
    return clip


def random_erasing(clip: torch.Tensor, cfg: AugmentConfig, g: torch.Generator | None = None) -> torch.Tensor:
    """With probability erase_p, replace one random rectangle (same place in every frame)
    with noise, on the normalised clip."""
    return apply_erasing(clip, draw_erasing(clip.shape[1], *clip.shape[-2:], cfg, g))


def normalize(clip: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """ImageNet mean/std over the channel axis (dim -3), on the clip's device."""
    mean = torch.tensor(mean, device=clip.device).view(3, 1, 1)
    std = torch.tensor(std, device=clip.device).view(3, 1, 1)
    return (clip - mean) / std


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
        clip, augment = self.prepare(to_float(clip), g)
        return self.finish(clip, augment)

    def prepare(self, clip: torch.Tensor, g: torch.Generator | None = None
                ) -> tuple[torch.Tensor, ClipAugment | None]:
        """The exact part, in the clip's dtype (uint8 stays uint8): crop and flip; plus the
        draws for `finish` (None when evaluating). Draws in the same order as always, so a
        clip is the same whichever path it takes."""
        clip = crop(clip, self.size, self.train, g)
        if not self.train:
            return clip.contiguous(), None
        cfg = self.augment
        if cfg.flip and float(torch.rand((), generator=g)) < 0.5:
            clip = clip.flip(-1)
        augment = ClipAugment(draw_affine(cfg, g), draw_color_jitter(cfg, g),
                              draw_erasing(clip.shape[1], *clip.shape[-2:], cfg, g))
        return clip.contiguous(), augment

    @staticmethod
    def finish(clip: torch.Tensor, augment: ClipAugment | None) -> torch.Tensor:
        """[0, 1] float (T, 3, size, size) from `prepare` -> augmented, normalised."""
        if augment is None:
            return normalize(clip).contiguous()
        clip = apply_affine(clip, augment.affine)
        clip = apply_color_jitter(clip, augment.jitter)
        return apply_erasing(normalize(clip), augment.erase).contiguous()
