"""LiteRT: `int8` (full int8, calibrated; the model's input and output tensors are int8) and
`int8-dynamic` (dynamic-range int8: int8 weights, activations quantized at run time).

litert-torch's own PT2EQuantizer annotates the graph (its configs match the TFLite kernels'
constraints, e.g. fixed ranges for softmax/logistic); torchao's prepare_pt2e/convert_pt2e
insert the quantize/dequantize nodes; `litert_torch.convert(..., quant_config=...)` turns them
into TFLite int8 or dynamic-range kernels. With static int8 the interpreter's input and output
are int8: callers quantize the clip and dequantize the logits with the tensor's scale and zero
point, which the manifest records (converters.runtimes.LiteRTRuntime does it on the host).
"""

from __future__ import annotations

import torch

from converters.quantize.job import QuantJob, QuantResult
from converters.quantize.pt2e import extend_quantizer, fuse_clamp_outputs, quantize_pt2e, with_observer


def _io_params(path) -> dict | None:
    """Scale and zero point of integer input/output tensors, for the manifest."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))

    def describe(d: dict) -> dict:
        scale, zero = d["quantization"]
        return {"name": d["name"], "dtype": d["dtype"].__name__, "scale": float(scale), "zero_point": int(zero)}

    inputs, outputs = interp.get_input_details(), interp.get_output_details()
    if all(d["dtype"].__name__ == "float32" for d in inputs + outputs):
        return None
    return {"inputs": [describe(d) for d in inputs], "outputs": [describe(d) for d in outputs]}


def _base_quantizer(job: QuantJob):
    """litert-torch's own quantizer (what litert_torch.convert is told the graph was quantized with)."""
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config

    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=job.scheme.name == "int8-dynamic",
                                               is_qat=job.qat is not None)
    return PT2EQuantizer().set_global(with_observer(config, job.observer))


def pt2e_setup(job: QuantJob):
    """(the model as the quantizer sees it, the quantizer): what quantize() annotates, for
    explain.py and mixed.py to prepare the same graph. Static int8 observes each conv's
    output after its ReLU6, as the TFLite kernel computes it (pt2e.fuse_clamp_outputs)."""
    base = _base_quantizer(job)
    if job.scheme.name != "int8":
        return job.model, base
    return job.model, extend_quantizer(base, fuse_clamp_outputs)


def quantize(job: QuantJob) -> QuantResult:
    import litert_torch
    from litert_torch.quantize.quant_config import QuantConfig

    model, quantizer = pt2e_setup(job)
    # litert-torch folds the quantize nodes itself when it lowers them to TFLite kernels.
    quantized, kept = quantize_pt2e(model, job.example_input, quantizer, job.calibration, fold_quantize=False,
                                    float_layers=job.float_layers, float_nodes=job.float_nodes, qat=job.qat,
                                    bias_correction=job.bias_correction)
    with torch.no_grad():
        edge_model = litert_torch.convert(quantized, sample_kwargs={job.input_name: job.example_input},
                                          quant_config=QuantConfig(pt2e_quantizer=_base_quantizer(job)))
    edge_model.export(str(job.path))
    io = _io_params(job.path)
    notes = []
    if io is not None:
        notes.append("int8 input/output: quantize the clip and dequantize the logits with the scale and "
                     "zero point in quantization.report.io")
    return QuantResult(notes=notes, io=io, float_layers=kept)
