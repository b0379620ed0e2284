"""The project's own accuracy benchmark on a CPU: does a model model time?

Trains `vlf_b0` (a spatiotemporal transformer over per-frame tokens) and `tsn_b0` (per-frame
CNN, scores averaged over time) from scratch on the synthetic temporal dataset, where the
label is the order of the frames (moving right vs moving left: each clip of one class is a
clip of the other played backwards). VLF should approach 100% validation accuracy; TSN
cannot beat chance, since averaging over frames forgets their order.

    python benchmarks/train_synthetic.py               # 8 frames, 64x64, 15 min per model
    python benchmarks/train_synthetic.py --minutes 5 --models vlf_b0

Prints the per-epoch accuracy curve and the training / evaluation throughput (clips/s) of
each model, and a summary table; runs go to runs/synthetic_benchmark/<model>/.
"""

from __future__ import annotations

import sys
import time

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--models", default="vlf_b0,tsn_b0", help="Comma-separated zoo models, trained one after another.")
@click.option("--frames", default=8)
@click.option("--size", default=64)
@click.option("--num-classes", default=2, help="Even, 2..8 (pairs of opposite motions).")
@click.option("--train-samples", default=1024, help="Training clips per epoch (one point on the curve per epoch).")
@click.option("--val-samples", default=128)
@click.option("--epochs", default=30, help="At most this many epochs per model.")
@click.option("--minutes", default=15.0, help="Training time limit per model.")
@click.option("--target", default=0.95, help="Stop a model once its validation top-1 reaches this.")
@click.option("--batch-size", default=8, help="Small batches: more optimizer steps per CPU minute.")
@click.option("--lr", default=3e-4)
@click.option("--warmup-steps", default=100, type=click.IntRange(min=0),
              help="Linear lr warm-up: the post-norm transformers of VLF/VTN from scratch take a first "
                   "step too large without it.")
@click.option("--lr-patience", default=30,
              help="Epochs without improvement before lr x0.1. High by default: the plateau before the "
                   "model first finds the motion is not convergence.")
@click.option("--threads", type=int,
              help="torch intra-op threads [default: all cores]; 1 is much faster on an oversubscribed machine.")
@click.option("--device", default="cpu", help="cpu (the benchmark's setting), or auto / cuda to run it on a GPU.")
@click.option("--seed", default=0)
@click.option("--out", default="runs/synthetic_benchmark")
def main(models, frames, size, num_classes, train_samples, val_samples, epochs, minutes, target, batch_size,
         lr, warmup_steps, lr_patience, threads, device, seed, out):
    """Train models on the synthetic temporal dataset and print their accuracy curves."""
    import torch

    from mobilekit.commands.train import ConsoleReporter
    from mobilekit.table import format_table
    from mobilekit.train.config import TrainConfig
    from mobilekit.train.loop import fit

    if threads:
        torch.set_num_threads(threads)

    class Curve(ConsoleReporter):
        """tqdm bars on stderr (from the train command), one curve line per epoch."""

        def run_start(self, info: dict) -> None: ...

        def __init__(self, name: str):
            self.name = name

        def epoch_end(self, r: dict) -> None:
            click.echo(f"{self.name:8} epoch {r['epoch']:2d}  {r['elapsed_s']:6.0f}s  step {r['step']:4d}  "
                       f"loss {r['train_loss']:.3f}  train top1 {100 * r['train_top1']:5.1f}%  "
                       f"val top1 {100 * r['val_top1']:5.1f}%  train {r['train_clips_per_s']:5.1f} clips/s  "
                       f"eval {r['eval_clips_per_s']:5.1f} clips/s", err=False)

    click.echo(f"synthetic temporal benchmark: {frames} frames {size}x{size}, {num_classes} classes, "
               f"{train_samples} train clips/epoch, {val_samples} val clips, {torch.get_num_threads()} threads, "
               f"limit {minutes:g} min per model")
    rows = []
    for name in models.split(","):
        cfg = TrainConfig(model=name, dataset="synthetic", frames=frames, size=size, epochs=epochs,
                          batch_size=batch_size, effective_batch=batch_size, lr=lr, warmup_steps=warmup_steps,
                          lr_patience=lr_patience,
                          amp="off" if device == "cpu" else "auto", device=device, seed=seed,
                          out=f"{out}/{name}", time_limit=minutes * 60,
                          train_samples=train_samples, val_samples=val_samples, num_classes=num_classes,
                          stop_at=target)
        start = time.perf_counter()
        summary = fit(cfg, Curve(name))
        hist = summary["history"]
        reached = next((r for r in hist if r["val_top1"] >= 0.9), None)
        n = max(len(hist), 1)
        rows.append((name, len(hist), summary["steps"], f"{100 * max((r['val_top1'] for r in hist), default=0):.1f}%",
                     f"{100 * hist[-1]['val_top1']:.1f}%" if hist else "-",
                     f"{reached['elapsed_s'] / 60:.1f} min" if reached else "never",
                     f"{sum(r['train_clips_per_s'] for r in hist) / n:.1f}",
                     f"{sum(r['eval_clips_per_s'] for r in hist) / n:.1f}",
                     f"{(time.perf_counter() - start) / 60:.1f} min"))
        sys.stdout.flush()
    click.echo("")
    click.echo(format_table(rows, ["model", "epochs", "steps", "best val top1", "last val top1", ">=90% after",
                                   "train clips/s", "eval clips/s", "wall"]))
    click.echo(f"chance is {100 / num_classes:.1f}%")


if __name__ == "__main__":
    from mobilekit.errors import run_script

    run_script(main, "python benchmarks/train_synthetic.py")
