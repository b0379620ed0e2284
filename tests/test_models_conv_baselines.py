"""Paper 001's convolutional models: TSM, X3D-XS, MoViNet-A0/A2 (clip and streaming),
I3D-BERT, NL-R50, TEA-R50. Forward / export round trips at the tiny config are in
test_models.py (parametrized over the whole zoo); here: parameter counts against paper 001
Table 4, and what is specific to each model."""

from __future__ import annotations

import pytest
import torch

from conftest import TINY
from mobilekit.errors import WeightsError
from mobilekit.models import create_model, get_card, model_info
from mobilekit.models.backbones import resnet50
from mobilekit.models.movinet import ARCHS, stream_state_spec
from mobilekit.models.nonlocal_r50 import NonLocalBlock
from mobilekit.models.tea import TemporalConv
from mobilekit.models.tsm import temporal_shift

# Paper 001 Table 4 (Kinetics-400 heads).
PAPER_PARAMS = {
    "tsm_r50": 24.3e6,
    "x3d_xs": 3.8e6,
    # MoViNet: the official Stream form, whose released weights load (test_pretrained_oracles);
    # Table 4's 2.7M / 4.8M count the base models' smaller SE (C -> C/4, not 2C -> C/2).
    "movinet_a0": 3.34e6,
    "movinet_a0_stream": 3.34e6,
    "movinet_a2": 6.92e6,
    "movinet_a2_stream": 6.92e6,
    "i3d_bert": 50.6e6,
    "nl_r50": 31.7e6,
    "tea_r50": 24.9e6,
}


@pytest.mark.parametrize("name, expected", sorted(PAPER_PARAMS.items()))
def test_parameter_count_matches_paper_001(name, expected):
    info = model_info(name, num_classes=400)
    assert abs(info["params"] - expected) / expected < 0.05, f"{name}: {info['params'] / 1e6:.2f}M"
    assert "paper 001 Table 4" in info["paper_params"] and info["paper"] and info["description"]


def test_x3d_xs_defaults_are_the_xs_input():
    card = get_card("x3d_xs")
    assert (card.num_frames, card.image_size) == (4, 160)
    # X3D-XS is 0.6 GFLOPs per 4x160x160 clip (X3D paper, Table 3).
    assert 0.55 < model_info("x3d_xs")["gflops"] < 0.65


def _slice_assignment_shift(x: torch.Tensor, t: int, fold_div: int = 8) -> torch.Tensor:
    """The TSM authors' reference (in-place writes into a zero tensor)."""
    nt, c, h, w = x.shape
    x = x.view(nt // t, t, c, h, w)
    fold = c // fold_div
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]
    out[:, 1:, fold:2 * fold] = x[:, :-1, fold:2 * fold]
    out[:, :, 2 * fold:] = x[:, :, 2 * fold:]
    return out.view(nt, c, h, w)


@pytest.mark.parametrize("t, c", [(2, 64), (3, 24), (8, 256)])
def test_temporal_shift_equals_slice_assignment_reference(t, c):
    x = torch.randn(2 * t, c, 3, 5)
    torch.testing.assert_close(temporal_shift(x, t), _slice_assignment_shift(x, t), rtol=0, atol=0)


def test_tsm_shifts_inside_blocks_and_keeps_resnet_names():
    model = create_model("tsm_r50", **TINY).eval()
    assert set(model.backbone.state_dict()) == set(resnet50().state_dict())
    block = model.backbone.layer1[0]
    x = torch.randn(2 * 2, 64, 8, 8)
    with torch.no_grad():
        expected = block.act3(block.residual(_slice_assignment_shift(x, 2)) + block.downsample(x))
        torch.testing.assert_close(block(x), expected)
    # No in-place writes reach the exported graph.
    clip = torch.randn(1, 2, 3, 64, 64)
    ops = {str(n.target) for n in torch.export.export(model, (clip,)).graph.nodes if n.op == "call_function"}
    assert not any("index_put" in op or "copy_" in op or "slice_scatter" in op for op in ops), ops


def test_tsm_rejects_a_clip_of_another_length():
    model = create_model("tsm_r50", **TINY)
    with pytest.raises(ValueError, match="num_frames=3"):
        model(torch.randn(1, 3, 3, 64, 64))


def test_tea_temporal_conv_starts_as_the_tsm_shift():
    tconv = TemporalConv(32, num_frames=4)
    x = torch.randn(2 * 4, 32, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(tconv(x), temporal_shift(x, 4))


def test_nonlocal_block_attends_across_frames_and_starts_as_identity():
    torch.manual_seed(0)
    block = NonLocalBlock(64).eval()
    x = torch.randn(1 * 2, 64, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(block(x, 1, 2), x)       # zero-initialised BN gamma
        torch.nn.init.ones_(block.norm.weight)
        y = block(x, 1, 2)
        x2 = x.clone()
        x2[1] += 1.0                                        # change frame 1 only
        y2 = block(x2, 1, 2)
    assert not torch.allclose(y[0], y2[0])                   # frame 0 sees frame 1


def _randomise_batch_norms(model: torch.nn.Module) -> None:
    """Non-trivial BN statistics and a larger classifier, so equality checks have teeth."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=g) * 0.2 + 1)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    model.head.fc.weight.data.mul_(50)


def test_movinet_streaming_frame_by_frame_equals_whole_clip():
    torch.manual_seed(0)
    frames = 4
    clip_model = create_model("movinet_a0", num_classes=5, num_frames=frames, image_size=64).eval()
    _randomise_batch_norms(clip_model)
    stream = create_model("movinet_a0_stream", num_classes=5, image_size=64).eval()
    stream.load_state_dict(clip_model.state_dict())            # one set of weights, two forms
    video = torch.randn(1, frames, 3, 64, 64)
    state = stream.init_state(1)
    with torch.no_grad():
        for t in range(frames):
            logits, *state = stream(video[:, t:t + 1], *state)
            # After frame t the stream has seen exactly the clip's first t + 1 frames.
            torch.testing.assert_close(logits, clip_model(video[:, :t + 1]), rtol=1e-4, atol=1e-4)
        whole = clip_model(video)
    assert whole.abs().max() > 0.1
    torch.testing.assert_close(logits, whole, rtol=1e-4, atol=1e-4)
    # The clip model is causal: the future does not change the past.
    later = video.clone()
    later[:, -1] += 1.0
    with torch.no_grad():
        torch.testing.assert_close(clip_model(later[:, :2]), clip_model(video[:, :2]))
        assert not torch.allclose(clip_model(later), whole)


def test_movinet_stream_step_exports_with_state_in_and_out():
    stream = create_model("movinet_a0_stream", num_classes=5, image_size=64).eval()
    _randomise_batch_norms(stream)
    frame = torch.randn(1, 1, 3, 64, 64)
    state = stream.init_state(1)
    with torch.no_grad():
        _, *state = stream(torch.randn(1, 1, 3, 64, 64), *state)    # a non-zero state
        eager = stream(frame, *state)
    exported = torch.export.export(stream, (frame, *state))
    assert len(exported.graph_signature.user_inputs) == 1 + len(stream.state_names)
    assert len(exported.graph_signature.user_outputs) == 1 + len(stream.state_names)
    with torch.no_grad():
        again = exported.module()(frame, *state)
    for a, b in zip(again, eager):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_movinet_stream_card_documents_the_state(arch):
    card = get_card(f"movinet_{arch}_stream")
    assert card.frame_sampling == "consecutive" and card.num_frames == 1
    listed = card.extra["streaming"]["state_at_default_size"]
    with torch.device("meta"):
        model = create_model(f"movinet_{arch}_stream")
    assert [s["name"] for s in listed] == model.state_names
    assert [tuple(s["shape"]) for s in listed] == [tuple(t.shape) for t in model.init_state(1)]
    assert listed == [{"name": n, "shape": list(s)} for n, s in stream_state_spec(ARCHS[arch], card.image_size)]


def test_movinet_stream_rejects_wrong_state_and_frame_size():
    stream = create_model("movinet_a0_stream", num_classes=5, image_size=64)
    with pytest.raises(ValueError, match="state tensors"):
        stream(torch.randn(1, 1, 3, 64, 64), torch.zeros(1))
    with pytest.raises(ValueError, match="image_size=32"):
        stream(torch.randn(1, 1, 3, 32, 32))
    with pytest.raises(ValueError, match="no state"):
        create_model("movinet_a0", **TINY)(torch.randn(1, 2, 3, 64, 64), torch.zeros(1))


def test_i3d_bert_has_one_temporal_token_per_two_frames():
    model = create_model("i3d_bert", num_classes=5, num_frames=4, image_size=64).eval()
    assert model.pos_embed.shape[1] == 1 + 2
    with torch.no_grad():
        assert model(torch.randn(1, 4, 3, 64, 64)).shape == (1, 5)
    with pytest.raises(ValueError, match="num_frames=8"):
        model(torch.randn(1, 8, 3, 64, 64))


def test_i3d_loads_inflated_resnet50_imagenet_weights(tmp_path):
    resnet = resnet50()
    sd = {**resnet.state_dict(), "fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)}
    torch.save(sd, tmp_path / "resnet50.pth")
    model = create_model("i3d_bert", **TINY)
    assert sorted(model.i3d.load_inflated_weights(str(tmp_path / "resnet50.pth"))) == ["fc.bias", "fc.weight"]
    # Inflated kernels (T copies / T) sum back to the 2-D kernel: a static clip sees ImageNet features.
    for ours, theirs in [(model.i3d.conv1, resnet.conv1), (model.i3d.layer1[0].conv1, resnet.layer1[0].conv1)]:
        assert ours.weight.shape[2] > 1
        torch.testing.assert_close(ours.weight.sum(2), theirs.weight)
    torch.testing.assert_close(model.i3d.layer4[2].conv3.weight.squeeze(2), resnet.layer4[2].conv3.weight)
    del sd["layer4.2.conv3.weight"]
    torch.save(sd, tmp_path / "broken.pth")
    with pytest.raises(WeightsError, match="layer4.2.conv3.weight"):
        model.i3d.load_inflated_weights(str(tmp_path / "broken.pth"))
