"""Model facts for `mobilekit models` and manifests: parameters, FLOPs, input spec."""

from __future__ import annotations

import torch

from mobilekit.models.registry import card_dict, create_model


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_gflops(model: torch.nn.Module, input_shape) -> float:
    """GFLOPs of one forward pass, counting a multiply-add as one FLOP (the fvcore
    convention the video papers use). Counted on the meta device: no compute, no memory."""
    from torch.utils.flop_counter import FlopCounterMode

    model = model.to("meta").eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.empty(*input_shape, device="meta"))
    return counter.get_total_flops() / 2 / 1e9


def input_spec(card: dict, num_frames: int, image_size: int) -> dict:
    return {
        "name": "video",
        "shape": [1, num_frames, 3, image_size, image_size],
        "layout": "BTCHW",
        "dtype": "float32",
        "color": "RGB",
        "scale": 1 / 255,
        "mean": list(card["mean"]),
        "std": list(card["std"]),
        "frame_sampling": card["frame_sampling"],
    }


def model_info(name: str, num_classes=None, num_frames: int | None = None,
               image_size: int | None = None, **kw) -> dict:
    """Card, parameter count and GFLOPs of a zoo model at its default (or given) input."""
    card = card_dict(name)
    t = num_frames or card["num_frames"]
    s = image_size or card["image_size"]
    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes, num_frames=t, image_size=s, **kw)
    shape = (1, t, 3, s, s)
    return {
        **card,
        "num_classes": model.mobilekit_config["num_classes"],
        "params": count_params(model),
        "gflops": count_gflops(model, shape),
        "input": input_spec(card, t, s),
    }
