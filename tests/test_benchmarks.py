"""The scripts in benchmarks/ run by their path from any folder (the library is installed, no
sys.path setup), and the click ones share the CLI's contract: bad input is one `error:` line,
exit 2, before any work."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

SCRIPTS = sorted((REPO / "benchmarks").glob("*.py"))


def _run(script, args, cwd):
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_benchmarks_are_there():
    assert {s.name for s in SCRIPTS} >= {"train_synthetic.py", "quantize_schemes.py", "convert_table.py",
                                         "collector_load.py"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_help_runs_from_any_folder(tmp_path, script):
    done = _run(script, ["--help"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"benchmarks/{script.name}" in done.stdout  # the usage line names the script as it is run


@pytest.mark.parametrize("script,args,problem", [
    ("train_synthetic.py", ["--models", "vlf_bo"], "unknown model 'vlf_bo'"),
    ("quantize_schemes.py", ["--checkpoint", "missing.pt"], "checkpoint missing.pt does not exist"),
])
def test_bad_input_is_one_line(tmp_path, script, args, problem):
    done = _run(REPO / "benchmarks" / script, args, tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and done.stderr.startswith(f"error: {problem}")
    assert list(tmp_path.iterdir()) == []
