"""`mobilekit android run`: clear errors without adb / a usable artifact, and the adb sequence
against a stand-in device. No phone exists in CI, so a small `adb` script plays the phone and
the installed app: it keeps pushed files in a folder and, on `am start`, writes what the app's
BenchmarkActivity writes (a report and its .delivery.json). What the command does with adb
and with the result is real; what a real phone does is verified only on a phone."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from conftest import mobilekit_cli
from mobilekit.collector.wire import SCHEMA_DIR, DeviceReport

FAKE_ADB = r'''#!{python}
"""Stand-in for adb + a phone with org.mobilekit.bench installed (see the test's docstring)."""
import json, os, shlex, shutil, sys
from pathlib import Path
root = Path(os.environ["FAKE_DEVICE"])
args = sys.argv[1:]
with open(root / "adb.log", "a") as log:
    log.write(json.dumps(args) + "\n")
if args[:1] == ["-s"]:
    args = args[2:]
files = root / "app_files"
if args == ["get-state"]:
    print(os.environ.get("FAKE_STATE", "device")); sys.exit(0)
if args[0] == "push":
    dest = root / args[-1].lstrip("/")
    dest.mkdir(parents=True, exist_ok=True)
    for src in args[1:-1]:  # adb push copies a folder whole, as the check set is
        if os.path.isdir(src):
            shutil.copytree(src, dest / os.path.basename(src), dirs_exist_ok=True)
        else:
            shutil.copy(src, dest)
    sys.exit(0)
if args[0] == "exec-out":
    rest = args[1:]
    if rest[:3] == ["run-as", "org.mobilekit.bench", "cat"]:
        p = files / rest[3]
        if p.is_file():
            sys.stdout.write(p.read_text()); sys.exit(0)
    print("cat: No such file or directory"); sys.exit(1)
if args[0] == "shell":
    words = shlex.split(args[1])
    if words[:2] == ["pm", "path"]:
        print("package:/data/app/org.mobilekit.bench/base.apk"); sys.exit(0)
    if words[:1] == ["pidof"]:
        sys.exit(1)  # the app is not running (any more)
    if words[:2] == ["am", "start"] and os.environ.get("FAKE_APP") == "crash":
        sys.exit(0)  # started, then died without writing anything
    if words[:2] == ["am", "start"]:
        extras, i = {}, 0
        while i < len(words):
            if words[i] in ("--es", "--ei"):
                extras[words[i + 1]] = words[i + 2]; i += 3
            else:
                i += 1
        results = files / "files/mobilekit/results"
        results.mkdir(parents=True, exist_ok=True)
        name = extras["result_file"]
        art = root / extras["artifact_dir"].lstrip("/")
        if os.environ.get("FAKE_APP") == "fatal" or not (art / "manifest.json").is_file():
            (results / name).write_text(json.dumps({"fatal": "no manifest.json in " + extras["artifact_dir"]}))
            delivery = {"error": "no manifest.json"}
        else:
            manifest = json.loads((art / "manifest.json").read_text())
            report = json.loads(Path(os.environ["GOLDEN_REPORT"]).read_text())
            report["artifact"].update(model=manifest["model"], target=manifest["target"], sha256=manifest["sha256"])
            report["config"].update(warmup=int(extras["warmup"]), iterations=int(extras["iterations"]),
                                    compute_units=extras.get("compute_unit", manifest["compute_units"]))
            (results / name).write_text(json.dumps(report))
            delivery = {"report_id": report["report_id"], "sent": 1 if "server" in extras else 0,
                        "duplicates": 0, "queued": 0 if "server" in extras else 1, "rejected": 0,
                        "error": None if "server" in extras else "no server given"}
        (results / name.replace(".json", ".delivery.json")).write_text(json.dumps(delivery))
    sys.exit(0)
print("fake adb: unsupported " + " ".join(args), file=sys.stderr); sys.exit(1)
'''


def _artifact(folder: Path, **fields) -> Path:
    """An xnnpack artifact folder (the golden manifest), or another target's with `fields`."""
    folder.mkdir(parents=True)
    data = os.urandom(4096)
    manifest = json.loads((SCHEMA_DIR / "golden" / "manifest_xnnpack.json").read_text())
    manifest.update(model="tiny_android", size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                    **fields)
    (folder / manifest["file"]).write_bytes(data)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


TFLITE = dict(target="tflite", runtime="litert", delegate=None, file="model.tflite")


def _device(tmp_path: Path) -> dict:
    bin_dir, device = tmp_path / "bin", tmp_path / "device"
    bin_dir.mkdir()
    device.mkdir()
    adb = bin_dir / "adb"
    adb.write_text(FAKE_ADB.replace("{python}", sys.executable))
    adb.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "ADB"}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", FAKE_DEVICE=str(device),
               GOLDEN_REPORT=str(SCHEMA_DIR / "golden" / "report_android_xnnpack.json"))
    return env


def _adb_calls(tmp_path: Path) -> list[list[str]]:
    return [json.loads(l) for l in (tmp_path / "device" / "adb.log").read_text().splitlines()]


def test_without_adb_the_error_says_how_to_get_it(tmp_path):
    art = _artifact(tmp_path / "tiny-xnnpack")
    env = {k: v for k, v in os.environ.items() if k != "ADB"}
    env["PATH"] = str(Path(sys.executable).parent)  # python and mobilekit, no adb
    res = subprocess.run(mobilekit_cli() + ["android", "run", str(art)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "error: adb not found on PATH; install Android platform-tools (apt-get install adb, or the "
        "SDK's platform-tools) and put adb on PATH, or set ADB=/path/to/adb"]


def test_bad_artifacts_are_refused_before_touching_the_phone(tmp_path):
    env = _device(tmp_path)
    art = _artifact(tmp_path / "tiny-xnnpack")
    (art / "model.pte").write_bytes(b"changed")
    res = subprocess.run(mobilekit_cli() + ["android", "run", str(art)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert res.returncode == 2 and "does not match the manifest's sha256" in res.stderr
    manifest = json.loads((SCHEMA_DIR / "golden" / "manifest_xnnpack.json").read_text())
    manifest.update(target="ane", runtime="coreml", compute_units="cpuAndNeuralEngine")
    (art / "manifest.json").write_text(json.dumps(manifest))
    res = subprocess.run(mobilekit_cli() + ["android", "run", str(art)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert res.returncode == 2 and "does not run in the Android app" in res.stderr
    assert not (tmp_path / "device" / "adb.log").exists()


def test_push_start_and_pull_the_report(tmp_path):
    env = _device(tmp_path)
    art = _artifact(tmp_path / "tiny-xnnpack")
    out = tmp_path / "result.json"
    res = subprocess.run(mobilekit_cli() + [
        "android", "run", str(art), "--warmup", "3", "--iterations", "7", "--threads", "4",
        "--server", "http://192.168.1.20:8765", "--token", "tok", "--serial", "R5CT",
        "--out", str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    calls = _adb_calls(tmp_path)
    assert all(c[:2] == ["-s", "R5CT"] for c in calls)
    calls = [c[2:] for c in calls]
    remote = "/data/local/tmp/mobilekit/tiny-xnnpack"
    assert ["push", str(art / "manifest.json"), str(art / "model.pte"), remote + "/"] in calls
    [start] = [shlex.split(c[1]) for c in calls if c[0] == "shell" and c[1].startswith("am start")]
    assert start[:5] == ["am", "start", "-S", "-n", "org.mobilekit.bench/.BenchmarkActivity"]
    pairs = {start[i + 1]: start[i + 2] for i in range(len(start)) if start[i] in ("--es", "--ei")}
    assert pairs == {"artifact_dir": remote, "warmup": "3", "iterations": "7", "threads": "4",
                     "server": "http://192.168.1.20:8765", "token": "tok",
                     "result_file": pairs["result_file"]}
    report = DeviceReport.model_validate_json(out.read_text())
    assert report.artifact.model == "tiny_android" and report.config.iterations == 7
    assert "median 43.50  p90 47.90" in res.stdout
    assert "posted to the collector as android-0e6a2d14" in res.stdout


def test_a_failure_on_the_phone_is_one_clear_line(tmp_path):
    env = _device(tmp_path)
    env["FAKE_APP"] = "fatal"
    art = _artifact(tmp_path / "tiny-xnnpack")
    res = subprocess.run(mobilekit_cli() + ["android", "run", str(art), "--out", str(tmp_path / "r.json")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith(
        "error: the app could not benchmark tiny-xnnpack: no manifest.json in /data/local/tmp/mobilekit/tiny-xnnpack")
    assert not (tmp_path / "r.json").exists()


def test_an_app_that_dies_without_a_result_is_noticed(tmp_path):
    env = _device(tmp_path)
    env["FAKE_APP"] = "crash"
    art = _artifact(tmp_path / "tiny-xnnpack")
    res = subprocess.run(mobilekit_cli() + ["android", "run", str(art), "--timeout", "60"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1] == (
        "error: the app stopped without writing a result (it crashed?); see `adb logcat -b crash` "
        "and `adb logcat -s mobilekit ExecuTorch`")


def _start_extras(tmp_path: Path) -> dict:
    [start] = [shlex.split(c[1]) for c in _adb_calls(tmp_path)
               if c[0] == "shell" and c[1].startswith("am start")]
    return {start[i + 1]: start[i + 2] for i in range(len(start)) if start[i] in ("--es", "--ei")}


def test_compute_unit_gpu_runs_a_tflite_on_the_gpu_and_says_so(tmp_path):
    """The same .tflite, `--compute-unit gpu`: the app is asked for it (its LiteRT runner adds
    the GPU delegate) and the report it sends back says compute_units gpu."""
    env = _device(tmp_path)
    art = _artifact(tmp_path / "tiny-tflite", **TFLITE)
    out = tmp_path / "result.json"
    res = subprocess.run(mobilekit_cli() + ["android", "run", str(art), "--compute-unit", "gpu",
                                            "--out", str(out)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert _start_extras(tmp_path)["compute_unit"] == "gpu"
    report = DeviceReport.model_validate_json(out.read_text())
    assert report.config.compute_units == "gpu" and report.artifact.target == "tflite"
    assert res.stdout.splitlines()[0].endswith(" on gpu")


def test_without_compute_unit_the_app_uses_the_artifacts_own(tmp_path):
    env = _device(tmp_path)
    art = _artifact(tmp_path / "tiny-tflite", **TFLITE)
    res = subprocess.run(mobilekit_cli() + ["android", "run", str(art), "--out", str(tmp_path / "r.json")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "compute_unit" not in _start_extras(tmp_path)
    assert res.stdout.splitlines()[0].endswith(" on cpu")


def test_compute_units_an_artifact_cannot_use_are_refused_before_touching_the_phone(tmp_path):
    env = _device(tmp_path)
    art = _artifact(tmp_path / "tiny-xnnpack")
    res = subprocess.run(mobilekit_cli() + ["android", "run", str(art), "--compute-unit", "gpu"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "error: target xnnpack runs on cpu in the Android app, not gpu; drop --compute-unit, or convert "
        "for a target that runs there (a LiteRT .tflite runs on cpu or gpu)"]
    res = subprocess.run(mobilekit_cli() + ["android", "run", str(art), "--compute-unit", "npu"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 2 and "'npu' is not one of 'cpu', 'gpu'" in res.stderr
    assert not (tmp_path / "device" / "adb.log").exists()


def test_help_lists_the_compute_unit_option():
    res = subprocess.run(mobilekit_cli() + ["android", "run", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert "--compute-unit [cpu|gpu]" in res.stdout and "LiteRT's GPU delegate" in res.stdout
