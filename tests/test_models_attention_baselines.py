"""Paper 001's attention-only models: ViViT-FE, TimeSformer, Video Swin-T, MViT-S.

Forward/export at the TINY config is covered for every zoo entry by test_models.py; these
tests check the parameter counts against the papers and each model's own mechanism against
a plain reference written with loops.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from mobilekit.errors import WeightsError
from mobilekit.models import create_model, model_info
from mobilekit.models.backbones.vit import create_vit
from mobilekit.models.mvit import MultiScaleBlock, conv3d_frames
from mobilekit.models.swin3d import (SwinBlock3D, cyclic_shift, effective_window, window_partition,
                                     window_reverse)
from mobilekit.models.timesformer import TimeSformer


@pytest.mark.parametrize("name, expected", [
    ("vivit_fe", 25.4e6),       # paper 001 Table 4
    ("timesformer", 121.0e6),   # paper 001 Table 4
    ("swin_t", 28.0e6),         # paper 001 Table 4
    ("mvit_s", 26.1e6),         # MViT paper (Kinetics-400, MViT-S 16x4); paper 001 gives none
])
def test_parameter_counts_match_papers(name, expected):
    info = model_info(name, num_classes=400)
    assert abs(info["params"] - expected) / expected < 0.05, f"{name}: {info['params'] / 1e6:.2f}M"
    assert info["paper_params"].startswith(f"{expected / 1e6:.1f}M")


def test_mvit_recipe_reproduces_mvit_b_16x4():
    # The same builder with MViT-B's depths must give the published MViT-B-16x4 figures
    # (36.6M parameters, 70.5 GFLOPs), which pins down everything but MViT-S's depths.
    info = model_info("mvit_s", num_classes=400, stage_depths=(1, 2, 11, 2))
    assert abs(info["params"] - 36.6e6) / 36.6e6 < 0.01
    assert abs(info["gflops"] - 70.5) / 70.5 < 0.01


# --- ViViT-FE / TimeSformer: timm ViT names --------------------------------------------------

def timm_vit_state_dict(dim: int, depth: int, patches: int) -> dict[str, torch.Tensor]:
    """The keys and shapes of a timm ViT/DeiT checkpoint (classifier included)."""
    sd = {"cls_token": (1, 1, dim), "pos_embed": (1, 1 + patches, dim),
          "patch_embed.proj.weight": (dim, 3, 16, 16), "patch_embed.proj.bias": (dim,),
          "norm.weight": (dim,), "norm.bias": (dim,), "head.weight": (1000, dim), "head.bias": (1000,)}
    for i in range(depth):
        p = f"blocks.{i}."
        sd.update({p + "norm1.weight": (dim,), p + "norm1.bias": (dim,),
                   p + "attn.qkv.weight": (3 * dim, dim), p + "attn.qkv.bias": (3 * dim,),
                   p + "attn.proj.weight": (dim, dim), p + "attn.proj.bias": (dim,),
                   p + "norm2.weight": (dim,), p + "norm2.bias": (dim,),
                   p + "mlp.fc1.weight": (4 * dim, dim), p + "mlp.fc1.bias": (4 * dim,),
                   p + "mlp.fc2.weight": (dim, 4 * dim), p + "mlp.fc2.bias": (dim,)})
    return {k: torch.randn(shape) for k, shape in sd.items()}


def test_vivit_backbone_loads_timm_deit_small_weights(tmp_path):
    sd = timm_vit_state_dict(384, 12, 196)
    path = tmp_path / "deit_small_patch16_224.pth"
    torch.save(sd, path)
    model = create_model("vivit_fe", num_classes=5, num_frames=2, image_size=224, backbone_weights=str(path))
    torch.testing.assert_close(model.backbone.blocks[11].attn.qkv.weight, sd["blocks.11.attn.qkv.weight"])
    torch.testing.assert_close(model.backbone.pos_embed, sd["pos_embed"])
    # At 64x64 the position embedding has 17 rows, not 197: a clear error, not a silent load.
    with pytest.raises(WeightsError, match="pos_embed"):
        create_model("vivit_fe", num_classes=5, num_frames=2, image_size=64, backbone_weights=str(path))


def test_timesformer_backbone_has_timm_vit_base_keys():
    with torch.device("meta"):
        model = create_model("timesformer", num_classes=400)
    expected = set(timm_vit_state_dict(768, 12, 196)) - {"head.weight", "head.bias"}
    assert set(model.backbone.state_dict()) == expected
    assert model.backbone.pos_embed.shape == (1, 197, 768)


def reference_divided_attention(model: TimeSformer, clip: torch.Tensor) -> torch.Tensor:
    """TimeSformer's divided space-time attention for one clip, one frame and one patch
    position at a time (the paper's Eq. 6-8), with the model's own sublayers."""
    vit = model.backbone
    t_count = clip.shape[0]
    patches = [vit.patch_embed(clip[t:t + 1])[0] + vit.pos_embed[0, 1:] + model.time_embed[0, t, 0]
               for t in range(t_count)]                                       # T x (P, C)
    cls = vit.cls_token[0, 0] + vit.pos_embed[0, 0]
    num_patches = patches[0].shape[0]
    for blk, temporal in zip(vit.blocks, model.temporal):
        # Temporal attention: at each patch position, across the T frames.
        updated = [p.clone() for p in patches]
        for n in range(num_patches):
            seq = torch.stack([patches[t][n] for t in range(t_count)])[None]
            res = temporal.temporal_fc(temporal.temporal_attn(temporal.temporal_norm1(seq)))[0]
            for t in range(t_count):
                updated[t][n] = patches[t][n] + res[t]
        # Spatial attention: within each frame, with the clip's cls token.
        cls_updates = []
        for t in range(t_count):
            tokens = torch.cat([cls[None], updated[t]])[None]
            res = blk.attn(blk.norm1(tokens))[0]
            cls_updates.append(res[0])
            updated[t] = updated[t] + res[1:]
        cls = cls + torch.stack(cls_updates).mean(0)
        cls = cls + blk.mlp(blk.norm2(cls))
        patches = [p + blk.mlp(blk.norm2(p)) for p in updated]
    return model.head(vit.norm(cls)[None])[0]


def test_timesformer_divided_attention_matches_reference_loop():
    torch.manual_seed(0)
    model = TimeSformer(num_classes=4, num_frames=3, image_size=32, vit="deit_tiny").eval()
    with torch.no_grad():
        # temporal_fc and time_embed start at zero; make the temporal path count.
        for temporal in model.temporal:
            temporal.temporal_fc.weight.normal_(0, 0.05)
            temporal.temporal_fc.bias.normal_(0, 0.05)
        model.time_embed.normal_(0, 0.5)
        clips = torch.randn(2, 3, 3, 32, 32)
        out = model(clips)
        expected = torch.stack([reference_divided_attention(model, c) for c in clips])
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)


def test_timesformer_rejects_wrong_frame_count():
    model = TimeSformer(num_classes=4, num_frames=3, image_size=32, vit="deit_tiny")
    with pytest.raises(ValueError, match="built for 3 frames, got 2; create it with num_frames=2"):
        model(torch.randn(1, 2, 3, 32, 32))


# --- Video Swin: shifted windows -------------------------------------------------------------

def test_cyclic_shift_is_roll_and_partition_round_trips():
    x = torch.randn(2, 4, 6, 6, 5)
    for shifts in [(1, 2, 3), (-2, -3, -3), (0, 3, 0)]:
        torch.testing.assert_close(cyclic_shift(x, shifts), torch.roll(x, shifts, (1, 2, 3)))
    windows = window_partition(x, (2, 3, 3))
    assert windows.shape == (2 * 2 * 2 * 2, 18, 5)
    # Window 1 of batch 0 is d in [0, 2), h in [0, 3), w in [3, 6), flattened d-h-w.
    torch.testing.assert_close(windows[1], x[0, 0:2, 0:3, 3:6].reshape(18, 5))
    torch.testing.assert_close(window_reverse(windows, (2, 3, 3), x.shape), x)


def test_effective_window_shrinks_and_stops_shifting_on_small_maps():
    assert effective_window((8, 56, 56), (8, 7, 7), (4, 3, 3)) == ((8, 7, 7), (0, 3, 3))
    assert effective_window((1, 16, 16), (8, 7, 7), (4, 3, 3)) == ((1, 7, 7), (0, 3, 3))
    assert effective_window((1, 4, 4), (8, 7, 7), (4, 3, 3)) == ((1, 4, 4), (0, 0, 0))


def reference_window_attention(block: SwinBlock3D, x: torch.Tensor, table_window) -> torch.Tensor:
    """Shifted-window attention token by token: token p attends token q iff, after the
    cyclic shift, they share a window and neither pair member wrapped around alone; the
    bias is read from the table by the in-window offset."""
    attn = block.attn
    _, d, h, w, c = x.shape
    xp = F.pad(x, (0, 0, 0, block.padded[2] - w, 0, block.padded[1] - h, 0, block.padded[0] - d))[0]
    dims = block.padded
    coords = list(itertools.product(*[range(n) for n in dims]))
    tokens = torch.stack([xp[p] for p in coords])                              # (L, C)
    qkv = attn.qkv(tokens)
    heads, hd = attn.num_heads, attn.head_dim
    q, k, v = (qkv[:, i * c:(i + 1) * c].reshape(-1, heads, hd) for i in range(3))
    rolled = [tuple((pi - s) % n for pi, s, n in zip(p, block.ss, dims)) for p in coords]
    wrapped = [tuple(pi < s for pi, s in zip(p, block.ss)) for p in coords]
    window = [tuple(ri // wi for ri, wi in zip(r, block.ws)) for r in rolled]
    wd, wh, ww = table_window
    out = torch.zeros_like(tokens)
    for i in range(len(coords)):
        allowed = [j for j in range(len(coords)) if window[j] == window[i] and wrapped[j] == wrapped[i]]
        bias = torch.stack([attn.relative_position_bias_table[
            ((rolled[i][0] % block.ws[0] - rolled[j][0] % block.ws[0] + wd - 1) * (2 * wh - 1)
             + (rolled[i][1] % block.ws[1] - rolled[j][1] % block.ws[1] + wh - 1)) * (2 * ww - 1)
            + (rolled[i][2] % block.ws[2] - rolled[j][2] % block.ws[2] + ww - 1)] for j in allowed])
        logits = torch.einsum("hd,jhd->jh", q[i] * attn.scale, k[allowed]) + bias   # (J, heads)
        out[i] = torch.einsum("jh,jhd->hd", logits.softmax(0), v[allowed]).reshape(c)
    out = attn.proj(out)
    grid = torch.zeros(*dims, c)
    for p, o in zip(coords, out):
        grid[p] = o
    return grid[:d, :h, :w][None]


@pytest.mark.parametrize("shifted", [False, True])
def test_swin_window_attention_matches_token_by_token_reference(shifted):
    torch.manual_seed(0)
    # 3x5x6 map, 2x3x3 windows: padding in D and H, shifts of 1 in every dim.
    block = SwinBlock3D(dim=8, num_heads=2, grid=(3, 5, 6), window=(2, 3, 3), shifted=shifted).eval()
    assert block.ss == ((1, 1, 1) if shifted else (0, 0, 0))
    assert block.padded == (4, 6, 6)
    x = torch.randn(1, 3, 5, 6, 8)
    with torch.no_grad():
        torch.testing.assert_close(block.attend(x), reference_window_attention(block, x, (2, 3, 3)),
                                   atol=1e-5, rtol=1e-4)


def test_swin_shifted_mask_blocks_exactly_the_wrapped_pairs():
    block = SwinBlock3D(dim=8, num_heads=2, grid=(4, 6, 6), window=(2, 3, 3), shifted=True)
    mask = block.attn_mask                                                 # (nW, N, N)
    assert mask.shape == (2 * 2 * 2, 18, 18)
    assert set(mask.unique().tolist()) == {0.0, -100.0}
    # The first window holds no wrapped token: nothing is masked. The last window mixes
    # wrapped and unwrapped tokens in all three dims: 8 regions of 1..4 tokens each.
    assert (mask[0] == 0).all()
    allowed_per_token = (mask[-1] == 0).sum(-1)
    assert sorted(set(allowed_per_token.tolist())) == [1, 2, 4]


# --- MViT: pooling attention -----------------------------------------------------------------

def test_mvit_stage_resolutions_and_pooled_keys():
    with torch.device("meta"):
        model = create_model("mvit_s", num_classes=400)
    blocks = model.blocks
    assert [b.attn.q_thw for b in blocks] == \
        [(8, 56, 56)] + [(8, 28, 28)] * 2 + [(8, 14, 14)] * 5 + [(8, 7, 7)] * 2
    # Adaptive KV stride (1x8x8, divided by each query stride): keys/values are pooled to
    # 8x7x7, except in a stage's first block, which pools them from the previous stage's map.
    kv = [b.attn.kv_thw for b in blocks]
    assert kv == [(8, 7, 7), (8, 14, 14), (8, 7, 7), (8, 14, 14)] + [(8, 7, 7)] * 4 + [(8, 14, 14), (8, 7, 7)]
    assert [b.attn.num_heads for b in blocks] == [1, 2, 2, 4, 4, 4, 4, 4, 8, 8]
    assert model.num_features == 768


def test_mvit_pooled_residual_is_the_reference_max_pool3d():
    torch.manual_seed(0)
    block = MultiScaleBlock(dim=8, dim_out=16, num_heads=2, thw=(2, 6, 6), stride_q=(1, 2, 2),
                            stride_kv=(1, 2, 2))
    x = torch.randn(1, 1 + 2 * 6 * 6, 8)
    grid = x[:, 1:].reshape(1, 2, 6, 6, 8).permute(0, 4, 1, 2, 3)
    pooled = torch.nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))(grid).flatten(2).transpose(1, 2)
    torch.testing.assert_close(block._skip(x), torch.cat([x[:, :1], pooled], dim=1))
    assert block.attn(x).shape == (1, 1 + 2 * 3 * 3, 8)


def test_mvit_separable_position_embedding():
    model = create_model("mvit_s", num_classes=5, num_frames=4, image_size=64)
    t, hw = model.pos_embed_temporal.shape[1], model.pos_embed_spatial.shape[1]
    expected = torch.cat([model.pos_embed_class,
                          model.pos_embed_spatial.repeat(1, t, 1)
                          + torch.repeat_interleave(model.pos_embed_temporal, hw, dim=1)], dim=1)
    torch.testing.assert_close(model.pos_embed(), expected)


def test_vit_cls_rows_copy_the_token_per_frame():
    vit = create_vit("deit_tiny", image_size=32, frames=3)
    for n in (1, 3, 5):
        rows = vit.cls_rows(n)
        assert rows.shape == (n, 1, 192)
        torch.testing.assert_close(rows, vit.cls_token.expand(n, 1, 192))


def test_vivit_rejects_wrong_frame_count():
    model = create_model("vivit_fe", num_classes=5, num_frames=2, image_size=32)
    with pytest.raises(ValueError, match="built for 2 frames, got 3; create it with num_frames=3"):
        model(torch.randn(1, 3, 3, 32, 32))


# --- Conv3d as conv2d (ExecuTorch has no conv3d kernel) ----------------------------------------

@pytest.mark.parametrize("kernel, stride, padding, groups, t", [
    ((3, 7, 7), (2, 4, 4), (1, 3, 3), 1, 4),     # MViT's stem
    ((3, 7, 7), (2, 4, 4), (1, 3, 3), 1, 5),     # odd clip length
    ((3, 3, 3), (1, 2, 2), (1, 1, 1), 6, 3),     # MViT's depthwise pooling
    ((3, 3, 3), (2, 1, 1), (0, 1, 1), 3, 7),     # no temporal padding, temporal stride
])
def test_conv3d_frames_equals_conv3d(kernel, stride, padding, groups, t):
    torch.manual_seed(0)
    conv = torch.nn.Conv3d(6, 6, kernel, stride, padding, groups=groups, bias=groups == 1)
    x = torch.randn(2, 6, t, 11, 12)
    expected = conv(x).transpose(1, 2)                                     # (N, T', O, H', W')
    torch.testing.assert_close(conv3d_frames(x.transpose(1, 2), conv), expected, atol=1e-5, rtol=1e-5)


def test_swin_patch_embedding_equals_the_reference_conv3d():
    torch.manual_seed(0)
    model = create_model("swin_t", num_classes=5, num_frames=3, image_size=30)   # pads T, H, W
    embed = model.patch_embed
    x = torch.randn(2, 3, 3, 30, 30)
    reference = embed.proj(F.pad(x.transpose(1, 2), (0, 2, 0, 2, 0, 1)))      # (B, C, D, H, W)
    torch.testing.assert_close(embed(x), embed.norm(reference.permute(0, 2, 3, 4, 1)), atol=1e-5, rtol=1e-5)
