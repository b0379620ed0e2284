"""Streaming export (converters/streaming.py): the MoViNet step with explicit state and the
frame-cached encoder + head, converted for real and run as streams on the host runtimes
against the eager clip model. Tiny sizes: conversions are slow on a shared machine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from converters.streaming import (FrameEncoder, TokenHead, check_state, convert_stream, open_stream, step_module,
                                  stream_mode, stream_video)
from converters.validate import settle_batchnorm
from mobilekit.errors import MobilekitError
from mobilekit.models import create_model
from mobilekit.models.movinet import ARCHS

SIZE = 32
# MoViNet-A0's first two stages, one block each: a temporal kernel of 1 and one of 3 (state).
_STAGES = [(cout, stride, layers[:1]) for cout, stride, layers in ARCHS["a0"]["stages"]][:2]
FRAME_CACHE_MODELS = ["vlf_b0", "tsn_b0", "vtn_eff", "efficientvit_b1_tsn", "vivit_fe"]


def _movinet():
    torch.manual_seed(0)
    m = create_model("movinet_a0_stream", num_classes=5, image_size=SIZE, stages=_STAGES).eval()
    return settle_batchnorm(m, [1, 1, 3, SIZE, SIZE])


def _frame_cached(name: str, frames: int = 3, size: int = 64):
    torch.manual_seed(0)
    m = create_model(name, num_classes=5, num_frames=frames, image_size=size).eval()
    return settle_batchnorm(m, [1, frames, 3, size, size])


@pytest.mark.parametrize("name", FRAME_CACHE_MODELS)
def test_encoder_then_head_over_a_sliding_window_is_the_clip_model(name):
    model = _frame_cached(name, frames=3, size=64 if name != "vivit_fe" else 32)
    size = model.mobilekit_config["image_size"]
    assert stream_mode(model) == "frame-cache"
    encoder, head = FrameEncoder(model), TokenHead(model)
    video = torch.randn(1, 5, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        tokens = [encoder(video[:, t:t + 1])[0] for t in range(5)]
        for end in (3, 4, 5):  # the window slides one frame at a time
            got = head(torch.cat(tokens[end - 3:end], dim=1))[0]
            torch.testing.assert_close(got, model(video[:, end - 3:end]), rtol=1e-4, atol=1e-5)


def test_movinet_step_module_fed_back_is_the_clip_model():
    model = _movinet()
    step = step_module(model)
    video = torch.randn(1, 4, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    state = model.init_state(1)
    with torch.no_grad():
        for t in range(4):
            logits, *state = step(video[:, t:t + 1], *state)
        torch.testing.assert_close(logits, model(video), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("target", ["xnnpack", "tflite", "onnx", "ptl"])
def test_movinet_step_converts_and_validates_as_a_stream(tmp_path, target):
    model = _movinet()
    art = convert_stream(model, target, tmp_path / "a", latency_runs=1)
    m = art.manifest
    s = m["streaming"]
    assert s["mode"] == "state" and [p["role"] for p in s["programs"]] == ["step"]
    assert s["validation"]["status"] == "passed" and s["validation"]["compared"] == 4
    assert [x["name"] for x in s["state"]] == model.state_names
    assert all(x["init"] == "zeros" for x in s["state"])
    assert [o["kind"] for o in m["outputs"]] == ["logits"] + ["state"] * len(model.state_names)
    assert m["input"]["shape"] == [1, 1, 3, SIZE, SIZE] and m["input"]["frame_sampling"] == "consecutive"
    # The artifact as a user runs it: 6 frames, state fed back, the last logits == eager clip.
    stream = open_stream(art.path, threads=1)
    video = torch.randn(1, 6, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    for t in range(6):
        logits = stream.push(video[:, t:t + 1].numpy())
    with torch.no_grad():
        want = model(video).numpy()
    np.testing.assert_allclose(logits, want, atol=1e-3 * max(1.0, float(np.abs(want).max())))


@pytest.mark.parametrize("target", ["xnnpack", "tflite"])
def test_vlf_b0_frame_cache_converts_and_validates_against_the_clip_model(tmp_path, target):
    model = _frame_cached("vlf_b0", frames=3, size=64)
    art = convert_stream(model, target, tmp_path / "v", latency_runs=1)
    s = art.manifest["streaming"]
    assert s["mode"] == "frame-cache" and s["window"] == 3
    assert [p["role"] for p in s["programs"]] == ["encoder", "head"]
    assert s["programs"][0]["file"] == art.manifest["file"] and (art.path / s["programs"][1]["file"]).is_file()
    assert s["programs"][1]["inputs"][0]["shape"][:2] == [1, 3]
    v = s["validation"]
    assert v["status"] == "passed" and v["frames"] == 5 and v["compared"] == 3 and v["top1_agreement"] == 1.0


def test_core_ml_step_writes_every_state_as_an_input(tmp_path):
    pytest.importorskip("coremltools")
    art = convert_stream(_movinet(), "coreml-cpu", tmp_path / "c", latency_runs=0)
    import coremltools as ct

    spec = ct.models.MLModel(str(art.file), skip_model_load=True).get_spec()
    names = [i.name for i in spec.description.input]
    assert names == [x["name"] for x in art.manifest["streaming"]["programs"][0]["inputs"]]
    assert len(spec.description.output) == len(names)  # logits + every state


def test_a_model_without_a_streaming_form_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(MobilekitError, match="no streaming form") as e:
        convert_stream("x3d_xs", "onnx", tmp_path / "x", num_classes=5, num_frames=4, image_size=32)
    assert len(str(e.value).splitlines()) == 1
    assert not (tmp_path / "x").exists() and list(tmp_path.iterdir()) == []


def test_state_of_the_wrong_shape_or_dtype_is_one_line():
    spec = [{"name": "frame_count", "shape": [1], "dtype": "float32"},
            {"name": "head_sum", "shape": [1, 8], "dtype": "float32"}]
    check_state(spec, [np.zeros(1, np.float32), np.zeros((1, 8), np.float32)])
    with pytest.raises(MobilekitError, match=r"state head_sum is float32\[1, 4\]"):
        check_state(spec, [np.zeros(1, np.float32), np.zeros((1, 4), np.float32)])
    with pytest.raises(MobilekitError, match="state frame_count is float64"):
        check_state(spec, [np.zeros(1), np.zeros((1, 8), np.float32)])
    with pytest.raises(MobilekitError, match="takes 2 state tensors, got 1"):
        check_state(spec, [np.zeros(1, np.float32)])


def _write_video(path: Path, frames: int, size: int = 48) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            img = np.full((size, size, 3), 20 * i % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_convert_streaming_cli_then_stream_a_real_video(tmp_path):
    pytest.importorskip("av")
    from mobilekit.cli import cli

    out = tmp_path / "tsn"
    r = CliRunner().invoke(cli, ["convert", "--model", "tsn_b0", "--frames", "2", "--size", "32", "--classes", "4",
                                 "--target", "onnx", "--streaming", "--latency-runs", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "stream validation passed" in r.output
    video = _write_video(tmp_path / "clip.mp4", 5)
    r = CliRunner().invoke(cli, ["stream", "--artifact", str(out), "--video", str(video), "--top", "2"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.output.splitlines()]
    assert [row["frame"] for row in rows] == list(range(5))
    assert rows[0]["top"] is None and all(len(row["top"]) == 2 for row in rows[1:])
    assert all(row["ms"] > 0 for row in rows)
    # A video shorter than the window: one line, nothing run.
    short = _write_video(tmp_path / "short.mp4", 1)
    with pytest.raises(MobilekitError, match="fewer than the 2"):
        list(stream_video(out, short))


# ------------------------------------------------------- issue #22: the options left, check, a2
def test_rank4_shape_merges_the_dims_between_batch_and_the_last_two():
    from converters.streaming import rank4_shape

    assert rank4_shape([1, 80, 2, 4, 4]) == [1, 160, 4, 4]
    assert rank4_shape([1, 24, 1, 1, 1]) == [1, 24, 1, 1]
    assert rank4_shape([1, 480]) == [1, 480] and rank4_shape([1]) == [1]


def test_step_with_state_at_rank4_validates_as_a_stream_on_litert(tmp_path):
    model = _movinet()
    art = convert_stream(model, "tflite", tmp_path / "r4", latency_runs=0, state_rank4=True)
    s, conv = art.manifest["streaming"], art.manifest["conversion"]
    assert s["validation"]["status"] == "passed" and s["validation"]["compared"] == 4
    prog = s["programs"][0]
    assert all(len(t["shape"]) <= 4 for t in prog["inputs"][1:] + prog["outputs"])  # the frame stays 5-D
    # The manifest gives the stored shapes; the model's own (5-D) ones are kept beside them.
    model_shapes = dict(zip(model.state_names, (list(x.shape) for x in model.init_state(1))))
    assert conv["state_layout"]["model_shapes"] == model_shapes
    assert any(len(v) == 5 for v in model_shapes.values())
    assert [x["shape"] for x in s["state"]] == [
        [v[0], int(np.prod(v[1:-2])), *v[-2:]] if len(v) == 5 else v for v in model_shapes.values()]
    # As a user runs it: 6 frames, the rank-4 state fed back, the last logits == eager clip.
    stream = open_stream(art.path, threads=1)
    video = torch.randn(1, 6, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    for t in range(6):
        logits = stream.push(video[:, t:t + 1].numpy())
    assert all(x.ndim <= 4 for x in stream.state)
    with torch.no_grad():
        want = model(video).numpy()
    np.testing.assert_allclose(logits, want, atol=1e-3 * max(1.0, float(np.abs(want).max())))


def test_core_ml_native_state_converts_and_the_spec_declares_every_state(tmp_path):
    pytest.importorskip("coremltools")
    model = _movinet()
    art = convert_stream(model, "coreml-cpu", tmp_path / "ns", latency_runs=0, coreml_state=True)
    import coremltools as ct

    spec = ct.models.MLModel(str(art.file), skip_model_load=True).get_spec()
    assert [i.name for i in spec.description.input] == ["video"]
    assert [o.name for o in spec.description.output] == ["logits"]
    states = {s.name: list(s.type.stateType.arrayType.shape) for s in spec.description.state}
    assert states == {n: list(x.shape) for n, x in zip(model.state_names, model.init_state(1))}
    m = art.manifest
    assert [x["name"] for x in m["conversion"]["native_state"]] == model.state_names
    assert any("native state" in n and "Not run on this host" in n for n in m["conversion"]["notes"])
    assert m["streaming"]["state"] == [] and m["streaming"]["validation"]["status"] == "skipped"


def test_et_coreml_step_converts_and_vulkan_refuses_the_step_in_one_line(tmp_path):
    art = convert_stream(_movinet(), "et-coreml", tmp_path / "etc", latency_runs=0)
    s = art.manifest["streaming"]
    assert s["validation"]["status"] == "skipped" and "macOS" in s["validation"]["reason"]
    assert len(s["programs"][0]["inputs"]) == 1 + len(s["state"]) and art.file.stat().st_size > 0
    with pytest.raises(MobilekitError, match="hardswish") as e:
        convert_stream(_movinet(), "vulkan", tmp_path / "vk", latency_runs=0)
    assert len(str(e.value).splitlines()) == 1 and not (tmp_path / "vk").exists()


@pytest.mark.parametrize("args, match", [
    (["--model", "tsn_b0", "--target", "xnnpack", "--streaming", "--state-rank4"], "--state-rank4 applies to"),
    (["--model", "movinet_a0_stream", "--target", "xnnpack", "--streaming", "--coreml-state"],
     "xnnpack is not a Core ML target"),
    (["--model", "movinet_a0_stream", "--target", "coreml-cpu", "--streaming", "--coreml-state", "--state-rank4"],
     "give one of them"),
    (["--model", "movinet_a0_stream", "--target", "xnnpack", "--state-rank4"], "add --streaming"),
])
def test_a_state_option_where_it_does_not_apply_is_one_line_and_writes_nothing(tmp_path, args, match):
    from mobilekit.cli import cli

    out = tmp_path / "o"
    r = CliRunner().invoke(cli, ["convert", *args, "--frames", "2", "--size", "32", "--classes", "4",
                                 "--out", str(out)])
    assert r.exit_code != 0 and match in r.output, r.output
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1, r.output
    assert list(tmp_path.iterdir()) == []


def test_check_streaming_reports_both_programs_of_a_frame_cache_model():
    from mobilekit.cli import cli

    r = CliRunner().invoke(cli, ["check", "--model", "tsn_b0", "--frames", "2", "--size", "32", "--classes", "4",
                                 "--target", "xnnpack", "--streaming", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output[r.output.index("{"):])
    by = {t["target"]: t for t in report["targets"]}
    assert list(by) == ["xnnpack encoder", "xnnpack head"]
    assert all(t["verdict"] == "accelerated" and t["accelerated_share"] == 1.0 for t in by.values())
    assert by["xnnpack head"]["notes"][0].startswith("streaming head program (frame-cache): inputs tokens [1, 2,")


def test_check_streaming_reports_the_step_delegation():
    from converters.streaming import check_stream

    result = check_stream(_movinet(), ["xnnpack"], state_rank4=True)
    (rep,) = result.reports
    assert rep.target == "xnnpack step" and rep.accelerated_share == 1.0
    assert rep.verdict in ("accelerated", "fallbacks"), rep.notes
    assert rep.notes[0].startswith("streaming step program (state): inputs video [1, 1, 3, 32, 32], frame_count [1]")
    assert any(n.endswith("ops delegated") and "1 delegated subgraph" in n for n in rep.notes)


def test_check_streaming_runs_the_step_on_every_host_target():
    """Each backend's check converts the step with all its inputs (the frame, then the state)
    and runs it where this host can: a real verdict, never 'not checked'."""
    from converters.streaming import check_stream

    result = check_stream(_movinet(), ["tflite", "onnx", "ptl", "coreml-cpu"])
    by = {r.target: r for r in result.reports}
    assert list(by) == ["tflite step", "onnx step", "ptl step", "coreml-cpu step"]
    for name, rep in by.items():
        assert rep.verdict == "accelerated" and rep.accelerated_share == 1.0, (name, rep.verdict, rep.notes)


def test_movinet_a2_stream_converts_and_validates_as_a_stream(tmp_path):
    # The whole A2 architecture (every stage, every block) at 64px, the smallest side at which
    # its last stage keeps 2x2 positions; untrained, BatchNorm settled.
    torch.manual_seed(0)
    model = settle_batchnorm(create_model("movinet_a2_stream", num_classes=5, image_size=64).eval(),
                             [2, 2, 3, 64, 64])
    art = convert_stream(model, "xnnpack", tmp_path / "a2", latency_runs=0)
    v = art.manifest["streaming"]["validation"]
    assert v["status"] == "passed" and v["compared"] == 4 and v["top1_agreement"] == 1.0
    assert len(art.manifest["streaming"]["state"]) == len(model.state_names) > 40


@pytest.mark.parametrize("args, match", [
    (["--model", "movinet_a0_stream", "--state-rank4"], "add --streaming"),
    (["--model", "movinet_a0_stream", "--streaming", "--fix"], "--fix does not combine with --streaming"),
    (["--model", "tsn_b0", "--streaming", "--state-rank4"], "--state-rank4 applies to"),
    (["--model", "x3d_xs", "--streaming"], "no streaming form"),
])
def test_check_streaming_bad_input_is_one_line(args, match):
    from mobilekit.cli import cli

    r = CliRunner().invoke(cli, ["check", *args, "--target", "xnnpack", "--frames", "2", "--size", "32",
                                 "--classes", "4"])
    assert r.exit_code != 0 and match in r.output, r.output
    assert len([line for line in r.output.splitlines() if line.strip() and "checking" not in line]) == 1, r.output
