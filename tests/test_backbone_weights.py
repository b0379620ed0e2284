"""timm-layout weights: save, load by key, identical outputs; and the mismatch errors."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from mobilekit.errors import WeightsError
from mobilekit.models import create_model
from mobilekit.models.backbones import create_backbone, load_backbone_weights

# A few keys that a timm checkpoint of each architecture has, spelled as timm spells them.
TIMM_KEYS = {
    "efficientnet_b0": ["conv_stem.weight", "bn1.running_var", "blocks.0.0.conv_dw.weight",
                        "blocks.0.0.se.conv_reduce.bias", "blocks.0.0.conv_pw.weight",
                        "blocks.1.0.conv_pw.weight", "blocks.1.0.conv_dw.weight",
                        "blocks.1.0.se.conv_expand.weight", "blocks.1.0.conv_pwl.weight",
                        "blocks.6.0.bn3.weight", "conv_head.weight", "bn2.bias"],
    "efficientnet_b2": ["blocks.0.1.conv_dw.weight", "blocks.5.4.conv_pwl.weight", "conv_head.weight"],
    "resnet50": ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer1.0.downsample.0.weight",
                 "layer1.0.downsample.1.running_mean", "layer4.2.bn3.weight"],
}
SHAPES = {"efficientnet_b0": {"blocks.1.0.se.conv_reduce.weight": (4, 96, 1, 1),
                              "conv_head.weight": (1280, 320, 1, 1)},
          "efficientnet_b2": {"conv_head.weight": (1408, 352, 1, 1), "blocks.6.1.conv_pwl.weight": (352, 2112, 1, 1)},
          "resnet50": {"layer4.2.conv3.weight": (2048, 512, 1, 1)}}


@pytest.mark.parametrize("arch", sorted(TIMM_KEYS))
def test_parameter_names_and_shapes_follow_timm(arch):
    sd = create_backbone(arch).state_dict()
    assert set(TIMM_KEYS[arch]) <= set(sd)
    for key, shape in SHAPES[arch].items():
        assert tuple(sd[key].shape) == shape


def _timm_checkpoint(arch: str, seed: int) -> dict[str, torch.Tensor]:
    """A state dict in timm's layout: backbone keys plus the ImageNet classifier."""
    torch.manual_seed(seed)
    src = create_backbone(arch)
    for p in src.parameters():
        torch.nn.init.normal_(p, std=0.05)
    sd = {k: v.clone() for k, v in src.state_dict().items()}
    head = "fc" if arch.startswith("resnet") else "classifier"
    sd[f"{head}.weight"] = torch.randn(1000, src.num_features)
    sd[f"{head}.bias"] = torch.randn(1000)
    return sd


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_timm_weights_round_trip_gives_identical_outputs(tmp_path, suffix):
    sd = _timm_checkpoint("efficientnet_b0", seed=1)
    path = tmp_path / f"effnet{suffix}"
    if suffix == ".safetensors":
        save_file(sd, str(path))
    else:
        torch.save({"state_dict": sd}, path)
    model = create_model("vlf_b0", num_classes=5, num_frames=2, image_size=64, backbone_weights=str(path)).eval()
    reference = create_backbone("efficientnet_b0").eval()
    reference.load_state_dict({k: v for k, v in sd.items() if not k.startswith("classifier")})
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.backbone(x), reference(x), rtol=0, atol=0)


def test_mismatched_keys_are_listed(tmp_path):
    sd = _timm_checkpoint("resnet50", seed=2)
    del sd["layer1.0.conv1.weight"]
    sd["layer5.0.conv1.weight"] = torch.zeros(1)
    path = tmp_path / "r50.safetensors"
    save_file(sd, str(path))
    with pytest.raises(WeightsError) as err:
        load_backbone_weights(create_backbone("resnet50"), path)
    msg = str(err.value)
    assert "1 missing: layer1.0.conv1.weight" in msg
    assert "1 unexpected: layer5.0.conv1.weight" in msg


def test_wrong_architecture_names_shape_mismatches(tmp_path):
    path = tmp_path / "b2.safetensors"
    save_file(_timm_checkpoint("efficientnet_b2", seed=3), str(path))
    with pytest.raises(WeightsError, match="does not fit EfficientNet"):
        load_backbone_weights(create_backbone("efficientnet_b0"), path)


def test_corrupt_weights_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"\x80\x04not a pickle at all")
    with pytest.raises(WeightsError, match="corrupt"):
        load_backbone_weights(create_backbone("resnet50"), path)
