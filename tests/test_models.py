"""The zoo: forward shapes, torch.export round trips, parameter counts against the papers."""

from __future__ import annotations

import pytest
import torch

from conftest import TINY
from mobilekit.errors import UnknownModelError
from mobilekit.models import create_model, list_models, model_info

ALL = list_models()


@pytest.mark.parametrize("name", ALL)
def test_forward_shape_and_export_round_trip(name):
    model = create_model(name, **TINY).eval()
    card = model.mobilekit_card
    x = torch.randn(1, TINY["num_frames"], 3, TINY["image_size"], TINY["image_size"])
    with torch.no_grad():
        eager = model(x)
    assert eager.shape == (1, TINY["num_classes"]), card.name
    assert torch.isfinite(eager).all()
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        again = exported.module()(x)
    torch.testing.assert_close(again, eager, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name, classes, expected", [
    # VLF paper Table 4: 12.2M including EfficientNet-b0's 1.28M ImageNet classifier.
    ("vlf_b0", 254, 12.2e6 - 1.2813e6),
    # Paper 001 Table 4 (400 Kinetics classes).
    ("vtn_eff", 400, 6.8e6),
    ("vtn_r50", 400, 26.5e6),
])
def test_parameter_counts_match_papers(name, classes, expected):
    params = model_info(name, num_classes=classes)["params"]
    assert abs(params - expected) / expected < 0.03, f"{name}: {params / 1e6:.2f}M vs {expected / 1e6:.2f}M"


def test_vlf_components_match_paper_table4():
    model = create_model("vlf_b0", num_classes=254)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    g = count(model.spatial) + model.spatial_pos.numel()
    h = count(model.spatiotemporal)
    assert abs(g - 0.8e6) / 0.8e6 < 0.05, g
    assert abs(h - 3.2e6) / 3.2e6 < 0.05, h


def test_vlf_temporal_transformer_tells_a_clip_from_its_reverse_at_init():
    # h sees frame order only through its positional embedding. With the ViT init alone
    # (std 0.02) its output for reversed frame tokens differed by ~1e-6 and it never left
    # chance on the synthetic benchmark; the sinusoidal start makes order visible from step 0.
    from mobilekit.models.layers import first_token, prepend_token

    torch.manual_seed(0)
    model = create_model("vlf_b0", num_classes=2, num_frames=8, image_size=64).eval()
    tokens = torch.randn(1, 8 * model.tokens_per_frame, 256)

    def h(z):
        z = prepend_token(model.cls_token, z) + model.pos_embed
        for layer in model.spatiotemporal:
            z = layer(z)
        return first_token(z)

    def order_sensitivity():
        with torch.no_grad():
            forward, backward = h(tokens), h(tokens.flip(1))
        return float((forward - backward).norm() / forward.norm())

    ours = order_sensitivity()
    with torch.no_grad():  # the plain ViT init this replaced
        torch.nn.init.trunc_normal_(model.pos_embed, std=0.02)
    assert ours > 5 * order_sensitivity()  # measured: 0.029 vs 0.0027


def test_full_size_vlf_b0_has_3x3_feature_map():
    assert create_model("vlf_b0").tokens_per_frame == 9


def test_named_heads_return_dict():
    model = create_model("vlf_b0", num_classes={"verb": 4, "noun": 6}, num_frames=2, image_size=64).eval()
    out = model(torch.randn(2, 2, 3, 64, 64))
    assert set(out) == {"verb", "noun"} and out["verb"].shape == (2, 4) and out["noun"].shape == (2, 6)


def test_batch_size_and_frames_are_independent():
    model = create_model("tsn_b0", **TINY).eval()
    x = torch.randn(3, 2, 3, 64, 64)
    with torch.no_grad():
        batched = model(x)
        single = torch.cat([model(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-4)


def test_wrong_input_rank_is_a_clear_error():
    model = create_model("vlf_b0", **TINY)
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        model(torch.randn(1, 3, 64, 64))


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError, match="did you mean.*vlf_b0"):
        create_model("vlf_bo")


def test_model_info_has_input_spec_and_flops():
    info = model_info("vlf_b0")
    assert info["input"]["shape"] == [1, 16, 3, 224, 224]
    assert info["input"]["mean"] == [0.485, 0.456, 0.406]
    # 16 frames of EfficientNet-B0 (0.39 GMACs each) plus the transformers.
    assert 6.5 < info["gflops"] < 8.0
