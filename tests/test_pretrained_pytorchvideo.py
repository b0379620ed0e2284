"""Proof by equal outputs: PyTorchVideo's own X3D-XS and MViT-B (built as its hub builds
them, random weights), saved in its checkpoint format, load into the zoo models through the
layout tables and give the same logits on the same clip.

PyTorchVideo (in the dev extra) imports torchvision at
module level in pytorchvideo/models/head.py only for RoIAlign, a detection layer neither
model uses, and torchvision does not load with this torch build; `pytorchvideo_models`
puts a stand-in `torchvision.ops` in sys.modules while it imports, and nowhere else.
"""

from __future__ import annotations

import sys
import types

import pytest
import torch

from mobilekit.models import create_model

# PyTorchVideo and its dependencies are in the dev extra (install.sh): a missing one is a
# failure of the install, not a reason to skip the proof.
import fvcore  # noqa: F401,E402
import iopath  # noqa: F401,E402


@pytest.fixture(scope="module")
def pytorchvideo_models():
    """(create_x3d, create_multiscale_vision_transformers, mvit_video_base_config)."""
    saved = {name: sys.modules.get(name) for name in ("torchvision", "torchvision.ops")}
    try:
        import torchvision  # noqa: F401  (a working one needs no stand-in)
    except Exception:
        stand_in = types.ModuleType("torchvision")
        stand_in.ops = types.ModuleType("torchvision.ops")
        stand_in.ops.RoIAlign = type("RoIAlign", (torch.nn.Module,), {})
        sys.modules["torchvision"], sys.modules["torchvision.ops"] = stand_in, stand_in.ops
    try:
        from pytorchvideo.models.hub.vision_transformers import mvit_video_base_config
        from pytorchvideo.models.vision_transformers import create_multiscale_vision_transformers
        from pytorchvideo.models.x3d import create_x3d
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return create_x3d, create_multiscale_vision_transformers, mvit_video_base_config


def randomize_norms(model: torch.nn.Module, calibration_clips: torch.Tensor | None = None) -> None:
    """Fresh models have identity norms (weight 1, bias 0, running stats 0/1), which would
    hide a norm loaded into the wrong place: give each its own affine values, and BatchNorm
    the statistics of `calibration_clips` (as training would; random statistics wash the
    input out of a deep net's output)."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm3d, torch.nn.LayerNorm)):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=gen) * 0.2 - 0.1)
            if isinstance(m, torch.nn.BatchNorm3d):
                m.reset_running_stats()
                m.momentum = None  # a plain average over the calibration batch
        if calibration_clips is not None:
            model.train()(calibration_clips)
    model.eval()


def assert_same_logits(ref, model, clip_bcthw: torch.Tensor) -> None:
    with torch.no_grad():
        want = ref(clip_bcthw)
        got = model(clip_bcthw.transpose(1, 2))       # the zoo takes (B, T, 3, H, W)
    # The two clips' logits differ by far more than the tolerance: equal outputs mean something.
    assert (want[0] - want[1]).abs().max() > 0.02
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_pytorchvideo_x3d_xs_checkpoint_gives_pytorchvideo_logits(pytorchvideo_models, tmp_path):
    create_x3d = pytorchvideo_models[0]
    torch.manual_seed(0)
    # pytorchvideo/models/hub/x3d.py x3d_xs; logits out (its Softmax is for inference demos).
    ref = create_x3d(input_clip_length=4, input_crop_size=160, head_activation=None).eval()
    randomize_norms(ref, torch.randn(4, 3, 4, 160, 160))
    assert "blocks.1.res_blocks.0.branch1_norm.weight" not in ref.state_dict()  # the identity-filled norm
    path = tmp_path / "X3D_XS.pyth"
    torch.save({"model_state": ref.state_dict()}, path)   # the hub's format

    model = create_model("x3d_xs", checkpoint=str(path)).eval()
    assert model.mobilekit_pretrained["layout"] == "pytorchvideo-x3d"
    assert model.mobilekit_pretrained["identity_norms"] == ["stages.0.0.shortcut.1"]
    assert_same_logits(ref, model, torch.randn(2, 3, 4, 160, 160))


def test_pytorchvideo_mvit_b_checkpoint_gives_pytorchvideo_logits(pytorchvideo_models, tmp_path):
    _, create_mvit, base_config = pytorchvideo_models
    torch.manual_seed(0)
    # pytorchvideo/models/hub/vision_transformers.py mvit_base_16x4, at 4 frames of 64 px to
    # stay fast (the embeddings follow the size; every other tensor is MViT-B 16x4's).
    frames, size = 4, 64
    ref = create_mvit(**{**base_config, "temporal_size": frames, "spatial_size": size}).eval()
    randomize_norms(ref)
    with torch.no_grad():  # trained-looking embeddings, not the 0.02-std init
        for name, p in ref.named_parameters():
            if name.startswith("cls_positional_encoding."):
                p.normal_(0, 0.5)
    path = tmp_path / "MVIT_B_16x4.pyth"
    torch.save({"model_state": ref.state_dict()}, path)

    model = create_model("mvit_s", num_frames=frames, image_size=size, stage_depths=(1, 2, 11, 2),
                         checkpoint=str(path)).eval()
    assert model.mobilekit_pretrained["layout"] == "pytorchvideo-mvit"
    assert_same_logits(ref, model, torch.randn(2, 3, frames, size, size))
