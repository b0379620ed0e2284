"""MoViNet in the official Stream form, so the released Stream weights load and compute as
released: TensorFlow's 'same' padding on strided convs and pools, the '2plus3d' causal SE,
and MoViNet-pytorch's stream checkpoints (key/shape oracles in tests/data/pretrained,
loaded in test_pretrained_oracles.py) bringing their Kinetics-600 class names.

The SE reference below is written from tensorflow/models official/projects/movinet/modeling/
movinet_layers.py (StreamSqueezeExcitation, se_type '2plus3d', causal) with the port's gate.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_pretrained_loader import small_random_state_dict
from test_pretrained_oracles import read_oracle, save_official

from mobilekit.errors import WeightsError
from mobilekit.models import create_model
from mobilekit.models.movinet import CausalSqueezeExcite, ConvBN, SamePadAvgPool, same_padding
from mobilekit.models.pretrained import dataset_labels


@pytest.mark.parametrize("size, kernel, stride, pads", [
    (172, 3, 2, (0, 1)),   # even: the odd pixel of padding after, none before
    (43, 3, 2, (1, 1)),    # odd
    (86, 5, 2, (1, 2)),
    (22, 5, 1, (2, 2)),    # stride 1: symmetric
])
def test_same_padding_is_tensorflows(size, kernel, stride, pads):
    assert same_padding(size, kernel, stride) == pads


def test_a_strided_conv_pads_at_the_bottom_and_right_as_the_released_weights_expect():
    conv = ConvBN(1, 1, k=3, stride=2, act=False).eval()
    with torch.no_grad():
        conv.conv.weight.fill_(1.0)
        out = conv(torch.ones(1, 1, 1, 4, 4))[0, 0, 0]
    # Windows at rows/cols 0-2 and 2-4 (4 is padding); PyTorch's symmetric padding gives [[4, 6], [6, 9]].
    expected = torch.tensor([[9.0, 6.0], [6.0, 4.0]]) / (1 + conv.norm.eps) ** 0.5
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("built, side", [(8, 8), (7, 7), (8, 11)])   # (8, 11): not the built size
def test_the_shortcut_pool_averages_only_pixels_inside_the_frame(built, side):
    pool = SamePadAvgPool(2, built)
    x = torch.full((1, 2, 3, side, side), 5.0)
    out = pool(x)
    assert out.shape == (1, 2, 3, (side + 1) // 2, (side + 1) // 2)
    torch.testing.assert_close(out, torch.full_like(out, 5.0))   # zero padding would darken the edges


def reference_se(x: torch.Tensor, se: CausalSqueezeExcite) -> torch.Tensor:
    """TF's causal '2plus3d' SE: [cumulative average over frames, this frame's average]."""
    space = x.mean((3, 4), keepdim=True)
    counts = torch.arange(1, x.shape[2] + 1, dtype=x.dtype).reshape(1, 1, -1, 1, 1)
    so_far = space.cumsum(2) / counts
    hidden = F.hardswish(F.conv3d(torch.cat([so_far, space], 1), se.fc1.weight, se.fc1.bias))
    gate = (0.2 * F.conv3d(hidden, se.fc2.weight, se.fc2.bias) + 0.5).clamp(0, 1)  # Keras hard_sigmoid
    return x * gate


@pytest.mark.parametrize("frames", [1, 3])
def test_the_se_squeezes_the_running_and_the_frame_average_together(frames):
    torch.manual_seed(0)
    se = CausalSqueezeExcite(24, num_frames=frames).eval()
    assert (se.fc1.in_channels, se.fc1.out_channels, se.fc2.out_channels) == (48, 16, 24)  # 2C -> C/2 (x8) -> C
    x = torch.randn(2, 24, frames, 5, 5) * 3
    with torch.no_grad():
        torch.testing.assert_close(se(x), reference_se(x, se))


def _alphas_and_norms_randomised(model: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".alpha"):
                p.copy_(torch.rand((), generator=g) + 0.5)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
        model.head.fc.weight.mul_(50)   # logits far above the tolerance


def test_a_released_stream_checkpoint_brings_kinetics_600_and_streams_as_its_clip(tmp_path):
    _, rows = read_oracle("movinet-pytorch-stream-a0")
    sd = small_random_state_dict(rows)
    sd.update({k: torch.tensor(0.5 + 0.1 * i) for i, k in enumerate(k for k in sd if k.endswith(".alpha"))})
    path = save_official(tmp_path / "modelA0_stream_statedict_v3", "movinet-pytorch-stream-a0", sd)
    clip = create_model("movinet_a0", num_frames=3, image_size=48, checkpoint=str(path)).eval()
    assert clip.mobilekit_config["num_classes"] == 600 and clip.mobilekit_pretrained["dataset"] == "kinetics600"
    assert clip.mobilekit_classes == dataset_labels("kinetics600")
    assert clip.mobilekit_classes[465] == "skiing crosscountry"   # the port's notebook example
    assert clip.blocks.b2_l1.alpha.item() == sd["blocks.b2_l1.alpha"].item()
    torch.testing.assert_close(clip.blocks.b1_l0.conv_t.conv.weight.flatten(),
                               sd["blocks.b1_l0.deep.conv_2.conv2d.weight"].flatten())

    stream = create_model("movinet_a0_stream", image_size=48, checkpoint=str(path)).eval()
    video = torch.randn(1, 3, 3, 48, 48)
    state = stream.init_state(1)
    with torch.no_grad():
        for t in range(3):
            logits, *state = stream(video[:, t:t + 1], *state)
        torch.testing.assert_close(logits, clip(video), rtol=1e-4, atol=1e-4)


def test_stream_and_clip_agree_with_every_branch_scaled():
    """The temporal convs' buffers and the SE's running sums, frame by frame, with alphas and
    norms away from their initial values."""
    torch.manual_seed(0)
    clip = create_model("movinet_a0", num_classes=5, num_frames=4, image_size=40).eval()
    _alphas_and_norms_randomised(clip)
    stream = create_model("movinet_a0_stream", num_classes=5, image_size=40).eval()
    stream.load_state_dict(clip.state_dict())
    video = torch.randn(1, 4, 3, 40, 40)
    state = stream.init_state(1)
    with torch.no_grad():
        for t in range(4):
            logits, *state = stream(video[:, t:t + 1], *state)
            torch.testing.assert_close(logits, clip(video[:, :t + 1]), rtol=1e-4, atol=1e-4)
    assert logits.std() > 0.1   # not a constant that would agree anyway


def test_an_a0_checkpoint_into_a2_names_the_model_of_each_size(tmp_path):
    path = save_official(tmp_path / "modelA0_stream_statedict_v3", "movinet-pytorch-stream-a0")
    with pytest.raises(WeightsError) as e:
        create_model("movinet_a2", checkpoint=str(path))
    text = str(e.value)
    assert "\n" not in text and "(movinet-pytorch-stream) does not fit movinet_a2" in text
    assert "MoViNet-A0 checkpoints load into movinet_a0 / movinet_a0_stream (image_size=172)" in text
