"""What the ExecuTorch runtime does to a program, said in one line: `check --profile` no longer
aborts the process (SIGABRT, exit 134) when ETDump's debug buffer fills, a native abort while
profiling becomes a MobilekitError with the runtime's reason, and a .pte whose operator has no
kernel (error 0x14, OperatorMissing) names that operator instead of calling the file corrupt.

Real lowering (XnnpackPartitioner), the real runtime, tiny modules.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import mobilekit_cli
from torch import nn

from mobilekit.errors import MobilekitError

# cumsum has no XNNPACK kernel, so each step's output is an intermediate output that ETDump
# stored in its debug buffer: 3 steps x 10 profiling runs x 1x8x3x128x64 float32 (0.79 MB)
# = 24 MB, more than the 16 MB buffer `check --profile` had (the smallest clip found that
# aborted it; 1x8x3x64x64 did not).
CUMSUM_NET = '''\
import torch
from torch import nn


class Step(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=-1)


class CumsumChain(nn.Module):
    def __init__(self):
        super().__init__()
        self.steps = nn.ModuleList(Step() for _ in range(3))

    def forward(self, x):
        for step in self.steps:
            x = step(x)
        return x.mean(dim=(1, 2, 3))
'''
CUMSUM_SHAPE = (1, 8, 3, 128, 64)


class Pool3d(nn.Module):
    """Temporal pooling as a video model writes it: MaxPool3d has neither an XNNPACK nor a
    portable kernel in the ExecuTorch 1.5.1 runtime, and no graph rewrite turns it into one
    that has (AvgPool3d now becomes 2-D pools), so the .pte fails to load (0x14)."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool3d((2, 2, 2))
        self.fc = nn.Linear(3, 4)

    def forward(self, x):  # (B, T, C, H, W)
        y = self.pool(x.transpose(1, 2))
        return self.fc(y.mean(dim=(2, 3, 4)))


POOL_SHAPE = (1, 2, 3, 8, 8)


def _lower(model: nn.Module, shape) -> tuple[bytes, torch.Tensor]:
    from converters.backends.executorch.compat import lower
    from converters.job import quiet

    x = torch.randn(*shape)
    with quiet():
        edge, _ = lower(model.eval(), x)
        with torch.no_grad():
            return edge.to_executorch().buffer, x


def test_check_profile_times_a_program_whose_outputs_overflowed_the_debug_buffer(tmp_path):
    (tmp_path / "chain.py").write_text(CUMSUM_NET)
    proc = subprocess.run(mobilekit_cli() + ["check", "--module", "chain.py:CumsumChain", "--input-shape",
                                             ",".join(map(str, CUMSUM_SHAPE)), "--target", "xnnpack",
                                             "--profile", "--json"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])  # was -6 (SIGABRT), no message
    profile = json.loads(proc.stdout)["targets"][0]["profile"]
    cumsums = [row for row in profile if "cumsum" in row["event"]]
    assert len(cumsums) == 3 and all(row["p50_ms"] > 0 and not row["delegated"] for row in cumsums)
    # Each op row names the layer it comes from (was the Inspector's whole dict as a string).
    assert sorted(row["module"] for row in cumsums) == ["steps.0", "steps.1", "steps.2"]


@pytest.fixture(scope="module")
def cumsum_pte(tmp_path_factory):
    ns: dict = {}
    exec(CUMSUM_NET, ns)
    buffer, x = _lower(ns["CumsumChain"](), CUMSUM_SHAPE)
    pte = tmp_path_factory.mktemp("cumsum") / "chain.pte"
    pte.write_bytes(buffer)
    return pte, x


def test_a_runtime_abort_while_profiling_is_one_error_naming_the_cause(cumsum_pte):
    from converters.backends.executorch.compat import profile_pte

    pte, x = cumsum_pte
    # A debug buffer too small for the intermediate outputs makes the runtime abort (SIGABRT):
    # only the profiling child dies, and the runtime's reason comes back.
    with pytest.raises(MobilekitError) as caught:
        profile_pte(pte, x, runs=1, debug_buffer_size=1 << 16)
    message = str(caught.value)
    assert "the ExecuTorch runtime aborted (SIGABRT) while profiling chain.pte" in message
    assert "Ran out of space to store intermediate outputs" in message
    assert "\n" not in message
    rows = profile_pte(pte, x, runs=2)  # timings only: the same program profiles
    assert sum("cumsum" in r["event"] for r in rows) >= 3


@pytest.fixture(scope="module")
def pool_pte(tmp_path_factory):
    buffer, x = _lower(Pool3d(), POOL_SHAPE)
    pte = tmp_path_factory.mktemp("pool") / "pool.pte"
    pte.write_bytes(buffer)
    return pte, buffer, x


def test_a_missing_operator_is_named_not_called_corruption(pool_pte):
    from converters.backends.executorch.runtime import missing_operators
    from converters.runtimes import load_runtime

    pte, _, _ = pool_pte
    with pytest.raises(MobilekitError) as caught:
        load_runtime(pte)
    message = str(caught.value)
    assert "pool.pte uses aten::max_pool3d_with_indices.out, which this ExecuTorch runtime has no kernel for" in message
    assert "OperatorMissing" in message and "mobilekit check --target xnnpack" in message
    assert "corrupt" not in message
    # Without the runtime's log, the program's operator table against the kernels here says the same.
    assert missing_operators("", pte) == ["aten::max_pool3d_with_indices.out"]


def test_check_names_the_operator_without_a_kernel(pool_pte):
    from converters.backends.executorch.compat import run_once

    _, buffer, x = pool_pte
    op, message = run_once(buffer, x)
    assert op == "aten.max_pool3d_with_indices"  # the finding it belongs to (….default)
    assert message.startswith("aten::max_pool3d_with_indices.out has no kernel in the ExecuTorch runtime (error 0x14")


def test_convert_names_the_missing_operator_in_one_line(tmp_path, monkeypatch):
    from mobilekit.cli import cli

    monkeypatch.chdir(tmp_path)
    Path("pool.py").write_text("from torch import nn\n\n\n" + _source_of(Pool3d))
    result = CliRunner().invoke(cli, ["convert", "--module", "pool.py:Pool3d", "--input-shape",
                                      ",".join(map(str, POOL_SHAPE)), "-t", "xnnpack", "--latency-runs", "0",
                                      "--out", "out"], catch_exceptions=False)
    assert result.exit_code == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "uses aten::max_pool3d_with_indices.out" in line and "mobilekit check" in line
    assert not Path("out").exists()


def _source_of(cls) -> str:
    import inspect

    return inspect.getsource(cls)
