"""`mobilekit check` and `mobilekit quantize` take an official checkpoint with
`--checkpoint-weights FILE` and work on the loaded weights; a corrupt one is one line and
writes nothing.

The checkpoint is PyTorchVideo's own X3D-XS (its hub's x3d_xs config through create_x3d,
random weights with per-norm statistics, untrained), saved as the hub saves it
({"model_state": ...}, 400 Kinetics classes), at 4 frames of 64 px to stay cheap: X3D's
tensors do not depend on the input size. The weights are shown to be used by outputs: the
quantized artifact's check set holds the fp32 eager logits of the model it was made from,
which must be PyTorchVideo's logits for the same clips; check is given the model the loader
built (its real run observed, not replaced), whose logits must be PyTorchVideo's too.
"""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
from conftest import mobilekit_cli
from test_pretrained_pytorchvideo import pytorchvideo_models, randomize_norms  # noqa: F401 (fixture)

from mobilekit.artifact.checkset import read_check_set
from mobilekit.models.pretrained.labels import labels_for_width

FRAMES, SIZE = 4, 64


@pytest.fixture(scope="module")
def official(pytorchvideo_models, tmp_path_factory):
    """(PyTorchVideo's X3D-XS, the path of its checkpoint in the hub's format)."""
    torch.manual_seed(0)
    ref = pytorchvideo_models[0](input_clip_length=FRAMES, input_crop_size=SIZE, head_activation=None).eval()
    randomize_norms(ref, torch.randn(2, 3, FRAMES, SIZE, SIZE))   # input-dependent logits
    path = tmp_path_factory.mktemp("official") / "X3D_XS.pyth"
    torch.save({"model_state": ref.state_dict()}, path)
    return ref, path


def _reference_logits(ref, clips_btchw: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return ref(clips_btchw.transpose(1, 2))                  # PyTorchVideo takes (B, C, T, H, W)


def _kinetics() -> list[str]:
    dataset, names = labels_for_width(("kinetics400",), 400)
    assert dataset == "kinetics400" and len(names) == 400
    return names


def test_quantize_checkpoint_weights_quantizes_the_release(official, tmp_path):
    ref, path = official
    out = tmp_path / "x3d-onnx-int8"
    proc = subprocess.run(mobilekit_cli() + ["quantize", "--model", "x3d_xs", "--checkpoint-weights", str(path),
                                             "--frames", str(FRAMES), "--size", str(SIZE), "-t", "onnx",
                                             "-s", "int8-dynamic", "--samples", "1", "--eval-samples", "2",
                                             "--latency-runs", "0", "--check-samples", "2", "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["classes"] == _kinetics() and manifest["num_classes"] == 400
    assert manifest["quantization"]["scheme"] == "int8-dynamic"
    # The check set's expected outputs are the fp32 model's: PyTorchVideo's logits, so the
    # release's weights (not a fresh x3d_xs) are what was quantized.
    check = read_check_set(out, manifest["check_set"])
    clips = torch.from_numpy(check.inputs.copy()).reshape(-1, FRAMES, 3, SIZE, SIZE)  # (N, [1,] T, 3, H, W)
    want = _reference_logits(ref, clips)
    assert (want[0] - want[1]).abs().max() > 0.02                # the clips tell weights apart
    torch.testing.assert_close(torch.from_numpy(check.expected[0].copy()).reshape(want.shape), want,
                               rtol=1e-4, atol=1e-4)


def test_check_checkpoint_weights_checks_the_loaded_release(official, monkeypatch):
    from click.testing import CliRunner

    import converters.compat
    from mobilekit.cli import cli

    ref, path = official
    real_check, seen = converters.compat.check, []

    def observed_check(what, *args, **kwargs):   # the real check, on what the command hands it
        seen.append(what)
        return real_check(what, *args, **kwargs)

    monkeypatch.setattr(converters.compat, "check", observed_check)
    result = CliRunner().invoke(cli, ["check", "--model", "x3d_xs", "--checkpoint-weights", str(path),
                                      "--frames", str(FRAMES), "--size", str(SIZE), "--target", "onnx",
                                      "--json"])
    assert result.exit_code == 0, result.output[-2000:]
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert report["model"] == "x3d_xs" and report["input_shape"] == [1, FRAMES, 3, SIZE, SIZE]
    assert [t["target"] for t in report["targets"]] == ["onnx"]
    assert report["targets"][0]["verdict"] in ("accelerated", "fallbacks"), report["targets"][0]

    (source,) = seen
    assert source.classes == _kinetics()
    clips = torch.randn(2, FRAMES, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got = source.module.eval()(clips)
    want = _reference_logits(ref, clips)
    assert (want[0] - want[1]).abs().max() > 0.02
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("command", [["check", "--target", "onnx"],
                                     ["quantize", "-t", "onnx", "-s", "int8-dynamic"]])
def test_a_corrupt_checkpoint_is_one_line_and_writes_nothing(official, command, tmp_path):
    _, path = official
    bad = tmp_path / "X3D_XS.pyth"
    bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])   # a download cut in half
    out = tmp_path / "out"
    extra = ["--out", str(out)] if command[0] == "quantize" else []
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = subprocess.run(mobilekit_cli() + [command[0], "--model", "x3d_xs", "--checkpoint-weights", str(bad),
                                             "--frames", str(FRAMES), "--size", str(SIZE), *command[1:], *extra],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and str(bad) in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not out.exists()
