"""Real training steps on every dataset layout, exact resume, checkpoints, NaN loss, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import TINY, mobilekit_cli
from mobilekit.errors import WeightsError
from mobilekit.train.checkpoint import load_checkpoint, load_model_from_checkpoint, save_checkpoint
from mobilekit.train.config import TrainConfig
from mobilekit.train.loop import TrainingError, fit
from test_data_layouts import layouts  # noqa: F401  (fixture: tiny datasets in each layout)

T, S = TINY["num_frames"], TINY["image_size"]


def tiny_config(tmp_path, **kw) -> TrainConfig:
    base = dict(model="tsn_b0", dataset="synthetic", frames=T, size=S, epochs=1, batch_size=2,
                effective_batch=2, train_samples=4, val_samples=2, out=str(tmp_path / "run"), device="cpu")
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("layout", ["ssv2", "epic100", "kinetics", "folder"])
def test_one_training_epoch_on_each_public_layout(tmp_path, layouts, layout):
    cfg = tiny_config(tmp_path, dataset=layout, data_root=str(layouts[layout]), max_steps=1)
    summary = fit(cfg)
    assert summary["steps"] == 1
    model, meta = load_model_from_checkpoint(tmp_path / "run" / "last.pt")
    assert meta["model"] == "tsn_b0" and meta["step"] == 1
    if layout == "epic100":
        assert meta["classes"]["verb"] == ["take", "open", "close"]
        assert model.mobilekit_config["num_classes"] == {"verb": 3, "noun": 4}
    # The step changed the weights (a real optimizer step, not a dry run).
    from mobilekit.models import create_model

    torch.manual_seed(cfg.seed)
    fresh = create_model("tsn_b0", num_classes=model.mobilekit_config["num_classes"], num_frames=T, image_size=S)
    before = fresh.state_dict()
    changed = [k for k, v in model.state_dict().items() if v.dtype.is_floating_point and not torch.equal(v, before[k])]
    assert changed


def test_epoch_metrics_for_ek100_include_verb_noun_and_action(tmp_path, layouts):
    cfg = tiny_config(tmp_path, dataset="epic100", data_root=str(layouts["epic100"]))
    summary = fit(cfg)
    record = summary["history"][0]
    for key in ("val_verb_top1", "val_noun_top1", "val_action_top1", "val_verb_top5", "train_clips_per_s",
                "eval_clips_per_s"):
        assert key in record
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert logged[0]["epoch"] == 1 and logged[0]["val_action_top1"] == record["val_action_top1"]
    assert (tmp_path / "run" / "best.pt").is_file()


def test_resume_continues_from_the_saved_step_exactly(tmp_path):
    common = dict(model="vlf_b0", train_samples=8, epochs=2, effective_batch=4)  # 2 steps per epoch
    straight = fit(tiny_config(tmp_path / "a", max_steps=3, **common))
    assert straight["steps"] == 3
    fit(tiny_config(tmp_path / "b", max_steps=1, **common))
    saved = load_checkpoint(tmp_path / "b" / "run" / "last.pt")
    assert saved["step"] == 1 and saved["epoch"] == 0 and saved["extra"]["batch_in_epoch"] == 2

    # Resuming loads the optimizer state as saved, then continues at step 2 (mid-epoch).
    resumed = fit(tiny_config(tmp_path / "b", max_steps=3, resume=str(tmp_path / "b" / "run" / "last.pt"),
                              **common))
    assert resumed["steps"] == 3
    a = load_checkpoint(tmp_path / "a" / "run" / "last.pt")
    b = load_checkpoint(tmp_path / "b" / "run" / "last.pt")
    for k, v in a["state_dict"].items():
        assert torch.equal(v, b["state_dict"][k]), k
    for (ka, sa), (kb, sb) in zip(a["optimizer"]["state"].items(), b["optimizer"]["state"].items()):
        assert all(torch.equal(sa[n], sb[n]) for n in sa), ka
    assert a["scheduler"] == b["scheduler"]


def test_resumed_optimizer_state_is_identical_to_the_saved_one(tmp_path):
    from mobilekit.models import create_model

    model = create_model("tsn_b0", **TINY)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, T, 3, S, S)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path / "x.pt", model, classes=list("abcde"), optimizer=opt, step=1)
    restored = torch.optim.AdamW(create_model("tsn_b0", **TINY).parameters(), lr=1e-3)
    restored.load_state_dict(load_checkpoint(path)["optimizer"])
    for p, q in zip(opt.state_dict()["state"].values(), restored.state_dict()["state"].values()):
        assert all(torch.equal(p[n], q[n]) for n in p)


def test_corrupt_truncated_or_foreign_checkpoints_are_clear_errors(tmp_path):
    from mobilekit.models import create_model

    model = create_model("tsn_b0", **TINY)
    good = save_checkpoint(tmp_path / "good.pt", model, classes=list("abcde"))
    assert not list(tmp_path.glob("*.tmp"))  # the temp file was renamed into place
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:4000])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(2000))
    foreign = tmp_path / "foreign.pt"
    torch.save(model.state_dict(), foreign)
    for path, message in ((truncated, "cannot read checkpoint"), (garbage, "cannot read checkpoint"),
                          (foreign, "not a mobilekit checkpoint"), (tmp_path / "nope.pt", "does not exist")):
        with pytest.raises(WeightsError, match=message):
            load_model_from_checkpoint(path)


def test_checkpoint_rebuilds_the_model_with_identical_outputs(tmp_path, tiny_clip):
    from mobilekit.models import create_model

    model = create_model("vlf_b0", **TINY).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, classes=list("abcde"), epoch=3, metrics={"val_top1": 0.5})
    rebuilt, meta = load_model_from_checkpoint(path)
    assert meta["model"] == "vlf_b0" and meta["epoch"] == 3 and meta["metrics"] == {"val_top1": 0.5}
    assert meta["model_config"] == model.mobilekit_config and meta["classes"] == list("abcde")
    with torch.no_grad():
        assert torch.equal(model(tiny_clip), rebuilt(tiny_clip))


def test_nan_loss_stops_with_the_step(tmp_path):
    # A huge learning rate blows the weights up in one step; the next loss is not finite.
    cfg = tiny_config(tmp_path, lr=1e30, train_samples=8, effective_batch=2)
    with pytest.raises(TrainingError, match=r"loss is (nan|inf) at step 2"):
        fit(cfg)


def test_cli_trains_and_reports_one_line_errors(tmp_path):
    out = tmp_path / "cli"
    run = subprocess.run(mobilekit_cli() + ["train", "--model", "tsn_b0", "--frames", str(T), "--size", str(S),
                                            "--epochs", "1", "--batch-size", "2", "--train-samples", "2",
                                            "--val-samples", "2", "--device", "cpu", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "epoch   1" in run.stdout and "clips/s" in run.stdout and (out / "best.pt").is_file()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    run = subprocess.run([sys.executable, "-m", "mobilekit.train", "--resume", str(bad), "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2
    assert run.stderr.strip().startswith("error: cannot read checkpoint") and len(run.stderr.strip().splitlines()) == 1


def test_torchrun_trains_with_ddp_on_two_cpu_processes(tmp_path):
    """The same command under torchrun: DistributedDataParallel over gloo, 2 processes."""
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "mobilekit.train", "--model", "tsn_b0", "--frames", str(T), "--size", str(S),
                          "--epochs", "1", "--batch-size", "2", "--effective-batch", "4", "--train-samples", "8",
                          "--val-samples", "4", "--device", "cpu", "--out", str(out)],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "cpu x2" in run.stdout and "accumulation = 4 effective" in run.stdout
    assert run.stdout.count("best validation") == 1  # process 0 reports for both
    (record,) = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert record["step"] == 2  # 8 clips / (2 processes x 2 clips x 1 accumulation) per step
    _, meta = load_model_from_checkpoint(out / "last.pt")
    assert meta["epoch"] == 1


def test_warmup_ramps_the_learning_rate_linearly(tmp_path):
    # 2 optimizer steps of a 4-step warm-up: the lr applied last is 2/4 of --lr.
    cfg = tiny_config(tmp_path, lr=1e-3, warmup_steps=4, train_samples=4, batch_size=2, effective_batch=2)
    summary = fit(cfg)
    assert summary["steps"] == 2
    assert summary["history"][0]["lr"] == pytest.approx(1e-3 * 2 / 4)
