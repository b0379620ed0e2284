"""EfficientViT-B1 for video (paper 004): size against the EfficientViT paper, the authors'
key names, I3D inflation of a 2D checkpoint, and the ReLU linear attention in fp16 / autocast.
(Forward/export at the TINY config for every zoo model is in test_models.py.)"""

from __future__ import annotations

import pytest
import torch

from conftest import TINY
from mobilekit.errors import WeightsError
from mobilekit.models import create_model, model_info
from mobilekit.errors import ShapeError
from mobilekit.models.backbones.efficientvit import LiteMLA, TemporalConv3d, relu_linear_attention
from mobilekit.models.efficientvit import inflate_2d_checkpoint


def test_b1_matches_efficientvit_paper_size():
    # Cai et al. (EfficientViT), B1 at r224 on ImageNet: 9.1M params, 0.52 GMACs.
    info = model_info("efficientvit_b1_tsn", num_classes=1000, num_frames=1, image_size=224)
    assert abs(info["params"] - 9.1e6) / 9.1e6 < 0.01, info["params"]
    assert abs(info["gflops"] - 0.52) < 0.01, info["gflops"]


def test_parameter_names_follow_the_authors_checkpoints():
    keys = create_model("efficientvit_b1_tsn", **TINY).state_dict()
    for key in ("backbone.input_stem.op_list.0.conv.weight",
                "backbone.input_stem.op_list.1.main.depth_conv.norm.running_mean",
                "backbone.stages.0.op_list.0.main.inverted_conv.conv.weight",
                "backbone.stages.2.op_list.0.main.inverted_conv.conv.bias",
                "backbone.stages.2.op_list.3.context_module.main.qkv.conv.weight",
                "backbone.stages.2.op_list.3.context_module.main.aggreg.0.0.weight",
                "backbone.stages.2.op_list.3.context_module.main.aggreg.0.1.weight",
                "backbone.stages.3.op_list.4.context_module.main.proj.norm.weight",
                "backbone.stages.3.op_list.4.local_module.main.point_conv.norm.running_var",
                "head.op_list.0.conv.weight", "head.op_list.2.linear.weight",
                "head.op_list.2.norm.bias", "head.op_list.3.linear.bias"):
        assert key in keys, key
    assert keys["backbone.stages.3.op_list.1.context_module.main.aggreg.0.0.weight"].shape == (768, 1, 5, 5)


def _calibrate_bn(model):
    """Set BN running statistics from a few random clips (cumulative average), so that
    activations have unit scale and the eval-mode output depends on the input."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(4, TINY["num_frames"], 3, 64, 64))
    return model.eval()


@pytest.fixture(scope="module")
def tsn_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = _calibrate_bn(create_model("efficientvit_b1_tsn", **TINY))
    path = tmp_path_factory.mktemp("ckpt") / "efficientvit_b1_2d.pt"
    torch.save({"state_dict": model.state_dict()}, path)
    return model, path


def test_inflated_model_equals_2d_model_on_a_clip_of_identical_frames(tsn_checkpoint):
    model_2d, path = tsn_checkpoint
    model_3d = create_model("efficientvit_b1_3d", num_classes=5, num_frames=4, image_size=64).eval()
    assert inflate_2d_checkpoint(model_3d, path) == []
    w2 = model_2d.backbone.input_stem.op_list[0].conv.weight
    w3 = model_3d.backbone.input_stem.op_list[0].conv.kernel_3d
    assert w3.shape == (16, 3, 3, 3, 3)
    for t in range(3):
        torch.testing.assert_close(w3[:, :, t], w2 / 3)

    torch.manual_seed(0)
    frame = torch.randn(1, 1, 3, 64, 64)
    with torch.no_grad():
        still = model_3d(frame.expand(1, 4, 3, 64, 64).contiguous())
        expected = model_2d(frame.expand(1, 2, 3, 64, 64).contiguous())   # per-frame network
        moving = model_3d(torch.randn(1, 4, 3, 64, 64))
    torch.testing.assert_close(still, expected, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(moving, expected, atol=1e-2)


@pytest.mark.parametrize("channels, groups, kernel, stride", [(4, 1, 3, 1), (6, 6, 5, 2), (6, 3, 1, 1)])
def test_temporal_conv_equals_conv3d_with_edge_padding(channels, groups, kernel, stride):
    """The inflated conv runs as a 2D conv over stacked time-shifted frames: the same numbers
    as torch's conv3d on the clip with its edge frames repeated."""
    torch.manual_seed(0)
    conv = TemporalConv3d(torch.nn.Conv2d(channels, 12, kernel, stride, kernel // 2, groups=groups),
                          temporal_kernel=3 if kernel > 1 else 1, num_frames=5)
    clip = torch.randn(2, channels, 5, 9, 9)                       # (B, C, T, H, W)
    kt = conv.temporal_kernel
    padded = torch.cat([clip[:, :, :1]] * (kt // 2) + [clip] + [clip[:, :, -1:]] * (kt // 2), dim=2)
    expected = torch.nn.functional.conv3d(padded, conv.kernel_3d, conv.bias, (1, *conv.stride),
                                          (0, *conv.padding), groups=groups)
    got = conv(clip.transpose(1, 2).flatten(0, 1))                 # (B*T, C, H, W)
    got = got.reshape(2, 5, *got.shape[1:]).transpose(1, 2)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_3d_model_rejects_another_clip_length():
    model = create_model("efficientvit_b1_3d", **TINY)
    with pytest.raises(ShapeError, match="built for 2 frames, got 3"):
        model(torch.randn(1, 3, 3, 64, 64))


def test_inflating_with_another_class_count_skips_only_the_classifier(tsn_checkpoint):
    _, path = tsn_checkpoint
    model_3d = create_model("efficientvit_b1_3d", num_classes=7, num_frames=2, image_size=64)
    assert sorted(inflate_2d_checkpoint(model_3d, path)) == ["head.op_list.3.linear.bias",
                                                             "head.op_list.3.linear.weight"]


def test_inflating_a_checkpoint_of_another_model_is_a_clear_error(tsn_checkpoint, tmp_path):
    other = create_model("tsn_b0", **TINY).state_dict()
    with pytest.raises(WeightsError, match="does not fit EfficientViT3D.*missing"):
        inflate_2d_checkpoint(create_model("efficientvit_b1_3d", **TINY), other)
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read weights"):
        inflate_2d_checkpoint(create_model("efficientvit_b1_3d", **TINY), bad)


def _reference_attention(qkv: torch.Tensor, dim: int) -> torch.Tensor:
    """The authors' relu_linear_att (sums, `+ 1e-15`), written out plainly."""
    b, _, *spatial = qkv.shape
    x = qkv.reshape(b, -1, 3 * dim, qkv[0, 0].numel())
    q, k, v = torch.relu(x[:, :, :dim]), torch.relu(x[:, :, dim:2 * dim]), x[:, :, 2 * dim:]
    v = torch.nn.functional.pad(v, (0, 0, 0, 1), value=1.0)
    out = (v @ k.transpose(-1, -2)) @ q
    return (out[:, :, :-1] / (out[:, :, -1:] + 1e-15)).reshape(b, -1, *spatial)


# Token grids of the real models: B1's last stage at 224 (7x7), the 3D model's third stage at
# 16x224x224 (16x14x14 = 3136 tokens), and large activations (x60) like those of the last
# stage, where the reference's sums exceed fp16's 65504.
GRIDS = [((7, 7), 1.0), ((16, 14, 14), 1.0), ((4, 5, 5), 60.0)]


@pytest.mark.parametrize("spatial, scale", GRIDS)
def test_relu_linear_attention_is_the_reference_function(spatial, scale):
    torch.manual_seed(0)
    qkv = torch.randn(1, 2 * 3 * 128, *spatial) * scale          # 2 groups (scales) x 8 heads
    torch.testing.assert_close(relu_linear_attention(qkv.double(), 16), _reference_attention(qkv.double(), 16))


@pytest.mark.parametrize("spatial, scale", GRIDS)
def test_relu_linear_attention_fp16_stays_close_to_fp32(spatial, scale):
    """What an fp16 graph (Core ML on the GPU / Neural Engine) computes.

    Tolerance: each output is a convex combination of the v's (weights k.q >= 0 normalised to
    sum 1), so its error relative to max|out| is a few fp16 unit roundoffs (u = 2^-11 ~ 4.9e-4)
    from rounding q, k, v and the division; we measured ~2u and allow 10u = 5e-3."""
    torch.manual_seed(0)
    qkv = torch.randn(1, 2 * 3 * 128, *spatial) * scale
    exact = _reference_attention(qkv.double(), 16)
    half = relu_linear_attention(qkv.half(), 16).double()
    assert torch.isfinite(half).all()
    err = (half - exact).abs().max() / exact.abs().max()
    assert err < 5e-3, err.item()
    if scale > 1:  # the reference's own formula overflows here in fp16
        assert not torch.isfinite(_reference_attention(qkv.half(), 16)).all()


def test_linear_attention_has_no_nan_for_a_dead_head_in_fp16():
    """ReLU(q) all zero for a token: numerator and denominator are 0. The reference's eps of
    1e-15 is 0 in fp16 (0/0 = NaN); our clamp at 1e-4 keeps the output finite (0)."""
    qkv = torch.randn(1, 3 * 16, 4, 4)
    qkv[:, :16, 0, 0] = -1.0
    assert torch.isnan(_reference_attention(qkv.half(), 16)).any()
    out = relu_linear_attention(qkv.half(), 16)
    assert torch.isfinite(out).all() and (out[:, :, 0, 0] == 0).all()


def test_linear_attention_runs_in_fp32_under_autocast():
    torch.manual_seed(0)
    mla = LiteMLA(32, 32, dim=16).eval()
    qkv = torch.randn(2, 2 * 3 * 32, 6, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = mla.attention(qkv.bfloat16())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, relu_linear_attention(qkv.bfloat16().float(), 16))


@pytest.mark.parametrize("num_frames", [None, 2])
def test_linear_attention_is_fully_delegated_on_xnnpack(num_frames):
    """Every op of LiteMLA (per frame, and over a clip's frames) goes to XNNPACK. Multiplying by
    the int head dim used to leave an int64 constant + a cast to float in the edge graph
    (dim_order_ops._to_dim_order_copy), which XNNPACK does not delegate."""
    from converters.backends.executorch.compat import lower
    from executorch.devtools.backend_debug import get_delegation_info

    torch.manual_seed(0)
    mla = LiteMLA(32, 32, dim=16).eval()
    mla.num_frames = num_frames
    edge, _ = lower(mla, torch.randn(2, 32, 4, 4))
    info = get_delegation_info(edge.exported_program().graph_module)
    left = {op: b.non_delegated for op, b in info.delegation_by_operator.items()
            if b.non_delegated and op != "getitem"}
    assert left == {} and info.num_delegated_subgraphs == 1
