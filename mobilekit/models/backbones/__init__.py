"""2D image backbones written with timm's parameter names, and their weight loader."""

from mobilekit.models.backbones.efficientnet import EfficientNet, efficientnet_b0, efficientnet_b2
from mobilekit.models.backbones.resnet import Bottleneck, ResNet, resnet50
from mobilekit.models.backbones.weights import load_backbone_weights, read_state_dict

BACKBONES = {
    "efficientnet_b0": efficientnet_b0,
    "efficientnet_b2": efficientnet_b2,
    "resnet50": resnet50,
}


def create_backbone(name: str):
    try:
        return BACKBONES[name]()
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose from {sorted(BACKBONES)}") from None


__all__ = ["BACKBONES", "Bottleneck", "EfficientNet", "ResNet", "create_backbone",
           "efficientnet_b0", "efficientnet_b2", "load_backbone_weights", "read_state_dict",
           "resnet50"]
