"""The checked-in support matrix (converters/compat/SUPPORT_MATRIX.md) never goes stale:
it lists exactly the zoo and the targets `mobilekit check` covers, and a cheap row,
regenerated here at the same TINY config, reads the same."""

from __future__ import annotations

import re

from conftest import REPO, TINY

from converters.backends import matrix_target_names
from converters.compat.matrix import MATRIX_FILE, _cell, check_row
from mobilekit.models import list_models

REGENERATE = "mobilekit check --model all --target all --frames 2 --size 64 --classes 5 --markdown --out " + MATRIX_FILE


def _table() -> tuple[list[str], dict[str, list[str]]]:
    text = (REPO / MATRIX_FILE).read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    body = {}
    for line in rows[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        body[cells[0]] = cells[1:]
    return header[1:], body


def test_matrix_lists_exactly_the_zoo_and_the_targets():
    targets, body = _table()
    assert targets == matrix_target_names(), f"regenerate: {REGENERATE}"
    assert sorted(body) == list_models(), f"the zoo changed; regenerate: {REGENERATE}"
    assert f"--frames {TINY['num_frames']} --size {TINY['image_size']}" in (REPO / MATRIX_FILE).read_text()


def test_matrix_row_regenerates_identically():
    targets, body = _table()
    row = check_row("tsn_b0", ["xnnpack"], num_frames=TINY["num_frames"], image_size=TINY["image_size"],
                    num_classes=TINY["num_classes"])
    fresh = _cell(row["cells"]["xnnpack"])
    assert body["tsn_b0"][targets.index("xnnpack")] == fresh, f"stale; regenerate: {REGENERATE}"
    assert re.fullmatch(r"yes|fallbacks \((\d+\.\d|>99\.9)%\)|no|not checked", fresh)
