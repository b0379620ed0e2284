"""Load ImageNet weights saved by timm (.safetensors or .pth) into our backbones by key."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mobilekit.errors import WeightsError

# The ImageNet classifier of a timm checkpoint: present in the file, unused for video.
CLASSIFIER_PREFIXES = ("classifier.", "fc.", "head.", "head_drop.")
_WRAPPER_KEYS = ("state_dict", "model", "model_state", "module")


def _list_keys(keys, limit: int = 8) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from .safetensors or a torch pickle (.pth/.pt/.bin), unwrapping
    the usual {'state_dict': ...} / {'model': ...} containers and DDP's 'module.' prefix."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist", "check the path")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path))
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, truncated, or not a weights file at all
        raise WeightsError(f"cannot read weights from {path} ({type(e).__name__}: {str(e)[:120]})",
                           "the file is corrupt or not a .safetensors/.pth state dict") from e
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
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: {_list_keys(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: {_list_keys(unexpected)}")
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} of wrong shape: {_list_keys(wrong_shape)}")
    if problems:
        name = type(backbone).__name__
        raise WeightsError(f"{path} does not fit {name}: " + "; ".join(problems),
                           "pass weights saved by timm for the same architecture")
    backbone.load_state_dict(sd, strict=True)
    return ignored
