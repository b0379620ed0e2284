"""`convert()`: one model to one target, validated on the host, described by manifest.json."""

from __future__ import annotations

import copy
import importlib
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch
from torch import nn

from converters.job import ConversionJob, quiet
from converters.manifest import (MANIFEST_NAME, build_manifest, sha256_of, size_of, tool_versions,
                                 write_manifest)
from converters.source import INPUT_NAME, SourceModel, prepare_for_export, resolve_model
from converters.targets import TARGETS, Target, get_target
from mobilekit.errors import MobilekitError
from mobilekit.models.rewrites import apply_target_rewrites

DEFAULT_OUT_ROOT = Path("artifacts")


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
    """The artifact was written (status "failed" in its manifest) but does not match eager."""

    def __init__(self, artifact: Artifact):
        self.artifact = artifact
        v = artifact.validation
        super().__init__(f"{artifact.target} artifact does not match eager PyTorch: {v['reason']} "
                         f"(kept for inspection in {artifact.path})",
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


def _validate(target: Target, model: nn.Module, src: SourceModel, file: Path, outputs: list,
              samples: int, latency_runs: int, threads: int | None) -> dict:
    from converters import validate as v

    clips = v.random_clips(src.input_shape, samples)
    if target.host_runtime:
        from converters.runtimes import load_runtime

        expected = v.eager_outputs(model, clips)
        try:
            with quiet():
                runtime = load_runtime(file, threads=threads)
                return v.compare(runtime, clips, expected, target.precision, latency_runs)
        except MobilekitError:
            raise
        except Exception as e:  # the runtime itself failed (e.g. an op with no kernel)
            return {"status": "failed", "samples": samples,
                    "reason": f"the host runtime failed to run it: {type(e).__name__}: "
                              f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"}
    if target.module == "coreml":
        from converters.coreml import check_saved_spec

        with quiet():
            check_saved_spec(file, INPUT_NAME, src.input_shape, [(o["name"], o["shape"]) for o in outputs])
        if platform.system() != "Darwin":
            return {"status": "skipped", "reason": "needs macOS (saved spec checked: input/output "
                                                   "names and shapes)"}
        from converters.runtimes import CoreMLRuntime

        expected = v.eager_outputs(model, clips)
        with quiet():
            runtime = CoreMLRuntime(file, threads, target.compute_units)
            return v.compare(runtime, clips, expected, target.precision, latency_runs)
    return {"status": "skipped", "reason": "needs macOS or iOS (ExecuTorch's Core ML delegate)"}


def move_into_place(staged: Path, final: Path) -> None:
    if final.is_dir():
        shutil.rmtree(final)
    elif final.exists():
        final.unlink()
    os.replace(staged, final)


def convert(model_or_name: str | nn.Module | SourceModel | None = None, target: str = "xnnpack",
            out_dir: str | Path | None = None, example_input: torch.Tensor | None = None,
            checkpoint: str | None = None, *, module: str | None = None,
            input_shape: list[int] | None = None, num_classes=None, num_frames: int | None = None,
            image_size: int | None = None, validate: bool = True, samples: int = 3,
            latency_runs: int = 20, threads: int | None = None,
            on_stage: Callable[[str], None] | None = None) -> Artifact:
    """Convert a model to one target and write `out_dir/model.<ext>` + `out_dir/manifest.json`.

    What to convert, one of: a zoo name (`num_classes`/`num_frames`/`image_size` override its
    defaults), an nn.Module (with `example_input`, or built by `create_model`), a
    mobilekit.train `checkpoint`, or `module="file.py:ClassName"` with `input_shape`.

    The caller's model is never modified. With `validate`, the artifact runs on the host
    runtime on `samples` seeded random clips against eager PyTorch (plus `latency_runs`
    timed runs, median recorded); a difference above tolerance raises ValidationFailed
    after the folder is written. Core ML validates with predict on macOS only; elsewhere
    the saved spec is checked and validation is "skipped".
    """
    stage = on_stage or (lambda _s: None)
    tgt = get_target(target)
    src = resolve_model(model_or_name, checkpoint=checkpoint, module=module, example_input=example_input,
                        input_shape=input_shape, num_classes=num_classes, num_frames=num_frames,
                        image_size=image_size)
    stage("preparing")
    model, out_names, example_out = prepare_for_export(src)
    folder = Path(out_dir) if out_dir is not None else DEFAULT_OUT_ROOT / f"{src.name}-{tgt.name}"
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / f"model.{tgt.extension}"
    # Convert into a staging folder and move into place on success, so a failed conversion
    # never damages an artifact already in `folder`.
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=folder))
    job = ConversionJob(model=copy.deepcopy(model), example_input=src.example_input, target=tgt,
                        path=staging / file.name, input_name=INPUT_NAME, output_names=out_names)

    stage("converting")
    converter = importlib.import_module(f"converters.{tgt.module}")
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        # Numerically identical rewrites the target needs (TARGET_REWRITES), on the job's copy.
        rewrites = apply_target_rewrites(job.model, tgt.name)
        with quiet():
            extras = converter.convert(job)
        extras["rewrites"] = rewrites
        seconds = time.perf_counter() - t0
        (folder / MANIFEST_NAME).unlink(missing_ok=True)  # it described the file being replaced
        move_into_place(job.path, file)
    except MobilekitError:
        raise
    except Exception as e:
        from converters.diagnose import unsupported_op_error

        others = [t for t in ("onnx", "tflite", "ptl", "coreml-cpu", "xnnpack")
                  if TARGETS[t].module != tgt.module]
        with quiet():
            err = unsupported_op_error(e, model, src.example_input, tgt.name, others,
                                       uses_export=tgt.module != "torchscript")
        raise err from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # CPU seconds (all threads) tell the tool's own cost on a shared machine, where wall
    # time mostly measures the neighbours.
    extras["cpu_seconds"] = round(time.process_time() - cpu0, 2)

    outputs = [{"name": n, "shape": list(o.shape), "kind": "logits"} for n, o in zip(out_names, example_out)]
    if validate:
        stage("validating")
        t1 = time.perf_counter()
        validation = _validate(tgt, model, src, file, outputs, samples, latency_runs, threads)
        extras["validation_seconds"] = round(time.perf_counter() - t1, 2)
        if validation.pop("input_sensitive", True) is False:
            extras.setdefault("notes", []).append(
                "eager outputs barely change with the input (untrained weights?): the numeric "
                "comparison checks little; validate a trained model")
    else:
        validation = {"status": "skipped", "reason": "validation disabled (--no-validate)"}

    num_classes_out = outputs[0]["shape"][-1]
    classes = src.classes
    if isinstance(classes, dict):  # named heads: the manifest's `classes` is one list
        extras["classes_by_output"] = {k: list(v) for k, v in classes.items()}
        classes = None
    if classes is not None and len(classes) != num_classes_out:
        extras.setdefault("notes", []).append(
            f"{len(classes)} class names for {num_classes_out} logits: names dropped")
        classes = None
    manifest = build_manifest(
        model=src.name, family=src.family, num_classes=num_classes_out, classes=classes,
        input=_default_input_spec(src), outputs=outputs, target=tgt.name, runtime=tgt.runtime,
        compute_units=tgt.compute_units, delegate=tgt.delegate, precision=tgt.precision,
        quantization=None, file=file.name, size_bytes=size_of(file), sha256=sha256_of(file),
        tools=tool_versions(tgt.module, tgt.delegate), validation=validation,
        conversion={"seconds": round(seconds, 2), "source": src.origin, "config": src.config,
                    "notes": [], **extras},
    )
    write_manifest(folder, manifest)
    artifact = Artifact(path=folder, file=file, manifest=manifest, seconds=seconds)
    if validation["status"] == "failed":
        raise ValidationFailed(artifact)
    return artifact


def convert_targets(model_or_name, targets: Iterable[str], out_root: str | Path | None = None,
                    **kw) -> Iterator[tuple[str, Artifact | MobilekitError]]:
    """Convert one model to several targets (`all` = every target), yielding (target, artifact
    or the error) as each finishes, so one failing target does not stop the rest. Folders are
    `out_root/<model>-<target>/`."""
    names = list(TARGETS) if list(targets) == ["all"] else [get_target(t).name for t in targets]
    src = resolve_model(model_or_name, checkpoint=kw.pop("checkpoint", None), module=kw.pop("module", None),
                        example_input=kw.pop("example_input", None), input_shape=kw.pop("input_shape", None),
                        num_classes=kw.pop("num_classes", None), num_frames=kw.pop("num_frames", None),
                        image_size=kw.pop("image_size", None))
    root = Path(out_root) if out_root is not None else DEFAULT_OUT_ROOT
    for name in names:
        try:
            yield name, convert(src, name, root / f"{src.name}-{name}", **kw)
        except MobilekitError as e:
            yield name, e
