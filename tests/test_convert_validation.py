"""Validation that one kind of input cannot fool: ptl refuses data-dependent control flow
(torch.export's gate) like every other target, and the validation clips carry both signs
and very different scales beside the standard-normal ones, each clip held to a tolerance
of its own size.

The models here are export-safe and differ from eager only in what torch.jit.trace records
(`torch.jit.is_tracing()`), the way a trace bakes in one branch: the real ptl converter and
the real lite interpreter then disagree with eager on the inputs of one kind only.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch
from conftest import mobilekit_cli
from torch import nn

from converters import ValidationFailed, convert
from converters.validate import TOLERANCE, random_clips, validation_clips

SHAPE = [1, 2, 3, 8, 8]
BRANCHY = '''\
import torch
from torch import nn


class Branchy(nn.Module):
    """The reported model: which head runs depends on the input's values."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 3)
        self.b = nn.Linear(8, 3)

    def forward(self, x):
        f = x.mean((1, 2, 4))
        if f.mean() > 0.5:
            return self.a(f)
        return self.b(f)
'''

# Which inputs take the branch the trace did not record (eager runs it, the .ptl never does).
# Standard-normal clips (mean ~0, |x| < ~5) never take it; one probe kind always does.
TAKES_OTHER_BRANCH = {
    "positive": lambda x: (x > 0).all(),
    "negative": lambda x: (x < 0).all(),
    "small": lambda x: x.abs().amax() < 0.5,        # 0.01 * N(0,1)
    "large": lambda x: x.abs().amax() > 50,         # 100 * N(0,1)
}


class BakedBranch(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        torch.manual_seed(0)
        self.kind = kind
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        logits = self.fc(x.mean((1, 2, 4)))
        if torch.jit.is_tracing():  # what the trace keeps: the branch the example took
            return logits
        return torch.where(TAKES_OTHER_BRANCH[self.kind](x), -logits, logits)


class OffsetWhenTraced(nn.Module):
    """Linear, so the large probe's logits are ~100x the others; the traced program is off
    by a constant 5e-3, above the fp32 tolerance of logits of size ~1 and below that of ~100."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(8, 3)
        with torch.no_grad():
            self.fc.weight.mul_(10)

    def forward(self, x):
        logits = self.fc(x.mean((1, 2, 4)))
        return logits + 5e-3 if torch.jit.is_tracing() else logits


class Cancels(nn.Module):
    """Eager adds and takes away 1e5, where fp32 keeps its logits only to ~8e-3; the traced
    program skips that, so the .ptl is nearer the exact result than eager is, and off eager by
    eager's own rounding error, several times the fp32 tolerance."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        logits = self.fc(x.mean((1, 2, 4)))
        return logits if torch.jit.is_tracing() else (logits + 1e5) - 1e5


class NaNWhenTraced(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        logits = self.fc(x.mean((1, 2, 4)))
        return logits * float("nan") if torch.jit.is_tracing() else logits


class OverflowsOnLargeInput(nn.Module):
    """exp of the input's peak: inf in fp32 on the large probe (e**400), in eager and in the
    artifact alike; finite on every other clip."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(x.mean((1, 2, 4))) + x.amax().exp()


def test_ptl_refuses_data_dependent_control_flow_in_one_line(tmp_path):
    (tmp_path / "branchy.py").write_text(BRANCHY)
    out = tmp_path / "out"
    proc = subprocess.run(
        mobilekit_cli() + ["convert", "--module", f"{tmp_path / 'branchy.py'}:Branchy", "--input-shape",
                           ",".join(map(str, SHAPE)), "--target", "ptl", "--out", str(out), "--latency-runs", "0"],
        capture_output=True, text=True, timeout=600)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "torch.export cannot capture the model (needed for ptl)" in errors[0]
    assert "no data-dependent Python control flow" in errors[0]
    assert "validation passed" not in proc.stdout
    assert not out.exists()


def test_validation_clips_are_seeded_and_cover_both_signs_and_three_scales():
    clips, kinds = validation_clips(SHAPE, 2)
    again, _ = validation_clips(SHAPE, 2)
    assert all(np.array_equal(a, b) for a, b in zip(clips, again))
    assert kinds == ["standard", "standard", "positive", "negative", "small", "large"]
    assert all(np.array_equal(a, b) for a, b in zip(clips[:2], random_clips(SHAPE, 2)))
    by_kind = dict(zip(kinds[2:], clips[2:]))
    assert (by_kind["positive"] > 0).all() and (by_kind["negative"] < 0).all()
    assert by_kind["small"].std() < 0.05 < 0.5 < clips[0].std() < 2 < 50 < by_kind["large"].std()


@pytest.mark.parametrize("kind", list(TAKES_OTHER_BRANCH))
def test_a_branch_only_one_kind_of_input_takes_fails_validation(kind, tmp_path):
    model = BakedBranch(kind).eval()
    clips, kinds = validation_clips(SHAPE, 3)
    # only that probe takes the other branch: the standard clips alone would see nothing
    assert [bool(TAKES_OTHER_BRANCH[kind](torch.from_numpy(c))) for c in clips] == [k == kind for k in kinds]
    with pytest.raises(ValidationFailed, match=f"on a {kind} clip"):
        convert(model, "ptl", tmp_path / kind, input_shape=SHAPE, samples=3, latency_runs=0, threads=1)


def test_tolerance_is_per_clip_so_large_logits_do_not_loosen_it(tmp_path):
    with pytest.raises(ValidationFailed) as info:
        convert(OffsetWhenTraced().eval(), "ptl", tmp_path / "o", input_shape=SHAPE, samples=3,
                latency_runs=0, threads=1)
    v = info.value.artifact.validation
    assert v["max_abs_diff"] == pytest.approx(5e-3, rel=1e-3) and v["tolerance"] < 5e-3
    # the large probe's logits would allow 5e-3 had its scale set the tolerance of every clip
    clips, _ = validation_clips(SHAPE, 3)
    with torch.no_grad():
        large_logits = OffsetWhenTraced()(torch.from_numpy(clips[-1])).abs().max().item()
    assert 1e-3 * large_logits > 5e-3


def test_tolerance_is_no_tighter_than_eagers_own_rounding(tmp_path):
    art = convert(Cancels().eval(), "ptl", tmp_path / "c", input_shape=SHAPE, samples=3, latency_runs=0, threads=1)
    v = art.validation
    assert v["status"] == "passed" and TOLERANCE["fp32"] < v["max_abs_diff"] <= v["tolerance"]
    assert any("ill-conditioned" in n for n in art.manifest["conversion"]["notes"])


def test_outputs_that_are_not_finite_fail_in_a_manifest_that_fits_the_wire_format(tmp_path):
    with pytest.raises(ValidationFailed, match="outputs not finite where eager's are") as info:
        convert(NaNWhenTraced().eval(), "ptl", tmp_path / "n", input_shape=SHAPE, samples=1, latency_runs=0)
    v = info.value.artifact.validation   # built through ArtifactManifest, which refuses inf/NaN
    assert v["status"] == "failed" and v["max_abs_diff"] is None and np.isfinite(v["tolerance"])


def test_a_probe_that_overflows_eager_too_is_agreement_and_noted(tmp_path):
    art = convert(OverflowsOnLargeInput().eval(), "ptl", tmp_path / "o", input_shape=SHAPE, samples=1,
                  latency_runs=0)
    assert art.validation["status"] == "passed"
    assert any("not finite (inf/NaN) on the large clip" in n for n in art.manifest["conversion"]["notes"])


def test_a_model_whose_eager_outputs_are_not_finite_fails_validation(tmp_path):
    class AlwaysNaN(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 3)

        def forward(self, x):
            return self.fc(x.mean((1, 2, 4))) * float("nan")

    with pytest.raises(ValidationFailed, match="eager PyTorch's own outputs are not finite .* the model is broken"):
        convert(AlwaysNaN().eval(), "ptl", tmp_path / "n", input_shape=SHAPE, samples=1, latency_runs=0)
