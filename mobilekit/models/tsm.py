"""Temporal Shift Module (Lin et al. 2019) on ResNet-50, as paper 001 Table 1 uses it.

Residual shift: inside each bottleneck, 1/8 of the channels of the block's input move one
frame back in time, 1/8 one frame forward, before the residual branch (the shortcut sees
the unshifted input). Zero-cost temporal mixing; the backbone keeps timm's parameter names
(the shift has no parameters), so ImageNet ResNet-50 weights load by key.

The shift is written with slices, `F.pad` and `cat`, never slice assignment: the reference
implementation's `out[:, :-1, :fold] = x[:, 1:, :fold]` is an in-place write that
torch.export, Core ML and LiteRT do not all take.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mobilekit.models.backbones.resnet import Bottleneck, ResNet
from mobilekit.models.layers import ClassificationHeads, frames_to_batch, global_pool, temporal_mean
from mobilekit.models.registry import register_model


def temporal_shift(x: torch.Tensor, num_frames: int, fold_div: int = 8) -> torch.Tensor:
    """Shift (B*T, C, H, W) features along T: channels [0, C/8) take the next frame's values,
    [C/8, 2C/8) the previous frame's, the rest stay; frames shifted in from outside are zero."""
    n, c, h, w = x.shape
    x = x.reshape(n // num_frames, num_frames, c, h, w)
    fold = c // fold_div
    # F.pad pads from the last dim backwards: the 8-tuple's last pair is dim 1 (time).
    from_next = F.pad(x[:, 1:, :fold], (0, 0, 0, 0, 0, 0, 0, 1))
    from_prev = F.pad(x[:, :-1, fold:2 * fold], (0, 0, 0, 0, 0, 0, 1, 0))
    out = torch.cat([from_next, from_prev, x[:, :, 2 * fold:]], dim=2)
    return out.reshape(n, c, h, w)


class TemporalShiftBottleneck(Bottleneck):
    """ResNet bottleneck with the residual temporal shift; same parameters as Bottleneck."""

    num_frames: int = 1  # set by TSM after the backbone is built

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.act3(self.residual(temporal_shift(x, self.num_frames)) + shortcut)


class TSM(nn.Module):
    """TSN-style clip model on a temporally shifted ResNet-50: per-frame features, averaged."""

    def __init__(self, num_classes, num_frames: int, image_size: int, dropout: float = 0.5):
        super().__init__()
        if num_frames < 2:
            raise ValueError(f"TSM shifts features between frames; it needs num_frames >= 2, got {num_frames}")
        self.num_frames = num_frames
        self.backbone = ResNet((3, 4, 6, 3), block=TemporalShiftBottleneck)
        for m in self.backbone.modules():
            if isinstance(m, TemporalShiftBottleneck):
                m.num_frames = num_frames
        self.head = ClassificationHeads(self.backbone.num_features, num_classes, dropout=dropout)

    def forward(self, x: torch.Tensor):
        x, b, t = frames_to_batch(x)
        if t != self.num_frames:
            raise ValueError(f"this TSM model was built for {self.num_frames} frames, got {t}; "
                             f"create it with num_frames={t}")
        feats = global_pool(self.backbone(x))
        return self.head(temporal_mean(feats, b, t))


@register_model(name="tsm_r50", family="tsm",
                paper="TSM (Lin et al. 2019), configured as in paper 001 Table 1",
                description="ResNet-50 with residual temporal shift (1/8 channels each way)",
                paper_params="24.3M (paper 001 Table 4)")
def tsm_r50(num_classes, num_frames, image_size, **kw):
    return TSM(num_classes, num_frames, image_size, **kw)
