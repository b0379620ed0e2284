"""Tiny datasets written with PyAV (and PIL for EK100 frames) in each public layout, read back
through build_dataset. The writers are also used by tests/test_train.py."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY

av = pytest.importorskip("av")

from mobilekit.data import build_dataset, collate_skip_bad  # noqa: E402
from mobilekit.data.datasets import DatasetError  # noqa: E402
from mobilekit.data.video import count_frames, decode_frames  # noqa: E402

VIDEO_FRAMES = 6
W, H = 48, 32


def write_video(path: Path, value: int, codec: str = "libx264", frames: int = VIDEO_FRAMES) -> Path:
    """A small clip whose frame i is a flat grey of value + 20 * i (readable back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=8)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(frames):
            img = np.full((H, W, 3), min(255, value + 20 * i), np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_ssv2(root: Path) -> Path:
    templates = ["Pushing [something] from left to right", "Pushing [something] from right to left",
                 "Holding [something]"]
    (root / "labels").mkdir(parents=True)
    (root / "labels" / "labels.json").write_text(json.dumps(
        {t.replace("[", "").replace("]", ""): str(i) for i, t in enumerate(templates)}))
    for split, ids in (("train", ["101", "102", "103"]), ("validation", ["201", "202"])):
        entries = [{"id": vid, "label": "x", "template": templates[k % 3], "placeholders": ["x"]}
                   for k, vid in enumerate(ids)]
        (root / "labels" / f"{split}.json").write_text(json.dumps(entries))
        for k, vid in enumerate(ids):
            write_video(root / "20bn-something-something-v2" / f"{vid}.webm", 40 * k, codec="libvpx-vp9")
    return root


def write_epic100(root: Path) -> Path:
    from PIL import Image

    header = ["narration_id", "participant_id", "video_id", "narration_timestamp", "start_timestamp",
              "stop_timestamp", "start_frame", "stop_frame", "narration", "verb", "verb_class", "noun",
              "noun_class", "all_nouns", "all_noun_classes"]
    rows = {"train": [("P01_01_0", "P01", "P01_01", 1, 5, "open", 0, "door", 1),
                      ("P01_01_1", "P01", "P01_01", 6, 9, "close", 1, "tap", 2)],
            "validation": [("P02_01_0", "P02", "P02_01", 2, 7, "close", 1, "door", 1)]}
    for split, items in rows.items():
        with (root / f"EPIC_100_{split}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            for nid, pid, vid, start, stop, verb, vc, noun, nc in items:
                w.writerow([nid, pid, vid, "00:00:00.00", "00:00:00.00", "00:00:01.00", start, stop,
                            f"{verb} {noun}", verb, vc, noun, nc, f"['{noun}']", f"[{nc}]"])
                frames = root / pid / "rgb_frames" / vid
                frames.mkdir(parents=True, exist_ok=True)
                for i in range(start, stop + 1):
                    Image.new("RGB", (W, H), (10 * i, 50, 90)).save(frames / f"frame_{i:010d}.jpg")
    for head, names in (("verb", ["take", "open", "close"]), ("noun", ["tap", "door", "plate", "cup"])):
        with (root / f"EPIC_100_{head}_classes.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "key", "instances", "category"])
            for i, n in enumerate(names):
                w.writerow([i, n, f"['{n}']", "x"])
    return root


def write_kinetics(root: Path) -> Path:
    (root / "annotations").mkdir(parents=True)
    items = {"train": [("abseiling", "aaa"), ("archery", "bbb"), ("abseiling", "ccc")],
             "validate": [("archery", "ddd"), ("abseiling", "eee")]}
    for split, rows in items.items():
        with (root / "annotations" / f"{split}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["label", "youtube_id", "time_start", "time_end", "split", "is_cc"])
            for k, (label, yid) in enumerate(rows):
                w.writerow([label, yid, 10, 20, split, 0])
                # The official downloader's layout (a folder per class) for train, flat for validate.
                folder = root / split / label if split == "train" else root / split
                write_video(folder / f"{yid}_000010_000020.mp4", 30 * k)
    return root


def write_folder(root: Path) -> Path:
    for split, n in (("train", 2), ("val", 1)):
        for c, name in enumerate(["jumping", "waving"]):
            for k in range(n):
                write_video(root / split / name / f"{name}{k}.mp4", 60 * c + 10 * k, codec="mpeg4")
    return root


LAYOUTS = {"ssv2": write_ssv2, "epic100": write_epic100, "kinetics": write_kinetics, "folder": write_folder}


@pytest.fixture(scope="module")
def layouts(tmp_path_factory) -> dict[str, Path]:
    """Every public layout, written once per module."""
    return {name: write(tmp_path_factory.mktemp(name)) for name, write in LAYOUTS.items()}


# ----------------------------------------------------------------------------- decoding
def test_webm_frame_count_comes_from_the_duration(tmp_path):
    path = write_video(tmp_path / "a.webm", 0, codec="libvpx-vp9", frames=7)
    with av.open(str(path)) as c:
        assert c.streams.video[0].frames == 0  # why the duration is needed
    assert count_frames(path) == 7


def test_decode_picks_the_requested_frames_and_resizes(tmp_path):
    path = write_video(tmp_path / "a.mp4", 0)
    clip = decode_frames(path, indices=[0, 3, 5, 5], short_side=64)
    assert clip.shape == (4, 3, 64, 96) and clip.dtype == torch.uint8
    grey = clip[:, 0, 32, 48].int()
    assert (grey - torch.tensor([0, 60, 100, 100])).abs().max() <= 6
    # Eval sampling: segment centres of 6 frames in 3 segments are 1, 3, 5.
    centres = decode_frames(path, num_frames=3)[:, 0, 16, 24].int()
    assert (centres - torch.tensor([20, 60, 100])).abs().max() <= 6


def test_indices_past_the_real_end_repeat_the_last_frame(tmp_path):
    path = write_video(tmp_path / "a.mp4", 0)
    clip = decode_frames(path, indices=[1, 50])
    assert torch.equal(clip[1], decode_frames(path, indices=[VIDEO_FRAMES - 1])[0])


# ----------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_each_layout_reads_back_clips_and_labels(layouts, name):
    t, s = TINY["num_frames"], TINY["image_size"]
    train = build_dataset(name, layouts[name], "train", t, s, train=True)
    val = build_dataset(name, layouts[name], "val", t, s, train=False)
    clip, label = train[0]
    assert clip.shape == (t, 3, s, s) and clip.dtype == torch.float32
    assert torch.isfinite(clip).all()
    assert val.classes == train.classes
    expected = {"ssv2": ["Pushing something from left to right", "Pushing something from right to left",
                         "Holding something"],
                "kinetics": ["abseiling", "archery"], "folder": ["jumping", "waving"],
                "epic100": {"verb": ["take", "open", "close"], "noun": ["tap", "door", "plate", "cup"]}}
    assert train.classes == expected[name]
    labels = [val.samples[i].label for i in range(len(val))]
    expected_val = {"ssv2": [0, 1], "kinetics": [1, 0], "folder": [0, 1],
                    "epic100": [{"verb": 1, "noun": 1, "action": 5}]}
    assert labels == expected_val[name]


def test_ssv2_never_flips_left_and_right(layouts):
    ds = build_dataset("ssv2", layouts["ssv2"], "train", 2, 64, train=True)
    assert ds.transform.augment.flip is False


def test_unknown_dataset_and_wrong_root_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset 'ucf'"):
        build_dataset("ucf", tmp_path, "train", 2, 64, True)
    with pytest.raises(DatasetError, match="labels.json"):
        build_dataset("ssv2", tmp_path, "train", 2, 64, True)
    with pytest.raises(DatasetError, match="EPIC_100_train.csv"):
        build_dataset("epic100", tmp_path, "train", 2, 64, True)


def test_corrupt_and_missing_videos_are_skipped_and_counted(tmp_path):
    root = write_folder(tmp_path / "ds")
    (root / "train" / "waving" / "broken.mp4").write_bytes(b"\x00not a video" * 50)
    good = root / "train" / "jumping" / "jumping0.mp4"
    truncated = root / "train" / "jumping" / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[:300])
    ds = build_dataset("folder", root, "train", 2, 64, train=False)
    names = [s.path.name for s in ds.samples]
    (root / "train" / "jumping" / "jumping1.mp4").unlink()  # deleted after listing: missing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batch = [ds[i] for i in range(len(ds))]
    bad = {names[i] for i, b in enumerate(batch) if b is None}
    assert bad == {"broken.mp4", "truncated.mp4", "jumping1.mp4"}
    assert sum("skipping sample" in str(w.message) for w in caught) == 3
    clips, labels, skipped = collate_skip_bad(batch)
    assert skipped == 3 and clips.shape[0] == len(ds) - 3 == labels.shape[0]
