"""`tflite`: LiteRT flatbuffer through litert-torch (torch.export based)."""

from __future__ import annotations

import torch

from converters.job import ConversionJob
from mobilekit.models.rewrites import apply_target_rewrites


def convert(job: ConversionJob) -> dict:
    import litert_torch

    rewrites = apply_target_rewrites(job.model, "tflite")  # see TARGET_REWRITES: conv3d
    with torch.no_grad():
        # Passing the input as a keyword names it in the signature ("video", not "args_0").
        edge_model = litert_torch.convert(job.model, sample_kwargs={job.input_name: job.example_input})
    edge_model.export(str(job.path))
    return {"rewrites": rewrites, "notes": []}
