"""Class names of the datasets official checkpoints are trained on, and label files a user
passes. Index i of a list is the name of logit i.

The lists ship as text files beside this module, one name per line, in the order the
official checkpoints number their classes:
  kinetics400.txt  open-mmlab/mmaction2@v1.2.0 tools/data/kinetics/label_map_k400.txt
                   (the 400 class names sorted, as PySlowFast and PyTorchVideo number them)
  ssv2.txt         open-mmlab/mmaction2@v1.2.0 tools/data/sthv2/label_map.txt
                   (the 174 templates in the order of something-something-v2-labels.json)
  kinetics600.txt  tensorflow/models@15762ae official/projects/movinet/files/kinetics_600_labels.txt
                   (the order of the MoViNet Kinetics-600 logits)
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from mobilekit.errors import WeightsError

_HERE = Path(__file__).resolve().parent / "labels"
DATASET_FILES = {"kinetics400": "kinetics400.txt", "ssv2": "ssv2.txt", "kinetics600": "kinetics600.txt"}


@cache
def _dataset_labels(name: str) -> tuple[str, ...]:
    return tuple(_read_lines((_HERE / DATASET_FILES[name]).read_text(encoding="utf-8")))


def dataset_labels(name: str) -> list[str]:
    """The class names of a known dataset ("kinetics400", "ssv2", "kinetics600")."""
    if name not in DATASET_FILES:
        raise WeightsError(f"no class names for dataset {name!r}",
                           f"known: {', '.join(DATASET_FILES)}; pass a label file instead")
    return list(_dataset_labels(name))


def labels_for_width(datasets: tuple[str, ...], num_classes: int) -> tuple[str | None, list[str] | None]:
    """The first of `datasets` with `num_classes` names: (dataset, names), or (None, None)."""
    for name in datasets:
        names = _dataset_labels(name)
        if len(names) == num_classes:
            return name, list(names)
    return None, None


def _read_lines(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def read_label_file(path: str | Path) -> list[str]:
    """Class names from a file: text with one name per line, a JSON list, or a JSON object
    mapping names to indices 0..N-1 (the form of PyTorchVideo's kinetics_classnames.json
    and of something-something-v2-labels.json)."""
    path = Path(path)
    fix = "give a text file with one class name per line, or a JSON list of names"
    if not path.is_file():
        raise WeightsError(f"label file {path} does not exist", "check the path")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise WeightsError(f"cannot read label file {path} ({type(e).__name__})", fix) from e
    if path.suffix.lower() != ".json":
        names = _read_lines(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise WeightsError(f"label file {path} is not valid JSON ({e.msg} at line {e.lineno})", fix) from e
        names = _names_from_json(data, path, fix)
    if not names or any(not n for n in names):
        raise WeightsError(f"label file {path} has {'no' if not names else 'empty'} class names", fix)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})[:3]
        raise WeightsError(f"label file {path} repeats class names ({', '.join(dup)})", "give each class once")
    return names


def _names_from_json(data, path: Path, fix: str) -> list[str]:
    if isinstance(data, list) and all(isinstance(n, str) for n in data):
        return [n.strip() for n in data]
    if isinstance(data, dict):
        try:
            index = {int(v): k.strip().strip('"').strip() for k, v in data.items()}
        except (TypeError, ValueError):
            index = {}
        if index and sorted(index) == list(range(len(data))):
            return [index[i] for i in range(len(data))]
        raise WeightsError(f"label file {path} maps names to something other than the indices 0..{len(data) - 1}",
                           "give {name: index} with every index from 0 once, or a JSON list")
    raise WeightsError(f"label file {path} holds neither a list of names nor a {{name: index}} object", fix)
