"""The README's two commands are what CI and a newcomer run: keep them honest."""

from __future__ import annotations

import re

from conftest import REPO


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def test_readme_starts_with_install_and_test_commands():
    blocks = _bash_blocks()
    install, tests = blocks[0].strip(), blocks[1].strip()
    assert "pip install -e" in install and ".venv/bin/mobilekit " in install
    assert tests == ".venv/bin/python -m pytest -q"


def test_ci_runs_exactly_the_readme_test_command():
    tests = _bash_blocks()[1].strip()
    ci_lines = [l.strip() for l in (REPO / ".ci/run").read_text().splitlines()]
    assert tests in ci_lines
