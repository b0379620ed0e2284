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
@click.option("--qat", metavar="TARGET",
              help="Quantization-aware fine-tuning for TARGET's int8 (xnnpack; tflite where litert-torch's QAT "
                   "quantizer works with the installed torchao) of the --init checkpoint: "
                   "PT2E fake-quant, then the int8 artifact and report of `mobilekit quantize` in --out. "
                   "--epochs defaults to 1 and --lr to 5e-05 here.")
@click.option("--init", type=click.Path(dir_okay=False), help="With --qat: the checkpoint to fine-tune.")
@click.pass_context
def train_cmd(ctx: click.Context, **options) -> None:
    """Train a zoo model with the recipe of paper 001 (AdamW, lr x0.1 on a val-accuracy
    plateau of 2 epochs, effective batch 32, mixed precision on GPU, TSN sampling).

    \b
    Writes OUT/last.pt every epoch, OUT/best.pt on the best validation top-1 (EK100: action),
    and OUT/metrics.jsonl. Under `torchrun --nproc-per-node N` the same command trains with
    DistributedDataParallel. Examples:
      mobilekit train --model vlf_b0 --dataset ssv2 --data-root /data/ssv2 --out runs/ssv2
      mobilekit train --model tsn_b0 --dataset synthetic --frames 8 --size 64 --device cpu
      torchrun --nproc-per-node 8 -m mobilekit.train --dataset kinetics --data-root /data/k400

    
    --qat TARGET --init CHECKPOINT fine-tunes the checkpoint's model with TARGET's int8
    fake-quantization (PT2E QAT, on the CPU, one clip at a time through the exported graph),
    for when `mobilekit quantize` (post-training) loses too much accuracy, and writes the int8
    artifact to --out with the same manifest and report: agreement with the fp32 checkpoint
    and accuracy fp32 vs int8 on held-out clips, plus report.qat (steps, loss, fake-quant
    validation top-1 before and after). Example:
      mobilekit train --qat xnnpack --init runs/ssv2/best.pt --dataset ssv2 --data-root /data/ssv2 --out artifacts/qat
    """
    if options["qat"] is not None or options["init"] is not None:
        _train_qat(ctx, options)
        return
    options.pop("qat"), options.pop("init")
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


# Options that only plain training reads: refused with --qat rather than silently ignored.
_NOT_WITH_QAT = ("model", "frames", "size", "effective_batch", "weight_decay", "warmup_steps", "amp", "resume",
                 "backbone_weights", "workers", "device", "time_limit", "stop_at", "num_classes")


def _train_qat(ctx: click.Context, options: dict) -> None:
    from click.core import ParameterSource

    from mobilekit.errors import MobilekitError

    given = {k for k in options if ctx.get_parameter_source(k) != ParameterSource.DEFAULT}
    if options["qat"] is None:
        raise MobilekitError("--init is only read with --qat", "add --qat TARGET (xnnpack or tflite), or drop --init")
    from converters.quantize.qat import QatOptions, check_qat_target, train_qat

    check_qat_target(options["qat"])  # before the checkpoint is read
    if options["init"] is None:
        raise MobilekitError("--qat needs the checkpoint to fine-tune", "add --init CHECKPOINT (e.g. runs/x/best.pt)")
    if "out" not in given:
        raise MobilekitError("--qat writes an artifact folder and needs --out", "add --out FOLDER")
    stray = [f"--{k.replace('_', '-')}" for k in _NOT_WITH_QAT if k in given]
    if stray:
        raise MobilekitError(f"{', '.join(stray)} cannot be used with --qat (the checkpoint fixes the model and "
                             "its input; QAT runs on the CPU)", f"drop {', '.join(stray)}")
    from mobilekit.commands.quantized import describe_quantization, stage_echo

    qat = QatOptions(dataset=options["dataset"], data_root=options["data_root"], batch_size=options["batch_size"],
                     max_steps=options["max_steps"], train_samples=options["train_samples"],
                     val_samples=options["val_samples"], seed=options["seed"])
    if "epochs" in given:
        qat.epochs = options["epochs"]
    if "lr" in given:
        qat.lr = options["lr"]
    held = options["val_samples"] or 32
    click.echo(f"quantization-aware training of {options['init']} for {options['qat']} int8 ...", err=True)
    art = train_qat(options["qat"], options["init"], options["out"], qat, samples=min(32, options["train_samples"]
                    or 32), eval_samples=held, on_stage=stage_echo())
    click.echo("\n".join(describe_quantization(art)))
    q = art.manifest["quantization"]["report"]["qat"]

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    label = " (synthetic data: not a real accuracy)" if q["dataset"] == "synthetic" else ""
    click.echo(f"QAT: {q['steps']} step(s), {q['train_clips_seen']} {q['dataset']} training clips, lr {q['lr']:g}, "
               f"loss {q['loss_first']} -> {q['loss_last']}; fake-quant validation top-1 "
               f"{pct(q['val_top1_fake_quant_before'])} -> {pct(q['val_top1_fake_quant_after'])} on {q['val_clips']} "
               f"clips{label}; weights moved {q['weights_relative_change']:.2e} (relative)")


commands = [train_cmd]
