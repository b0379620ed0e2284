"""What to convert: a zoo model by name, a mobilekit.train checkpoint, a user's nn.Module
(in memory or `path/to/file.py:ClassName`), resolved to one `SourceModel`.

The model handed to a converter is always a deep copy in eval mode whose outputs are a
tuple of tensors (named heads flattened in key order), so converters never touch the
caller's module and every runtime sees the same output order.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mobilekit.errors import MobilekitError, ShapeError

INPUT_NAME = "video"


@dataclass
class SourceModel:
    """A model ready to convert: the module, an example input, and what the manifest says."""

    module: nn.Module
    example_input: torch.Tensor
    name: str
    family: str | None = None
    card: dict = field(default_factory=dict)   # mean/std/frame_sampling for the input spec
    classes: list[str] | dict[str, list[str]] | None = None
    config: dict | None = None                 # mobilekit_config, to rebuild the model
    origin: str = "zoo"                        # zoo, checkpoint, module

    @property
    def input_shape(self) -> list[int]:
        return list(self.example_input.shape)


class FlatOutputs(nn.Module):
    """Wraps a model so it returns a tuple of tensors: a dict of named heads becomes a tuple
    in key order (torch.export, TorchScript and the runtimes all handle tuples the same)."""

    def __init__(self, model: nn.Module, keys: list[str] | None):
        super().__init__()
        self.model = model
        self.keys = keys

    def forward(self, video: torch.Tensor):  # the argument's name is the input's name in LiteRT
        out = self.model(video)
        if self.keys is not None:
            return tuple(out[k] for k in self.keys)
        return out if isinstance(out, tuple) else (out,)


def artifact_model_name(class_name: str) -> str:
    """A user class's name as the manifest's model name (the artifact id's first part, which
    must start with a letter or digit: `_Net` -> `Net`, `Net<locals>` -> `Net-locals-`)."""
    import re

    name = re.sub(r"[^A-Za-z0-9_.-]", "-", class_name).lstrip("_.-")[:100]
    return name or "model"


def model_module_name(traced_path: str) -> str:
    """A module path traced through FlatOutputs (nn_module_stack: "model.backbone.conv") as the
    user's model and its state dict name it ("backbone.conv"; "" for the model itself)."""
    return "" if traced_path == "model" else traced_path.removeprefix("model.")


def output_names(example_output: Any) -> list[str]:
    """`logits` for one tensor, the head names for a dict, output_<i> for a tuple/list."""
    if isinstance(example_output, torch.Tensor):
        return ["logits"]
    if isinstance(example_output, dict):
        return [str(k) for k in example_output]
    if isinstance(example_output, (tuple, list)):
        return [f"output_{i}" for i in range(len(example_output))]
    raise MobilekitError(f"the model returns {type(example_output).__name__}, not tensors",
                         "return a tensor, a tuple of tensors or a dict of tensors from forward")


def flatten_outputs(model: nn.Module, example_output: Any) -> FlatOutputs:
    keys = list(example_output) if isinstance(example_output, dict) else None
    return FlatOutputs(model, keys).eval()


# The largest example input built here: 2**28 float32 elements (1 GiB). A video clip at the
# zoo's largest default (1x16x3x224x224) is 2.4M; beyond this the allocation itself (and
# then export) would fail or take the machine down, so it is refused before anything is built.
MAX_INPUT_ELEMENTS = 1 << 28
# Heads beyond this are a typo (ImageNet-21k has 21,841 classes); a 10**9-class head would
# try to allocate gigabytes before anything else fails.
MAX_CLASSES = 100_000


def check_input_size(shape: list[int], what: str = "input shape") -> None:
    """Refuse an input whose float32 tensor would not fit (MAX_INPUT_ELEMENTS), before it is built."""
    elements = 1
    for d in shape:
        elements *= d
    if elements > MAX_INPUT_ELEMENTS:
        raise ShapeError(f"{what} {'x'.join(map(str, shape))} has {elements:,} elements "
                         f"({elements * 4 / 2**30:,.1f} GiB as float32), more than the "
                         f"{MAX_INPUT_ELEMENTS:,} (1 GiB) mobilekit builds",
                         "give a clip-sized input, e.g. 1,16,3,224,224 (--frames/--size for zoo models)")


def parse_shape(text: str) -> list[int]:
    """'1,8,3,112,112' (or 1x8x3x112x112) -> [1, 8, 3, 112, 112]; at most MAX_INPUT_ELEMENTS."""
    try:
        dims = [int(p) for p in text.replace("x", ",").split(",") if p.strip()]
    except ValueError:
        dims = []
    if not dims or any(d < 1 for d in dims):
        raise ShapeError(f"bad input shape {text!r}", "give positive integers like 1,8,3,112,112")
    check_input_size(dims)
    return dims


def parse_classes(text: str) -> int | dict[str, int]:
    """'174' -> 174; 'verb=97,noun=300' -> {'verb': 97, 'noun': 300} (named heads), checked
    with check_num_classes."""
    try:
        if "=" in text:
            heads = {}
            for part in text.split(","):
                key, value = part.split("=")
                key = key.strip()
                if not key or key in heads:
                    raise ValueError(part)
                heads[key] = int(value)
            value = heads
        else:
            value = int(text)
    except ValueError:
        raise MobilekitError(f"bad --classes {text!r}",
                             "give a number (174) or named heads (verb=97,noun=300)") from None
    check_num_classes(value)
    return value


def check_num_classes(num_classes) -> None:
    """None (the model's default), a count, or {head: count}: each a whole number in 1..MAX_CLASSES."""
    if num_classes is None:
        return
    if isinstance(num_classes, dict):
        if not num_classes:
            raise MobilekitError("--classes names no heads", "give a number (174) or heads (verb=97,noun=300)")
        for head, n in num_classes.items():
            _check_count(n, f"--classes {head}=", 1, MAX_CLASSES, "give each head a count from")
        return
    _check_count(num_classes, "--classes ", 1, MAX_CLASSES)


def _check_count(value, shown: str, least: int, most: int | None = None, give: str | None = None) -> None:
    """`shown` + value is how the user wrote it ("--frames " + "0", "--classes verb=" + "0")."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= least
    if ok and (most is None or value <= most):
        return
    bound = f"{least} to {most:,}" if most is not None else f"{least} or more"
    raise MobilekitError(f"{shown}{value!r} is not a whole number {'from ' if most else 'of '}{bound}",
                         f"{give or 'give ' + shown.strip()} {bound}")


def check_model_args(num_classes=None, num_frames: int | None = None, image_size: int | None = None) -> None:
    """The overrides of a model's defaults, checked before anything is built (0 is not "default")."""
    check_num_classes(num_classes)
    for value, option in ((num_frames, "--frames"), (image_size, "--size")):
        if value is not None:
            _check_count(value, f"{option} ", 1)


def load_module_class(spec: str) -> type[nn.Module]:
    """`path/to/file.py:ClassName` -> the class, imported from that file."""
    path_text, sep, cls_name = spec.rpartition(":")
    if not sep or not path_text or not cls_name:
        raise MobilekitError(f"--module {spec!r} is not FILE.py:ClassName",
                             "write it as path/to/file.py:ClassName")
    path = Path(path_text)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise MobilekitError(f"module file {path} {what}", "give the .py file before the ':'")
    mod_name = f"mobilekit_user_{path.stem}"
    spec_obj = importlib.util.spec_from_file_location(mod_name, path)
    if spec_obj is None:  # importlib only loads source files it recognises by their suffix
        raise MobilekitError(f"module file {path} is not a Python source file",
                             "give a file ending in .py before the ':'")
    module = importlib.util.module_from_spec(spec_obj)
    sys.modules[mod_name] = module  # dataclasses and pickling look the module up by name
    try:
        spec_obj.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # SystemExit: a script that calls sys.exit() at import
        del sys.modules[mod_name]  # a half-imported module must not be found by the next import
        what = f"{type(e).__name__}: {e}" if not isinstance(e, SystemExit) else f"it calls sys.exit({e.code!r})"
        raise MobilekitError(f"importing {path} failed: {_first_line(what)}",
                             "fix the file (run it with python to see the traceback); put script code "
                             "under `if __name__ == '__main__':`") from e
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        found = [n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, nn.Module)
                 and v.__module__ == mod_name]
        raise MobilekitError(f"{path} has no nn.Module class {cls_name!r}",
                             f"classes there: {', '.join(found) or 'none'}")
    return cls


def _first_line(text: str) -> str:
    text = str(text).strip()
    return text.splitlines()[0] if text else ""


def _from_zoo(name: str, num_classes, num_frames, image_size, checkpoint_weights: str | None = None) -> SourceModel:
    from mobilekit.models import create_model, get_card

    card = get_card(name)  # an unknown name fails here, with suggestions
    s = image_size if image_size is not None else card.image_size
    check_input_size([1, num_frames if num_frames is not None else card.num_frames, 3, s, s],
                     f"{name}'s input")  # before create_model sizes embeddings for it
    # An official checkpoint (PyTorchVideo, PySlowFast, ...): the loader's one-line errors, and
    # its class names on model.mobilekit_classes, which _from_module reads.
    model = create_model(name, num_classes=num_classes, num_frames=num_frames, image_size=image_size,
                         checkpoint=checkpoint_weights)
    return _from_module(model, None)


def _from_checkpoint(path: str, num_classes, num_frames, image_size) -> SourceModel:
    if not Path(path).exists():
        raise MobilekitError(f"checkpoint {path} does not exist", "check the path")
    try:
        from mobilekit.train.checkpoint import load_model_from_checkpoint
    except ImportError as e:
        raise MobilekitError("reading checkpoints needs mobilekit.train, which is not installed here",
                             "install mobilekit with its training module, or convert with --model") from e
    if num_classes is not None:
        raise MobilekitError("--classes does not apply to a checkpoint (its head is trained)",
                             "drop --classes")
    model, meta = load_model_from_checkpoint(path)
    config = dict(meta.get("model_config") or getattr(model, "mobilekit_config", {}) or {})
    frames = num_frames if num_frames is not None else config.get("num_frames")
    size = image_size if image_size is not None else config.get("image_size")
    shape = [1, frames, 3, size, size] if frames and size else None
    if shape:
        check_input_size(shape)
    src = _from_module(model, shape)
    src.name = meta.get("model") or config.get("model") or src.name
    classes = meta.get("classes")
    # A list for one head, {head: [names]} for named heads (the manifest keeps both).
    src.classes = (dict(classes) if isinstance(classes, dict) else list(classes)) if classes else None
    src.origin = "checkpoint"
    if src.card == {} and src.name:
        src.card, src.family = _card_for(src.name)
    return src


def _card_for(name: str) -> tuple[dict, str | None]:
    from mobilekit.models.registry import card_dict

    try:
        card = card_dict(name)
    except MobilekitError:
        return {}, None
    return card, card["family"]


def _from_module(model: nn.Module, input_shape: list[int] | None) -> SourceModel:
    config = getattr(model, "mobilekit_config", None)
    card_obj = getattr(model, "mobilekit_card", None)
    card = {}
    if card_obj is not None:
        from dataclasses import asdict

        card = asdict(card_obj)
    if input_shape is None:
        if not config:
            raise ShapeError("an nn.Module without mobilekit_config needs an example input",
                             "pass example_input=torch.randn(...) (CLI: --input-shape 1,8,3,112,112)")
        s = config["image_size"]
        input_shape = [1, config["num_frames"], 3, s, s]
    name = (config or {}).get("model") or artifact_model_name(type(model).__name__)
    return SourceModel(module=model, example_input=_seeded_input(input_shape), name=name,
                       family=card.get("family"), card=card, config=config,
                       # class names of an official checkpoint loaded by create_model(checkpoint=)
                       classes=getattr(model, "mobilekit_classes", None),
                       origin="zoo" if config else "module")


def _seeded_input(shape: list[int]) -> torch.Tensor:
    check_input_size(shape)
    gen = torch.Generator().manual_seed(0)
    return torch.randn(*shape, generator=gen)


def resolve_model(model_or_name: str | nn.Module | SourceModel | None = None, *,
                  checkpoint: str | None = None, module: str | None = None,
                  example_input: torch.Tensor | None = None, input_shape: list[int] | None = None,
                  num_classes=None, num_frames: int | None = None,
                  image_size: int | None = None, checkpoint_weights: str | None = None) -> SourceModel:
    """One of: a zoo name, an nn.Module, a checkpoint path, or `file.py:ClassName`.
    `checkpoint_weights` (a zoo name only) loads an official release into the zoo model."""
    if isinstance(model_or_name, SourceModel):
        return model_or_name
    given = [x for x in (model_or_name, checkpoint, module) if x is not None]
    if not given:
        raise MobilekitError("nothing to convert", "give --model NAME (see `mobilekit models`), "
                                                   "--checkpoint CKPT or --module FILE.py:Class")
    if len(given) > 1:
        raise MobilekitError("more than one model to convert",
                             "give only one of --model, --checkpoint and --module")
    if checkpoint_weights is not None and not isinstance(model_or_name, str):
        raise MobilekitError("--checkpoint-weights loads an official checkpoint into a zoo model",
                             "give it with --model NAME, e.g. --model x3d_xs --checkpoint-weights X3D_XS.pyth")
    check_model_args(num_classes, num_frames, image_size)  # before anything is built
    if example_input is not None and input_shape is None:
        input_shape = list(example_input.shape)
    if input_shape is not None:
        check_input_size(list(input_shape))
    if checkpoint is not None:
        src = _from_checkpoint(checkpoint, num_classes, num_frames, image_size)
    elif module is not None:
        if num_classes is not None or num_frames is not None or image_size is not None:
            raise MobilekitError("--classes/--frames/--size apply to zoo models and checkpoints",
                                 "give a --module its shape with --input-shape B,T,C,H,W")
        if input_shape is None:
            raise ShapeError("--module needs the input shape", "add --input-shape 1,8,3,112,112")
        cls = load_module_class(module)
        try:
            instance = cls()
        except TypeError as e:
            raise MobilekitError(f"{cls.__name__}() cannot be built without arguments: {_first_line(e)}",
                                 "give the class defaults for every argument, or a subclass that has them") from e
        except Exception as e:  # the user's __init__ raised: their bug, reported in one line
            raise MobilekitError(f"building {cls.__name__}() from {module} failed: {type(e).__name__}: "
                                 f"{_first_line(e)}", "fix its __init__ (run it in python to see the "
                                                      "traceback, or add --debug)") from e
        src = _from_module(instance, input_shape)
        src.name = artifact_model_name(cls.__name__)
    elif isinstance(model_or_name, nn.Module):
        if num_classes is not None:
            raise MobilekitError("num_classes does not apply to a model that is already built",
                                 "build it with the classes you want (create_model(..., num_classes=N))")
        config = getattr(model_or_name, "mobilekit_config", None)
        if input_shape is None and config and (num_frames is not None or image_size is not None):
            s = image_size if image_size is not None else config["image_size"]
            input_shape = [1, num_frames if num_frames is not None else config["num_frames"], 3, s, s]
        src = _from_module(model_or_name, input_shape)
    else:
        src = _from_zoo(str(model_or_name), num_classes, num_frames, image_size, checkpoint_weights)
    if example_input is not None:
        src.example_input = example_input.detach().float()
    return src


def prepare_for_export(src: SourceModel) -> tuple[FlatOutputs, list[str], tuple[torch.Tensor, ...]]:
    """A private deep copy in eval mode with tuple outputs, the output names, and the
    outputs on the example input (their shapes go in the manifest)."""
    model = copy.deepcopy(src.module).eval()
    with torch.no_grad():
        try:
            out = model(src.example_input)
        except Exception as e:
            raise ShapeError(f"the model does not run on an input of shape {src.input_shape}: "
                             f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                             "give the shape the model expects (--frames/--size, or --input-shape)") from e
    names = output_names(out)
    flat = flatten_outputs(model, out)
    values = tuple(out[k] for k in out) if isinstance(out, dict) else (
        tuple(out) if isinstance(out, (tuple, list)) else (out,))
    return flat, names, values
