"""DataLoader workers send uint8 frames; augmentation and normalisation finish on the device
with exactly the numbers of the all-float path. Persistent workers still see each epoch."""

from __future__ import annotations

import pytest
import torch

from mobilekit.data import ClipBatch, build_dataset, collate_skip_bad
from mobilekit.train.distributed import EpochSampler
from mobilekit.train.loop import _loader
from test_data_layouts import write_folder

T, S = 2, 32


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("folder"))


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_uint8_batch_normalised_on_the_device_equals_the_float_path(folder, train):
    old = build_dataset("folder", folder, "train", T, S, train=train, seed=3)
    new = build_dataset("folder", folder, "train", T, S, train=train, seed=3, device_transform=True)
    indices = range(len(old))
    for epoch in (0, 1):
        want = torch.stack([old[(epoch, i)][0] for i in indices])
        batch, labels, skipped = collate_skip_bad([new[(epoch, i)] for i in indices])
        assert isinstance(batch, ClipBatch) and batch.frames.dtype == torch.uint8 and skipped == 0
        assert batch.frames.shape == (len(old), T, 3, S, S)  # cropped before it travels
        got = batch.to_input("cpu")
        assert got.dtype == torch.float32 and torch.equal(got, want)
        assert labels.tolist() == [old.samples[i].label for i in indices]


def test_persistent_workers_see_every_epoch(folder):
    ds = build_dataset("folder", folder, "train", T, S, train=True, seed=0, device_transform=True)
    sampler = EpochSampler(len(ds), shuffle=False, with_epoch=True)
    loader = _loader(ds, sampler, batch_size=len(ds), workers=1, device=torch.device("cpu"))
    assert loader.persistent_workers
    batches = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        (clips, _, _), = list(loader)
        batches.append(clips.to_input("cpu"))
    # Epoch 1 draws other crops and augmentations than epoch 0, as a fresh in-process dataset does.
    assert not torch.equal(batches[0], batches[1])
    ds.set_epoch(1)
    ds.device_transform = False
    assert torch.equal(batches[1], torch.stack([ds[i][0] for i in range(len(ds))]))
