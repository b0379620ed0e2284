"""Quantization-aware fine-tuning (`mobilekit train --qat TARGET --init CHECKPOINT`): when
post-training int8 costs too much accuracy, fine-tune the checkpoint's model with the target's
fake-quantization in the graph, then write the artifact through the same pipeline as
`mobilekit quantize` (converters.quantize.api.quantize with `qat=`), so the artifact, its
manifest and its report (agreement with the fp32 checkpoint on held-out clips) are the ones
PTQ writes, plus `report["qat"]`.

How: the model is exported in eval mode (batch norm folded into the convolutions, so its
statistics stay frozen, and dropout gone), prepared with torchao's prepare_qat_pt2e and the
backend's quantizer built with is_qat=True, calibrated once on the calibration clips, then
fine-tuned here on the training split with AdamW, then convert_pt2e and lowered as for PTQ.

The exported graph keeps the example input's batch of 1 (reshapes inside the zoo models are
traced with it), so a batch of clips runs through it one clip at a time and the gradients of
the batch are summed before each optimizer step: the same update as a batched step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mobilekit.errors import MobilekitError

DEFAULT_LR = 5e-5  # fine-tuning an already trained model: small steps keep what it learned


@dataclass
class QatOptions:
    dataset: str = "synthetic"
    data_root: str | None = None
    epochs: int = 1
    batch_size: int = 8
    lr: float = DEFAULT_LR
    max_steps: int | None = None
    train_samples: int | None = None  # synthetic only
    val_samples: int | None = None    # synthetic only: clips for the fake-quant accuracy before/after
    seed: int = 0


def qat_targets() -> list[str]:
    """Targets with a static PT2E int8 scheme (the only kind prepare_qat_pt2e serves)."""
    from converters.backends import TARGETS

    return [t.name for t in TARGETS.values() if any(_pt2e_static(s) for s in t.schemes)]


def _pt2e_static(scheme) -> bool:
    return scheme.name == "int8" and scheme.calibrated and scheme.float_layers


def _qat_probe(target: str) -> str | None:
    """Why the backend's PT2E quantizer cannot prepare a conv + ReLU for QAT here (None: it can).
    Tried, not assumed: litert-torch 0.x's QAT annotator hands torchao a function where the
    installed torchao wants a module, so tflite fails at prepare time (measured)."""
    from converters.backends import backend_of, get_scheme, get_target
    from converters.quantize.job import QuantJob

    tgt = get_target(target)
    sch = get_scheme(tgt, "int8")
    try:
        setup = getattr(backend_of(tgt)._module("quantize"), "pt2e_setup", None)
    except ImportError as e:
        return f"its quantizer does not import ({e})"
    if setup is None:
        return "its backend exposes no PT2E quantizer"
    x = torch.randn(1, 3, 8, 8)
    job = QuantJob(model=nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval(), example_input=x, target=tgt,
                   scheme=sch, path=Path("-"), baseline=Path("-"), input_name="x", output_names=["y"],
                   qat=lambda _graph: None)
    try:
        from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

        model, quantizer = setup(job)
        prepare_qat_pt2e(torch.export.export(model, (x,)).module(), quantizer)
    except Exception as e:  # any failure of the third-party quantizer means: not usable for QAT here
        return f"{sch.tool} fails to prepare QAT ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})"
    return None


def check_qat_target(target: str) -> None:
    """Refuse, in one line, a target without a static PT2E int8 scheme or whose quantizer cannot
    prepare QAT with the installed tools."""
    from converters.backends import TARGETS

    able = qat_targets()
    if target not in TARGETS:
        raise MobilekitError(f"--qat {target}: no such target", f"use one of {', '.join(able)}")
    if target not in able:
        raise MobilekitError(f"--qat {target}: {target} has no PT2E int8 scheme to fine-tune for",
                             f"use --qat {' or --qat '.join(able)}, or `mobilekit quantize` for {target}")
    why = _qat_probe(target)
    if why is not None:
        others = [t for t in able if t != target]
        raise MobilekitError(f"--qat {target}: {why}",
                             f"use `mobilekit quantize -t {target} -s int8` (post-training)"
                             + (f", or --qat {' or --qat '.join(others)}" if others else ""))


def calibration_source(dataset: str, data_root: str | None) -> str:
    """The quantize() calibration string for a mobilekit.train dataset."""
    if dataset == "synthetic":
        return "synthetic"
    if not data_root:
        raise MobilekitError(f"--dataset {dataset} needs --data-root", "give the dataset's folder with --data-root")
    return data_root if dataset == "folder" else f"{dataset}:{data_root}"


def _is_fake_quant(module: nn.Module) -> bool:
    return hasattr(module, "fake_quant_enabled") and hasattr(module, "observer_enabled")


def quantized_weights(graph: torch.fx.GraphModule) -> dict[str, torch.Tensor]:
    """The graph's parameters that pass through a fake-quant (the int8 weights of its convolutions
    and linears), by name."""
    modules = dict(graph.named_modules(remove_duplicate=False))  # one fake-quant may serve several nodes
    params = dict(graph.named_parameters(remove_duplicate=False))
    found = {}
    for node in graph.graph.nodes:
        if node.op == "call_module" and _is_fake_quant(modules[node.target]) and node.args \
                and isinstance(node.args[0], torch.fx.Node) and node.args[0].op == "get_attr" \
                and node.args[0].target in params:
            found[node.args[0].target] = params[node.args[0].target]
    return found


class _PerClip(nn.Module):
    """A batch through the batch-1 graph one clip at a time; train()/eval() leave the graph alone
    (exported in eval mode, it has no mode-dependent ops left; torchao forbids calling them)."""

    def __init__(self, graph: torch.fx.GraphModule, heads: list[str] | None):
        super().__init__()
        object.__setattr__(self, "graph", graph)  # not a child: eval() would reach it
        self.heads = heads

    def forward(self, x: torch.Tensor):
        outs = [self.graph(x[i:i + 1]) for i in range(x.shape[0])]
        outs = [o if isinstance(o, (tuple, list)) else (o,) for o in outs]
        joined = [torch.cat([o[k] for o in outs]) for k in range(len(outs[0]))]
        return dict(zip(self.heads, joined)) if self.heads else joined[0]


class QatFineTune:
    """The `qat` hook of quantize(): fine-tunes the fake-quantized graph in place and records
    what it did in `self.report` (quantize() copies it to the manifest's report["qat"])."""

    def __init__(self, options: QatOptions, model_name: str, classes, frames: int, size: int):
        self.options, self.model_name, self.classes = options, model_name, classes
        self.frames, self.size = frames, size
        self.report: dict = {}

    def _config(self):
        from mobilekit.train.config import TrainConfig

        o = self.options
        extra = {}
        if o.dataset == "synthetic" and isinstance(self.classes, list):
            extra["num_classes"] = len(self.classes)  # the synthetic task the checkpoint was trained on
        return TrainConfig(model=self.model_name, dataset=o.dataset, data_root=o.data_root, frames=self.frames,
                           size=self.size, epochs=o.epochs, batch_size=o.batch_size, lr=o.lr, seed=o.seed,
                           device="cpu", workers=0, train_samples=o.train_samples, val_samples=o.val_samples,
                           **extra)

    def __call__(self, graph: torch.fx.GraphModule) -> None:
        from torch.utils.data import DataLoader, RandomSampler

        from mobilekit.data import collate_skip_bad
        from mobilekit.train.loop import _model_input, build_datasets, compute_loss, evaluate

        weights = quantized_weights(graph)
        if not weights:
            raise MobilekitError(f"{self.model_name} has no layer with int8 weights (no convolution or linear took "
                                 "a fake-quant): quantization-aware training has nothing to fine-tune",
                                 "convert it in fp32 (`mobilekit convert`); --qat is for models with conv/linear "
                                 "layers")
        o = self.options
        cfg = self._config()
        train_ds, val_ds = build_datasets(cfg)
        cpu = torch.device("cpu")
        heads = list(self.classes) if isinstance(self.classes, dict) else None
        generator = torch.Generator().manual_seed(o.seed)
        train = DataLoader(train_ds, batch_size=o.batch_size, sampler=RandomSampler(train_ds, generator=generator),
                           collate_fn=collate_skip_bad)
        val = DataLoader(val_ds, batch_size=o.batch_size, collate_fn=collate_skip_bad)
        model = _PerClip(graph, heads)
        key = "action_top1" if heads else "top1"
        before = evaluate(model, val, cpu, None, heads=heads)
        start = {n: p.detach().clone() for n, p in weights.items()}
        params = [p for p in graph.parameters() if p.is_floating_point()]
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.AdamW(params, lr=o.lr, weight_decay=0.0)
        steps = clips_seen = 0
        losses: list[float] = []
        for _epoch in range(o.epochs):
            for clips, labels, _bad in train:
                if clips is None:
                    continue
                x = _model_input(clips, cpu)
                loss = compute_loss(model(x), labels)
                if not torch.isfinite(loss):
                    raise MobilekitError(f"the QAT loss became {loss.item()} at step {steps + 1}",
                                         f"lower --lr (now {o.lr:g})")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                steps += 1
                clips_seen += len(x)
                losses.append(float(loss))
                if o.max_steps is not None and steps >= o.max_steps:
                    break
            if o.max_steps is not None and steps >= o.max_steps:
                break
        for p in params:
            p.requires_grad_(False)
        after = evaluate(model, val, cpu, None, heads=heads)
        delta = sum(float((p.detach() - start[n]).pow(2).sum()) for n, p in weights.items()) ** 0.5
        norm = sum(float(w.pow(2).sum()) for w in start.values()) ** 0.5
        self.report = {
            "method": "quantization-aware training: torchao prepare_qat_pt2e (fake-quant, batch norm folded and "
                      "frozen), fine-tuned, then convert_pt2e",
            "dataset": o.dataset,
            **({"note": "synthetic clips (moving shapes): these figures say nothing about accuracy on real video"}
               if o.dataset == "synthetic" else {}),
            "train_clips_seen": clips_seen, "steps": steps, "epochs": o.epochs, "lr": o.lr,
            "batch_size": o.batch_size, "loss_first": round(losses[0], 6) if losses else None,
            "loss_last": round(losses[-1], 6) if losses else None,
            "weights_relative_change": round(delta / max(norm, 1e-12), 8),
            "val_clips": after["clips"],
            "val_top1_fake_quant_before": round(before[key], 4) if key in before else None,
            "val_top1_fake_quant_after": round(after[key], 4) if key in after else None,
        }


def train_qat(target: str, checkpoint: str | Path, out_dir: str | Path, options: QatOptions | None = None, *,
              samples: int = 32, eval_samples: int = 32, latency_runs: int = 20, threads: int | None = None,
              on_stage=None):
    """Fine-tune `checkpoint`'s model with `target`'s int8 fake-quantization on `options`'
    dataset and write the int8 artifact to `out_dir` (converters.quantize.quantize with `qat=`).
    Refuses, before any work, a target without a PT2E int8 scheme and bad counts; a model
    with no quantizable layer is refused once its graph is prepared, with nothing written."""
    from converters.quantize.api import quantize
    from mobilekit.train.checkpoint import load_checkpoint

    options = options or QatOptions()
    check_qat_target(target)
    for name, value, least in (("--epochs", options.epochs, 1), ("--batch-size", options.batch_size, 1)):
        if value < least:
            raise MobilekitError(f"{name} {value} is below {least}", f"give {name} {least} or more")
    if not options.lr > 0:
        raise MobilekitError(f"--lr {options.lr} is not positive", f"give a small positive rate, e.g. {DEFAULT_LR}")
    calibration = calibration_source(options.dataset, options.data_root)
    ckpt = load_checkpoint(checkpoint)
    config = ckpt["model_config"]
    hook = QatFineTune(options, ckpt["model"], ckpt["classes"], int(config.get("num_frames", 16)),
                       int(config.get("image_size", 224)))
    del ckpt
    return quantize(None, target, "int8", out_dir, checkpoint=str(checkpoint), calibration=calibration,
                    samples=samples, eval_samples=eval_samples, latency_runs=latency_runs, threads=threads,
                    seed=options.seed, on_stage=on_stage, qat=hook)
