"""The model zoo registry, in the manner of timm: factories register themselves with a
config card (paper, defaults, input spec); `create_model` builds one by name."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Callable

from torch import nn

from mobilekit.errors import UnknownModelError

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
                 backbone_weights: str | None = None, **kw) -> nn.Module:
    """Build a zoo model. Defaults come from its card; `num_classes` may be a dict of
    named heads (e.g. {"verb": 97, "noun": 300}) for EK100-style outputs.

    `backbone_weights` loads a timm-layout ImageNet state dict into `model.backbone`.
    The returned module carries `mobilekit_config`, enough to rebuild it (checkpoints).
    """
    card = get_card(name)
    fn = _REGISTRY[name][1]
    config = dict(num_classes=card.num_classes if num_classes is None else num_classes,
                  num_frames=num_frames or card.num_frames,
                  image_size=image_size or card.image_size)
    model = fn(**config, **kw)
    if backbone_weights:
        from mobilekit.models.backbones import load_backbone_weights

        if not isinstance(getattr(model, "backbone", None), nn.Module):
            raise UnknownModelError(f"model {name!r} has no 2D backbone to load weights into",
                                    "drop --backbone-weights for this model")
        load_backbone_weights(model.backbone, backbone_weights)
    model.mobilekit_config = {"model": name, **config, **kw}
    model.mobilekit_card = card
    return model


def card_dict(name: str) -> dict:
    return asdict(get_card(name))
