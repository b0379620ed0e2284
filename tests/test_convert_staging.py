"""An artifact folder is replaced whole or not at all: Ctrl+C at any stage of the real CLI,
a killed process, a failed export, a failed quantization and bad arguments all leave an
artifact already there byte for byte, and no staging folder or empty folder behind.

The interrupted runs are `mobilekit convert` subprocesses on a tiny user module to onnx; the
test reads the CLI's own stage lines on stderr and sends SIGINT when one appears.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import mobilekit_cli

from converters import convert
from converters.quantize import QuantizationFailed, quantize
from converters.source import load_module_class
from mobilekit.errors import MobilekitError

SHAPE = [1, 2, 3, 16, 16]
USER_NET = '''\
import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, classes: int = 4):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        b, t = x.shape[:2]
        f = self.conv(x.flatten(0, 1)).relu().mean((2, 3))
        return self.fc(f.reshape(b, t, -1).mean(1))


class NotExportable(TinyNet):
    def forward(self, x):
        out = super().forward(x)
        return out if x.sum() > 0 else -out  # data-dependent: torch.export refuses it


class NaNHead(TinyNet):
    """Runs, converts and quantizes, but its outputs are never finite."""

    def forward(self, x):
        return super().forward(x) * float("nan")
'''


@pytest.fixture(scope="module")
def user_net(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("user") / "user_net.py"
    path.write_text(USER_NET)
    return path


@pytest.fixture(scope="module")
def good_artifact(user_net, tmp_path_factory) -> Path:
    """A whole onnx artifact of TinyNet, copied into each test's folder."""
    folder = tmp_path_factory.mktemp("good") / "art"
    convert(load_module_class(f"{user_net}:TinyNet")(), "onnx", folder, input_shape=SHAPE, samples=1,
            latency_runs=0, threads=1)
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_whole_and_unchanged(folder: Path, before: dict[str, bytes]) -> None:
    assert _snapshot(folder) == before
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256((folder / manifest["file"]).read_bytes()).hexdigest()


def _leftovers(parent: Path) -> list[str]:
    """Staging or aside folders of a conversion, anywhere under `parent`."""
    return [str(p) for p in parent.rglob("*") if ".converting-" in p.name or ".replaced-" in p.name
            or ".quantizing-" in p.name]


def _copy_good(good_artifact: Path, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    folder = tmp_path / "art"
    shutil.copytree(good_artifact, folder)
    return folder, _snapshot(folder)


def _start_cli(args: list[str], stderr_fd: int) -> subprocess.Popen:
    # A run started in the background of a non-interactive shell inherits SIGINT ignored;
    # with a Python handler installed here the child starts with the default, as in a terminal.
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(mobilekit_cli() + args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=stderr_fd)
    finally:
        signal.signal(signal.SIGINT, saved)


def _fill_pipe(read_fd: int) -> None:
    """Fill the pipe to the brim through a new, non-blocking write handle on it (the child's
    handle stays blocking): the child's next write to stderr then waits in the kernel."""
    filler = os.open(f"/proc/self/fd/{read_fd}", os.O_WRONLY | os.O_NONBLOCK)
    try:
        for chunk in (b"\0" * 4096, b"\0"):  # pages, then the last page's last bytes
            while True:
                try:
                    os.write(filler, chunk)
                except BlockingIOError:
                    break
    finally:
        os.close(filler)


def _wait_blocked_on_pipe(proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with open(f"/proc/{proc.pid}/wchan") as f:
            if "pipe_write" in f.read():
                return
        time.sleep(0.01)
    raise AssertionError(f"the CLI never waited on its stderr (exit code {proc.poll()})")


def _interrupt_cli_at(stage: str, args: list[str]) -> tuple[int, str]:
    """Run the CLI and send SIGINT when its stderr reaches `  <stage> ...`. The last stage
    ("writing") takes milliseconds, too short to hit by timing: the pipe is filled once
    "validating" shows, so the child waits inside the echo of "writing" until the signal
    comes, before any of that stage's work."""
    read_fd, write_fd = os.pipe()
    try:
        proc = _start_cli(args, write_fd)
    finally:
        os.close(write_fd)  # the child holds the only write end: the read ends when it exits
    fill_after = "validating" if stage == "writing" else None
    text, sent = "", False
    try:
        while chunk := os.read(read_fd, 65536):
            text += chunk.replace(b"\0", b"").decode(errors="replace")
            if sent:
                continue
            if fill_after and f"  {fill_after} ...\n" in text:
                _fill_pipe(read_fd)
                _wait_blocked_on_pipe(proc)
                proc.send_signal(signal.SIGINT)
                sent = True
            elif not fill_after and f"  {stage} ...\n" in text:
                proc.send_signal(signal.SIGINT)
                sent = True
        return proc.wait(timeout=120), text
    finally:
        os.close(read_fd)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("stage", ["preparing", "converting", "validating", "writing"])
def test_ctrl_c_at_any_stage_leaves_the_previous_artifact_whole(stage, user_net, good_artifact, tmp_path):
    folder, before = _copy_good(good_artifact, tmp_path)
    code, stderr = _interrupt_cli_at(stage, [
        "convert", "--module", f"{user_net}:TinyNet", "--input-shape", ",".join(map(str, SHAPE)),
        "--target", "onnx", "--out", str(folder), "--samples", "1", "--latency-runs", "2", "--threads", "1"])
    assert f"  {stage} ...\n" in stderr, stderr
    assert code == 130 and "interrupted (Ctrl+C)" in stderr, stderr   # one line, 128 + SIGINT
    _assert_whole_and_unchanged(folder, before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]   # no staging, no .failed
    assert _leftovers(tmp_path) == []


def test_a_killed_conversion_leaves_the_artifact_whole_and_its_leftovers_go_next_time(
        user_net, good_artifact, tmp_path):
    folder, before = _copy_good(good_artifact, tmp_path)
    proc = _start_cli(["convert", "--module", f"{user_net}:TinyNet", "--input-shape", ",".join(map(str, SHAPE)),
                       "--target", "onnx", "--out", str(folder), "--samples", "1", "--latency-runs", "0"],
                      subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not _leftovers(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.kill()   # SIGKILL: no cleanup runs
    finally:
        proc.wait()
    left = _leftovers(tmp_path)
    assert left, "the conversion never started staging"
    _assert_whole_and_unchanged(folder, before)

    art = convert(load_module_class(f"{user_net}:TinyNet")(), "onnx", folder, input_shape=SHAPE, samples=1,
                  latency_runs=0, threads=1)
    assert _leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["art"]
    assert art.manifest["validation"]["status"] == "passed"
    _assert_whole_and_unchanged(folder, _snapshot(folder))


def test_a_kill_between_the_swaps_renames_is_undone_by_the_next_conversion(user_net, good_artifact, tmp_path):
    # What SIGKILL between "old folder aside" and "new folder in" leaves: no folder, the old
    # one under its aside name with the dead process's pid.
    dead = subprocess.Popen(["true"])
    dead.wait()
    aside = tmp_path / f".art.replaced-{dead.pid}-0000"
    shutil.copytree(good_artifact, aside)
    before = _snapshot(aside)
    with pytest.raises(MobilekitError, match="torch.export cannot capture the model"):
        convert(load_module_class(f"{user_net}:NotExportable")(), "onnx", tmp_path / "art", input_shape=SHAPE)
    _assert_whole_and_unchanged(tmp_path / "art", before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]


def test_a_failed_export_creates_nothing_and_keeps_what_was_there(user_net, good_artifact, tmp_path):
    model = load_module_class(f"{user_net}:NotExportable")()
    stages = []
    with pytest.raises(MobilekitError, match="torch.export cannot capture the model"):
        convert(model, "onnx", tmp_path / "new" / "deeper", input_shape=SHAPE, on_stage=stages.append)
    assert "converting" in stages and not (tmp_path / "new").exists()

    folder, before = _copy_good(good_artifact, tmp_path)
    with pytest.raises(MobilekitError, match="torch.export cannot capture the model"):
        convert(model, "ptl", folder, input_shape=SHAPE)
    _assert_whole_and_unchanged(folder, before)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("bad, match", [
    (dict(samples=0), r"--samples 0 is not a whole number of 1 or more; give --samples 1 or more"),
    (dict(latency_runs=-1), r"--latency-runs -1 is not a whole number of 0 or more"),
    (dict(threads=0), r"--threads 0 is not a whole number of 1 or more"),
    (dict(num_classes=0), r"--classes 0 is not a whole number"),           # converters.source's rule
    (dict(num_classes={"verb": 3, "noun": 0}), r"--classes noun=0 is not a whole number"),
])
def test_convert_refuses_bad_counts_before_any_work(bad, match, tmp_path):
    stages = []
    with pytest.raises(MobilekitError, match=match):
        convert("tsn_b0", "onnx", tmp_path / "new" / "art", num_frames=2, image_size=32, on_stage=stages.append,
                **bad)
    assert stages == [] and not (tmp_path / "new").exists()


def test_a_folder_with_other_files_is_refused_before_any_work(user_net, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    stages = []
    with pytest.raises(MobilekitError, match=r"holds files that are not an artifact \(notes.txt\)"):
        convert(load_module_class(f"{user_net}:TinyNet")(), "onnx", tmp_path, input_shape=SHAPE,
                on_stage=stages.append)
    assert stages == [] and [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_folder_under_a_file_is_refused_before_any_work(user_net, tmp_path):
    (tmp_path / "model.pte").write_bytes(b"mine")
    stages = []
    with pytest.raises(MobilekitError, match=r"is under .*model.pte, which is a file"):
        convert(load_module_class(f"{user_net}:TinyNet")(), "onnx", tmp_path / "model.pte" / "out",
                input_shape=SHAPE, on_stage=stages.append)
    assert stages == [] and (tmp_path / "model.pte").read_bytes() == b"mine"


@pytest.mark.parametrize("bad, match", [
    (dict(samples=0), r"--samples 0 is not a whole number of 1 or more"),
    (dict(eval_samples=0), r"--eval-samples 0 is not a whole number of 1 or more"),
    (dict(latency_runs=-2), r"--latency-runs -2 is not a whole number of 0 or more"),
])
def test_quantize_refuses_bad_counts_before_any_work(bad, match, user_net, tmp_path):
    stages = []
    kw = dict(samples=2, eval_samples=2, latency_runs=0) | bad
    with pytest.raises(MobilekitError, match=match):
        quantize(load_module_class(f"{user_net}:TinyNet")(), "onnx", "int8", tmp_path / "new" / "q",
                 input_shape=SHAPE, on_stage=stages.append, **kw)
    assert stages == [] and not (tmp_path / "new").exists()


def test_unusable_quantized_artifact_is_kept_beside_the_folder_it_leaves_alone(user_net, good_artifact, tmp_path):
    folder, before = _copy_good(good_artifact, tmp_path)
    with pytest.raises(QuantizationFailed, match=r"non-finite outputs \(kept in .*art\.failed; .*art left as it"):
        quantize(load_module_class(f"{user_net}:NaNHead")(), "onnx", "int8-dynamic", folder,
                 input_shape=SHAPE, eval_samples=2, latency_runs=0, threads=1)
    _assert_whole_and_unchanged(folder, before)
    failed = json.loads((tmp_path / "art.failed" / "manifest.json").read_text())
    assert failed["validation"]["status"] == "failed" and failed["quantization"]["scheme"] == "int8-dynamic"
    assert _leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["art", "art.failed"]


def test_ctrl_c_while_quantizing_leaves_the_previous_artifact_whole(user_net, good_artifact, tmp_path):
    folder, before = _copy_good(good_artifact, tmp_path)
    code, stderr = _interrupt_cli_at("evaluating", [
        "quantize", "--module", f"{user_net}:TinyNet", "--input-shape", ",".join(map(str, SHAPE)),
        "--target", "onnx", "--scheme", "int8-dynamic", "--out", str(folder), "--eval-samples", "2",
        "--latency-runs", "20", "--threads", "1"])
    assert "  evaluating ...\n" in stderr and code == 130 and "interrupted (Ctrl+C)" in stderr, stderr
    _assert_whole_and_unchanged(folder, before)
    assert _leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["art"]
