"""What a per-target quantizer receives and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from converters.backends.base import Scheme, Target


@dataclass
class QuantJob:
    """One quantization: a private fp32 copy of the model (tuple outputs), its example input,
    the fp32 artifact of the same target (`baseline`, for passes that work on the converted
    file), the calibration clips (empty for schemes that need none) and where to write."""

    model: nn.Module
    example_input: torch.Tensor
    target: Target
    scheme: Scheme
    path: Path
    baseline: Path
    input_name: str
    output_names: list[str]
    calibration: list[np.ndarray] = field(default_factory=list)
    float_layers: list[str] = field(default_factory=list)  # module names/globs kept fp32 (PT2E schemes)
    float_nodes: set[str] = field(default_factory=set)     # graph nodes kept fp32 (mixed.py's choice)
    observer: str = "histogram"                            # activation observer (pt2e.OBSERVERS)
    bias_correction: bool = False                          # pt2e.correct_bias after converting (static PT2E int8)
    # Quantization-aware fine-tuning of the fake-quantized graph (qat.py; pt2e.prepare_graph).
    qat: Callable[[torch.fx.GraphModule], None] | None = None


@dataclass
class QuantResult:
    """Manifest extras from a quantizer: notes, the ExecuTorch delegation summary, the
    input/output quantization parameters where the artifact's I/O is integer, and the layers
    kept in floating point."""

    notes: list[str] = field(default_factory=list)
    delegation: dict | None = None
    io: dict | None = None     # {"input": {"dtype", "scale", "zero_point"}, "outputs": [...]}
    float_layers: list[str] = field(default_factory=list)  # the modules that matched job.float_layers
