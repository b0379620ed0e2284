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
