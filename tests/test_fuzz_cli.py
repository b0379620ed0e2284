"""Property tests of the command-line parsers: whatever string or number a user types for
--input-shape, --classes, --frames/--size, --threads, counts, --sizes, --float-layers, a
command either accepts it or exits 2 with one `error: ...` line, never a traceback.

Each command runs in-process (CliRunner, catch_exceptions=False: any exception fails the
example) with a model that does not exist, so an accepted value goes on to the one-line
"unknown model" error and no model is ever built; a rejected value must say which option.
"""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from mobilekit.cli import cli

FUZZ = settings(max_examples=50, deadline=None)
NO_MODEL = "no_such_model"
UNKNOWN = f"error: unknown model '{NO_MODEL}'"

# What users type: numbers (with signs, spaces, x separators, digits of other scripts), words,
# and anything else (bounded so each example stays fast).
TOKENS = st.one_of(st.integers(-10**12, 10**12).map(str), st.sampled_from(["", " ", "x", "=", ",", "-", "0", "١٢", "nan",
                                                                            "inf", "1e3", "0x10", "--help", "verb"]),
                   st.text(max_size=12))
TEXT = st.lists(TOKENS, max_size=6).flatmap(lambda parts: st.sampled_from([",", "x", "=", "", " "]).map(
    lambda sep: sep.join(parts))) | st.text(max_size=40)
INTS = st.one_of(st.integers(-10**6, 10**6), st.integers()).map(str) | TOKENS


@pytest.fixture(scope="module", autouse=True)
def in_empty_folder(tmp_path_factory):
    """Commands probe their output folder: run where that touches nothing of the repo."""
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "art").mkdir()  # an artifact folder without a manifest, for `android run`
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.delenv("MOBILEKIT_DEBUG", raising=False)
        yield folder


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, prog_name="mobilekit")
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        # Progress lines ("quantizing ...", a progress bar) may come first; the error is one line, last.
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error:")]
        assert errors == [lines[-1]], (args, result.stderr)
        return lines[-1]
    return None


def _value_error_names(line: str | None, option: str) -> bool:
    return line is not None and (option in line or line.startswith(UNKNOWN))


@FUZZ
@given(shape=TEXT)
def test_input_shape(shape):
    for command in (["convert"], ["check", "-t", "xnnpack"], ["quantize", "-t", "xnnpack", "-s", "int8"]):
        line = invoke(*command, "--module", "no_such_file.py:Net", f"--input-shape={shape}")
        assert line is not None
        assert "input shape" in line or "--input-shape" in line or "module file no_such_file.py does not exist" in line


@FUZZ
@given(classes=TEXT)
def test_classes(classes):
    for command in (["convert"], ["quantize", "-t", "onnx", "-s", "int8-dynamic"]):
        line = invoke(*command, "--model", NO_MODEL, f"--classes={classes}")
        assert _value_error_names(line, "--classes"), line


@FUZZ
@given(count=st.integers(-10**9, 10**9), heads=st.booleans())
def test_classes_counts_are_checked_by_value(count, heads):
    text = f"verb={count},noun=3" if heads else str(count)
    line = invoke("convert", "--model", NO_MODEL, "--classes", text)
    if 1 <= count <= 100_000:
        assert line.startswith(UNKNOWN)
    else:
        assert "--classes" in line and "not a whole number from 1 to 100,000" in line


@FUZZ
@given(frames=INTS, size=INTS, threads=INTS)
def test_frames_size_threads(frames, size, threads):
    for command in (["convert"], ["check", "-t", "onnx"], ["quantize", "-t", "onnx", "-s", "int8-dynamic"]):
        line = invoke(*command, "--model", NO_MODEL, f"--frames={frames}", f"--size={size}")
        assert _value_error_names(line, "--frames") or _value_error_names(line, "--size"), line
    line = invoke("convert", "--model", NO_MODEL, f"--threads={threads}")
    assert _value_error_names(line, "--threads"), line


@FUZZ
@given(frames=st.integers(-10**6, 10**6), size=st.integers(-10**6, 10**6))
def test_frames_and_size_are_checked_by_value(frames, size):
    line = invoke("convert", "--model", NO_MODEL, "--frames", str(frames), "--size", str(size))
    if frames < 1 or size < 1:
        assert "is not in the range x>=1" in line
    else:
        assert line.startswith(UNKNOWN)  # the input-size bound applies once the model's card is known


@FUZZ
@given(samples=INTS, eval_samples=INTS, latency_runs=INTS, float_layers=st.lists(TEXT, max_size=3))
def test_quantize_counts_and_float_layers(samples, eval_samples, latency_runs, float_layers):
    layers = [f"--float-layers={f}" for f in float_layers]
    line = invoke("quantize", "--model", NO_MODEL, "-t", "xnnpack", "-s", "int8", f"--samples={samples}",
                  f"--eval-samples={eval_samples}", f"--latency-runs={latency_runs}", *layers)
    assert line is not None
    assert line.startswith(UNKNOWN) or any(o in line for o in ("--samples", "--eval-samples", "--latency-runs")), line


@FUZZ
@given(frames=INTS, size=INTS, threads=INTS, warmup=INTS, iters=INTS, sizes=st.none() | TEXT, mode=st.none() | TEXT)
def test_bench(frames, size, threads, warmup, iters, sizes, mode):
    extra = ([f"--sizes={sizes}"] if sizes is not None else []) + ([f"--mode={mode}"] if mode is not None else [])
    line = invoke("bench", "--models", NO_MODEL, "--device", "cpu", f"--frames={frames}", f"--size={size}",
                  f"--threads={threads}", f"--warmup={warmup}", f"--iters={iters}", *extra)
    assert line is not None


@FUZZ
@given(warmup=INTS, iterations=INTS, threads=INTS, timeout=INTS | st.floats().map(str))
def test_android_run(warmup, iterations, threads, timeout):
    line = invoke("android", "run", "art", f"--warmup={warmup}", f"--iterations={iterations}",
                  f"--threads={threads}", f"--timeout={timeout}")
    assert line is not None  # the folder has no manifest: refused before adb is looked for
    assert "has no manifest.json" in line or any(
        o in line for o in ("--warmup", "--iterations", "--threads", "--timeout")), line


@FUZZ
# Relative paths only (the probe must stay in this folder); no NUL: no shell can pass one (an
# argument ends at NUL), and click.Path itself raises ValueError on it.
@given(out=st.text(min_size=1, max_size=30).filter(
    lambda s: not s.startswith(("/", "~")) and ".." not in s and "\x00" not in s))
def test_out_paths(out, in_empty_folder):
    before = sorted(os.listdir(in_empty_folder))
    line = invoke("convert", "--model", NO_MODEL, f"--out={out}")
    assert line is not None and (line.startswith(UNKNOWN) or "--out" in line), line
    assert sorted(os.listdir(in_empty_folder)) == before  # a probe leaves nothing behind
