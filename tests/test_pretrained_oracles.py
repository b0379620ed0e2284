"""Key/shape oracles: every tensor of an official checkpoint layout lands on one zoo tensor of
the right shape.

Each tests/data/pretrained/<layout>.tsv lists the key, shape and dtype of every tensor in
the state dict of the upstream model, built from the upstream source at the tag or commit
its header names (tests/data/pretrained/README.md says how). A checkpoint in that layout is
made from it, each tensor filled with its own constant, and loaded with
create_model(checkpoint=); the constants then show which upstream tensor went where.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from mobilekit.errors import WeightsError
from mobilekit.models import create_model
from mobilekit.models.pretrained import LAYOUTS, Layout, detect_layout

ORACLES = Path(__file__).resolve().parent / "data" / "pretrained"
FIRST_MARK = 1000  # tensor i holds FIRST_MARK + i: clear of the 0s and 1s of identity norms


def read_oracle(name: str) -> tuple[dict, list[tuple[str, tuple[int, ...], torch.dtype]]]:
    """(header fields, [(key, shape, dtype)]) of tests/data/pretrained/<name>.tsv."""
    header, rows = {}, []
    for line in (ORACLES / f"{name}.tsv").read_text().splitlines():
        if line.startswith("# "):
            for part in line[2:].split("; "):
                key, sep, value = part.partition(": ")
                if sep:
                    header[key] = value
            continue
        key, shape, dtype = line.split("\t")
        rows.append((key, tuple(int(d) for d in shape.split(",") if d), getattr(torch, dtype)))
    return header, rows


def marked_state_dict(rows) -> dict[str, torch.Tensor]:
    """Tensor i is FIRST_MARK + i everywhere, stored as one element expanded (tiny files)."""
    return {key: torch.full((1,) * len(shape), FIRST_MARK + i, dtype=dtype).expand(shape)
            for i, (key, shape, dtype) in enumerate(rows)}


def save_official(path: Path, name: str, state_dict: dict | None = None) -> Path:
    """A checkpoint of oracle `name` in its release's container (marked tensors by default);
    container "none": the bare state dict."""
    header, rows = read_oracle(name)
    sd = marked_state_dict(rows) if state_dict is None else state_dict
    torch.save(sd if header["container"] == "none" else {header["container"]: sd, "epoch": 1}, path)
    return path


def zoo_args(name: str) -> dict:
    return json.loads(read_oracle(name)[0]["zoo"])


# One oracle per layout, named as it; a layout whose releases come in several sizes (MoViNet
# A0 and A2) has one per size, named <layout>-<size>.
ORACLE_NAMES = sorted(p.stem for p in ORACLES.glob("*.tsv"))


def layout_of(name: str) -> Layout:
    return next(layout for layout in LAYOUTS if layout.name == read_oracle(name)[0]["layout"])


LOADING = [n for n in ORACLE_NAMES if not layout_of(n).refuse]
REFUSED = [n for n in ORACLE_NAMES if layout_of(n).refuse]


def test_every_layout_has_an_oracle_and_every_oracle_a_layout():
    assert sorted(layout.name for layout in LAYOUTS) == sorted({layout_of(n).name for n in ORACLE_NAMES})
    assert all(n == layout_of(n).name or n.startswith(layout_of(n).name + "-") for n in ORACLE_NAMES)


@pytest.mark.parametrize("name", ORACLE_NAMES)
def test_each_layout_is_told_apart_by_its_signature_alone(name):
    keys = {key for key, _, _ in read_oracle(name)[1]}
    if all(k.startswith("module.") for k in keys):  # DataParallel's prefix, which the reader drops
        keys = {k.removeprefix("module.") for k in keys}
    layout = layout_of(name)
    assert [other.name for other in LAYOUTS if all(k in keys for k in other.signature)] == [layout.name]
    if not layout.refuse:
        assert detect_layout(keys, "ckpt", "model", layout.family).name == layout.name


@pytest.mark.parametrize("name", REFUSED)
def test_a_layout_the_zoo_has_no_model_for_is_refused_in_one_line(name, tmp_path):
    layout = layout_of(name)
    path = save_official(tmp_path / f"{name}.pth", name)
    with pytest.raises(WeightsError) as e:
        create_model(**zoo_args(name), checkpoint=str(path))
    text = str(e.value)
    assert "\n" not in text and f"is a {layout.name} checkpoint, which does not load: {layout.refuse}" in text
    assert text.endswith(layout.hint)


@pytest.mark.parametrize("name", LOADING)
def test_official_layout_loads_every_tensor_once_into_the_zoo_model(name, tmp_path):
    header, rows = read_oracle(name)
    layout = layout_of(name)
    assert header["source"]
    path = save_official(tmp_path / f"{name}.pyth", name)
    model = create_model(**zoo_args(name), checkpoint=str(path))
    assert model.mobilekit_pretrained["layout"] == layout.name

    identity = {f"{m}.{p}" for m in model.mobilekit_pretrained["identity_norms"]
                for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
    landed = {}
    for key, tensor in model.state_dict().items():
        if key in identity:
            continue
        values = tensor.unique()
        assert values.numel() == 1, f"{key} holds parts of several checkpoint tensors"
        index = int(values.item()) - FIRST_MARK
        assert 0 <= index < len(rows), f"{key} was not loaded from the checkpoint"
        assert index not in landed, f"{rows[index][0]} loaded into both {landed[index]} and {key}"
        assert tensor.numel() == torch.Size(rows[index][1]).numel()
        landed[index] = key
    recomputed = {i for i, (key, _, _) in enumerate(rows) if any(re.fullmatch(p, key) for p in layout.ignore)}
    assert sorted(landed) == sorted(set(range(len(rows))) - recomputed)  # every other tensor is used
