"""EfficientViT-B1 for video (paper 004), two ways:

- `efficientvit_b1_tsn`: the 2D network on every frame; the backbone's feature maps are
  averaged over the frames and the reference classification head runs once (paper 004's
  per-frame variant; the head is nonlinear, so this is "average the features, then classify",
  not an average of per-frame scores).
- `efficientvit_b1_3d`: every 2D conv inflated to 3D (I3D): 3x3 / 5x5 kernels get 3 taps in
  time (temporal stride 1, edge-frame padding), 1x1 convs stay 1x1x1; the ReLU linear
  attention attends over all T*H*W tokens of the clip. The 3D convs are computed as 2D convs
  over time-shifted frames, so no target needs conv3d. `inflate_2d_checkpoint` loads a 2D
  checkpoint (the authors' ImageNet weights, or a trained `efficientvit_b1_tsn`), copying each
  kernel T_k times along time and dividing by T_k.

Parameter names are those of the authors' code (backbone.input_stem..., backbone.stages...,
head.op_list...), so their ImageNet checkpoints load by key; only the classifier
(head.op_list.3) is replaced when the class count differs.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mobilekit.errors import ShapeError, WeightsError
from mobilekit.models.backbones.efficientvit import (B1_HEAD_WIDTHS, ClsHead, efficientvit_b1,
                                                     inflate_state_dict, inflate_to_3d)
from mobilekit.models.backbones.weights import key_problems, read_state_dict
from mobilekit.models.layers import ClassificationHeads, frames_to_batch
from mobilekit.models.registry import register_model

CLASSIFIER_PREFIX = "head.op_list.3."


def _head(num_classes, dropout: float) -> ClsHead:
    head = ClsHead(256, B1_HEAD_WIDTHS, num_classes if isinstance(num_classes, int) else 1, dropout)
    if isinstance(num_classes, dict):  # EK100-style named heads: a dict of logits
        head.op_list[3] = ClassificationHeads(B1_HEAD_WIDTHS[1], num_classes, dropout)
    return head


class EfficientViTTSN(nn.Module):
    """EfficientViT-B1 per frame, feature maps averaged over frames, one head."""

    def __init__(self, num_classes, num_frames: int, image_size: int, dropout: float = 0.0):
        super().__init__()
        self.num_frames = num_frames
        self.backbone = efficientvit_b1()
        self.head = _head(num_classes, dropout)

    def forward(self, x: torch.Tensor):
        return self.classify_tokens(self.encode_frames(x))

    # Frame-cached streaming (converters/streaming.py): the backbone per frame, once.
    def encode_frames(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> frame feature maps (B, T, C, h, w)."""
        x, b, t = frames_to_batch(x)
        f = self.backbone(x)                                    # (B*T, C, h, w)
        return f.reshape(b, t, *f.shape[1:])

    def classify_tokens(self, tokens: torch.Tensor):
        """(B, T, C, h, w) feature maps of the last T frames -> logits."""
        b, t, c, h, w = tokens.shape
        # Mean over T in the 4-D keepdim mean-over-(2, 3) form that XNNPACK delegates.
        f = tokens.reshape(b, t, c * h * w).transpose(1, 2).unsqueeze(-1).mean((2, 3), keepdim=True)
        return self.head(f.reshape(b, c, h, w))


class EfficientViT3D(nn.Module):
    """EfficientViT-B1 with every conv inflated to 3D, for clips of `num_frames` frames.
    Activations stay in the (B*T, C, H, W) layout; see backbones/efficientvit.py."""

    def __init__(self, num_classes, num_frames: int, image_size: int, dropout: float = 0.0,
                 temporal_kernel: int = 3):
        super().__init__()
        self.num_frames = num_frames
        self.temporal_kernel = temporal_kernel
        self.backbone = inflate_to_3d(efficientvit_b1(), num_frames, temporal_kernel)
        self.head = inflate_to_3d(_head(num_classes, dropout), num_frames, temporal_kernel)

    def forward(self, x: torch.Tensor):
        x, b, t = frames_to_batch(x)
        if t != self.num_frames:
            raise ShapeError(f"efficientvit_b1_3d was built for {self.num_frames} frames, got {t}",
                             f"create it with num_frames={t}")
        return self.head(self.backbone(x))


def inflate_2d_checkpoint(model: nn.Module, source: str | Path | dict[str, torch.Tensor]) -> list[str]:
    """Load a 2D EfficientViT-B1 classifier checkpoint (keys backbone.*, head.*; a path to a
    .pt/.pth/.safetensors file or a state dict) into `model`, inflating conv kernels where
    the model is 3D (copied T_k times along time, divided by T_k). Works for both video
    variants. The classifier (head.op_list.3.*) is skipped when its shape differs (another
    class count); returns the skipped keys. Anything else that does not fit is a WeightsError.
    """
    sd = read_state_dict(source) if isinstance(source, (str, Path)) else dict(source)
    own = model.state_dict()
    sd = inflate_state_dict(sd, own)
    ignored = [k for k in sd if k.startswith(CLASSIFIER_PREFIX)
               and (k not in own or own[k].shape != sd[k].shape)]
    sd = {k: v for k, v in sd.items() if k not in set(ignored)}
    missing = {k for k in set(own) - set(sd) if not k.startswith(CLASSIFIER_PREFIX)}
    unexpected = set(sd) - set(own)
    wrong = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}"
             for k in set(own) & set(sd) if sd[k].shape != own[k].shape]
    problems = key_problems(missing, unexpected, wrong)
    if problems:
        raise WeightsError(f"checkpoint does not fit {type(model).__name__}: " + "; ".join(problems),
                           "pass an EfficientViT-B1 classification checkpoint (mit-han-lab/efficientvit layout)")
    model.load_state_dict(sd, strict=False)
    return ignored


_EVIT = dict(family="efficientvit",
             paper="EfficientViT for Video Action Recognition (paper 004); EfficientViT-B1 (Cai et al., ICCV 2023)",
             paper_params="9.1M for EfficientViT-B1 at 1000 ImageNet classes (Cai et al.); not given for video")


@register_model(name="efficientvit_b1_tsn", description="EfficientViT-B1 per frame, frame features averaged "
                "before the reference head", **_EVIT)
def efficientvit_b1_tsn(num_classes, num_frames, image_size, **kw):
    return EfficientViTTSN(num_classes, num_frames, image_size, **kw)


@register_model(name="efficientvit_b1_3d", description="EfficientViT-B1 with every conv inflated to 3D "
                "(I3D, 3 taps in time for 3x3/5x5), linear attention over the whole clip",
                extra={"inflation": "3x3/5x5 -> 3xkxk, 1x1 -> 1x1x1, temporal stride 1, edge-frame padding"},
                **_EVIT)
def efficientvit_b1_3d(num_classes, num_frames, image_size, **kw):
    return EfficientViT3D(num_classes, num_frames, image_size, **kw)
