"""The training loop: datasets -> model -> AdamW + ReduceLROnPlateau, AMP, gradient
accumulation, DDP, per-epoch evaluation, checkpoints and metrics.jsonl.

Library code: nothing is printed. Progress goes to a `Reporter` (the CLI passes one built
on tqdm); the default reports nothing.
"""

from __future__ import annotations

import contextlib
import math
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from mobilekit.errors import MobilekitError
from mobilekit.train.checkpoint import load_checkpoint, remove_stale_temp_files, save_checkpoint, unwrap_model
from mobilekit.train.config import TrainConfig
from mobilekit.train.distributed import DistInfo, EpochSampler, cleanup_distributed, init_distributed
from mobilekit.train.metrics import AccuracyMeter, MetricsLog, primary_metric


class TrainingError(MobilekitError):
    """A run that cannot go on (NaN loss, a checkpoint for another model, ...)."""


class Bar(Protocol):
    def update(self, n: int, **postfix: Any) -> None: ...
    def close(self) -> None: ...


class Reporter:
    """Receives progress from `fit`. Subclass it in a front end; the base does nothing."""

    def run_start(self, info: dict) -> None: ...

    def bar(self, phase: str, epoch: int, total: int) -> Bar:
        return _NullBar()

    def epoch_end(self, record: dict) -> None: ...


class _NullBar:
    def update(self, n: int, **postfix: Any) -> None: ...

    def close(self) -> None: ...


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: auto is bf16 on a CUDA GPU that supports it, else fp16; off on CPU."""
    if amp == "off":
        return None
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        return torch.float16
    raise TrainingError(f"unknown --amp {amp!r}", "use bf16, fp16, off or auto")


def compute_loss(output, target) -> torch.Tensor:
    """Cross-entropy; with several heads (EK100 verb + noun) the sum over heads."""
    if isinstance(output, dict):
        return sum(F.cross_entropy(logits.float(), target[head]) for head, logits in output.items())
    return F.cross_entropy(output.float(), target)


def _zero_loss(output) -> torch.Tensor:
    outs = output.values() if isinstance(output, dict) else [output]
    return sum(o.float().sum() for o in outs) * 0.0


def _to(obj, device: torch.device):
    if isinstance(obj, dict):
        return {k: v.to(device, non_blocking=True) for k, v in obj.items()}
    return obj.to(device, non_blocking=True)


def _model_input(clips, device: torch.device) -> torch.Tensor:
    """A batch of clips on `device`, ready for the model: video datasets send uint8 frames
    (a ClipBatch) whose augmentation and normalisation finish here."""
    from mobilekit.data import ClipBatch

    if isinstance(clips, ClipBatch):
        return clips.to_input(device)
    return clips.to(device, non_blocking=True)


def _model_classes(classes) -> int | dict[str, int]:
    return {k: len(v) for k, v in classes.items()} if isinstance(classes, dict) else len(classes)


def _heads(classes) -> list[str] | None:
    return list(classes) if isinstance(classes, dict) else None


def _check_unreadable(skipped: int, total: int, phase: str, epoch: int, limit: float) -> None:
    """Stop the run when more than `limit` of an epoch's clips (or all of them) could not be
    read: a model trained or judged on what is left would be silently wrong."""
    if not skipped or (skipped <= limit * total and skipped < total):
        return
    why = "none could be read" if skipped >= total else f"more than --max-unreadable {limit:.0%}"
    raise TrainingError(f"{skipped} of the {total} {phase} clips of epoch {epoch} are unreadable ({why})",
                        "fix or remove the files named in the 'skipping sample' warnings, or allow more "
                        "with --max-unreadable")


def build_datasets(cfg: TrainConfig):
    from mobilekit.data import build_dataset

    kw_train: dict = {}
    kw_val: dict = {}
    if cfg.dataset == "synthetic":
        if cfg.num_classes:
            kw_train["num_classes"] = kw_val["num_classes"] = cfg.num_classes
        kw_train["num_samples"] = cfg.train_samples
        kw_val["num_samples"] = cfg.val_samples
    # device_transform: workers send uint8 frames; augmentation and normalisation finish on the device.
    train_ds = build_dataset(cfg.dataset, cfg.data_root, "train", cfg.frames, cfg.size, train=True,
                             seed=cfg.seed, device_transform=True, **kw_train)
    val_ds = build_dataset(cfg.dataset, cfg.data_root, "val", cfg.frames, cfg.size, train=False,
                           seed=cfg.seed, device_transform=True, **kw_val)
    if len(train_ds) == 0:
        raise TrainingError(f"the {cfg.dataset} training split is empty", "check --data-root")
    return train_ds, val_ds


def _loader(ds, sampler, batch_size: int, workers: int, device: torch.device, seed: int = 0) -> DataLoader:
    from mobilekit.data import collate_skip_bad

    # Its own generator: creating an iterator would otherwise draw from the global RNG and
    # shift the dropout masks of a resumed run away from the uninterrupted one. Workers stay
    # up between epochs; the epoch reaches them through the sampler's (epoch, index) pairs.
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      collate_fn=collate_skip_bad, pin_memory=device.type == "cuda",
                      persistent_workers=workers > 0, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, amp_dtype: torch.dtype | None,
             bar: Bar | None = None, heads: list[str] | None = None) -> dict:
    """Top-1/top-5 (EK100: per head and action, give `heads`) over `loader`, summed over DDP
    processes. Returns the metrics plus "clips", "skipped" and "clips_per_s"."""
    model.eval()
    meter = AccuracyMeter(device, heads)
    skipped = 0
    start = time.perf_counter()
    for clips, labels, bad in loader:
        skipped += bad
        if clips is None:
            continue
        clips, labels = _model_input(clips, device), _to(labels, device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            output = model(clips)
        meter.update(output, labels)
        if bar is not None:
            bar.update(len(clips) + bad, clips_per_s=meter.num / max(time.perf_counter() - start, 1e-9))
    elapsed = time.perf_counter() - start
    local = meter.num
    meter.all_reduce()
    world = _world_size()
    return {**meter.compute(), "clips": meter.num, "skipped": _sum_processes(skipped, device),
            "clips_per_s": local * world / max(elapsed, 1e-9)}


def _world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _sum_processes(value: int, device: torch.device) -> int:
    return _sum_each(value, device=device)[0]


def _sum_each(*values: int, device: torch.device) -> list[int]:
    """Each value summed over the DDP processes, in one all-reduce."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(values, dtype=torch.int64, device=device)
    dist.all_reduce(t)
    return [int(v) for v in t.tolist()]


def _rng_states(device: torch.device) -> list[dict]:
    """Every process's RNG states, in rank order (a collective under DDP): the CPU's, and the
    GPUs' when training on CUDA (dropout draws there), so --resume replays them exactly."""
    import torch.distributed as dist

    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    if not (dist.is_available() and dist.is_initialized()):
        return [state]
    states: list = [None] * dist.get_world_size()
    dist.all_gather_object(states, state)
    return states


def _restore_rng(extra: dict, rank: int, device: torch.device) -> None:
    states = extra.get("rng_states")
    if not states:
        if "rng" in extra:  # checkpoints from before per-process states: the CPU's only
            torch.set_rng_state(extra["rng"])
        return
    mine = states[rank] if rank < len(states) else states[0]
    torch.set_rng_state(mine["cpu"])
    cuda = mine.get("cuda")
    if cuda and device.type == "cuda":
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        elif device.index is not None and device.index < len(cuda):
            torch.cuda.set_rng_state(cuda[device.index], device)


def _any_process(flag: bool, device: torch.device) -> bool:
    """True on every process when it is true on one: the processes of a DDP run must stop at
    the same step, or the others wait forever in the next gradient all-reduce."""
    return _sum_processes(int(flag), device) > 0


def _default_workers(cfg: TrainConfig, dist_info: DistInfo) -> int:
    if cfg.workers is not None:
        return cfg.workers
    if dist_info.device.type != "cuda":
        return 0  # on a CPU the model's threads use the cores; decoding in-process is enough
    import os

    return max(1, min(8, (os.cpu_count() or 2) // dist_info.world_size))


def fit(cfg: TrainConfig, reporter: Reporter | None = None) -> dict:
    """Train `cfg.model` on `cfg.dataset`; returns a summary (best metric, history, paths).

    Writes to `cfg.out`: last.pt (every epoch, and when stopped by max_steps/time_limit),
    best.pt (on the best validation top-1, EK100: action top-1), metrics.jsonl.
    """
    from mobilekit.models import create_model

    reporter = reporter or Reporter()
    dist_info = init_distributed(cfg.device)
    try:
        return _fit(cfg, reporter, dist_info, create_model)
    finally:
        cleanup_distributed()


def _fit(cfg: TrainConfig, reporter: Reporter, dist_info: DistInfo, create_model) -> dict:
    device = dist_info.device
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # static clip shapes: pick the fastest kernels once
    out = Path(cfg.out)
    from mobilekit.models import get_card

    get_card(cfg.model)  # an unknown model fails now, before any dataset is scanned
    if not 0 <= cfg.max_unreadable <= 1:
        raise TrainingError(f"--max-unreadable {cfg.max_unreadable:g} is not a fraction",
                            "give a number from 0 to 1, e.g. 0.1 for 10%")
    ckpt = None
    if cfg.resume:
        ckpt = load_checkpoint(cfg.resume)
        if ckpt["model"] != cfg.model:
            raise TrainingError(f"--resume {cfg.resume} holds a {ckpt['model']} checkpoint, not {cfg.model}",
                                f"pass --model {ckpt['model']} or start a new run")
    # A process killed while writing a checkpoint leaves its temp file; nothing else uses it.
    stale = remove_stale_temp_files(out) if dist_info.is_main else []
    torch.manual_seed(cfg.seed)
    train_ds, val_ds = build_datasets(cfg)
    classes = train_ds.classes
    heads = _heads(classes)
    if ckpt is not None and ckpt["classes"] != classes:
        raise TrainingError(f"--resume {cfg.resume} was trained on other classes than this dataset",
                            "resume with the same dataset and --data-root")
    model = create_model(cfg.model, num_classes=_model_classes(classes), num_frames=cfg.frames,
                         image_size=cfg.size, backbone_weights=cfg.backbone_weights)
    if ckpt is not None:
        model.load_state_dict(ckpt["state_dict"])
    model.to(device)
    train_model: nn.Module = model
    if dist_info.distributed:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=cfg.lr_factor,
                                                           patience=cfg.lr_patience)
    amp_dtype = resolve_amp(cfg.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    accum = max(1, math.ceil(cfg.effective_batch / (cfg.batch_size * dist_info.world_size)))

    start_epoch, step, batch_in_epoch, best = 0, 0, 0, -1.0
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt.get("scheduler"):
            scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        extra = ckpt.get("extra", {})
        start_epoch, step = int(ckpt["epoch"]), int(ckpt["step"])
        batch_in_epoch = int(extra.get("batch_in_epoch", 0))
        best = float(extra.get("best", -1.0))
        _restore_rng(extra, dist_info.rank, device)

    workers = _default_workers(cfg, dist_info)
    train_sampler = EpochSampler(len(train_ds), shuffle=True, seed=cfg.seed, rank=dist_info.rank,
                                 world_size=dist_info.world_size, pad=True,
                                 with_epoch=hasattr(train_ds, "set_epoch"))
    val_sampler = EpochSampler(len(val_ds), shuffle=False, rank=dist_info.rank,
                               world_size=dist_info.world_size, pad=False)
    # Built once, so that persistent workers serve every epoch.
    loader = _loader(train_ds, train_sampler, cfg.batch_size, workers, device, cfg.seed * 1000 + start_epoch)
    val_loader = _loader(val_ds, val_sampler, cfg.batch_size, workers, device)
    log = MetricsLog(out / "metrics.jsonl")
    from mobilekit.models import count_params

    if dist_info.is_main:
        reporter.run_start({
            "model": cfg.model, "dataset": cfg.dataset, "device": str(device), "world_size": dist_info.world_size,
            "params": count_params(model), "train_clips": len(train_ds), "val_clips": len(val_ds),
            "classes": _model_classes(classes), "batch_size": cfg.batch_size, "accumulation": accum,
            "effective_batch": cfg.batch_size * accum * dist_info.world_size,
            "amp": str(amp_dtype).removeprefix("torch.") if amp_dtype else "off", "workers": workers,
            "start_epoch": start_epoch, "start_step": step, "out": str(out), "removed_temp_files": len(stale),
        })

    def save(path: Path, epoch_done: int, metrics: dict, in_epoch: int, rng_states: list[dict]) -> None:
        save_checkpoint(path, model, classes=classes, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                        epoch=epoch_done, step=step, metrics=metrics,
                        extra={"batch_in_epoch": in_epoch, "best": best, "rng_states": rng_states,
                               "train_config": cfg.to_dict()})

    history: list[dict] = []
    stopped = None
    started = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        skip = batch_in_epoch * cfg.batch_size
        train_sampler.set_epoch(epoch, skip=skip)
        if hasattr(train_ds, "set_epoch"):
            train_ds.set_epoch(epoch)
        epoch_clips = len(train_sampler) * dist_info.world_size  # what this epoch (still) has to read
        bar = reporter.bar("train", epoch + 1, len(train_sampler)) if dist_info.is_main else _NullBar()
        train_model.train()
        meter = AccuracyMeter(device, heads)
        loss_sum, loss_n, skipped, micro = 0.0, 0, 0, 0
        backward_ran = False
        epoch_start = time.perf_counter()
        batches = len(loader)
        with contextlib.closing(bar):  # closed on an error too, so the error starts a clean line
            for i, (clips, labels, bad) in enumerate(loader):
                micro += 1
                batch_in_epoch += 1
                sync = micro % accum == 0 or i == batches - 1
                no_sync = train_model.no_sync if (dist_info.distributed and not sync) else contextlib.nullcontext
                with no_sync():
                    output = loss = None
                    if clips is not None:
                        clips, labels = _model_input(clips, device), _to(labels, device)
                        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                            output = train_model(clips)
                        loss = compute_loss(output, labels)
                    elif dist_info.distributed:
                        # Every DDP process must run backward each step (the gradient all-reduce waits for
                        # all): a batch that was wholly unreadable contributes zero gradients instead.
                        dummy = torch.zeros(1, cfg.frames, 3, cfg.size, cfg.size, device=device)
                        loss = _zero_loss(train_model(dummy))
                    # One decision for all processes: a NaN seen by one must stop them all together
                    # (the others would wait forever in the next all-reduce), and so must the count
                    # of unreadable clips.
                    nonfinite = loss is not None and not bool(torch.isfinite(loss))
                    any_nonfinite, bad_all = _sum_each(int(nonfinite), bad, device=device)
                    skipped += bad_all
                    if any_nonfinite:
                        value = f"loss is {loss.item()}" if nonfinite else "loss is not finite (on another process)"
                        raise TrainingError(f"{value} at step {step + 1} (epoch {epoch + 1}, batch {i + 1})",
                                            "lower --lr, try --amp bf16 or --amp off, or check the data")
                    _check_unreadable(skipped, epoch_clips, "training", epoch + 1, cfg.max_unreadable)
                    if loss is not None:
                        scaler.scale(loss / accum).backward()
                        backward_ran = True
                if output is not None:
                    meter.update(output, labels)
                    loss_sum += loss.item() * len(clips)
                    loss_n += len(clips)
                if sync:
                    # A group whose clips were all unreadable has no gradients: nothing to step (and
                    # an fp16 GradScaler refuses a step without its inf checks).
                    if backward_ran:
                        if step < cfg.warmup_steps:  # linear warm-up; post-norm transformers need it
                            for group in optimizer.param_groups:
                                group["lr"] = cfg.lr * (step + 1) / cfg.warmup_steps
                        scaler.step(optimizer)
                        scaler.update()
                        step += 1
                    optimizer.zero_grad(set_to_none=True)
                    backward_ran = False
                elapsed = time.perf_counter() - epoch_start
                bar.update((len(clips) if output is not None else 0) + bad,
                           loss=loss_sum / max(loss_n, 1), top1=primary_metric(meter.compute()),
                           clips_per_s=meter.num * dist_info.world_size / max(elapsed, 1e-9))
                if sync and cfg.max_steps and step >= cfg.max_steps:
                    stopped = f"max_steps {cfg.max_steps}"
                if sync and cfg.time_limit and _any_process(time.perf_counter() - started >= cfg.time_limit, device):
                    stopped = f"time_limit {cfg.time_limit:g}s"
                if stopped:
                    break
        train_time = time.perf_counter() - epoch_start
        local_clips = meter.num
        meter.all_reduce()
        train_metrics = meter.compute()
        if stopped and batch_in_epoch < batches + skip // cfg.batch_size:
            # Stopped mid-epoch: keep the exact place so --resume continues from this step.
            rng_states = _rng_states(device)
            if dist_info.is_main:
                save(out / "last.pt", epoch, {"train_" + k: v for k, v in train_metrics.items()}, batch_in_epoch,
                     rng_states)
            break
        batch_in_epoch = 0
        vbar = reporter.bar("val", epoch + 1, len(val_sampler)) if dist_info.is_main else _NullBar()
        with contextlib.closing(vbar):
            val = evaluate(model, val_loader, device, amp_dtype, vbar, heads)
        _check_unreadable(val["skipped"], val["clips"] + val["skipped"], "validation", epoch + 1, cfg.max_unreadable)
        score = primary_metric(val)
        scheduler.step(score)
        is_best = score > best
        best = max(best, score)
        record = {
            "epoch": epoch + 1, "step": step, "lr": optimizer.param_groups[0]["lr"],
            "train_loss": loss_sum / max(loss_n, 1),
            **{f"train_{k}": v for k, v in train_metrics.items()},
            **{f"val_{k}": v for k, v in val.items() if k not in ("clips", "skipped", "clips_per_s")},
            "train_clips_per_s": local_clips * dist_info.world_size / max(train_time, 1e-9),
            "eval_clips_per_s": val["clips_per_s"], "skipped_train": skipped,
            "skipped_val": val["skipped"], "epoch_time_s": time.perf_counter() - epoch_start,
            "elapsed_s": time.perf_counter() - started, "best": is_best,
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        history.append(record)
        rng_states = _rng_states(device)
        if dist_info.is_main:
            metrics = {k: v for k, v in record.items() if k.startswith(("val_", "train_"))}
            save(out / "last.pt", epoch + 1, metrics, 0, rng_states)
            if is_best:
                save(out / "best.pt", epoch + 1, metrics, 0, rng_states)
            log.append(record)
            reporter.epoch_end(record)
        if cfg.stop_at is not None and score >= cfg.stop_at and not stopped:
            stopped = f"validation reached {cfg.stop_at:g}"
        if stopped:
            break
    return {"out": str(out), "best": best, "steps": step, "epochs": len(history), "history": history,
            "stopped": stopped, "classes": classes, "elapsed_s": time.perf_counter() - started,
            "main": dist_info.is_main}
