"""`mobilekit android run ARTIFACT_DIR`: benchmark an artifact on a USB/Wi-Fi-connected phone
with the sample app (android_app/), from the desktop: adb push, am start of the app's
headless BenchmarkActivity, then pull the report it wrote (and posted to the collector)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import click

from converters.backends import TARGETS, app_target_names
from mobilekit.commands.options import check_writable
from mobilekit.errors import MobilekitError

APP_ID = "org.mobilekit.bench"
ACTIVITY = f"{APP_ID}/.BenchmarkActivity"
REMOTE_ROOT = "/data/local/tmp/mobilekit"
ANDROID_TARGETS = app_target_names("android")   # the registry's: the targets the app runs
ANDROID_RUNTIMES = tuple(dict.fromkeys(TARGETS[t].runtime for t in ANDROID_TARGETS))
# What --compute-unit offers: the compute units targets let an app pick (the registry's).
COMPUTE_UNITS = tuple(dict.fromkeys(u for t in TARGETS.values() for u in t.device_compute_units))


@dataclass
class AndroidRun:
    report: dict          # the DeviceReport the app wrote (validated)
    delivery: dict        # what the app did with it: sent / duplicates / queued / rejected / error
    remote_dir: str


def find_adb() -> str:
    """adb from $ADB or PATH."""
    exe = os.environ.get("ADB") or shutil.which("adb")
    if not exe:
        raise MobilekitError("adb not found on PATH",
                             "install Android platform-tools (apt-get install adb, or the SDK's "
                             "platform-tools) and put adb on PATH, or set ADB=/path/to/adb")
    return exe


def check_artifact(folder: Path):
    """The artifact's manifest, after checking it runs on Android and its file is intact."""
    from mobilekit.artifact import open_artifact

    art = open_artifact(folder, verify=False)  # the runtime first: a Core ML folder is refused as such
    manifest = art.manifest
    if manifest.target not in ANDROID_TARGETS:
        raise MobilekitError(f"target {manifest.target} ({manifest.runtime}) does not run in the Android app",
                             f"convert with --target {', '.join(ANDROID_TARGETS)}")
    art.verify()
    return manifest


class Adb:
    """adb for one device; every failure becomes a one-line MobilekitError."""

    def __init__(self, exe: str, serial: Optional[str] = None):
        self.base = [exe] + (["-s", serial] if serial else [])

    def __call__(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        try:
            res = subprocess.run(self.base + list(args), capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise MobilekitError(f"`adb {' '.join(args[:2])}` did not finish in {timeout:.0f} s",
                                 "check the USB connection (`adb devices`)") from e
        if check and res.returncode != 0:
            why = (res.stderr or res.stdout).decode(errors="replace").strip().splitlines()
            raise MobilekitError(f"`adb {' '.join(args[:2])}` failed: {why[-1] if why else res.returncode}",
                                 "check `adb devices` shows the phone as 'device'")
        return res

    def shell(self, *words: str, **kw) -> subprocess.CompletedProcess:
        # adb joins shell arguments into one string for the device's sh: quote each word
        return self("shell", " ".join(shlex.quote(w) for w in words), **kw)


def _read_device_json(adb: Adb, name: str) -> Optional[dict]:
    """A results file from the app's files dir (run-as: debug builds) or its external files
    dir (any build); None while it does not exist yet."""
    for cmd in (["exec-out", "run-as", APP_ID, "cat", f"files/mobilekit/results/{name}"],
                ["exec-out", "cat", f"/sdcard/Android/data/{APP_ID}/files/mobilekit/results/{name}"]):
        res = adb(*cmd, check=False, timeout=30)
        if res.returncode == 0:
            try:
                return json.loads(res.stdout.decode())
            except ValueError:
                continue  # "No such file", a permission message, or half-written
    return None


def check_compute_unit(manifest, unit: Optional[str]) -> str:
    """The compute units the app will run `manifest`'s artifact on: `unit` when the app offers
    it for that artifact, its own (the manifest's) when `unit` is None."""
    if unit is None or unit == manifest.compute_units:
        return manifest.compute_units
    # Besides an artifact's own, the compute units its target declares an app may pick (LiteRT
    # runs the same .tflite on the CPU or through its GPU delegate, android_app
    # runners/Runners.java); a .pte or .ptl runs where it was lowered for.
    target = TARGETS.get(manifest.target)
    offered = target.device_compute_units if target is not None else ()
    if unit not in offered:
        raise MobilekitError(f"target {manifest.target} runs on {manifest.compute_units} in the Android app, "
                             f"not {unit}",
                             "drop --compute-unit, or convert for a target that runs there "
                             "(a LiteRT .tflite runs on cpu or gpu)")
    return unit


def run_on_device(folder: Path, *, warmup: int, iterations: int, threads: int,
                  server: Optional[str], token: Optional[str], serial: Optional[str] = None,
                  compute_unit: Optional[str] = None, remote_root: str = REMOTE_ROOT,
                  timeout_s: float = 900, progress: Callable[[str], None] = lambda s: None,
                  waiting: Callable[[float], None] = lambda elapsed: None) -> AndroidRun:
    """Push the artifact, start BenchmarkActivity headless and wait for its report.
    `progress` gets one line per step; `waiting` the seconds waited so far, once a second.
    `compute_unit` (cpu, gpu) runs the artifact there instead of on its own compute units."""
    from pydantic import ValidationError

    from mobilekit.collector.wire import DeviceReport

    manifest = check_artifact(folder)
    check_compute_unit(manifest, compute_unit)
    adb = Adb(find_adb(), serial)
    state = adb("get-state", check=False, timeout=30)
    if state.stdout.decode().strip() != "device":
        why = (state.stderr or state.stdout).decode(errors="replace").strip() or "no device"
        raise MobilekitError(f"no usable Android device ({why})",
                             "connect a phone with USB debugging on and accept the prompt; "
                             "`adb devices` must list it as 'device' (pass --serial if several)")
    if not adb.shell("pm", "path", APP_ID, check=False).stdout.decode().startswith("package:"):
        raise MobilekitError(f"the app {APP_ID} is not installed on the phone",
                             "build and install it: cd android_app && ./gradlew installDebug (README, Android app)")

    remote = f"{remote_root.rstrip('/')}/{folder.name}"
    progress(f"pushing {folder.name} to {remote}")
    adb.shell("mkdir", "-p", remote)
    files = [folder / "manifest.json", folder / manifest.file]
    if manifest.streaming:  # a frame-cache stream's head is a second program
        files += [folder / p.file for p in manifest.streaming.programs[1:]]
    if manifest.check_set and (folder / "checkset").is_dir():
        files.append(folder / "checkset")  # the app checks outputs before it times
    adb("push", *map(str, files), remote + "/", timeout=1800)
    adb.shell("chmod", "-R", "a+rX", remote)  # the app reads it as another user

    name = f"run-{uuid.uuid4().hex[:12]}.json"
    extras = ["--es", "artifact_dir", remote, "--ei", "warmup", str(warmup),
              "--ei", "iterations", str(iterations), "--ei", "threads", str(threads),
              "--es", "result_file", name]
    if server:
        extras += ["--es", "server", server]
    if token:
        extras += ["--es", "token", token]
    if compute_unit:
        extras += ["--es", "compute_unit", compute_unit]
    progress(f"running on the phone (warm-up {warmup}, {iterations} iterations); "
             f"`adb logcat -s mobilekit` shows progress")
    # -S: stop a previous instance first, so the activity starts fresh with these extras
    adb.shell("am", "start", "-S", "-n", ACTIVITY, *extras)

    delivery_name = name[:-len(".json")] + ".delivery.json"
    started = time.monotonic()
    gone = 0
    while (delivery := _read_device_json(adb, delivery_name)) is None:
        elapsed = time.monotonic() - started
        if elapsed > timeout_s:
            raise MobilekitError(f"no result from the phone after {timeout_s:.0f} s",
                                 "see `adb logcat -s mobilekit ExecuTorch`; raise --timeout for slow models")
        # A native crash (e.g. an abort inside a runtime) leaves no result: notice it early.
        running = adb.shell("pidof", APP_ID, check=False, timeout=30).stdout.strip()
        gone = 0 if running else gone + 1
        if gone >= 3 and elapsed > 5:
            raise MobilekitError("the app stopped without writing a result (it crashed?)",
                                 "see `adb logcat -b crash` and `adb logcat -s mobilekit ExecuTorch`")
        waiting(elapsed)
        time.sleep(1.0)
    result = _read_device_json(adb, name) or {}
    if "fatal" in result or "report_id" not in result:
        raise MobilekitError(f"the app could not benchmark {folder.name}: "
                             f"{result.get('fatal') or delivery.get('error') or 'no report written'}",
                             "check the artifact folder and `adb logcat -s mobilekit`")
    try:
        report = DeviceReport.model_validate(result).model_dump(mode="json")
    except ValidationError as e:
        fields = ", ".join(sorted({".".join(map(str, err["loc"])) for err in e.errors()}))
        raise MobilekitError(f"the phone's report is not a valid DeviceReport (fields: {fields})",
                             "rebuild and reinstall the app from this checkout (its wire format differs)") from e
    return AndroidRun(report=report, delivery=delivery, remote_dir=remote)


def _finite(seconds: float, option: str) -> float:
    if seconds != seconds or seconds == float("inf"):  # nan never compares: the wait would not end
        raise click.BadParameter(f"{seconds} is not a number of seconds", param_hint=f"'{option}'")
    return seconds


@click.group("android")
def android_group():
    """Benchmark artifacts on an Android phone with the sample app (android_app/)."""


@android_group.command("run")
@click.argument("artifact_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--warmup", default=10, show_default=True, type=click.IntRange(0), help="Untimed runs first.")
@click.option("--iterations", default=100, show_default=True, type=click.IntRange(1), help="Timed runs.")
@click.option("--threads", default=0, show_default=True, type=click.IntRange(0),
              help="CPU threads for the runtime; 0 = its default.")
@click.option("--server", help="Collector the phone posts to, e.g. http://192.168.1.20:8765 "
                               "(an address the phone can reach, not 127.0.0.1).")
@click.option("--token", envvar="MOBILEKIT_TOKEN", help="The collector's token [env MOBILEKIT_TOKEN].")
@click.option("--serial", "-s", help="Device serial when several are connected (`adb devices`).")
@click.option("--compute-unit", "compute_unit", type=click.Choice(COMPUTE_UNITS),
              help="Run on these compute units instead of the artifact's own: gpu runs a tflite "
                   "artifact through LiteRT's GPU delegate (the same .tflite) [default: the "
                   "manifest's compute_units].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save the report [default: ./android-<artifact folder>.json].")
@click.option("--timeout", "timeout_s", default=900, show_default=True, type=click.FloatRange(min=0, min_open=True),
              callback=lambda ctx, param, v: _finite(v, "--timeout"),
              help="Seconds to wait for the phone.")
@click.option("--remote-root", default=REMOTE_ROOT, show_default=True,
              help="Folder on the phone to push into; use /sdcard/Android/data/org.mobilekit.bench/files "
                   "where SELinux keeps apps out of /data/local/tmp.")
def android_run_cmd(artifact_dir, warmup, iterations, threads, server, token, serial, compute_unit, out,
                    timeout_s, remote_root):
    """Push ARTIFACT_DIR (from `mobilekit convert --target xnnpack|ptl|tflite`) to the phone,
    benchmark it headless in the app, and save the report it made.

    \b
    Needs adb on PATH and the app installed (README: Android app). The phone posts the
    report to --server itself (or queues it until it can); the report is also saved here.
    Latencies are milliseconds of one inference on the phone, on the report's compute units
    (cpu, or gpu with --compute-unit gpu or a GPU artifact).
    """
    from tqdm import tqdm

    # The report is saved after minutes on the phone: a place it cannot go is refused first.
    out = check_writable(out or Path(f"android-{artifact_dir.name}.json"), "--out", folder=False)
    # The phone reports progress only to logcat: show the time waited so far.
    with tqdm(desc="benchmarking on the phone", unit="s", bar_format="{desc}: {elapsed}",
              file=sys.stderr, disable=None) as bar:
        run = run_on_device(artifact_dir, warmup=warmup, iterations=iterations, threads=threads,
                            server=server, token=token, serial=serial, compute_unit=compute_unit,
                            timeout_s=timeout_s, remote_root=remote_root,
                            progress=lambda s: bar.write(s, file=sys.stderr),
                            waiting=lambda elapsed: bar.refresh())
    out.write_text(json.dumps(run.report, indent=2) + "\n")
    r, d = run.report, run.delivery
    dev = r["device"]
    click.echo(f"{r['artifact']['model']} {r['artifact']['target']} on {dev['make']} {dev['model']} "
               f"(Android {dev['os_version']}, {dev.get('chip') or '?'}), {r['app']['runtime']} "
               f"{r['app']['runtime_version']} on {r['config']['compute_units']}")
    if r.get("error"):
        click.secho(f"  run failed: {r['error']}", fg="red")
    else:
        res, lat = r["results"], r["results"]["latency_ms"]
        click.echo(f"  latency ms   median {lat['median']:.2f}  p90 {lat['p90']:.2f}  min {lat['min']:.2f}  "
                   f"mean {lat['mean']:.2f}  std {lat['std']:.2f}  ({r['config']['iterations']} runs)")
        click.echo(f"  load {res['load_ms']:.1f} ms, first inference {res['first_inference_ms']:.1f} ms"
                   + (f", peak memory {res['peak_memory_mb']:.0f} MB" if res.get("peak_memory_mb") else ""))
    thermal = r.get("thermal") or {}
    if thermal:
        click.echo(f"  thermal      {thermal.get('before')} -> {thermal.get('after')}")
    if d.get("sent") or d.get("duplicates"):
        click.echo(f"  posted to the collector as {r['report_id']}")
    elif d.get("queued"):
        click.secho(f"  not posted ({d.get('error')}); queued on the phone: press 'Send queued' "
                    "in the app later", fg="yellow")
    click.echo(f"  saved {out}")
    if r.get("error"):
        raise SystemExit(1)


commands = [android_group]
