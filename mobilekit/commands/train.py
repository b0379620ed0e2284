"""`mobilekit train` (and `python -m mobilekit.train`, the same command): train a zoo model."""

from __future__ import annotations

import click


def _dataset_name(_ctx, _param, value: str) -> str:
    """A dataset mobilekit.data builds, checked while the command line is parsed (not at --help,
    which must not import torch)."""
    from mobilekit.data import DATASETS

    if value not in DATASETS:
        raise click.BadParameter(f"{value!r} is not one of {', '.join(map(repr, DATASETS))}")
    return value


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


class ConsoleReporter:
    """tqdm progress bars on stderr and one summary line per epoch on stdout."""

    def run_start(self, info: dict) -> None:
        if not info:
            return
        click.echo(f"training {info['model']} ({info['params'] / 1e6:.2f}M params) on {info['dataset']}: "
                   f"{info['train_clips']} train / {info['val_clips']} val clips, classes {info['classes']}")
        click.echo(f"device {info['device']} x{info['world_size']}, batch {info['batch_size']} x "
                   f"{info['accumulation']} accumulation = {info['effective_batch']} effective, amp {info['amp']}, "
                   f"workers {info['workers']} -> {info['out']}")
        if info["start_step"]:
            click.echo(f"resuming at epoch {info['start_epoch'] + 1}, step {info['start_step']}")
        if info.get("removed_temp_files"):
            click.echo(f"removed {info['removed_temp_files']} temp file(s) left in {info['out']} by an interrupted "
                       "checkpoint write")

    def bar(self, phase: str, epoch: int, total: int):
        from tqdm import tqdm

        return _TqdmBar(tqdm(total=total, desc=f"epoch {epoch} {phase}", unit="clip", leave=False,
                             dynamic_ncols=True))

    def epoch_end(self, r: dict) -> None:
        val = "  ".join(f"{k.removeprefix('val_')} {100 * v:.1f}%" for k, v in r.items()
                        if k.startswith("val_") and isinstance(v, float))
        skipped = r["skipped_train"] + r["skipped_val"]
        click.echo(f"epoch {r['epoch']:3d}  step {r['step']}  loss {r['train_loss']:.4f}  val {val}  "
                   f"lr {r['lr']:.2e}  train {r['train_clips_per_s']:.1f} clips/s  "
                   f"eval {r['eval_clips_per_s']:.1f} clips/s" + ("  (best)" if r["best"] else "")
                   + (f"  skipped {skipped} unreadable" if skipped else ""))


class _TqdmBar:
    def __init__(self, bar):
        self._bar = bar

    def update(self, n: int, **postfix) -> None:
        self._bar.set_postfix({k: _fmt(v) for k, v in postfix.items() if v is not None}, refresh=False)
        self._bar.update(n)

    def close(self) -> None:
        self._bar.close()


@click.command("train", context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--model", default="vlf_b0", help="Zoo model (see `mobilekit models`).")
@click.option("--dataset", metavar="NAME", default="synthetic", callback=_dataset_name,
              help="Dataset layout: ssv2 (*.webm + labels/*.json), epic100 (EPIC_100_*.csv + rgb_frames), "
                   "kinetics (annotations/*.csv + videos), folder (a folder per class), synthetic (generated).")
@click.option("--data-root", type=click.Path(file_okay=False), help="The dataset's folder (not for synthetic).")
@click.option("--frames", default=16, help="Frames per clip (TSN sampling).")
@click.option("--size", default=224, help="Frame size (square).")
@click.option("--epochs", default=35, help="Epochs (the paper trains up to 35).")
@click.option("--batch-size", default=8, help="Clips per step per process.")
@click.option("--effective-batch", default=32,
              help="Gradient accumulation up to this many clips per optimizer step (paper: 32).")
@click.option("--lr", default=3e-4, help="AdamW learning rate (paper: 1e-4..3e-4).")
@click.option("--weight-decay", default=1e-5, help="AdamW weight decay.")
@click.option("--warmup-steps", default=0, type=click.IntRange(min=0),
              help="Linear lr warm-up over this many optimizer steps (not in the paper's recipe; "
                   "steadies post-norm transformers trained from scratch).")
@click.option("--amp", type=click.Choice(["auto", "bf16", "fp16", "off"]), default="auto",
              help="Mixed precision; auto: bf16 on a GPU that supports it, else fp16; off on CPU.")
@click.option("--resume", type=click.Path(dir_okay=False), help="Continue a run from its last.pt.")
@click.option("--out", default="runs/train", type=click.Path(file_okay=False),
              help="Folder for last.pt, best.pt and metrics.jsonl.")
@click.option("--backbone-weights", type=click.Path(dir_okay=False),
              help="ImageNet weights saved by timm (.safetensors/.pth) for the 2D backbone.")
@click.option("--workers", type=int, help="DataLoader workers [default: 8 per GPU process, 0 on CPU].")
@click.option("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda.")
@click.option("--seed", default=0, help="Seed for init, sampling and augmentation.")
@click.option("--max-steps", type=int, help="Stop after this many optimizer steps (last.pt is kept for --resume).")
@click.option("--time-limit", type=float, help="Stop after this many seconds of training.")
@click.option("--stop-at", type=float, help="Stop once validation top-1 (EK100: action) reaches this, e.g. 0.95.")
@click.option("--max-unreadable", default=0.1, type=click.FloatRange(0, 1),
              help="Stop when more than this fraction of an epoch's training or validation clips cannot be "
                   "decoded (a wholly unreadable epoch always stops).")
@click.option("--train-samples", type=int, help="Synthetic only: training clips [default: 2048].")
@click.option("--val-samples", type=int, help="Synthetic only: validation clips [default: 512].")
@click.option("--num-classes", type=int, help="Synthetic only: classes, even, 2..8 [default: 2].")
def train_cmd(**options) -> None:
    """Train a zoo model with the recipe of paper 001 (AdamW, lr x0.1 on a val-accuracy
    plateau of 2 epochs, effective batch 32, mixed precision on GPU, TSN sampling).

    \b
    Writes OUT/last.pt every epoch, OUT/best.pt on the best validation top-1 (EK100: action),
    and OUT/metrics.jsonl. Under `torchrun --nproc-per-node N` the same command trains with
    DistributedDataParallel. Examples:
      mobilekit train --model vlf_b0 --dataset ssv2 --data-root /data/ssv2 --out runs/ssv2
      mobilekit train --model tsn_b0 --dataset synthetic --frames 8 --size 64 --device cpu
      torchrun --nproc-per-node 8 -m mobilekit.train --dataset kinetics --data-root /data/k400
    """
    from mobilekit.train.config import TrainConfig
    from mobilekit.train.loop import fit

    options = {k: v for k, v in options.items()}
    summary = fit(TrainConfig(**options), ConsoleReporter())
    if not summary["main"]:  # under torchrun, process 0 reports for all
        return
    if summary["stopped"]:
        click.echo(f"stopped at step {summary['steps']} ({summary['stopped']}); continue with "
                   f"--resume {summary['out']}/last.pt")
    if summary["history"]:
        click.echo(f"best validation {100 * summary['best']:.2f}% -> {summary['out']}/best.pt")


commands = [train_cmd]
