"""The layers of DESIGN.md, enforced: `lint-imports` (import-linter) checks the contract in
pyproject.toml ([tool.importlinter]) on every import in mobilekit/ and converters/, those
inside functions included, and the test fails with its report."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import REPO


def test_imports_flow_down_the_layers():
    lint = Path(sys.executable).with_name("lint-imports")
    assert lint.exists(), "import-linter is missing: pip install -e '.[dev]'"
    # --no-cache: nothing written into the repository
    done = subprocess.run([str(lint), "--no-cache", "--no-logo"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " kept, 0 broken." in done.stdout


def test_the_contract_names_every_package():
    """A new top-level package of mobilekit must be placed in a layer, not left out of the check."""
    contract = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    layered = {name.strip(" ()") for layer in contract["layers"] for name in layer.split("|")}
    packages = {f"mobilekit.{p.parent.name}" for p in (REPO / "mobilekit").glob("*/__init__.py")}
    modules = {f"mobilekit.{p.stem}" for p in (REPO / "mobilekit").glob("*.py") if p.stem != "__init__"}
    assert packages | modules <= layered, sorted((packages | modules) - layered)
