"""TEA: Temporal Excitation and Aggregation (Li et al. 2020) on Res2Net-50 (26w x 4s):
TEA-R50 of paper 001 Table 1.

Each Res2Net bottleneck becomes a TEA block:
- ME (motion excitation), after the first 1x1 conv: channels reduced 16x, the feature
  difference between a frame's depthwise-3x3-transformed successor and itself (zero for the
  last frame), spatially averaged, expanded back and turned into a gate:
  x + x * (sigmoid(.) - 0.5).
- MTA (multiple temporal aggregation): Res2Net's hierarchy of 3x3 convs over the 4 channel
  groups, each preceded by a channel-wise temporal conv (kernel 3, initialised as TSM's
  shift: 1/8 of the channels from the next frame, 1/8 from the previous, the rest as is).
The temporal conv is a depthwise (3, 1) Conv2d over a (B, C, T, H*W) view: a 2-D op that
every target delegates, where the reference's Conv1d over (B*H*W, C, T) is not.

Res2Net-50 26w4s follows timm's layout and names (conv1, bn1, convs.i, bns.i, conv3, bn3,
downsample); the TEA parts are `me` and `tconvs`. With 400 classes this is 24.9M, as
paper 001 reports. Class scores from frame-averaged pooled features (TSN consensus).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mobilekit.models.layers import ClassificationHeads, frames_to_batch, global_pool, temporal_mean
from mobilekit.models.registry import register_model


def _time_view(x: torch.Tensor, t: int) -> torch.Tensor:
    """(B*T, C, H, W) -> (B, C, T, H*W)"""
    n, c, h, w = x.shape
    return x.reshape(n // t, t, c, h * w).transpose(1, 2)


def _frame_view(y: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, C, T, H*W) -> (B*T, C, H, W)"""
    b, c, t, _ = y.shape
    return y.transpose(1, 2).reshape(b * t, c, h, w)


class TemporalConv(nn.Module):
    """Channel-wise temporal conv (kernel 3, zero-padded), initialised as a temporal shift."""

    def __init__(self, channels: int, num_frames: int, fold_div: int = 8):
        super().__init__()
        self.num_frames = num_frames
        self.conv = nn.Conv2d(channels, channels, (3, 1), padding=(1, 0), groups=channels, bias=False)
        fold = channels // fold_div
        w = torch.zeros(channels, 1, 3, 1)
        w[:fold, 0, 2] = 1            # take the next frame
        w[fold:2 * fold, 0, 0] = 1    # take the previous frame
        w[2 * fold:, 0, 1] = 1        # keep
        with torch.no_grad():
            self.conv.weight.copy_(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        return _frame_view(self.conv(_time_view(x, self.num_frames)), h, w)


class MotionExcitation(nn.Module):
    def __init__(self, channels: int, num_frames: int, reduction: int = 16):
        super().__init__()
        self.num_frames = num_frames
        r = channels // reduction
        self.conv1 = nn.Conv2d(channels, r, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(r)
        self.conv2 = nn.Conv2d(r, r, 3, padding=1, groups=r, bias=False)
        self.conv3 = nn.Conv2d(r, channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        t = self.num_frames
        feat = self.bn1(self.conv1(x))
        c = feat.shape[1]
        now = feat.reshape(n // t, t, c, h, w)
        after = self.conv2(feat).reshape(n // t, t, c, h, w)
        # Motion at t is f(x[t+1]) - x[t]; the last frame has no successor and gets zeros.
        diff = F.pad(after[:, 1:] - now[:, :-1], (0, 0, 0, 0, 0, 0, 0, 1)).reshape(n, c, h, w)
        gate = self.bn3(self.conv3(global_pool(diff).reshape(n, c, 1, 1))).sigmoid() - 0.5
        return x + x * gate


class TEABottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int, first: bool, num_frames: int,
                 base_width: int = 26, scale: int = 4):
        super().__init__()
        width = planes * base_width // 64
        out_ch = planes * self.expansion
        self.width, self.first = width, first
        self.conv1 = nn.Conv2d(in_ch, width * scale, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width * scale)
        self.me = MotionExcitation(width * scale, num_frames)
        self.tconvs = nn.ModuleList([TemporalConv(width, num_frames) for _ in range(scale - 1)])
        self.convs = nn.ModuleList([nn.Conv2d(width, width, 3, stride, 1, bias=False) for _ in range(scale - 1)])
        self.bns = nn.ModuleList([nn.BatchNorm2d(width) for _ in range(scale - 1)])
        # The untouched last group is pooled to the new resolution in a stage's first block.
        # Res2Net's AvgPool2d(3, stride, padding=1) counts the zero padding; XNNPACK only
        # delegates pooling without implicit padding, so the zeros are padded explicitly.
        self.pool = nn.Sequential(nn.ZeroPad2d(1), nn.AvgPool2d(3, stride)) if first else None
        self.conv3 = nn.Conv2d(width * scale, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.width
        out = self.me(self.relu(self.bn1(self.conv1(x))))
        groups = [out[:, i * w:(i + 1) * w] for i in range(len(self.convs) + 1)]
        ys, sp = [], None
        for i, (tconv, conv, bn) in enumerate(zip(self.tconvs, self.convs, self.bns)):
            sp = groups[i] if i == 0 or self.first else sp + groups[i]
            sp = self.relu(bn(conv(tconv(sp))))
            ys.append(sp)
        ys.append(self.pool(groups[-1]) if self.first else groups[-1])
        out = self.bn3(self.conv3(torch.cat(ys, dim=1)))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Res2NetTEA(nn.Module):
    """(B*T, 3, H, W) -> (B*T, 2048, H/32, W/32) for clips of `num_frames` frames."""

    def __init__(self, num_frames: int, layers=(3, 4, 6, 3)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.act1 = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_ch = 64
        for i, (n, planes) in enumerate(zip(layers, (64, 128, 256, 512))):
            blocks = []
            for j in range(n):
                stride = 1 if i == 0 or j > 0 else 2
                blocks.append(TEABottleneck(in_ch, planes, stride, first=(j == 0), num_frames=num_frames))
                in_ch = planes * TEABottleneck.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.num_features = in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class TEA(nn.Module):
    def __init__(self, num_classes, num_frames: int, image_size: int, dropout: float = 0.5):
        super().__init__()
        if num_frames < 2:
            raise ValueError(f"TEA models motion between frames; it needs num_frames >= 2, got {num_frames}")
        self.num_frames = num_frames
        self.res2net = Res2NetTEA(num_frames)
        self.head = ClassificationHeads(self.res2net.num_features, num_classes, dropout=dropout)

    def forward(self, x: torch.Tensor):
        x, b, t = frames_to_batch(x)
        if t != self.num_frames:
            raise ValueError(f"this TEA model was built for {self.num_frames} frames, got {t}; "
                             f"create it with num_frames={t}")
        return self.head(temporal_mean(global_pool(self.res2net(x)), b, t))


@register_model(name="tea_r50", family="tea",
                paper="TEA (Li et al. 2020), configured as in paper 001 Table 1",
                description="Res2Net-50 (26w x 4s) with motion excitation and temporal aggregation",
                paper_params="24.9M (paper 001 Table 4)")
def tea_r50(num_classes, num_frames, image_size, **kw):
    return TEA(num_classes, num_frames, image_size, **kw)
