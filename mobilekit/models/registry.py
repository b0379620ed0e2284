"""The model zoo registry, in the manner of timm: factories register themselves with a
config card (paper, defaults, input spec); `create_model` builds one by name."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Callable

from torch import nn

from mobilekit.errors import MobilekitError, UnknownModelError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelCard:
    name: str
    family: str
    paper: str
    description: str
    num_classes: int = 400
    num_frames: int = 16
    image_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # How frames are picked from a video: TSN segments (random offset in training,
    # segment centres at evaluation), or consecutive frames for streaming models.
    frame_sampling: str = "tsn"
    # Parameter count the paper reports, and what it includes, for the record.
    paper_params: str = ""
    extra: dict = field(default_factory=dict)


_REGISTRY: dict[str, tuple[ModelCard, Callable[..., nn.Module]]] = {}


def register_model(**card_fields):
    """Decorator: `@register_model(name=..., family=..., paper=..., description=...)` on a
    factory `fn(num_classes, num_frames, image_size, **kw) -> nn.Module`."""

    def wrap(fn):
        card = ModelCard(**card_fields)
        if card.name in _REGISTRY:
            raise ValueError(f"model {card.name!r} is registered twice")
        _REGISTRY[card.name] = (card, fn)
        return fn

    return wrap


def _ensure_loaded() -> None:
    # Importing the families registers them; done lazily so `import mobilekit` stays cheap.
    import mobilekit.models.zoo  # noqa: F401


def list_models(family: str | None = None) -> list[str]:
    _ensure_loaded()
    return sorted(n for n, (c, _) in _REGISTRY.items() if family is None or c.family == family)


def get_card(name: str) -> ModelCard:
    _ensure_loaded()
    try:
        return _REGISTRY[name][0]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}?" if close else "run `mobilekit models` for the list"
        raise UnknownModelError(f"unknown model {name!r}", hint) from None


def create_model(name: str, num_classes: int | dict[str, int] | None = None,
                 num_frames: int | None = None, image_size: int | None = None,
                 backbone_weights: str | None = None, checkpoint: str | None = None,
                 labels: str | None = None, **kw) -> nn.Module:
    """Build a zoo model. Defaults come from its card; `num_classes` may be a dict of
    named heads (e.g. {"verb": 97, "noun": 300}) for EK100-style outputs.

    `backbone_weights` loads a timm-layout ImageNet state dict into `model.backbone`.
    `checkpoint` loads an official release (PyTorchVideo, PySlowFast, ...; the layout is told
    from its keys) after building; `num_classes` defaults to its head's, and a different one
    keeps everything but the classifier. Its class names, or those of `labels` (a file),
    are `model.mobilekit_classes`.
    The returned module carries `mobilekit_config`, enough to rebuild it (checkpoints).
    """
    card = get_card(name)
    fn = _REGISTRY[name][1]
    pretrained = None
    if checkpoint is not None or labels is not None:
        from mobilekit.errors import WeightsError
        from mobilekit.models.pretrained import read_pretrained

        if checkpoint is None:
            raise WeightsError("labels name the classes of a checkpoint, and none was given",
                               "pass checkpoint=FILE with labels, or drop labels")
        if backbone_weights:
            raise WeightsError("both checkpoint and backbone_weights given",
                               "drop backbone_weights: the checkpoint holds the whole model")
        pretrained = read_pretrained(checkpoint, name, card.family, labels)
        if num_classes is None:
            num_classes = pretrained.num_classes
    for value, arg in ((num_frames, "num_frames"), (image_size, "image_size")):
        if value is not None and value < 1:  # 0 is not "the default" (None is)
            raise MobilekitError(f"{arg}={value} for {name}", f"give {arg} >= 1, or None for the card's default")
    config = dict(num_classes=card.num_classes if num_classes is None else num_classes,
                  num_frames=num_frames if num_frames is not None else card.num_frames,
                  image_size=image_size if image_size is not None else card.image_size)
    model = fn(**config, **kw)
    if backbone_weights:
        from mobilekit.models.backbones import load_backbone_weights

        if not isinstance(getattr(model, "backbone", None), nn.Module):
            raise UnknownModelError(f"model {name!r} has no 2D backbone to load weights into",
                                    "drop --backbone-weights for this model")
        load_backbone_weights(model.backbone, backbone_weights)
    if pretrained is not None:
        pretrained.load_into(model, name, keep_classifier=config["num_classes"] == pretrained.num_classes)
    model.mobilekit_config = {"model": name, **config, **kw}
    model.mobilekit_card = card
    return model


def card_dict(name: str) -> dict:
    return asdict(get_card(name))
