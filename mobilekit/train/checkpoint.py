"""Training checkpoints: one torch.save dict that carries everything needed to resume a run
exactly or to rebuild the model elsewhere (`mobilekit convert --checkpoint`).

Format (version 1): {"format": "mobilekit-checkpoint", "version": 1, "model", "model_config",
"classes", "state_dict", "optimizer", "scheduler", "scaler", "epoch", "step", "metrics",
"extra", "mobilekit_version", "torch_version", "created", "integrity"}. Only tensors and plain
Python values are stored, so it loads with `weights_only=True` (no code runs from a foreign file).

Integrity: torch.load checks no checksum, so a damaged file would load as wrong weights.
Each checkpoint is sealed: the zip's comment (the last bytes of the file) holds
"mobilekit-sha256:<hex>", the sha256 of every byte before it, and the payload says
`"integrity": "sha256-zip-comment"` so a seal that was cut off is noticed too. Checkpoints
written before the seal are checked member by member against their zip CRC-32s.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mobilekit.errors import WeightsError
from mobilekit.models.backbones.weights import describe_error, torch_load_verified

FORMAT = "mobilekit-checkpoint"
VERSION = 1
INTEGRITY = "sha256-zip-comment"
_SEAL_PREFIX = b"mobilekit-sha256:"
_SEAL_LEN = len(_SEAL_PREFIX) + 64
_EOCD = b"PK\x05\x06"   # the zip's end-of-central-directory record: 22 bytes, then the comment
_EOCD_LEN = 22
_DAMAGED_FIX = "restore it from a copy or use another checkpoint (best.pt or last.pt)"


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


def _sha256_of_prefix(f, length: int) -> str:
    h = hashlib.sha256()
    f.seek(0)
    left = length
    while left > 0:
        chunk = f.read(min(1 << 20, left))
        if not chunk:
            break
        h.update(chunk)
        left -= len(chunk)
    return h.hexdigest()


def _seal(f) -> None:
    """Append the sha256 seal as the zip comment of the checkpoint just written to `f`."""
    f.seek(-_EOCD_LEN, os.SEEK_END)
    eocd = f.read(_EOCD_LEN)
    if eocd[:4] != _EOCD or eocd[20:22] != b"\0\0":
        raise RuntimeError("torch.save wrote a zip that does not end in a comment-less end record")
    f.seek(-2, os.SEEK_END)
    f.write(_SEAL_LEN.to_bytes(2, "little"))  # the comment length is covered by the hash
    f.flush()
    size = f.seek(0, os.SEEK_END)
    digest = _sha256_of_prefix(f, size)
    f.seek(0, os.SEEK_END)
    f.write(_SEAL_PREFIX + digest.encode())


def _check_seal(path: Path) -> bool:
    """True when the file carries a seal and its sha256 matches; False when it has no
    (well-formed) seal; a WeightsError when the seal does not match the bytes."""
    size = path.stat().st_size
    if size < _EOCD_LEN + _SEAL_LEN:
        return False
    with path.open("rb") as f:
        f.seek(size - _EOCD_LEN - _SEAL_LEN)
        tail = f.read()
        eocd, seal = tail[:_EOCD_LEN], tail[_EOCD_LEN:]
        if (eocd[:4] != _EOCD or int.from_bytes(eocd[20:22], "little") != _SEAL_LEN
                or not seal.startswith(_SEAL_PREFIX)):
            return False
        digest = _sha256_of_prefix(f, size - _SEAL_LEN)
    if seal[len(_SEAL_PREFIX):] != digest.encode():
        raise WeightsError(f"cannot read checkpoint {path}: it is damaged (its sha256 does not match the one "
                           "it was saved with)", _DAMAGED_FIX)
    return True


def file_mode() -> int:
    """The mode a plain open() would give a new file: 0o666 less the umask (mkstemp's 0o600
    would hide checkpoints from the group that shares a run folder)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temp files (`.last.pt.*.tmp`) that a killed process left behind while
    writing a checkpoint into `folder`; call it before a run writes there. Returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.glob(".*.pt.*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def save_checkpoint(path: str | Path, model: nn.Module, *, classes: list[str] | dict[str, list[str]],
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                    scaler: Any = None, epoch: int = 0, step: int = 0, metrics: dict | None = None,
                    extra: dict | None = None) -> Path:
    """Write a sealed checkpoint atomically: a temp file in the same folder, then os.replace,
    so an interrupted write never leaves a truncated checkpoint under `path`.

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
        "integrity": INTEGRITY,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "w+b") as f:
            torch.save(ckpt, f)
            _seal(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a mobilekit checkpoint after verifying its seal (or, for an unsealed one, its zip
    CRCs). A missing, empty, damaged, truncated or foreign file (anything that is not a
    mobilekit checkpoint, e.g. a bare state dict) is a WeightsError."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint {path} does not exist", "check the path (training writes last.pt and best.pt)")
    sealed = _check_seal(path)
    if sealed:
        ckpt = _load_sealed(path, map_location)
    else:  # older than the seal, or its seal is gone: the zip CRCs at least
        ckpt = torch_load_verified(path, "checkpoint", _DAMAGED_FIX, map_location)
    if isinstance(ckpt, dict) and ckpt.get("integrity") == INTEGRITY and not sealed:
        raise WeightsError(f"cannot read checkpoint {path}: it is damaged (its sha256 seal at the end of the file "
                           "is missing or cut off)", _DAMAGED_FIX)
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


def _load_sealed(path: Path, map_location) -> Any:
    try:  # the sha256 matched, so a failure here is a file this torch cannot read
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise WeightsError(f"cannot read checkpoint {path} ({describe_error(e)})",
                           "use the mobilekit and torch versions that wrote it") from e


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
