"""Checkpoints and weight files are verified before they load: a flipped byte or a cut-off
file is one clear WeightsError, never wrong weights. Also: file mode and stale temp files."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from mobilekit.errors import WeightsError
from mobilekit.models import create_model
from mobilekit.models.backbones import create_backbone
from mobilekit.models.backbones.weights import read_state_dict
from mobilekit.train.checkpoint import load_checkpoint, remove_stale_temp_files, save_checkpoint

TINY2 = dict(num_classes=2, num_frames=2, image_size=32)


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    """(path, bytes) of a real checkpoint of a tiny tsn_b0."""
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "last.pt", create_model("tsn_b0", **TINY2),
                           classes=["a", "b"], step=3)
    return path, path.read_bytes()


def _damaged(tmp_path, data: bytes, name: str = "damaged.pt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _flip(data: bytes, offset: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0xFF
    return bytes(out)


def _assert_refused(path) -> None:
    with pytest.raises(WeightsError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert message.startswith(f"cannot read checkpoint {path}") and "\n" not in message
    assert "use another checkpoint" in message or "versions that wrote it" in message


def test_a_sealed_checkpoint_loads(sealed):
    path, _ = sealed
    assert load_checkpoint(path)["step"] == 3


def _near_end(n: int) -> list[int]:
    return [n - 1, n - 40, n - 81, n - 82, n - 90, n - 103, n - 150, n - 400]


@pytest.mark.parametrize("where", ["start", "local header name", "middle", "near end"])
def test_flipped_bytes_are_refused(tmp_path, sealed, where):
    """The overwritten-4-KB case: torch.load alone accepts a damaged tensor (no CRC check)."""
    _, data = sealed
    n = len(data)
    offsets = {"start": [0, 5, 20], "local header name": [31, 40], "middle": [n // 2, n // 3],
               "near end": _near_end(n)}[where]
    for offset in offsets:
        _assert_refused(_damaged(tmp_path, _flip(data, offset)))


def test_4kb_overwritten_in_the_middle_is_refused(tmp_path, sealed):
    _, data = sealed
    mid = len(data) // 2
    _assert_refused(_damaged(tmp_path, data[:mid] + os.urandom(4096) + data[mid + 4096:]))


@pytest.mark.parametrize("keep", ["nothing", "half", "all but one byte", "all but the seal"])
def test_truncated_checkpoints_are_refused(tmp_path, sealed, keep):
    _, data = sealed
    n = len(data)
    size = {"nothing": 0, "half": n // 2, "all but one byte": n - 1, "all but the seal": n - 81}[keep]
    path = _damaged(tmp_path, data[:size])
    _assert_refused(path)
    if keep == "nothing":  # used to be an IndexError traceback (an EOFError has no message)
        with pytest.raises(WeightsError, match="the file is empty"):
            load_checkpoint(path)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fraction=st.floats(min_value=0, max_value=1, exclude_max=True))
def test_any_flipped_byte_is_refused(tmp_path, sealed, fraction):
    _, data = sealed
    _assert_refused(_damaged(tmp_path, _flip(data, int(fraction * len(data)))))


def test_an_unsealed_checkpoint_is_checked_against_its_zip_crcs(tmp_path, sealed):
    """Checkpoints written before the seal still load, and a damaged tensor in one is refused."""
    path, _ = sealed
    ckpt = load_checkpoint(path)
    del ckpt["integrity"]
    legacy = tmp_path / "legacy.pt"
    torch.save(ckpt, legacy)
    assert load_checkpoint(legacy)["step"] == 3
    with zipfile.ZipFile(legacy) as zf:
        big = max(zf.infolist(), key=lambda i: i.file_size)
    data = legacy.read_bytes()
    _assert_refused(_damaged(tmp_path, _flip(data, big.header_offset + 200 + big.file_size // 2)))


def test_damaged_checkpoint_is_one_line_from_convert_and_resume(tmp_path, sealed):
    _, data = sealed
    bad = _damaged(tmp_path, _flip(data, len(data) // 2))
    for args in (["-m", "mobilekit.train", "--resume", str(bad), "--model", "tsn_b0", "--out", str(tmp_path)],
                 ["-m", "mobilekit.cli", "convert", "--checkpoint", str(bad), "--target", "onnx",
                  "--out", str(tmp_path / "art")]):
        run = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)
        assert run.returncode == 2, run.stderr[-2000:]
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: cannot read checkpoint {bad}: it is damaged")


# ----------------------------------------------------------------------------- backbone weights
def _weights(arch: str = "resnet50") -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    return {k: v.clone() for k, v in create_backbone(arch).state_dict().items()}


def test_damaged_pth_weights_are_refused(tmp_path):
    path = tmp_path / "r50.pth"
    torch.save({"state_dict": _weights()}, path)
    assert read_state_dict(path)  # the intact file loads
    data = path.read_bytes()
    _damaged(tmp_path, data[: len(data) // 3] + os.urandom(4096) + data[len(data) // 3 + 4096:], "r50.pth")
    with pytest.raises(WeightsError, match=r"cannot read weights from .*r50.pth: it is damaged"):
        read_state_dict(path)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
@pytest.mark.parametrize("keep", ["nothing", "half", "all but one byte"])
def test_truncated_weights_are_refused(tmp_path, suffix, keep):
    path = tmp_path / f"w{suffix}"
    sd = _weights("efficientnet_b0")
    torch.save(sd, path) if suffix == ".pth" else save_file(sd, str(path))
    data = path.read_bytes()
    path.write_bytes(data[:{"nothing": 0, "half": len(data) // 2, "all but one byte": len(data) - 1}[keep]])
    with pytest.raises(WeightsError) as err:
        read_state_dict(path)
    assert str(err.value).startswith(f"cannot read weights from {path}") and "\n" not in str(err.value)


# ----------------------------------------------------------------------------- files on disk
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640)])
def test_checkpoints_get_a_normal_file_mode(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = save_checkpoint(tmp_path / "m.pt", create_model("tsn_b0", **TINY2), classes=["a", "b"])
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


def test_stale_checkpoint_temp_files_are_removed(tmp_path):
    stale = [tmp_path / ".last.pt.k2j3h4.tmp", tmp_path / ".best.pt.x8y9z0.tmp"]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    kept = [tmp_path / "last.pt", tmp_path / "notes.tmp", tmp_path / ".keep.tmp"]
    for p in kept:
        p.write_bytes(b"x")
    assert sorted(remove_stale_temp_files(tmp_path)) == sorted(stale)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
