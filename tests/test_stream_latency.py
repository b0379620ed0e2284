"""benchmarks/stream_latency.py at a tiny size: it converts the clip and the stream artifact for
real, times them side by side and prints one labelled markdown row per model and target."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("stream_latency", ROOT / "benchmarks" / "stream_latency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_movinet_stream_is_timed_against_its_clip_model_with_the_same_weights():
    import torch

    bench = _bench()
    clip, stream, t, size = bench.build_pair("movinet_a0_stream", 2, 32, num_classes=4)
    assert type(clip).__name__ == type(stream).__name__ and size == 32 and t == 2
    assert clip.mobilekit_config["num_frames"] == 2
    for (k, a), (_, b) in zip(clip.state_dict().items(), stream.state_dict().items()):
        assert torch.equal(a, b), k


def test_stream_latency_table_at_a_tiny_size(tmp_path, capsys):
    bench = _bench()
    assert bench.main(["--models", "tsn_b0", "--targets", "xnnpack", "--frames", "4", "--size", "32",
                       "--classes", "4", "--runs", "3", "--markdown", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# untrained models") and "synthetic input" in out and "host threads 1" in out
    rows = [line for line in out.splitlines() if line.startswith("| tsn_b0")]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    row = dict(zip(bench.HEADERS, cells))
    assert row["target"] == "xnnpack" and row["input"] == "4x32x32"
    clip_ms, frame_ms = float(row["clip ms"]), float(row["per-frame ms"])
    assert clip_ms > 0 and frame_ms > 0
    assert row["frame / clip"] == f"1/{clip_ms / frame_ms:.1f}"
    assert row["clip validation"].startswith("passed") and row["stream validation"].startswith("passed")
    # Both artifacts were written where --out says.
    assert (tmp_path / "tsn_b0-xnnpack-clip" / "manifest.json").is_file()
    assert (tmp_path / "tsn_b0-xnnpack-stream" / "manifest.json").is_file()


@pytest.mark.parametrize("bad", [["--runs", "0"], ["--frames", "0"]])
def test_counts_below_one_are_refused(bad):
    with pytest.raises(SystemExit):
        _bench().main(bad)
