"""Training checkpoints: one torch.save dict that carries everything needed to resume a run
exactly or to rebuild the model elsewhere (`mobilekit convert --checkpoint`).

Format (version 1): {"format": "mobilekit-checkpoint", "version": 1, "model", "model_config",
"classes", "state_dict", "optimizer", "scheduler", "scaler", "epoch", "step", "metrics",
"extra", "mobilekit_version", "torch_version", "created"}. Only tensors and plain Python
values are stored, so it loads with `weights_only=True` (no code runs from a foreign file).
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mobilekit.errors import WeightsError

FORMAT = "mobilekit-checkpoint"
VERSION = 1


def unwrap_model(model: nn.Module) -> nn.Module:
    """The user's model inside DistributedDataParallel / torch.compile wrappers."""
    while True:
        if isinstance(getattr(model, "module", None), nn.Module) and not hasattr(model, "mobilekit_config"):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def _cpu(obj: Any) -> Any:
    """A copy of a (nested) state dict with tensors on the CPU, so a GPU run's checkpoint
    loads on a machine without one."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def save_checkpoint(path: str | Path, model: nn.Module, *, classes: list[str] | dict[str, list[str]],
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                    scaler: Any = None, epoch: int = 0, step: int = 0, metrics: dict | None = None,
                    extra: dict | None = None) -> Path:
    """Write a checkpoint atomically: a temp file in the same folder, then os.replace, so an
    interrupted write never leaves a truncated checkpoint under `path`.

    `model` must come from `mobilekit.models.create_model` (it carries `mobilekit_config`);
    DDP and torch.compile wrappers are unwrapped. Returns the path written.
    """
    from mobilekit import __version__

    path = Path(path)
    inner = unwrap_model(model)
    config = getattr(inner, "mobilekit_config", None)
    if not config:
        raise WeightsError(f"cannot checkpoint {type(inner).__name__}: it has no mobilekit_config",
                           "build the model with mobilekit.models.create_model")
    ckpt = {
        "format": FORMAT,
        "version": VERSION,
        "model": config["model"],
        "model_config": dict(config),
        "classes": classes,
        "state_dict": _cpu(inner.state_dict()),
        "optimizer": _cpu(optimizer.state_dict()) if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "epoch": int(epoch),
        "step": int(step),
        "metrics": dict(metrics or {}),
        "extra": _cpu(dict(extra or {})),
        "mobilekit_version": __version__,
        "torch_version": str(torch.__version__),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(ckpt, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a mobilekit checkpoint. A missing, corrupt, truncated or foreign file (anything
    that is not a mobilekit checkpoint, e.g. a bare state dict) is a WeightsError."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint {path} does not exist", "check the path (training writes last.pt and best.pt)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise WeightsError(f"cannot read checkpoint {path} ({type(e).__name__}: {str(e).splitlines()[0][:120]})",
                           "the file is corrupt or truncated; use another checkpoint (e.g. best.pt or last.pt)") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise WeightsError(f"{path} is not a mobilekit checkpoint",
                           "pass a .pt written by `mobilekit train`; for bare ImageNet backbone weights "
                           "use --backbone-weights")
    if ckpt.get("version") != VERSION:
        raise WeightsError(f"{path} is mobilekit checkpoint version {ckpt.get('version')}, this mobilekit reads "
                           f"version {VERSION}", "use the mobilekit version that wrote it")
    missing = [k for k in ("model", "model_config", "classes", "state_dict") if k not in ckpt]
    if missing:
        raise WeightsError(f"checkpoint {path} lacks {', '.join(missing)}", "the file is damaged; use another one")
    return ckpt


def checkpoint_meta(ckpt: dict) -> dict:
    """The descriptive part of a checkpoint (everything but the tensors' states)."""
    return {"model": ckpt["model"], "model_config": ckpt["model_config"], "classes": ckpt["classes"],
            "epoch": ckpt.get("epoch", 0), "step": ckpt.get("step", 0), "metrics": ckpt.get("metrics", {}),
            "extra": ckpt.get("extra", {}), "mobilekit_version": ckpt.get("mobilekit_version"),
            "created": ckpt.get("created")}


def load_model_from_checkpoint(path: str | Path, map_location: str | torch.device = "cpu"
                               ) -> tuple[nn.Module, dict]:
    """Rebuild the model with `create_model(model, **model_config)`, load its weights, and return
    (model in eval mode, meta). meta has "model", "model_config", "classes", "epoch",
    "step", "metrics", "extra"."""
    from mobilekit.models import create_model

    ckpt = load_checkpoint(path, map_location)
    config = dict(ckpt["model_config"])
    name = config.pop("model", ckpt["model"])
    try:
        model = create_model(name, **config)
    except TypeError as e:  # a config key this mobilekit's model does not take
        raise WeightsError(f"checkpoint {path} has a model config that {name!r} does not accept ({e})",
                           "use the mobilekit version that wrote it") from e
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as e:
        raise WeightsError(f"checkpoint {path} does not fit model {ckpt['model']!r} "
                           f"({str(e).splitlines()[0][:160]})",
                           "the checkpoint was written by an incompatible mobilekit version") from e
    return model.eval(), checkpoint_meta(ckpt)
