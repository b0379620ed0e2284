"""`convert()`: one model to one target, validated on the host, described by manifest.json."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch
from torch import nn

from converters.backends import DEFAULT_TARGET, TARGETS, get_target
from converters.job import quiet
from converters.manifest import build_manifest
from converters.pipeline import (DEFAULT_OUT_ROOT, Prepared, check_options, finish, host_runtime, lower_or_explain,
                                 new_job, prepare, resolve, rewrite_for_target, staged)
from converters.source import INPUT_NAME, SourceModel
from mobilekit.artifact import sha256_of, size_of
from mobilekit.errors import MobilekitError



@dataclass
class Artifact:
    """A converted model: its folder, the model file inside it, the manifest, the seconds
    the conversion itself took (validation excluded)."""

    path: Path
    file: Path
    manifest: dict
    seconds: float

    @property
    def target(self) -> str:
        return self.manifest["target"]

    @property
    def validation(self) -> dict:
        return self.manifest["validation"]


class ValidationFailed(MobilekitError):
    """The artifact was written (status "failed" in its manifest) but does not match eager.
    It is kept for inspection in `<folder>.failed` (`artifact.path`); `folder` is left as it was."""

    def __init__(self, artifact: Artifact, folder: Path):
        self.artifact = artifact
        v = artifact.validation
        super().__init__(f"{artifact.target} artifact does not match eager PyTorch: {v['reason']} "
                         f"(kept for inspection in {artifact.path}; {folder} left as it was)",
                         "try another target, or report the model with that folder")


def _default_input_spec(src: SourceModel) -> dict:
    from mobilekit.models.info import input_spec
    from mobilekit.models.registry import IMAGENET_MEAN, IMAGENET_STD

    card = src.card or {"mean": IMAGENET_MEAN, "std": IMAGENET_STD, "frame_sampling": "tsn"}
    shape = src.input_shape
    if len(shape) == 5:
        spec = input_spec(card, shape[1], shape[3])
        spec["shape"] = shape  # keeps non-square sizes and batch as given
    else:  # a user module with another layout: record the shape, keep the normalisation
        spec = input_spec(card, 1, 1)
        spec.update(shape=shape, layout={4: "NCHW"}.get(len(shape), f"{len(shape)}-D"))
    spec["name"] = INPUT_NAME
    return spec


def _validate(prep: Prepared, model: nn.Module, file: Path, samples: int, latency_runs: int,
              threads: int | None) -> dict:
    from converters import validate as v

    tgt, src = prep.target, prep.src
    # What can be checked of the file without running it (Core ML: the saved spec's names and shapes).
    prep.backend.check_written(tgt, file, INPUT_NAME, src.input_shape,
                               [(o["name"], o["shape"]) for o in prep.outputs_spec()])
    if (reason := tgt.host_skip_reason) is not None:
        return {"status": "skipped", "reason": reason}
    clips, kinds = v.validation_clips(src.input_shape, samples)
    expected = v.eager_outputs(model, clips)
    noise = v.eager_noise(model, clips, expected)
    try:
        with quiet():
            runtime = host_runtime(tgt, file, threads)
            return v.compare(runtime, clips, expected, tgt.precision, latency_runs, kinds, noise)
    except MobilekitError:
        raise
    except Exception as e:  # the runtime itself failed (e.g. an op with no kernel)
        return {"status": "failed", "samples": len(clips),
                "reason": f"the host runtime failed to run it: {type(e).__name__}: "
                          f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"}


def convert(model_or_name: str | nn.Module | SourceModel | None = None, target: str = DEFAULT_TARGET,
            out_dir: str | Path | None = None, example_input: torch.Tensor | None = None,
            checkpoint: str | None = None, *, module: str | None = None,
            input_shape: list[int] | None = None, num_classes=None, num_frames: int | None = None,
            image_size: int | None = None, validate: bool = True, samples: int = 3,
            latency_runs: int = 20, threads: int | None = None,
            on_stage: Callable[[str], None] | None = None, check_data: str | None = None,
            check_samples: int = 4, check_set: bool = True) -> Artifact:
    """Convert a model to one target and write `out_dir/model.<ext>` + `out_dir/manifest.json`.

    What to convert, one of: a zoo name (`num_classes`/`num_frames`/`image_size` override its
    defaults), an nn.Module (with `example_input`, or built by `create_model`), a
    mobilekit.train `checkpoint`, or `module="file.py:ClassName"` with `input_shape`.

    The caller's model is never modified. With `validate`, the artifact runs on the host
    runtime on `samples` seeded standard-normal clips plus four probes of other signs and
    scales (converters/validate.py) against eager PyTorch (plus `latency_runs` timed runs,
    median recorded). Core ML validates with predict on macOS only; elsewhere the saved spec
    is checked and validation is "skipped".

    The folder is replaced whole, only once the new one is complete (converters/staging.py):
    an error or Ctrl+C at any stage leaves an artifact already there as it was, and nothing
    is created until then. A difference above tolerance raises ValidationFailed with the
    artifact kept for inspection in `<out_dir>.failed`. Counts below their minimum
    (samples >= 1, latency_runs >= 0, threads >= 1; num_classes etc. in resolve_model) and an
    `out_dir` holding other files are refused before any work.

    `check_set`: write `checkset/` (mobilekit/artifact/checkset.py): `check_samples` clips from
    `check_data` (as quantize's `calibration`; None: the synthetic dataset) and the eager
    outputs for them, indexed in the manifest's `check_set`.
    """
    stage = on_stage or (lambda _s: None)
    tgt = get_target(target)
    check_options(samples=samples, latency_runs=latency_runs, threads=threads)
    if check_set:
        from converters.checkset import check_count

        check_count(check_samples)
    src = resolve(model_or_name, checkpoint=checkpoint, module=module, example_input=example_input,
                  input_shape=input_shape, num_classes=num_classes, num_frames=num_frames, image_size=image_size)
    prep = prepare(src, tgt, out_dir, f"{src.name}-{tgt.name}", stage)
    model = prep.model

    stage("converting")
    with staged(prep) as staging:
        job = new_job(prep, staging)
        t0, cpu0 = time.perf_counter(), time.process_time()
        # The target's numerically identical rewrites, on the job's private copy.
        job.model, rewrites = rewrite_for_target(job.model, job.example_input, tgt)
        extras = lower_or_explain(prep, job)
        extras["rewrites"] = rewrites
        seconds = time.perf_counter() - t0
        # CPU seconds (all threads) tell the tool's own cost on a shared machine, where wall
        # time mostly measures the neighbours.
        extras["cpu_seconds"] = round(time.process_time() - cpu0, 2)

        outputs = prep.outputs_spec()
        if validate:
            stage("validating")
            t1 = time.perf_counter()
            validation = _validate(prep, model, job.path, samples, latency_runs, threads)
            extras["validation_seconds"] = round(time.perf_counter() - t1, 2)
            from converters.validate import describe_inputs, pop_notes

            if validation["status"] != "skipped":
                extras["validation_inputs"] = describe_inputs(samples)
            if notes := pop_notes(validation):
                extras.setdefault("notes", []).extend(notes)
        else:
            validation = {"status": "skipped", "reason": "validation disabled (--no-validate)"}

        stage("writing")
        num_classes_out = outputs[0]["shape"][-1]
        classes = src.classes
        if isinstance(classes, dict):  # named heads: the manifest's `classes` is one list
            extras["classes_by_output"] = {k: list(v) for k, v in classes.items()}
            classes = None
        if classes is not None and len(classes) != num_classes_out:
            extras.setdefault("notes", []).append(
                f"{len(classes)} class names for {num_classes_out} logits: names dropped")
            classes = None
        if check_set:  # clips and eager outputs any device can compare with (converters/checkset.py)
            from converters.checkset import write_check_set

            checks, note = write_check_set(staging, model, src.input_shape, prep.output_names, tgt.precision,
                                           check_data, check_samples, src.classes, num_classes_out)
            if note:
                extras.setdefault("notes", []).append(note)
        manifest = build_manifest(
            check_set=checks if check_set else None,
            model=src.name, family=src.family, num_classes=num_classes_out, classes=classes,
            input=_default_input_spec(src), outputs=outputs, target=tgt.name, runtime=tgt.runtime,
            compute_units=tgt.compute_units, delegate=tgt.delegate, precision=tgt.precision,
            quantization=None, file=prep.file_name, size_bytes=size_of(job.path), sha256=sha256_of(job.path),
            tools=prep.backend.tool_versions(tgt), validation=validation,
            conversion={"seconds": round(seconds, 2), "source": src.origin, "config": src.config,
                        "notes": [], **extras},
        )
        dest = finish(staging, prep, manifest)
    artifact = Artifact(path=dest, file=dest / prep.file_name, manifest=manifest, seconds=seconds)
    if validation["status"] == "failed":
        raise ValidationFailed(artifact, prep.folder)
    return artifact


def convert_targets(model_or_name, targets: Iterable[str], out_root: str | Path | None = None,
                    **kw) -> Iterator[tuple[str, Artifact | MobilekitError]]:
    """Convert one model to several targets (`all` = every target), yielding (target, artifact
    or the error) as each finishes, so one failing target does not stop the rest. Folders are
    `out_root/<model>-<target>/`."""
    names = list(TARGETS) if list(targets) == ["all"] else [get_target(t).name for t in targets]
    src = resolve(model_or_name, checkpoint=kw.pop("checkpoint", None), module=kw.pop("module", None),
                  example_input=kw.pop("example_input", None), input_shape=kw.pop("input_shape", None),
                  num_classes=kw.pop("num_classes", None), num_frames=kw.pop("num_frames", None),
                  image_size=kw.pop("image_size", None))
    root = Path(out_root) if out_root is not None else DEFAULT_OUT_ROOT
    for name in names:
        try:
            yield name, convert(src, name, root / f"{src.name}-{name}", **kw)
        except MobilekitError as e:
            yield name, e
