"""Load an official pretrained checkpoint into a zoo model: read the file, tell its layout
from its keys, rename by the layout's table, fit shapes, and refuse with one line naming
every missing, unexpected or mis-shaped key rather than load part of it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mobilekit.errors import WeightsError
from mobilekit.models.backbones.weights import key_problems, list_keys
from mobilekit.models.pretrained.labels import labels_for_width, read_label_file
from mobilekit.models.pretrained.layout import Layout
from mobilekit.models.pretrained.tables import LAYOUTS

# Where releases keep the state dict inside the saved object: PySlowFast / PyTorchVideo
# ("model_state"), mmaction2 and most others ("state_dict"), some ("model", "module").
_CONTAINERS = ("model_state", "state_dict", "model", "module")


def known_layouts() -> str:
    return ", ".join(f"{layout.name} ({layout.family})" for layout in LAYOUTS)


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a checkpoint file (.pyth/.pth/.pt/.ckpt or .safetensors), out of
    its release's container and without DataParallel's "module." prefix."""
    from mobilekit.models.backbones.weights import describe_error, torch_load_verified

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint {path} does not exist", "check the path")
    fix = "pass the .pyth/.pth/.safetensors file of an official release (it may be truncated: download it again)"
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            obj = load_file(str(path))
        except Exception as e:  # a truncated or foreign file fails the header check
            raise WeightsError(f"cannot read checkpoint {path} ({describe_error(e)})", fix) from e
    else:
        obj = torch_load_verified(path, "checkpoint", fix)
    if isinstance(obj, dict) and "model_config" in obj and "state_dict" in obj:
        raise WeightsError(f"{path} is a mobilekit.train checkpoint, not an official release",
                           f"load it with mobilekit.train.checkpoint.load_model_from_checkpoint "
                           f"(CLI: mobilekit convert --checkpoint {path})")
    while isinstance(obj, dict) and not _is_state_dict(obj):
        inner = next((obj[k] for k in _CONTAINERS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict) or not obj or not _is_state_dict(obj):
        what = f"top-level keys: {list_keys(map(str, obj), 6, sort=False)}" if isinstance(obj, dict) else type(obj).__name__
        raise WeightsError(f"{path} holds no state dict of tensors ({what})", fix)
    if all(k.startswith("module.") for k in obj):
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return obj


def _is_state_dict(obj: dict) -> bool:
    return bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def detect_layout(keys, path, model_name: str, family: str) -> Layout:
    """The layout whose signature keys the checkpoint has; it must load into `family`."""
    keys = set(keys)
    matches = [layout for layout in LAYOUTS if all(k in keys for k in layout.signature)]
    if not matches:
        sample = list_keys(keys, 3)
        raise WeightsError(f"cannot tell which release {path} comes from (keys {sample})",
                           f"known layouts: {known_layouts()}")
    for layout in matches:
        if layout.refuse:
            raise WeightsError(f"{path} is a {layout.name} checkpoint, which does not load: {layout.refuse}",
                               layout.hint or None)
        if layout.family == family:
            return layout
    from mobilekit.models.registry import list_models

    other = matches[0]
    models = list_models(other.family)
    raise WeightsError(f"{path} is a {other.name} checkpoint, which loads into the {other.family} family "
                       f"({', '.join(models)}), not {model_name}",
                       f"use create_model({models[0]!r}, checkpoint=...)" if models else None)


def rename(state_dict: dict[str, torch.Tensor], layout: Layout) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(zoo-named state dict, {zoo key: upstream key}) by the layout's table."""
    ignore = [re.compile(p) for p in layout.ignore]
    renames = [(re.compile(p), r) for p, r in layout.renames]
    mapped, upstream = {}, {}
    for key, tensor in state_dict.items():
        if any(p.fullmatch(key) for p in ignore):
            continue
        new = key
        for pattern, replacement in renames:
            new = pattern.sub(replacement, new)
        if new in upstream:  # a table bug: two upstream keys land on one zoo key
            raise WeightsError(f"{layout.name}: {upstream[new]} and {key} both map to {new}",
                               "report this: the layout table is wrong")
        mapped[new], upstream[new] = tensor, key
    return mapped, upstream


def _squeezed(shape) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


@dataclass
class Pretrained:
    """A checkpoint read and renamed, ready to load into a model of its layout's family."""

    path: Path
    layout: Layout
    state_dict: dict[str, torch.Tensor]
    upstream: dict[str, str]              # zoo key -> the checkpoint's own key, for messages
    num_classes: int | None               # the width of its classifier
    dataset: str | None = None            # the label set its classifier was trained on, when known
    classes: list[str] | None = None
    labels_file: str | None = None

    def load_into(self, model: nn.Module, model_name: str, keep_classifier: bool = True) -> None:
        """Load every tensor or raise; `keep_classifier=False` leaves a new head (other
        classes) untouched. Sets `model.mobilekit_classes` and `model.mobilekit_pretrained`."""
        own = model.state_dict()
        source = dict(self.state_dict)
        new_head = {}
        if not keep_classifier:
            # The model's own head (one Linear, or named heads beside where it would be) stays.
            classifier = self.layout.classifier + "."
            head = self.layout.classifier.rsplit(".", 1)[0] + "."
            source = {k: v for k, v in source.items() if not k.startswith(classifier)}
            new_head = {k: v for k, v in own.items() if k.startswith(head) and k not in source}
        filled = self._identity_norms(model, source)
        missing = [k for k in own if k not in source and k not in filled and k not in new_head]
        unexpected = [self.upstream[k] for k in source if k not in own]
        wrong, fitted = [], {}
        for k, v in source.items():
            if k not in own:
                continue
            want = own[k].shape
            if v.shape == want:
                fitted[k] = v
            elif _squeezed(v.shape) == _squeezed(want):  # a 1x1x1 conv against a Linear
                fitted[k] = v.reshape(want)
            else:
                wrong.append(f"{k} {tuple(v.shape)} vs {tuple(want)}")
        problems = key_problems(missing, unexpected, wrong, "of wrong shape (checkpoint vs model)",
                                limit=6, sort=False)
        if problems:
            hint = self.layout.hint or ("build the model with the frames and image size the checkpoint "
                                        "was trained at" if wrong and not (missing or unexpected) else
                                        "pick the zoo model (and options) of the checkpoint's architecture")
            raise WeightsError(f"{self.path} ({self.layout.name}) does not fit {model_name}: "
                               + "; ".join(problems), hint)
        model.load_state_dict({**fitted, **filled, **new_head}, strict=True)
        model.mobilekit_classes = self._classes_for(model, keep_classifier)
        model.mobilekit_pretrained = {
            "checkpoint": str(self.path), "layout": self.layout.name, "source": self.layout.source,
            "dataset": self.dataset if keep_classifier else None,
            "head": "loaded" if keep_classifier else "new (other classes than the checkpoint's)",
            "identity_norms": sorted({k.rsplit(".", 1)[0] for k in filled}),
        }

    def _identity_norms(self, model: nn.Module, source: dict) -> dict[str, torch.Tensor]:
        """BatchNorms the release does not have, as identities (eval: x -> x)."""
        out = {}
        for name in self.layout.identity_norms:
            if f"{name}.weight" in source:
                continue
            bn = model.get_submodule(name)
            n = bn.num_features
            out.update({f"{name}.weight": torch.ones(n), f"{name}.bias": torch.zeros(n),
                        f"{name}.running_mean": torch.zeros(n),
                        # (x - 0) / sqrt(var + eps) is x when var + eps is 1.
                        f"{name}.running_var": torch.full((n,), 1.0 - bn.eps),
                        f"{name}.num_batches_tracked": torch.tensor(0)})
        return out

    def _classes_for(self, model: nn.Module, keep_classifier: bool) -> list[str] | None:
        weight = model.state_dict().get(self.layout.classifier + ".weight")
        width = None if weight is None else weight.shape[0]
        if self.labels_file is not None:
            if len(self.classes) != width:
                raise WeightsError(f"label file {self.labels_file} names {len(self.classes)} classes but the "
                                   f"model has {width if width is not None else 'several'} outputs",
                                   "give one name per output class, in logit order")
            return list(self.classes)
        return list(self.classes) if keep_classifier and self.classes else None


def read_pretrained(path: str | Path, model_name: str, family: str, labels: str | Path | None = None) -> Pretrained:
    """Read `path`, tell its layout, rename it to the zoo's names. Loading is `load_into`."""
    path = Path(path)
    raw = read_checkpoint(path)
    layout = detect_layout(raw, path, model_name, family)
    mapped, upstream = rename(raw, layout)
    weight = mapped.get(layout.classifier + ".weight")
    # A Linear, or a 1x1(x1) conv used as one (MoViNet's classifier)
    is_linear = weight is not None and weight.dim() >= 2 and all(d == 1 for d in weight.shape[2:])
    num_classes = int(weight.shape[0]) if is_linear else None
    pretrained = Pretrained(path=path, layout=layout, state_dict=mapped, upstream=upstream,
                            num_classes=num_classes)
    if labels is not None:
        pretrained.classes, pretrained.labels_file = read_label_file(labels), str(labels)
    elif num_classes is not None:
        pretrained.dataset, pretrained.classes = labels_for_width(layout.datasets, num_classes)
    return pretrained
