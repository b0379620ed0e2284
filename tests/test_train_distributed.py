"""DDP decisions are collective: two real processes over gloo on the CPU (torch
multiprocessing, as torchrun would start them), with bad data on one process only."""

from __future__ import annotations

import multiprocessing
import os
import socket

import pytest
import torch
from torch.utils.data import Dataset

T, S = 2, 32
WORLD = 2


class _BadOnOneProcess(Dataset):
    """A synthetic split whose clips are NaN on process `nan_rank`, and whose `unreadable`
    items are None (what a video dataset gives for a file it cannot decode)."""

    def __init__(self, ds, nan_rank: int | None, unreadable: tuple[int, ...]):
        self.ds, self.classes = ds, ds.classes
        self.nan = nan_rank == int(os.environ["RANK"])
        self.unreadable = unreadable

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, index):
        if index in self.unreadable:
            return None
        clip, label = self.ds[index]
        return (torch.full_like(clip, float("nan")) if self.nan else clip), label


def _process(rank: int, port: int, out: str, nan_rank, val_unreadable, results) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_WORLD_SIZE=str(WORLD),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    import mobilekit.train.loop as loop
    from mobilekit.train.config import TrainConfig

    build = loop.build_datasets

    def build_with_bad_data(cfg):
        train, val = build(cfg)
        return _BadOnOneProcess(train, nan_rank, ()), _BadOnOneProcess(val, None, val_unreadable)

    loop.build_datasets = build_with_bad_data
    cfg = TrainConfig(model="tsn_b0", dataset="synthetic", frames=T, size=S, epochs=1, batch_size=2,
                      effective_batch=4, train_samples=4, val_samples=3, out=out, device="cpu", workers=0,
                      max_unreadable=0.5)
    try:
        summary = loop.fit(cfg)
        results.put((rank, "ok", summary["history"][0]["skipped_val"], summary["main"]))
    except Exception as e:  # reported to the test, which checks what each process raised
        results.put((rank, type(e).__name__, str(e), None))


def _run_two_processes(tmp_path, nan_rank=None, val_unreadable=()) -> dict[int, tuple]:
    """Each process's (outcome, detail, main); a process that hangs is killed and missing."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_process, args=(r, port, str(tmp_path / "run"), nan_rank, val_unreadable, results))
             for r in range(WORLD)]
    for p in procs:
        p.start()
    got: dict[int, tuple] = {}
    try:
        for _ in range(WORLD):
            rank, *rest = results.get(timeout=180)
            got[rank] = tuple(rest)
    except Exception:  # queue.Empty: a process hangs (the defect this file guards against)
        pass
    finally:
        for p in procs:
            p.join(timeout=20)
            if p.is_alive():
                p.kill()
                p.join()
    return got


def test_a_nan_on_one_process_stops_every_process(tmp_path):
    got = _run_two_processes(tmp_path, nan_rank=1)
    assert set(got) == {0, 1}, got  # neither process hangs
    assert got[1][0] == "TrainingError" and got[1][1].startswith("loss is nan at step 1 (epoch 1, batch 1)")
    assert got[0][0] == "TrainingError" and got[0][1].startswith("loss is not finite (on another process) at step 1")
    assert not (tmp_path / "run" / "best.pt").exists()


def test_a_process_without_validation_batches_still_sums_the_metrics(tmp_path):
    """3 validation clips over 2 processes: process 1 holds only clip 1, which is unreadable,
    so it saw no batch. It must still send every metric, and the skipped clip counts once."""
    got = _run_two_processes(tmp_path, val_unreadable=(1,))
    assert got == {0: ("ok", 1, True), 1: ("ok", 1, False)}
    from mobilekit.train.checkpoint import load_checkpoint

    metrics = load_checkpoint(tmp_path / "run" / "best.pt")["metrics"]
    assert set(metrics) >= {"val_top1", "val_top5"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_resume_restores_the_cuda_rng_exactly(tmp_path):
    """Dropout on a GPU draws from the CUDA generator: a resumed run must continue its stream,
    as the uninterrupted run does (the CPU generator alone is not enough)."""
    from mobilekit.train.checkpoint import load_checkpoint
    from mobilekit.train.config import TrainConfig
    from mobilekit.train.loop import fit

    def cfg(run, **kw):
        return TrainConfig(model="vlf_b0", dataset="synthetic", frames=T, size=S, epochs=2, batch_size=2,
                           effective_batch=2, train_samples=4, val_samples=2, out=str(tmp_path / run),
                           device="cuda", amp="off", **kw)

    fit(cfg("straight", max_steps=3))
    fit(cfg("resumed", max_steps=1))
    fit(cfg("resumed", max_steps=3, resume=str(tmp_path / "resumed" / "last.pt")))
    a = load_checkpoint(tmp_path / "straight" / "last.pt")["extra"]["rng_states"][0]
    b = load_checkpoint(tmp_path / "resumed" / "last.pt")["extra"]["rng_states"][0]
    assert all(torch.equal(x, y) for x, y in zip(a["cuda"], b["cuda"])) and torch.equal(a["cpu"], b["cpu"])
