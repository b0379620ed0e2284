"""Training on bad input: unreadable clips (too many stop the run, none can be stepped on),
a host with fewer GPUs than processes, temp files left by a killed run."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch

from mobilekit.errors import MobilekitError
from mobilekit.train.config import TrainConfig
from mobilekit.train.distributed import init_distributed
from mobilekit.train.loop import TrainingError, fit
from test_data_layouts import write_folder

T, S = 2, 32


def _break(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00not a video" * 50)


def _config(tmp_path, root, **kw) -> TrainConfig:
    base = dict(model="tsn_b0", dataset="folder", data_root=str(root), frames=T, size=S, epochs=1, batch_size=2,
                effective_batch=2, out=str(tmp_path / "run"), device="cpu", workers=0)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("split", ["train", "val"])
def test_more_unreadable_clips_than_allowed_stop_the_run(tmp_path, split):
    root = write_folder(tmp_path / "ds")   # train: 4 clips, val: 2 clips
    _break(root / split / "waving" / "broken.mp4")
    phase, total = ("training", 5) if split == "train" else ("validation", 3)
    with pytest.warns(RuntimeWarning, match="skipping sample"):
        with pytest.raises(TrainingError, match=rf"^1 of the {total} {phase} clips of epoch 1 are unreadable "
                                                r"\(more than --max-unreadable 10%\)"):
            fit(_config(tmp_path, root))
    assert not (tmp_path / "run" / "best.pt").exists()
    # Allowed: the run goes on and counts it.
    with pytest.warns(RuntimeWarning, match="skipping sample"):
        summary = fit(_config(tmp_path, root, max_unreadable=0.5))
    assert summary["history"][0][f"skipped_{split}"] == 1 and (tmp_path / "run" / "best.pt").is_file()


def test_a_wholly_unreadable_dataset_is_one_line_and_writes_no_checkpoint(tmp_path):
    root = tmp_path / "ds"
    for split, n in (("train", 2), ("val", 1)):
        for name in ("jumping", "waving"):
            for k in range(n):
                _break(root / split / name / f"{k}.mp4")
    out = tmp_path / "run"
    run = subprocess.run([sys.executable, "-W", "ignore", "-m", "mobilekit.train", "--model", "tsn_b0",
                          "--dataset", "folder", "--data-root", str(root), "--frames", str(T), "--size", str(S),
                          "--epochs", "1", "--batch-size", "2", "--device", "cpu", "--max-unreadable", "1",
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr[-2000:]
    progress = "clip/s"  # tqdm's bar, redrawn after carriage returns, then cleared
    assert [line for line in re.split(r"[\r\n]", run.stderr) if line.strip() and progress not in line] == [
        "error: 4 of the 4 training clips of epoch 1 are unreadable (none could be read); fix or remove the "
        "files named in the 'skipping sample' warnings, or allow more with --max-unreadable"]
    assert "best validation" not in run.stdout
    assert not (out / "best.pt").exists() and not (out / "last.pt").exists()


def test_fp16_accumulation_group_without_readable_clips_skips_its_step(tmp_path):
    """GradScaler.step asserts ("No inf checks were recorded") when no backward ran since the
    last step: such a group must not step at all."""
    root = tmp_path / "ds"
    from test_data_layouts import write_video

    write_video(root / "train" / "jumping" / "a.mp4", 10, codec="mpeg4")
    write_video(root / "train" / "waving" / "b.mp4", 70, codec="mpeg4")
    _break(root / "train" / "waving" / "c.mp4")
    write_video(root / "val" / "jumping" / "a.mp4", 10, codec="mpeg4")
    write_video(root / "val" / "waving" / "b.mp4", 70, codec="mpeg4")
    cfg = _config(tmp_path, root, amp="fp16", batch_size=1, effective_batch=1, max_unreadable=0.5)
    with pytest.warns(RuntimeWarning, match="skipping sample"):
        summary = fit(cfg)
    assert summary["steps"] == 2 and summary["history"][0]["skipped_train"] == 1  # 3 groups, 1 unreadable


def test_training_start_removes_stale_checkpoint_temp_files(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    stale = out / ".last.pt.a1b2c3d4.tmp"
    stale.write_bytes(b"half a checkpoint from a killed run")
    cfg = TrainConfig(model="tsn_b0", dataset="synthetic", frames=T, size=S, epochs=1, batch_size=2,
                      effective_batch=2, train_samples=2, val_samples=2, out=str(out), device="cpu")
    fit(cfg)
    assert not stale.exists() and (out / "last.pt").is_file()
    assert not list(out.glob(".*.tmp"))


def test_more_processes_than_gpus_is_one_line(monkeypatch):
    """torchrun --nproc-per-node 2 on a host with fewer GPUs: every process stops with one
    line before it asks for a GPU that is not there."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    procs = gpus + 1
    env = {"WORLD_SIZE": str(procs), "RANK": str(procs - 1), "LOCAL_RANK": str(procs - 1),
           "LOCAL_WORLD_SIZE": str(procs), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    device = "cuda" if gpus == 0 else "auto"
    expected = ("asks for a CUDA GPU but this host has none visible" if gpus == 0 else
                f"torchrun starts {procs} processes on this host but it has {gpus} GPU")
    with pytest.raises(MobilekitError, match=expected):
        init_distributed(device)
    run = subprocess.run([sys.executable, "-m", "mobilekit.train", "--device", device, "--model", "tsn_b0"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, **env})
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr[-2000:]
    assert expected in run.stderr
