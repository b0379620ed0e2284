"""`mobilekit --help` and every command's --help are instant: they import no torch, no
converter toolchain and no server stack, and still list what the registry holds (target names
and quantization schemes come from converters.backends, not from copies in the commands)."""

from __future__ import annotations

import re
import subprocess
import sys

import click
import pytest

from mobilekit.cli import cli

# What --help must not pay for: each costs from tens of milliseconds (numpy) to seconds (torch).
HEAVY = ("torch", "numpy", "executorch", "coremltools", "litert_torch", "ai_edge_litert", "onnx", "onnxruntime",
         "torchao", "sqlalchemy", "fastapi", "uvicorn", "pydantic", "matplotlib")


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
    return paths


COMMANDS = [(), *_command_paths(cli)]


def _imported_modules(args: list[str]) -> tuple[str, set[str]]:
    """Run `python -X importtime -m mobilekit ARGS` (what the console script runs) and return
    its output and every module it imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "mobilekit", *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", done.stderr, re.M))
    assert "mobilekit.cli" in imported  # the importtime report was read
    return done.stdout, imported


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "mobilekit")
def test_help_imports_nothing_heavy(path):
    out, imported = _imported_modules([*path, "--help"])
    assert "Usage: mobilekit" in out
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    assert heavy == [], f"`mobilekit {' '.join(path)} --help` imports {heavy}"


def test_help_lists_the_registry():
    from converters.backends import TARGETS, checked_target_names, quantizable_target_names, target_names

    out, _ = _imported_modules(["convert", "--help"])
    for name in [*target_names(), "all"]:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", out), name
    out, _ = _imported_modules(["check", "--help"])
    listed = out.split("--target TARGET", 1)[1].split("--fix", 1)[0]
    assert all(name in listed for name in checked_target_names())
    out, _ = _imported_modules(["quantize", "--help"])
    table = out.split("Schemes per target", 1)[1]
    for name in quantizable_target_names():  # each target's block lists exactly its schemes
        block = next(b for b in re.split(r"\n {4}(?=\S)", table) if name in b.splitlines()[0].split(", "))
        assert re.findall(r"^ {6}(\S+?)\*? ", block, re.M) == [s.name for s in TARGETS[name].schemes], name


@pytest.mark.parametrize("command", ["convert", "check", "quantize"])
def test_a_target_typo_is_the_registry_s_one_line(command):
    from click.testing import CliRunner

    from converters.backends import target_names

    args = [command, "--model", "vlf_b0", "-t", "xnnpak"] + (["-s", "int8"] if command == "quantize" else [])
    result = CliRunner().invoke(cli, args, prog_name="mobilekit", catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: unknown target 'xnnpak'; did you mean xnnpack? choose one of {', '.join(target_names())} (or all)"]
