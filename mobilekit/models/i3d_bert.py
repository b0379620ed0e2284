"""I3D ResNet-50 + BERT (Kalfaoglu et al. 2020, "Late temporal modeling in 3D CNN
architectures with BERT"): I3D-BERT of paper 001 Table 1.

The 3D CNN's final temporal global average pooling is replaced by one BERT layer over its
temporal feature sequence: spatially pooled I3D features (B, T/2, 2048) get learned
positional embeddings and a classification token, one pre-norm transformer layer (8 heads)
attends over them, and the classifier reads the token.

I3D ResNet-50 as in the non-local paper / mmaction2's `i3d_r50`: conv1 5x7x7 (temporal
stride 2), bottlenecks whose first 1x1 conv is inflated to 3x1x1 in blocks
(1,1,1) / (1,0,1,0) / (1,0,1,0,1,0) / (0,1,0) of res2..res5, spatial 1x3x3 convs. We keep
only conv1's temporal stride (16 frames -> 8 BERT tokens; no temporal max-pools), so tiny
clips still work. Parameter names follow timm's ResNet (conv1, bn1, layerN.i.convK ...)
under `i3d`, so `model.i3d.load_inflated_weights("resnet50.pth")` inflates 2D ImageNet
weights into it by key (paper 001 starts from ImageNet-1K).

BERT width: paper 001's 50.6M does not decompose into standard parts: I3D-R50 is 27.2M and
a standard BERT layer at 2048 wide (4x feed-forward) 50.4M, 78M together. We keep the
2048 width and 8 heads and size the feed-forward at 0.75x (1536) so the total matches the
paper: 51.2M with 400 classes (+1.1%). `mlp_dim=8192` gives the textbook BERT layer.
"""

from __future__ import annotations

import torch
from torch import nn

from mobilekit.models.layers import (ClassificationHeads, TransformerLayer, first_token, init_token,
                                     prepend_token)
from mobilekit.models.registry import register_model

INFLATE = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))


class I3DBottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1, inflate: bool = False):
        super().__init__()
        out_ch = width * self.expansion
        kt = 3 if inflate else 1
        self.conv1 = nn.Conv3d(in_ch, width, (kt, 1, 1), padding=(kt // 2, 0, 0), bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv3d(width, width, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False)
        self.bn2 = nn.BatchNorm3d(width)
        self.act2 = nn.ReLU()
        self.conv3 = nn.Conv3d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(out_ch)
        self.act3 = nn.ReLU()
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(nn.Conv3d(in_ch, out_ch, 1, (1, stride, stride), bias=False),
                                            nn.BatchNorm3d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.act2(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.act3(y + (x if self.downsample is None else self.downsample(x)))


class I3DResNet50(nn.Module):
    """(B, 3, T, H, W) -> (B, 2048, ceil(T/2), H/32, W/32)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv3d(3, 64, (5, 7, 7), (2, 2, 2), (2, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.act1 = nn.ReLU()
        # MaxPool3d((1, 3, 3)) as a 2-D pool over a (B, C*T, H, W) view: ExecuTorch's
        # runtime has no max_pool3d kernel, and XNNPACK delegates the 2-D one.
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_ch = 64
        for i, (pattern, width) in enumerate(zip(INFLATE, (64, 128, 256, 512))):
            blocks = []
            for j, inflate in enumerate(pattern):
                blocks.append(I3DBottleneck(in_ch, width, 1 if i == 0 or j > 0 else 2, bool(inflate)))
                in_ch = width * I3DBottleneck.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.num_features = in_ch

    def load_inflated_weights(self, path: str) -> list[str]:
        """Load a timm / torchvision ResNet-50 ImageNet state dict, inflating each 2-D kernel
        along time (repeated kt times and divided by kt, as I3D does). Returns the ignored
        classifier keys; any other mismatch is a WeightsError naming the keys."""
        from mobilekit.errors import WeightsError
        from mobilekit.models.backbones.weights import CLASSIFIER_PREFIXES, read_state_dict

        own = self.state_dict()
        sd = read_state_dict(path)
        ignored = [k for k in sd if k.startswith(CLASSIFIER_PREFIXES)]
        sd = {k: v for k, v in sd.items() if k not in set(ignored)}
        for key, value in sd.items():
            target = own.get(key)
            if target is not None and value.dim() == 4 and target.dim() == 5:
                kt = target.shape[2]
                sd[key] = value.unsqueeze(2).repeat(1, 1, kt, 1, 1) / kt
        bad = sorted(set(own) ^ set(sd)) + sorted(k for k in set(own) & set(sd) if own[k].shape != sd[k].shape)
        if bad:
            raise WeightsError(f"{path} does not fit I3D ResNet-50 ({len(bad)} keys missing, unexpected or "
                               f"mis-shaped: {', '.join(bad[:5])})", "pass ResNet-50 ImageNet weights saved by timm")
        self.load_state_dict(sd, strict=True)
        return ignored

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv1(x)))
        b, c, t, h, w = x.shape
        x = self.maxpool(x.reshape(b, c * t, h, w))
        x = x.reshape(b, c, t, x.shape[2], x.shape[3])
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class I3DBert(nn.Module):
    def __init__(self, num_classes, num_frames: int, image_size: int, num_heads: int = 8,
                 mlp_dim: int = 1536, dropout: float = 0.1, head_dropout: float = 0.5):
        super().__init__()
        self.num_frames = num_frames
        self.i3d = I3DResNet50()
        dim = self.i3d.num_features
        self.tokens = (num_frames + 1) // 2          # conv1's temporal stride 2 (padding 2, kernel 5)
        self.cls_token = init_token(1, 1, dim)
        self.pos_embed = init_token(1, 1 + self.tokens, dim)
        self.bert = TransformerLayer(dim, num_heads, mlp_dim, act="gelu", dropout=dropout, norm_first=True)
        self.norm = nn.LayerNorm(dim)
        self.head = ClassificationHeads(dim, num_classes, dropout=head_dropout)

    def forward(self, x: torch.Tensor):
        if x.dim() != 5:
            raise ValueError(f"expected a (B, T, 3, H, W) clip, got shape {tuple(x.shape)}")
        f = self.i3d(x.transpose(1, 2))                    # (B, C, T', h, w)
        b, c, t, h, w = f.shape
        if t != self.tokens:
            raise ValueError(f"this I3D-BERT was built for {self.num_frames} frames; "
                             f"create it with num_frames={x.shape[1]}")
        # Spatial average per time step as a 4-D keepdim mean (the delegable pooling form).
        z = f.transpose(1, 2).reshape(b * t, c, h, w).mean((2, 3), keepdim=True).reshape(b, t, c)
        z = prepend_token(self.cls_token, z) + self.pos_embed
        return self.head(self.norm(first_token(self.bert(z))))


@register_model(name="i3d_bert", family="i3d_bert",
                paper="Late temporal modeling with BERT (Kalfaoglu et al. 2020), as in paper 001 Table 1",
                description="I3D ResNet-50 + one temporal BERT layer (2048 wide, 8 heads)",
                paper_params="50.6M (paper 001 Table 4)")
def i3d_bert(num_classes, num_frames, image_size, **kw):
    return I3DBert(num_classes, num_frames, image_size, **kw)
