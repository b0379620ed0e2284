"""The one pipeline every entry point goes through (convert, quantize, check, convert --quantize):

    resolve source -> prepare -> target rewrites -> [quantize] -> lower -> stage
        -> evaluate on the host -> write manifest -> swap into place

`converters.api.convert` and `converters.quantize.api.quantize` are entry points that choose
what happens at "[quantize] -> lower" (the backend's `lower`, or its `quantize`) and what
the evaluation compares; `converters.compat.check` runs "prepare -> target rewrites" and then
the backend's check instead of writing anything. What a target needs at each step is the
backend's (converters/backends); this module names no target.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from converters.backends import Backend, Target, backend_of, get_target
from converters.job import quiet
from converters.source import INPUT_NAME, SourceModel, prepare_for_export, resolve_model
from converters.staging import check_destination, clean_stale, failed_folder, staging_folder, swap_into_place
from mobilekit.errors import MobilekitError

DEFAULT_OUT_ROOT = Path("artifacts")


def check_options(*, samples: int | None = None, eval_samples: int | None = None,
                  latency_runs: int | None = None, threads: int | None = None) -> None:
    """Refuse, before any work, counts below their minimum (named by their CLI flags, as
    converters.source names --classes/--frames/--size, which resolve_model checks)."""
    for value, flag, least in ((samples, "--samples", 1), (eval_samples, "--eval-samples", 1),
                               (latency_runs, "--latency-runs", 0), (threads, "--threads", 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise MobilekitError(f"{flag} {value!r} is not a whole number of {least} or more",
                                 f"give {flag} {least} or more")


@dataclass
class Prepared:
    """A resolved source, ready for one target: the eval-mode model with tuple outputs (never
    the caller's module), its output names and example outputs, and where the artifact goes."""

    src: SourceModel
    target: Target
    backend: Backend
    folder: Path
    model: nn.Module
    output_names: list[str]
    example_outputs: tuple[torch.Tensor, ...]

    @property
    def file_name(self) -> str:
        return f"model.{self.target.extension}"

    def outputs_spec(self) -> list[dict]:
        return [{"name": n, "shape": list(o.shape), "kind": "logits"}
                for n, o in zip(self.output_names, self.example_outputs)]


def resolve(model_or_name=None, **source) -> SourceModel:
    """The source model from any of convert()'s ways to name one (zoo name, module, checkpoint...)."""
    return resolve_model(model_or_name, **source)


def prepare(src: SourceModel, target: str | Target, out_dir: str | Path | None, default_stem: str,
            on_stage: Callable[[str], None] | None = None) -> Prepared:
    """Destination checks (before any work), then the model prepared for export."""
    tgt = target if isinstance(target, Target) else get_target(target)
    folder = check_destination(Path(out_dir) if out_dir is not None else DEFAULT_OUT_ROOT / default_stem)
    check_destination(failed_folder(folder), "the failed-artifact folder")
    if on_stage:
        on_stage("preparing")
    model, names, example_out = prepare_for_export(src)
    for f in (folder, failed_folder(folder)):  # what killed earlier runs for this artifact left
        clean_stale(f)
    return Prepared(src=src, target=tgt, backend=backend_of(tgt), folder=folder, model=model,
                    output_names=names, example_outputs=example_out)


def apply_module_rewrites(model: nn.Module, target: str | Target, names: tuple[str, ...] | None = None) -> list[str]:
    """The target's module rewrites (mobilekit.models.rewrites, by name), in place; the names of
    those that changed something."""
    from mobilekit.models.rewrites import MODULE_REWRITES

    tgt = target if isinstance(target, Target) else get_target(target)
    return [name for name in (tgt.rewrites if names is None else names) if MODULE_REWRITES[name](model)]


def rewrite_for_target(model: nn.Module, example_input: torch.Tensor, target: str | Target,
                       *, module_rewrites: bool = True, graph_passes: bool = True) -> tuple[nn.Module, list[str]]:
    """(model to lower, rewrites applied): the target's numerically identical module rewrites
    (in place on `model`, which must be a private copy), then its graph passes (any model)."""
    from converters.graph_rewrites import rewrite_graph

    tgt = target if isinstance(target, Target) else get_target(target)
    applied = apply_module_rewrites(model, tgt) if module_rewrites else []
    if graph_passes:
        model, passes = rewrite_graph(model, example_input, tgt.name)
        applied += passes
    return model, applied


def host_runtime(target: Target, file: Path, threads: int | None):
    """The runtime that runs `target`'s file on this machine, or None (the backend says why
    in `target.host_skip_reason`)."""
    if target.host_skip_reason is not None:
        return None
    return backend_of(target).open_runtime(target, file, threads, None)


@contextlib.contextmanager
def staged(prep: Prepared) -> Iterator[Path]:
    """The folder the artifact is built in, beside its destination (converters/staging.py):
    until `finish` swaps it in, an artifact already there stays whole, and a failure or
    Ctrl+C leaves nothing behind."""
    with staging_folder(prep.folder) as staging:
        yield staging


def finish(staging: Path, prep: Prepared, manifest: dict) -> Path:
    """Write the manifest and swap the staged folder into place: into `<folder>.failed` when
    the evaluation failed (kept for inspection; the folder stays as it was). Returns the
    folder the artifact now lives in."""
    from mobilekit.artifact import write_manifest

    write_manifest(staging, manifest)
    dest = failed_folder(prep.folder) if manifest["validation"]["status"] == "failed" else prep.folder
    swap_into_place(staging, dest)
    return dest


def lower_or_explain(prep: Prepared, job) -> dict:
    """The backend's lowering of `job`; a tool's exception becomes one line naming the op,
    where it comes from in the model, and the targets of other backends to try."""
    try:
        with quiet():
            return prep.backend.lower(job)
    except MobilekitError:
        raise
    except Exception as e:
        from converters.backends import BACKENDS
        from converters.diagnose import unsupported_op_error

        # One fp32 target of each other backend: a different tool may take the op.
        others = [next(t.name for t in b.targets if t.precision == "fp32")
                  for b in BACKENDS.values() if b.name != prep.backend.name]
        with quiet():  # every target goes through torch.export first
            err = unsupported_op_error(e, prep.model, prep.src.example_input, prep.target.name, others)
        raise err from e


def new_job(prep: Prepared, staging: Path):
    from converters.job import ConversionJob

    return ConversionJob(model=copy.deepcopy(prep.model), example_input=prep.src.example_input, target=prep.target,
                         path=staging / prep.file_name, input_name=INPUT_NAME, output_names=prep.output_names)


__all__ = ["DEFAULT_OUT_ROOT", "Prepared", "apply_module_rewrites", "check_options", "finish",
           "host_runtime", "lower_or_explain", "new_job", "prepare", "resolve", "rewrite_for_target", "staged"]
