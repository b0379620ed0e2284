"""The `vulkan` target's lowering (converters/backends/executorch/vulkan.py) with ExecuTorch's
real VulkanPartitioner: a tiny zoo model to a .pte whose program holds a VulkanBackend blob,
the check's figures and module paths, the batch-split rewrite the delegate's conv2d needs, and
why no runtime here runs the file. No host runtime runs a Vulkan .pte (the wheel's pybindings
lack the backend, asserted below), so the numbers are checked on the rewritten eager graph."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from conftest import TINY
from converters.backends.executorch import vulkan


class _FramesAsBatch(nn.Module):
    """A 2-D CNN over frames folded into the batch, as TSN runs its backbone: (B*T, C, H, W)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.head(self.stem(x))


def test_a_zoo_model_lowers_to_a_vulkan_pte(tmp_path, tiny_clip):
    """tsn_b0 (EfficientNet-B0 per frame): every conv runs on (B*T, ...) = batch 2, which the
    Vulkan conv2d refuses; after split_batched_conv2d the partitioner takes the whole graph."""
    from mobilekit.models import create_model

    torch.manual_seed(0)
    model = create_model("tsn_b0", **TINY).eval()
    rewritten, n = vulkan.rewritten(model, tiny_clip)
    assert n == 81  # EfficientNet-B0's convolutions, stem to head
    with torch.no_grad():
        torch.testing.assert_close(rewritten(tiny_clip), model(tiny_clip), rtol=1e-4, atol=1e-5)

    path = tmp_path / "model.pte"
    extras = vulkan.to_pte(rewritten, tiny_clip, path)
    d = extras["delegation"]
    assert d["delegated_nodes"] > 500 and d["non_delegated_nodes"] == 0 and d["share"] == 1.0, d
    assert d["delegated_subgraphs"] == 1 and extras["notes"] == []
    assert path.stat().st_size > 1_000_000  # the weights travel inside the delegate blob
    assert vulkan.pte_delegates(path) == ["VulkanBackend"]


def test_the_check_names_what_stays_on_the_cpu_with_module_paths():
    model, x = _FramesAsBatch().eval(), torch.randn(2, 3, 16, 16)
    s = vulkan.partition_summary(model, x)
    assert s["delegated_ops"] == {"aten._native_batch_norm_legit_no_training.default": 1,
                                  "aten.relu.default": 1}
    assert (s["delegated_nodes"], s["non_delegated_nodes"], s["share"]) == (2, 2, 0.5)
    [conv] = s["ops_left"]
    assert conv["op"] == "aten.convolution.default" and conv["nodes"] == 2
    assert conv["modules"] == ["stem.0 (Conv2d)", "head (Conv2d)"]
    assert "batch 1 only" in conv["why"] and "the batch is 2" in conv["why"]
    assert s["suggested_rewrites"] == ["split_batched_conv2d"]

    rewritten, n = vulkan.rewritten(model, x)
    assert n == 2
    after = vulkan.partition_summary(rewritten, x)
    assert after["ops_left"] == [] and after["share"] == 1.0
    assert after["delegated_ops"]["aten.convolution.default"] == 4  # one per sample


def test_the_check_as_a_compat_report():
    from converters.compat.report import FALLBACKS

    report = vulkan.check(_FramesAsBatch().eval(), torch.randn(2, 3, 16, 16))
    assert report.target == "vulkan" and report.verdict == FALLBACKS
    [finding] = report.findings
    assert (finding.op, finding.count, finding.fix) == ("aten.convolution.default", 2, "split_batched_conv2d")
    assert "--fix" in finding.rewrite
    assert report.op_share == 0.5 and report.accelerated_share < 0.5  # the convs hold the FLOPs
    assert any("VulkanBackend" in n for n in report.notes)


def test_a_batch_of_one_needs_no_rewrite():
    model, x = _FramesAsBatch().eval(), torch.randn(1, 3, 16, 16)
    same, n = vulkan.rewritten(model, x)
    assert same is model and n == 0


def test_no_runtime_here_runs_it_and_the_note_says_why():
    from executorch.runtime import Runtime

    names = Runtime.get().backend_registry.registered_backend_names
    assert "XnnpackBackend" in names
    if vulkan.BACKEND_ID in names:
        pytest.fail("this executorch runtime registers VulkanBackend: validate Vulkan .pte files here "
                    "and update vulkan.runtime_note / HOST_REASON")
    note = vulkan.runtime_note()
    assert note.startswith("needs an ExecuTorch runtime built with EXECUTORCH_BUILD_VULKAN=ON")
    assert "not VulkanBackend" in note and ", ".join(names) in note
    assert vulkan.HOST_REASON.startswith("needs ") and "EXECUTORCH_BUILD_VULKAN=ON" in vulkan.HOST_REASON


def test_lowering_leaves_the_callers_logging_alone():
    """The partitioner logs every node at INFO on the root logger and sets its level when
    imported; library code must neither print that nor change the caller's logging."""
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    vulkan.partition_summary(_FramesAsBatch().eval(), torch.randn(1, 3, 8, 8))
    assert (root.level, list(root.handlers)) == before


def test_importing_the_module_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys; import converters.backends.executorch.vulkan as v; "
            "print('torch' in sys.modules, 'executorch' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "False"]



def test_convert_and_check_fix_apply_the_vulkan_pass(tmp_path):
    """The registry's vulkan target lists split_batched_conv2d, so `convert` delegates every
    conv of a frames-as-batch model; as written, `check` names that pass as the finding's fix,
    and `check --fix` applies it."""
    from converters import convert
    from converters.backends import get_target
    from converters.compat import ACCELERATED, FALLBACKS, check

    model, x = _FramesAsBatch().eval(), torch.randn(2, 3, 16, 16)
    art = convert(model, "vulkan", tmp_path / "v", example_input=x)
    conversion = art.manifest["conversion"]
    assert "graph_split_batched_conv2d" in conversion["rewrites"]
    assert conversion["delegation"]["share"] == 1.0 and conversion["delegation"]["non_delegated_ops"] == {}
    assert (art.validation["status"], art.validation["reason"]) == ("skipped", get_target("vulkan").host_skip_reason)
    assert vulkan.pte_delegates(art.file) == ["VulkanBackend"]

    [written] = check(model, ["vulkan"], example_input=x, as_written=True).reports
    assert written.verdict == FALLBACKS and [f.fix for f in written.findings] == ["split_batched_conv2d"]
    [fixed] = check(model, ["vulkan"], example_input=x, as_written=True, fix=True).reports
    assert fixed.verdict == ACCELERATED and "graph_split_batched_conv2d" in fixed.rewrites
