"""`mobilekit models` through the installed console script."""

from __future__ import annotations

import subprocess

from conftest import mobilekit_cli


def run(*args):
    return subprocess.run(mobilekit_cli() + list(args), capture_output=True, text=True, timeout=120)


def test_models_table_lists_zoo_with_params():
    out = run("models")
    assert out.returncode == 0, out.stderr
    assert "vlf_b0" in out.stdout and "11.01M" in out.stdout and "vtn_eff" in out.stdout


def test_model_details():
    out = run("models", "vtn_r50")
    assert out.returncode == 0, out.stderr
    assert "26.5M (paper 001 Table 4)" in out.stdout


def test_unknown_model_is_one_line_with_suggestions():
    out = run("models", "vlf_bo")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown model 'vlf_bo'" in lines[0] and "vlf_b0" in lines[0]
