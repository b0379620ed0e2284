"""XNNPACK delegates every op of MViT-S and both EfficientViT-B1 video models (ExecuTorch's real
partitioner, at the TINY config), and the converter's xnnpack rewrites keep their outputs.

What used to stay behind: MViT's 3-D convs run as conv2d with the Conv3d weight reshaped in
forward, which XNNPACK rejects ("Expected weight to be a static param") until
`FramesConv3d.freeze_for_export` stores the reshaped kernel; EfficientViT's linear attention
multiplied by the int head dim, which edge lowering turns into an int64 constant plus a cast
(dim_order_ops._to_dim_order_copy) that XNNPACK does not take.
"""

from __future__ import annotations

import copy

import pytest
import torch

from conftest import TINY
from converters import convert
from converters.compat import ACCELERATED, check
from converters.validate import settle_batchnorm
from mobilekit.models import create_model
from mobilekit.models.mvit import FramesConv3d, conv3d_frames
from converters.pipeline import apply_module_rewrites as apply_target_rewrites

MODELS = ["mvit_s", "efficientvit_b1_3d", "efficientvit_b1_tsn"]
SHAPE = [1, TINY["num_frames"], 3, TINY["image_size"], TINY["image_size"]]


def tiny_model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model(name, **TINY).eval()
    # Untrained BN statistics make EfficientViT's logits near-constant: measure real ones.
    return settle_batchnorm(model, SHAPE)


@pytest.mark.parametrize("name", MODELS)
def test_xnnpack_rewrites_keep_the_outputs_and_the_state_dict(name, tiny_clip):
    model = tiny_model(name)
    rewritten = copy.deepcopy(model)
    applied = apply_target_rewrites(rewritten, "xnnpack")
    if name == "mvit_s":
        assert applied[:2] == ["freeze_weight_derived", "decompose_layer_norms"]
        assert all(hasattr(m, "frames_weight") for m in rewritten.modules() if isinstance(m, FramesConv3d))
    assert list(rewritten.state_dict()) == list(model.state_dict())
    with torch.no_grad():
        want, got = model(tiny_clip), rewritten(tiny_clip)
        other = model(torch.randn_like(tiny_clip))
    assert (want - other).abs().max() > 1e-3      # the logits depend on the input
    torch.testing.assert_close(got, want)


def test_frozen_frames_conv_is_the_conv3d():
    torch.manual_seed(0)
    conv = FramesConv3d(6, 6, (3, 3, 3), (1, 2, 2), (1, 1, 1), groups=6, bias=False)
    x = torch.randn(2, 6, 3, 8, 8)                 # (N, C, T, H, W)
    eager = conv3d_frames(x.transpose(1, 2), conv)
    conv.freeze_for_export()
    assert "frames_weight" not in conv.state_dict()
    frozen = conv3d_frames(x.transpose(1, 2), conv)
    torch.testing.assert_close(frozen, eager, rtol=0, atol=0)
    torch.testing.assert_close(frozen.transpose(1, 2), conv(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_xnnpack_delegates_every_op(name):
    report = check(name, ["xnnpack"], **TINY).reports[0]
    assert [(f.op, f.count, f.modules) for f in report.findings] == []
    assert report.verdict == ACCELERATED, report.notes
    assert report.op_share == 1.0


def test_efficientvit_tsn_converts_fully_delegated_and_validates(tmp_path):
    model = tiny_model("efficientvit_b1_tsn")
    art = convert(model, "xnnpack", tmp_path / "xnnpack", samples=2, latency_runs=0, threads=1)
    m = art.manifest
    assert m["validation"]["status"] == "passed", m["validation"]
    assert m["validation"]["max_abs_diff"] <= m["validation"]["tolerance"]
    assert not any("untrained" in n for n in m["conversion"]["notes"])
    delegation = m["conversion"]["delegation"]
    assert delegation["non_delegated_ops"] == {} and delegation["delegated_subgraphs"] == 1
