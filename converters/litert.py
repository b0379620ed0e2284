"""`tflite`: LiteRT flatbuffer through litert-torch (torch.export based)."""

from __future__ import annotations

import torch

from converters.job import ConversionJob
from mobilekit.models.rewrites import rewrite_conv3d


def convert(job: ConversionJob) -> dict:
    import litert_torch

    # litert-torch 0.10 crashes the whole process (a segfault in libLiteRTCompilerMLIR) on a
    # plain conv3d (x3d_xs, measured here); the conv2d-sum form converts and validates.
    rewrites = ["rewrite_conv3d"] if rewrite_conv3d(job.model) else []

    with torch.no_grad():
        # Passing the input as a keyword names it in the signature ("video", not "args_0").
        edge_model = litert_torch.convert(job.model, sample_kwargs={job.input_name: job.example_input})
    edge_model.export(str(job.path))
    return {"rewrites": rewrites, "notes": []}
