"""convert, check and quantize take the model-source options from one declaration
(mobilekit.commands.options.model_source_options): the same names, the same parsing, the same
refusals, and what they parse reaches the library (check --classes used to take only a count)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mobilekit.cli import cli

SOURCE = ["--model", "--checkpoint", "--module", "--input-shape", "--frames", "--size", "--classes",
          "--checkpoint-weights"]
EXTRA = {"convert": [], "check": [], "quantize": ["-t", "xnnpack", "-s", "int8"]}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, prog_name="mobilekit")


@pytest.mark.parametrize("command", sorted(EXTRA))
def test_each_command_declares_the_same_source_options(command):
    options = [opt for p in cli.commands[command].params for opt in p.opts]
    assert options[:len(SOURCE)] == SOURCE


@pytest.mark.parametrize("command", sorted(EXTRA))
@pytest.mark.parametrize("args, says", [
    (["--model", "vlf_b0", "--classes", "verb=97,noun=0"], "error: --classes noun=0 is not a whole number from 1 to "),
    (["--model", "vlf_b0", "--classes", "verb=x"], "error: bad --classes 'verb=x'; give a number (174) or named heads"),
    (["--model", "vlf_b0", "--input-shape", "1,2,3,32,32"],
     "error: --input-shape goes with --module; use --frames/--size for zoo models"),
])
def test_the_same_input_is_refused_the_same_way(tmp_path, monkeypatch, command, args, says):
    monkeypatch.chdir(tmp_path)
    result = invoke(command, *args, *EXTRA[command])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(says), line
    assert list(tmp_path.iterdir()) == []


def test_check_takes_named_heads_like_convert():
    result = invoke("check", "--model", "tsn_b0", "--frames", "2", "--size", "32", "--classes", "verb=3,noun=4",
                    "--target", "onnx", "--json")
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)["targets"]
    assert report["target"] == "onnx" and report["verdict"] == "accelerated"
