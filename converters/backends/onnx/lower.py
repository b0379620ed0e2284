"""`onnx`: the torch.onnx dynamo exporter (torch.export based), for ONNX Runtime."""

from __future__ import annotations

import torch

from converters.job import ConversionJob


def lower(job: ConversionJob) -> dict:
    with torch.no_grad():
        program = torch.onnx.export(job.model, job.example_inputs, dynamo=True,
                                    input_names=job.input_names, output_names=job.output_names,
                                    external_data=False)
    program.save(str(job.path), external_data=False)
    return {"notes": [], "opset": program.model.opset_imports.get("", None)}
