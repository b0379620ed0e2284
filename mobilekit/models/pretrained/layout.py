"""A checkpoint layout: how one upstream release names its parameters, as data.

A `Layout` says which keys identify a release's checkpoints (`signature`), how its names
become the zoo's (`renames`: regular-expression substitutions applied in order to every
key), which of its keys the zoo model has no counterpart for (`ignore`), which of the zoo
model's BatchNorms the release lacks and so load as identities (`identity_norms`), and which
label sets its official checkpoints were trained on (`datasets`, chosen by the head's width).
A layout with `refuse` is one the zoo knows but has no model for (another architecture of
the same family): its checkpoints are refused with that reason and the layout's `hint`.
Shapes that differ only by size-1 dimensions (a 1x1x1 Conv3d against a Linear) are
reshaped by the loader; anything else that does not match is an error.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    name: str                                  # e.g. "pytorchvideo-x3d"
    family: str                                # the zoo family it loads into
    source: str                                # upstream repository, tag and file the names come from
    signature: tuple[str, ...]                 # keys every checkpoint of this layout has, and others lack
    renames: tuple[tuple[str, str], ...]       # (pattern, replacement) for re.sub, applied in order
    ignore: tuple[str, ...] = ()               # upstream keys (full-match patterns) with no zoo counterpart
    identity_norms: tuple[str, ...] = ()       # zoo BatchNorm modules absent upstream: loaded as identities
    # Label sets its checkpoints are trained on, told apart by the head's width. Both
    # PySlowFast and PyTorchVideo number SSv2 classes as something-something-v2-labels.json.
    datasets: tuple[str, ...] = ("kinetics400", "ssv2")
    classifier: str = "head.fc"                # the zoo's final Linear: its width is the class count
    hint: str = ""                             # the fix to suggest when a checkpoint does not fit
    refuse: str = ""                           # why checkpoints of this layout never load (then hint)
