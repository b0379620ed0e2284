"""Load ImageNet weights saved by timm (.safetensors or .pth) into our backbones by key."""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch
from torch import nn

from mobilekit.errors import WeightsError

# The ImageNet classifier of a timm checkpoint: present in the file, unused for video.
CLASSIFIER_PREFIXES = ("classifier.", "fc.", "head.", "head_drop.")
_WRAPPER_KEYS = ("state_dict", "model", "model_state", "module")


def list_keys(keys, limit: int = 8, sort: bool = True) -> str:
    keys = sorted(keys) if sort else list(keys)
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def key_problems(missing, unexpected, wrong_shape, wrong_label: str = "of wrong shape",
                 limit: int = 8, sort: bool = True) -> list[str]:
    """The parts of a one-line 'does not fit' error: counts and the first keys of each kind
    (sorted, or in the caller's order, e.g. the model's)."""
    parts = [(missing, "missing"), (unexpected, "unexpected"), (wrong_shape, wrong_label)]
    return [f"{len(keys)} {label}: {list_keys(keys, limit, sort)}" for keys, label in parts if keys]


def describe_error(e: BaseException) -> str:
    """`Type: first line of the message` (some exceptions, e.g. torch.load's EOFError on an
    empty file, have no message at all)."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:120]}" if lines else type(e).__name__


def verify_zip_crcs(path: Path, what: str, fix: str) -> None:
    """Read every member of a zip (torch.save's format) and check its CRC-32: torch.load
    does not, so a damaged tensor would otherwise load as wrong weights without a word.
    A file that is not a zip at all (a legacy torch pickle) is left to torch.load."""
    if not zipfile.is_zipfile(path):
        with path.open("rb") as f:
            if f.read(4) == b"PK\x03\x04":  # starts as a zip but its end (the directory) is gone
                raise WeightsError(f"cannot read {what} {path}: it is truncated (the zip directory at its end "
                                   "is missing)", fix)
        return
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                with zf.open(info) as member:
                    while member.read(1 << 20):  # the CRC is checked when a member is read to its end
                        pass
    except Exception as e:  # BadZipFile (a CRC mismatch), a damaged header, an unknown compression
        raise WeightsError(f"cannot read {what} {path}: it is damaged ({describe_error(e)})", fix) from e


def torch_load_verified(path: Path, what: str, fix: str, map_location="cpu"):
    """torch.load(weights_only=True) after checking the file is not empty and its zip CRCs
    match; any failure is one WeightsError line naming `what` and the file."""
    if path.stat().st_size == 0:
        raise WeightsError(f"cannot read {what} {path}: the file is empty (0 bytes)", fix)
    verify_zip_crcs(path, what, fix)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated, not a torch file, or holds code (weights_only refuses it)
        raise WeightsError(f"cannot read {what} {path} ({describe_error(e)})", fix) from e


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from .safetensors or a torch pickle (.pth/.pt/.bin), unwrapping
    the usual {'state_dict': ...} / {'model': ...} containers and DDP's 'module.' prefix."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist", "check the path")
    fix = "the file is corrupt, truncated or not a .safetensors/.pth state dict; download it again"
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        if path.stat().st_size == 0:
            raise WeightsError(f"cannot read weights from {path}: the file is empty (0 bytes)", fix)
        try:
            sd = load_file(str(path))
        except Exception as e:  # a truncated file fails the header's size check
            raise WeightsError(f"cannot read weights from {path} ({describe_error(e)})", fix) from e
    else:
        sd = torch_load_verified(path, "weights from", fix)
    for key in _WRAPPER_KEYS:
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors",
                           "pass a timm-layout .safetensors or .pth file")
    return {k.removeprefix("module."): v for k, v in sd.items()}


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> list[str]:
    """Load timm-layout weights into `backbone`. Returns the classifier keys that were ignored.

    Anything else missing, unexpected or of the wrong shape is a WeightsError listing the keys.
    """
    sd = read_state_dict(path)
    ignored = [k for k in sd if k.startswith(CLASSIFIER_PREFIXES)]
    sd = {k: v for k, v in sd.items() if k not in set(ignored)}
    own = backbone.state_dict()
    missing = set(own) - set(sd)
    unexpected = set(sd) - set(own)
    wrong_shape = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}"
                   for k in set(own) & set(sd) if sd[k].shape != own[k].shape]
    problems = key_problems(missing, unexpected, wrong_shape)
    if problems:
        name = type(backbone).__name__
        raise WeightsError(f"{path} does not fit {name}: " + "; ".join(problems),
                           "pass weights saved by timm for the same architecture")
    backbone.load_state_dict(sd, strict=True)
    return ignored
