"""The PT2E flow shared by the ExecuTorch and LiteRT quantizers: export, annotate with a
backend's quantizer, observe calibration clips, convert to quantize/dequantize nodes."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def quantize_pt2e(model: nn.Module, example_input: torch.Tensor, quantizer,
                  calibration: list[np.ndarray], fold_quantize: bool = True) -> torch.fx.GraphModule:
    """The model with int8 quantize/dequantize nodes (torchao's prepare_pt2e/convert_pt2e).

    Static schemes need calibration clips (the observers fix activation ranges from them);
    dynamic schemes still run the example input once so per-channel weight observers see
    the weights. `fold_quantize=False` keeps weights float with their quantize nodes, for
    converters that fold them themselves (litert-torch)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    with torch.no_grad():
        graph = torch.export.export(model, (example_input,)).module()
        prepared = prepare_pt2e(graph, quantizer)
        for clip in calibration or [example_input.numpy()]:
            prepared(torch.from_numpy(clip))
        return convert_pt2e(prepared, fold_quantize=fold_quantize)
