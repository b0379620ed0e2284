"""Shared test helpers. Tests use tiny configs (2 frames, 64x64) to keep CI fast on 2 cores."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

# Tests are small: one intra-op thread each avoids oversubscribing the 2 CI cores.
torch.set_num_threads(int(os.environ.get("MOBILEKIT_TEST_THREADS", "1")))

REPO = Path(__file__).resolve().parents[1]
TINY = dict(num_classes=5, num_frames=2, image_size=64)


@pytest.fixture
def tiny_clip():
    torch.manual_seed(0)
    return torch.randn(1, TINY["num_frames"], 3, TINY["image_size"], TINY["image_size"])


def mobilekit_cli() -> list[str]:
    """The installed console script, next to this interpreter."""
    exe = Path(sys.executable).with_name("mobilekit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "mobilekit.cli"]


def assert_rewrite_keeps_model(model, rewritten, clips, min_spread: float = 1e-4) -> None:
    """A converter rewrite must keep checkpoints loading (same state_dict keys and tensors) and
    the outputs (allclose on every clip); `min_spread` checks the clips give different logits,
    so that the comparison means something."""
    import torch

    before, after = model.state_dict(), rewritten.state_dict()
    assert list(before) == list(after)
    for k in before:
        assert torch.equal(before[k], after[k]), k
    with torch.no_grad():
        want = [model(c) for c in clips]
        got = [rewritten(c) for c in clips]
    assert (want[0] - want[1]).abs().max() > min_spread   # the clips give different logits
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)
