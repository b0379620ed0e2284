"""The official PyTorchVideo modules deploy as they are, and the CLI takes official checkpoints.

PyTorchVideo's own X3D-XS (its hub's x3d_xs config through create_x3d, random weights; the
user's module, taken as is in its (B, C, T, H, W) layout) converts to xnnpack fully delegated:
before the graph rewrites (converters/graph_rewrites.py) its sixteen 5-D means (squeeze-
excitation and the head's AdaptiveAvgPool3d), the head's AvgPool3d and the channel softmax
stayed on portable kernels and the .pte failed to load (error 0x14, no avg_pool3d kernel).

`--checkpoint-weights FILE` with `--model` loads an official release through the real CLI and
puts its class names in the manifest.
"""

from __future__ import annotations

import json
import subprocess

import torch
from conftest import mobilekit_cli
from test_pretrained_pytorchvideo import pytorchvideo_models, randomize_norms  # noqa: F401 (fixture)

from converters import convert
from converters.runtimes import load_runtime
from mobilekit.models.pretrained.labels import labels_for_width

FRAMES, SIZE = 4, 64


def _official_x3d_xs(create_x3d, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    # pytorchvideo/models/hub/x3d.py x3d_xs at a small input; its Softmax head kept as it ships.
    model = create_x3d(input_clip_length=FRAMES, input_crop_size=SIZE, **kw).eval()
    randomize_norms(model, torch.randn(2, 3, FRAMES, SIZE, SIZE))  # input-dependent outputs
    return model


def test_pytorchvideo_x3d_xs_converts_to_xnnpack_fully_delegated(pytorchvideo_models, tmp_path):
    model = _official_x3d_xs(pytorchvideo_models[0], head_activation=None)   # logits: validation has teeth
    state = {k: v.clone() for k, v in model.state_dict().items()}
    clip = torch.randn(1, 3, FRAMES, SIZE, SIZE, generator=torch.Generator().manual_seed(2))

    art = convert(model, "xnnpack", tmp_path / "x3d", example_input=clip, latency_runs=0, samples=2)

    conversion = art.manifest["conversion"]
    assert conversion["delegation"]["non_delegated_ops"] == {}, conversion["delegation"]
    assert conversion["delegation"]["delegated_subgraphs"] == 1
    assert {"rewrite_conv3d", "graph_mean_as_4d", "graph_avg_pool3d_as_2d"} <= set(conversion["rewrites"])
    assert art.validation["status"] == "passed" and art.validation["max_abs_diff"] < 1e-3, art.validation
    # The user's module is taken as is: same classes, same weights.
    assert type(model.blocks[1].res_blocks[0].branch2.conv_b) is torch.nn.Conv3d
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    # The .pte loads and runs on the host runtime, with the eager numbers.
    with torch.no_grad():
        want = model(clip)
    got = torch.from_numpy(load_runtime(art.file).run(clip.numpy())[0])
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_cli_checkpoint_weights_puts_the_release_classes_in_the_manifest(pytorchvideo_models, tmp_path):
    model = _official_x3d_xs(pytorchvideo_models[0], head_activation=None)
    path = tmp_path / "X3D_XS.pyth"
    torch.save({"model_state": model.state_dict()}, path)    # the hub's format, 400 Kinetics classes
    out = tmp_path / "x3d-onnx"
    proc = subprocess.run(mobilekit_cli() + ["convert", "--model", "x3d_xs", "--checkpoint-weights", str(path),
                                             "--frames", str(FRAMES), "--size", str(SIZE), "--target", "onnx",
                                             "--out", str(out), "--samples", "1", "--latency-runs", "0"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    dataset, kinetics = labels_for_width(("kinetics400",), 400)
    assert manifest["classes"] == kinetics and len(kinetics) == 400 and manifest["num_classes"] == 400
    assert manifest["validation"]["status"] == "passed"


def test_cli_checkpoint_weights_errors_are_one_line(tmp_path):
    bad = tmp_path / "X3D_XS.pyth"
    bad.write_bytes(b"not a checkpoint")
    for args, says in ((["--model", "x3d_xs", "--checkpoint-weights", str(bad)], str(bad)),
                       (["--module", "m.py:Net", "--input-shape", "1,2,3,8,8", "--checkpoint-weights", str(bad)],
                        "--checkpoint-weights loads an official checkpoint into a zoo model")):
        proc = subprocess.run(mobilekit_cli() + ["convert", *args, "--target", "onnx", "--out", str(tmp_path / "o")],
                              capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and says in lines[0], proc.stderr
        assert not (tmp_path / "o").exists()
