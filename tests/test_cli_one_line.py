"""Bad input on the command line is one `error:` line (exit 2), refused before any work, and
leaves nothing behind: unwritable --out, a --module whose file or __init__ fails, counts below
their minimum (--frames 0 used to become 16), inputs too large to build, click's own usage
errors.

The commands run in-process (click's CliRunner with catch_exceptions=False, so a traceback
fails the test) on arguments that are refused before any model is converted.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import mobilekit_cli

from converters.backends import quantizable_target_names
from mobilekit.cli import cli

BOOM = '''\
import torch


class Boom(torch.nn.Module):
    def __init__(self):
        super().__init__()
        raise ValueError("weights.bin not found")


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 4)

    def forward(self, x):
        return self.fc(x.mean(dim=(1, 3, 4)))
'''


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, prog_name="mobilekit")


def one_error_line(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def work(tmp_path, monkeypatch):
    """An empty folder to run in, with a file in it (to put paths under)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder\n")
    return tmp_path


def _entries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.fixture
def read_only_dir(tmp_path) -> Path:
    """A folder this process cannot create entries in: permission bits for a normal user; root
    ignores those, so for root sysfs, which refuses new entries to everyone."""
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        yield ro
        ro.chmod(0o755)
        return
    try:
        os.mkdir("/sys/mobilekit-probe")
    except OSError:
        yield Path("/sys")
        return
    os.rmdir("/sys/mobilekit-probe")
    pytest.skip("no read-only folder for root here")


@pytest.mark.parametrize("command, out, says", [
    (["convert", "--model", "vlf_b0", "--frames", "2", "--size", "32", "--no-validate"], "afile/sub",
     "--out afile/sub is inside afile, which is a file"),
    (["convert", "--model", "vlf_b0", "--frames", "2", "--size", "32", "--no-validate"], "afile",
     "--out afile is a file, not a folder"),
    (["quantize", "--model", "vlf_b0", "--frames", "2", "--size", "32", "-t", "onnx", "-s", "int8-dynamic"],
     "afile/q", "--out afile/q is inside afile, which is a file"),
    (["bench", "--models", "tsn_b0", "--device", "cpu", "--mode", "single", "--sizes", "2x32", "--warmup", "0",
      "--iters", "1"], "afile/results.json", "--out afile/results.json is inside afile, which is a file"),
    (["check", "--model", "all", "--target", "onnx", "--frames", "2", "--size", "32"], "afile/m.md",
     "--out afile/m.md is inside afile, which is a file"),
])
def test_an_out_under_a_file_is_refused_before_any_work(work, command, out, says):
    line = one_error_line(invoke(*command, "--out", out))
    assert says in line
    assert _entries(work) == {"afile"}  # nothing written, no artifacts/ either


def test_an_out_in_a_read_only_folder_is_refused_before_any_work(work, read_only_dir):
    before = _entries(read_only_dir)
    out = read_only_dir / "vlf"
    line = one_error_line(invoke("convert", "--model", "vlf_b0", "--frames", "2", "--size", "32",
                                 "--no-validate", "--out", str(out)))
    assert f"--out {out} cannot be written" in line and "permissions" in line
    assert _entries(read_only_dir) == before and _entries(work) == {"afile"}


def test_android_run_refuses_an_unwritable_report_path_before_the_phone(work):
    (work / "art").mkdir()
    line = one_error_line(invoke("android", "run", "art", "--out", "afile/r.json"))
    assert "--out afile/r.json is inside afile, which is a file" in line


@pytest.mark.parametrize("spec, says", [
    ("boom.py:Boom", "building Boom() from boom.py:Boom failed: ValueError: weights.bin not found"),
    ("exits.py:Net", "importing exits.py failed: it calls sys.exit(3)"),
    ("missing_dep.py:Net", "importing missing_dep.py failed: ModuleNotFoundError"),
    ("boom.txt:Net", "module file boom.txt is not a Python source file"),
    ("pkg:Net", "module file pkg is a folder, not a file"),
])
def test_a_module_that_cannot_be_built_is_one_line(work, spec, says):
    (work / "boom.py").write_text(BOOM)
    (work / "boom.txt").write_text(BOOM)
    (work / "exits.py").write_text("import sys\nsys.exit(3)\n")
    (work / "missing_dep.py").write_text("import mobilekit_no_such_package\n")
    (work / "pkg").mkdir()
    line = one_error_line(invoke("convert", "--module", spec, "--input-shape", "1,2,3,8,8", "--out", "o"))
    assert says in line
    assert not (work / "o").exists()


def test_a_failed_import_does_not_leave_a_half_module_behind(work):
    import sys

    from converters.source import load_module_class
    from mobilekit.errors import MobilekitError

    (work / "half.py").write_text("import torch\nclass Net(torch.nn.Module):\n    pass\nraise RuntimeError('x')\n")
    with pytest.raises(MobilekitError, match="importing half.py failed: RuntimeError: x"):
        load_module_class("half.py:Net")
    assert "mobilekit_user_half" not in sys.modules


@pytest.mark.parametrize("command, says", [
    (["convert", "--model", "vlf_b0", "--frames", "-1"], "Invalid value for '--frames': -1 is not in the range x>=1"),
    (["convert", "--model", "vlf_b0", "--frames", "0", "--size", "32"], "'--frames': 0 is not in the range x>=1"),
    (["convert", "--model", "vlf_b0", "--size", "0"], "'--size': 0 is not in the range x>=1"),
    (["convert", "--model", "vlf_b0", "--frames", "2", "--size", "32", "--classes", "0"],
     "--classes 0 is not a whole number from 1 to 100,000"),
    (["convert", "--model", "vlf_b0", "--classes", "verb=97,noun=0"], "--classes noun=0 is not a whole number"),
    (["convert", "--model", "vlf_b0", "--classes", "3000000000"], "--classes 3000000000 is not a whole number"),
    (["convert", "--model", "vlf_b0", "--samples", "0"], "'--samples': 0 is not in the range x>=1"),
    (["convert", "--model", "vlf_b0", "--latency-runs", "-1"], "'--latency-runs': -1 is not in the range x>=0"),
    (["convert", "--model", "vlf_b0", "--threads", "0"], "'--threads': 0 is not in the range 1<=x<=1024"),
    (["quantize", "--model", "vlf_b0", "-t", "onnx", "-s", "int8", "--threads", "1000000"],
     "'--threads': 1000000 is not in the range 1<=x<=1024"),
    (["quantize", "--model", "vlf_b0", "--frames", "2", "--size", "32", "--classes", "3", "-t", "xnnpack",
      "-s", "int8", "--samples", "0"], "'--samples': 0 is not in the range x>=1"),
    (["quantize", "--model", "vlf_b0", "-t", "xnnpack", "-s", "int8", "--eval-samples", "0"],
     "'--eval-samples': 0 is not in the range x>=1"),
    (["quantize", "--model", "vlf_b0", "-t", "xnnpack", "-s", "int8", "--classes", "0"], "--classes 0"),
    (["convert", "--model", "vlf_b0", "--frames", "2", "--size", "32", "-t", "onnx", "--quantize", "int8"],
     "no --calibration given, and this model was not trained on the synthetic set"),
    (["convert", "--model", "vlf_b0", "--calibration", "photos"], "--calibration calibrates a quantized conversion"),
    (["check", "--model", "vlf_b0", "--frames", "0"], "'--frames': 0 is not in the range x>=1"),
    (["check", "--model", "all", "--size", "-5"], "'--size': -5 is not in the range x>=1"),
    (["bench", "--models", "tsn_b0", "--frames", "0", "--size", "32"], "'--frames': 0 is not in the range x>=1"),
    (["bench", "--models", "tsn_b0", "--frames", "2", "--size", "8"], "'--size': 8 is not in the range x>=32"),
    (["bench", "--models", "tsn_b0", "--classes", "0"], "'--classes': 0 is not in the range x>=1"),
    (["bench", "--models", "tsn_b0", "--classes", "-1"], "'--classes': -1 is not in the range x>=1"),
    (["android", "run", ".", "--timeout", "0"], "'--timeout': 0.0 is not in the range x>0"),
    (["android", "run", ".", "--timeout", "nan"], "'--timeout': nan is not a number of seconds"),
])
def test_counts_below_their_minimum_are_refused_before_any_work(work, command, says):
    line = one_error_line(invoke(*command, "--out", str(work / "out") if command[0] != "android" else "r.json"))
    assert says in line, line
    assert _entries(work) == {"afile"}


def test_frames_zero_is_not_the_default_for_library_callers():
    from converters.source import resolve_model
    from mobilekit.errors import MobilekitError
    from mobilekit.models import create_model

    with pytest.raises(MobilekitError, match="--frames 0 is not a whole number"):
        resolve_model("vlf_b0", num_frames=0, image_size=32)
    with pytest.raises(MobilekitError, match="num_frames=0"):
        create_model("vlf_b0", num_frames=0, image_size=32)
    assert resolve_model("vlf_b0", num_frames=2, image_size=32).input_shape == [1, 2, 3, 32, 32]


@pytest.mark.parametrize("command, says", [
    (["convert", "--module", "net.py:Net", "--input-shape", "1,16,3,100000,100000"],
     "input shape 1x16x3x100000x100000 has 480,000,000,000 elements"),
    (["check", "--module", "net.py:Net", "--input-shape", "1x16x3x100000x100000"], "480,000,000,000 elements"),
    (["convert", "--model", "vlf_b0", "--size", "100000"], "vlf_b0's input 1x16x3x100000x100000 has"),
    (["convert", "--module", "net.py:Net", "--input-shape", "1," + "9" * 5000], "bad input shape"),
])
def test_an_input_too_large_to_build_is_refused_before_allocating(work, command, says):
    (work / "net.py").write_text(BOOM)
    line = one_error_line(invoke(*command))
    assert says in line


@pytest.mark.parametrize("args, says", [
    (["--bogus"], "error: No such option '--bogus'; see `mobilekit --help`"),
    (["conver"], "error: No such command 'conver'. Did you mean 'convert'? See `mobilekit --help`"),
    (["convert", "--frames", "x"], "error: Invalid value for '--frames': 'x' is not a valid integer range; "
                                   "see `mobilekit convert --help`"),
    (["quantize", "--model", "vlf_b0"], "error: Missing option '--target' / '-t'. Choose from: "
                                        f"{', '.join(quantizable_target_names())}; see `mobilekit quantize --help`"),
    (["android", "run"], "error: Missing argument 'ARTIFACT_DIR'; see `mobilekit android run --help`"),
    (["train", "--dataset", "ssv3"], "error: Invalid value for '--dataset': 'ssv3' is not one of 'ssv2', 'epic100', "
                                     "'kinetics', 'folder', 'synthetic'; see `mobilekit train --help`"),
])
def test_usage_errors_are_one_line_too(args, says):
    assert one_error_line(invoke(*args)) == says


def test_help_is_still_help():
    result = invoke("android")
    assert result.exit_code in (0, 2) and "Commands:" in result.output and "run" in result.output
    result = invoke("convert", "--help")
    assert result.exit_code == 0 and "--input-shape B,T,C,H,W" in result.output


def test_the_installed_script_prints_one_line_and_exits_2(work):
    # The console script, as users run it (click's standalone mode, not the test runner).
    proc = subprocess.run(mobilekit_cli() + ["convert", "--model", "vlf_b0", "--frames", "0", "--out", "x"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: Invalid value for '--frames': 0 is not in the range x>=1; see `mobilekit convert --help`"]


def test_an_os_error_on_a_path_found_late_is_one_line(tmp_path):
    """The safety net behind the up-front checks: an OSError naming a path becomes one line."""
    import click

    from mobilekit.cli import MobilekitGroup

    @click.group(cls=MobilekitGroup)
    def group():
        pass

    @group.command()
    def write():
        (tmp_path / "missing" / "r.json").write_text("{}")  # the folder is not there

    result = CliRunner().invoke(group, ["write"], catch_exceptions=False, prog_name="mobilekit")
    line = one_error_line(result)
    assert line == (f"error: No such file or directory: {tmp_path / 'missing' / 'r.json'}; "
                    "check the path and its permissions (--debug shows where)")


def test_scripts_print_usage_errors_in_one_line_too(capsys):
    """`python -m mobilekit.train` and the benchmark scripts share the CLI's contract (run_script)."""
    import click

    from mobilekit.errors import run_script

    @click.command()
    @click.option("--epochs", type=click.IntRange(min=1), default=1)
    def train(epochs):
        pass

    with pytest.raises(SystemExit) as stopped:
        run_script(train, "python -m mobilekit.train", ["--epochs", "0"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: Invalid value for '--epochs': 0 is not in the range x>=1; see `python -m mobilekit.train --help`"]


def test_scripts_report_ctrl_c_like_the_cli(capsys):
    """Ctrl+C in `python -m mobilekit.train` is the CLI's one line and exit 130 too."""
    import click

    from mobilekit.errors import run_script

    @click.command()
    def train():
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stopped:
        run_script(train, "python -m mobilekit.train", [])
    assert stopped.value.code == 130
    assert capsys.readouterr().err.strip().splitlines() == [
        "interrupted (Ctrl+C): nothing half-written was put in place"]


def test_an_unknown_family_is_an_error_not_an_empty_zoo():
    line = one_error_line(invoke("models", "--family", "vfl"))
    assert line.startswith("error: no model of family 'vfl'; choose one of ") and "vlf" in line
    result = invoke("models", "--family", "vlf", "--json")
    assert result.exit_code == 0 and '"vlf_b0"' in result.output


@pytest.mark.parametrize("args, says", [
    (["check", "--model", "vlf_b0", "--target", "onnx", "--profile"],
     "error: --profile times the xnnpack program per op; add --target xnnpack"),
    (["check", "--model", "vlf_b0", "--target", "onnx", "--out", "m.md"],
     "error: --out writes the support matrix; use it with --model all, or --json for one model"),
])
def test_check_options_that_would_be_ignored_are_refused(work, args, says):
    assert one_error_line(invoke(*args)) == says
    assert _entries(work) == {"afile"}
