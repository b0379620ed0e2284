"""`tflite`: LiteRT flatbuffer through litert-torch (torch.export based)."""

from __future__ import annotations

import torch

from converters.job import ConversionJob


def lower(job: ConversionJob) -> dict:
    import litert_torch

    with torch.no_grad():
        # Passing the input as a keyword names it in the signature ("video", not "args_0").
        edge_model = litert_torch.convert(job.model, sample_kwargs=dict(zip(job.input_names, job.example_inputs)))
    edge_model.export(str(job.path))
    return {"notes": []}
