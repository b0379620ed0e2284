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
