"""Core ML targets `ane`, `coreml-gpu`, `coreml-cpu`: an ML program (.mlpackage) for iOS 17+.

fp16 compute for the Neural Engine and GPU, fp32 for the CPU target; inputs and outputs stay
float32 so the apps feed and read every target the same way. Converted from
torch.export(...).run_decompositions({}) (coremltools rejects the training dialect).
"""

from __future__ import annotations

import shutil

import numpy as np
import torch

from converters.job import ConversionJob
from mobilekit.errors import MobilekitError


def compute_unit(ct, name: str):
    """coremltools' ComputeUnit for a manifest's compute_units name (the one map of them)."""
    return {"cpuAndNeuralEngine": ct.ComputeUnit.CPU_AND_NE, "cpuAndGPU": ct.ComputeUnit.CPU_AND_GPU,
            "cpuOnly": ct.ComputeUnit.CPU_ONLY, "all": ct.ComputeUnit.ALL}[name]


def lower(job: ConversionJob) -> dict:
    import coremltools as ct

    with torch.no_grad():
        exported = torch.export.export(job.model, job.example_inputs).run_decompositions({})
    precision = ct.precision.FLOAT16 if job.target.precision == "fp16" else ct.precision.FLOAT32
    mlmodel = ct.convert(
        exported,
        inputs=[ct.TensorType(name=n, shape=tuple(x.shape), dtype=np.float32)
                for n, x in zip(job.input_names, job.example_inputs)],
        outputs=[ct.TensorType(name=n, dtype=np.float32) for n in job.output_names],
        convert_to="mlprogram",
        minimum_deployment_target=ct.target.iOS17,
        compute_precision=precision,
        compute_units=compute_unit(ct, job.target.compute_units),
    )
    mlmodel.short_description = f"mobilekit {job.target.name}"
    if job.path.exists():
        shutil.rmtree(job.path)
    mlmodel.save(str(job.path))
    return {"notes": [], "minimum_deployment_target": "iOS17"}


def check_saved_spec(path, input_name: str, input_shape: list[int],
                     outputs: list[tuple[str, list[int]]]) -> None:
    """The saved package loads as a spec with the expected input/output names and shapes
    (what can be checked without macOS). Raises MobilekitError if not."""
    import coremltools as ct

    try:
        spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    except Exception as e:
        raise MobilekitError(f"the saved Core ML package {path} does not load as a spec: {e}",
                             "re-convert; report it if it persists") from e
    desc = spec.description
    got_in = [(i.name, list(i.type.multiArrayType.shape)) for i in desc.input]
    got_out = [(o.name, list(o.type.multiArrayType.shape)) for o in desc.output]
    want_in = [(input_name, list(input_shape))]
    want_out = [(n, list(s)) for n, s in outputs]
    # ML programs may leave output shapes unset; names must match, shapes where present.
    outs_ok = [n for n, _ in got_out] == [n for n, _ in want_out] and all(
        not g or g == w for (_, g), (_, w) in zip(got_out, want_out))
    if got_in != want_in or not outs_ok:
        raise MobilekitError(f"the saved Core ML package has inputs {got_in} and outputs {got_out}, "
                             f"expected {want_in} and {want_out}",
                             "re-convert; report it if it persists")
