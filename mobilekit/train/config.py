"""Training options. The defaults are the recipe of paper 001 Sec. 4.1: AdamW, lr in
1e-4..3e-4, weight decay 1e-5, lr x0.1 when validation top-1 has not improved for 2 epochs,
up to 35 epochs, effective batch 32 (gradient accumulation), mixed precision, TSN sampling
of 16 frames at 224x224."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class TrainConfig:
    model: str = "vlf_b0"
    dataset: str = "synthetic"
    data_root: str | None = None
    out: str = "runs/train"
    frames: int = 16
    size: int = 224
    epochs: int = 35
    batch_size: int = 8
    effective_batch: int = 32        # gradient accumulation reaches this with fewer clips per step
    lr: float = 3e-4
    weight_decay: float = 1e-5
    warmup_steps: int = 0            # linear lr warm-up over this many optimizer steps (not in the paper)
    lr_patience: int = 2             # epochs without a better val top-1 before lr x lr_factor
    lr_factor: float = 0.1
    amp: str = "auto"                # auto: bf16 on CUDA if supported, else fp16; off on CPU
    resume: str | None = None
    backbone_weights: str | None = None
    workers: int | None = None       # DataLoader workers; None: 8 per GPU process, 0 on CPU
    seed: int = 0
    device: str = "auto"             # auto: CUDA if present, else CPU
    max_steps: int | None = None     # stop after this many optimizer steps (checkpoint kept)
    time_limit: float | None = None  # stop after this many seconds of training (checkpoint kept)
    stop_at: float | None = None     # stop once validation top-1 (EK100: action) reaches this
    max_unreadable: float = 0.1      # stop when more than this fraction of an epoch's clips is unreadable
    # Synthetic dataset only: how many clips per split and how many classes (even, 2..8).
    train_samples: int | None = None
    val_samples: int | None = None
    num_classes: int | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}
