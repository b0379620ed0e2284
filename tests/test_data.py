"""The synthetic temporal dataset, TSN sampling and clip transforms."""

from __future__ import annotations

import pytest
import torch

from conftest import TINY
from mobilekit.data import SyntheticVideoDataset, build_dataset
from mobilekit.data.sampling import tsn_indices
from mobilekit.data.transforms import AugmentConfig, ClipTransform

T, S = 4, TINY["image_size"]


def test_synthetic_is_deterministic_by_seed():
    a = SyntheticVideoDataset(6, T, S, num_classes=4, seed=3)
    b = SyntheticVideoDataset(6, T, S, num_classes=4, seed=3)
    c = SyntheticVideoDataset(6, T, S, num_classes=4, seed=4)
    for i in range(6):
        assert torch.equal(a[i][0], b[i][0]) and a[i][1] == b[i][1]
    assert not torch.equal(a[0][0], c[0][0])
    clip, label = a[5]
    assert clip.shape == (T, 3, S, S) and clip.dtype == torch.float32 and label == 1
    assert a.classes == ["moving right", "moving left", "growing", "shrinking"]


def test_synthetic_is_normalised_with_imagenet_stats():
    raw = SyntheticVideoDataset(2, T, S, normalize=False)[0][0]
    norm = SyntheticVideoDataset(2, T, S)[0][0]
    assert 0 <= raw.min() and raw.max() <= 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(norm, (raw - mean) / std, atol=1e-6)


@pytest.mark.parametrize("motion", range(4))
def test_opposite_classes_are_the_same_frames_in_reverse_order(motion):
    ds = SyntheticVideoDataset(8, T, S, num_classes=8, seed=1)
    for index in range(3):
        p = ds.sample_params(index, motion)
        forward, backward = ds.render(p, 2 * motion), ds.render(p, 2 * motion + 1)
        assert torch.equal(backward, forward.flip(0))
        assert not torch.equal(backward, forward)  # the order differs: that is the label


def test_a_single_frame_carries_no_label_information():
    """An order-blind model (TSN: per-frame features averaged over time) gives the same
    output for a clip and its partner of the opposite class, so it cannot beat chance."""
    from mobilekit.models import create_model

    torch.manual_seed(0)
    tsn = create_model("tsn_b0", num_classes=2, num_frames=T, image_size=S).eval()
    ds = SyntheticVideoDataset(4, T, S, num_classes=2, seed=2)
    p = ds.sample_params(0, 0)
    pair = torch.stack([ds.render(p, 0), ds.render(p, 1)])
    with torch.no_grad():
        right, left = tsn(pair)
    assert torch.allclose(right, left, atol=1e-5)
    # Every frame of the "moving left" clip is a frame of the "moving right" clip.
    frames0 = {f.numpy().tobytes() for f in pair[0]}
    assert {f.numpy().tobytes() for f in pair[1]} == frames0


def test_synthetic_motion_goes_the_way_its_class_says():
    ds = SyntheticVideoDataset(8, T, S, num_classes=8, seed=0, normalize=False, noise=0.0)

    for label, check in ((0, lambda x, y, a: x[-1] > x[0] + 5), (1, lambda x, y, a: x[-1] < x[0] - 5),
                         (2, lambda x, y, a: a[-1] > 2 * a[0]), (3, lambda x, y, a: a[-1] * 2 < a[0]),
                         (6, lambda x, y, a: y[-1] > y[0] + 5), (7, lambda x, y, a: y[-1] < y[0] - 5)):
        p = ds.sample_params(0, label // 2)
        clip = ds.render(p, label)
        bg = torch.tensor(p.background).view(1, 3, 1, 1)
        mask = ((clip - bg).abs().sum(1) > 0.3).float()        # the shape's pixels, (T, H, W)
        xs = torch.arange(S).float()
        area = mask.sum((1, 2))
        x = (mask.sum(1) * xs).sum(1) / area
        y = (mask.sum(2) * xs).sum(1) / area
        assert check(x, y, area), (label, x, y, area)


def test_synthetic_rejects_bad_sizes():
    with pytest.raises(ValueError, match="even number"):
        SyntheticVideoDataset(4, T, S, num_classes=3)
    with pytest.raises(ValueError, match="at least 2"):
        SyntheticVideoDataset(4, 1, S)


def test_synthetic_splits_do_not_share_clips():
    train = build_dataset("synthetic", None, "train", T, S, train=True, num_samples=4)
    val = build_dataset("synthetic", None, "val", T, S, train=False, num_samples=4)
    assert not torch.equal(train[0][0], val[0][0])


def test_tsn_sampling_random_in_segments_for_training_centres_for_eval():
    assert tsn_indices(16, 4, train=False) == [2, 6, 10, 14]
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        idx = tsn_indices(16, 4, train=True, generator=g)
        assert all(4 * k <= i < 4 * (k + 1) for k, i in enumerate(idx))
    assert tsn_indices(2, 4, train=False) == [0, 0, 1, 1]  # short videos repeat frames
    assert tsn_indices(10, 2, train=False, start=100) == [102, 107]


def test_augmentations_are_the_same_for_every_frame_of_a_clip():
    frame = (torch.rand(1, 3, 80, 96) * 255).to(torch.uint8)
    clip = frame.repeat(4, 1, 1, 1)
    cfg = AugmentConfig(erase_p=1.0)
    for seed in range(5):
        out = ClipTransform(64, train=True, augment=cfg)(clip, torch.Generator().manual_seed(seed))
        assert out.shape == (4, 3, 64, 64)
        assert torch.allclose(out, out[:1].expand_as(out))  # identical frames stay identical
    a = ClipTransform(64, train=True)(clip, torch.Generator().manual_seed(0))
    b = ClipTransform(64, train=True)(clip, torch.Generator().manual_seed(1))
    assert not torch.equal(a, b)
    evaluation = ClipTransform(64, train=False)
    assert torch.equal(evaluation(clip), evaluation(clip))
