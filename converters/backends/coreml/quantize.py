"""Core ML (`ane`, `coreml-gpu`, `coreml-cpu`): weight compression of the converted ML program
with coremltools.optimize.coreml.

- `w8`: linear_quantize_weights, int8 symmetric per channel;
- `palettize4` / `palettize6`: palettize_weights, k-means lookup tables of 16 / 64 values;
- `w8a8`: linear_quantize_activations (calibrated on clips) then linear_quantize_weights.
  Calibrating activations runs Core ML predictions, so it needs macOS; elsewhere it is a
  MobilekitError that says so.

Works on the package the converter wrote (the baseline), so compute precision, deployment
target and I/O names stay the converter's. Weights under `weight_threshold` elements (biases,
norms, small projections) stay uncompressed, as coremltools recommends.
"""

from __future__ import annotations

import copy
import platform
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch import nn

from converters.quantize.job import QuantJob, QuantResult
from mobilekit.errors import MobilekitError

# Compression ops a compressed ML program holds instead of plain const weights (iOS 16/17
# constexpr ops; iOS 18's blockwise/lut forms for completeness).
COMPRESSED_OPS = ("constexpr_affine_dequantize", "constexpr_lut_to_dense", "constexpr_blockwise_shift_scale")
WEIGHT_THRESHOLD = 2048


def require_platform(scheme: str) -> None:
    """W8A8 calibrates activations with Core ML predictions: a clear error off macOS."""
    if scheme == "w8a8" and platform.system() != "Darwin":
        raise MobilekitError("Core ML w8a8 calibrates activations with Core ML predictions, which need macOS",
                             "run `mobilekit quantize --scheme w8a8` on a Mac, or use w8, palettize4 or "
                             "palettize6 here")


def _weight_config(cto, scheme: str):
    if scheme in ("w8", "w8a8"):
        op = cto.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8", granularity="per_channel",
                                         weight_threshold=WEIGHT_THRESHOLD)
    else:
        op = cto.OpPalettizerConfig(mode="kmeans", nbits=int(scheme.removeprefix("palettize")),
                                    granularity="per_tensor", weight_threshold=WEIGHT_THRESHOLD)
    return cto.OptimizationConfig(global_config=op)


def _kmeans_1d(values: np.ndarray, k: int, iterations: int = 25) -> np.ndarray:
    """Lloyd's k-means on scalars (centroids start at quantiles): each value -> its centroid."""
    centroids = np.quantile(values, (np.arange(k) + 0.5) / k)
    for _ in range(iterations):
        centroids = np.unique(centroids)
        assign = np.searchsorted((centroids[1:] + centroids[:-1]) / 2, values)
        sums = np.bincount(assign, weights=values, minlength=len(centroids))
        counts = np.bincount(assign, minlength=len(centroids))
        centroids = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
    return centroids[np.searchsorted((centroids[1:] + centroids[:-1]) / 2, values)]


def simulate(model: nn.Module, scheme: str) -> nn.Module | None:
    """A copy of the fp32 model whose conv/linear weights are compressed as the scheme compresses
    them in Core ML (int8 per-channel symmetric, or a per-tensor k-means LUT), to estimate the
    accuracy cost where Core ML cannot run (Linux). None for schemes it cannot simulate (w8a8).
    An estimate: coremltools' k-means and the device's fp16 compute differ in detail."""
    if scheme not in ("w8", "palettize4", "palettize6"):
        return None
    sim = copy.deepcopy(model)
    with torch.no_grad():
        for m in sim.modules():
            w = getattr(m, "weight", None)
            if not isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)) or w is None \
                    or w.numel() < WEIGHT_THRESHOLD:
                continue
            if scheme == "w8":
                scale = w.abs().flatten(1).amax(1).clamp_min(1e-12) / 127
                scale = scale.view(-1, *([1] * (w.dim() - 1)))
                w.copy_((w / scale).round().clamp(-127, 127) * scale)
            else:
                flat = w.detach().double().flatten().numpy()
                lut = _kmeans_1d(flat, 1 << int(scheme.removeprefix("palettize")))
                w.copy_(torch.from_numpy(lut).view_as(w).to(w.dtype))
    return sim


def op_counts(package: str | Path) -> Counter:
    """Op types in a saved ML program's main function (read from the spec; works on Linux)."""
    import coremltools as ct

    spec = ct.models.MLModel(str(package), skip_model_load=True).get_spec()
    counts: Counter = Counter()
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            counts.update(op.type for op in block.operations)
    return counts


def quantize(job: QuantJob) -> QuantResult:
    require_platform(job.scheme.name)
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    # Activation calibration runs predict (macOS): load the model only when it is needed.
    mlmodel = ct.models.MLModel(str(job.baseline), skip_model_load=job.scheme.name != "w8a8")
    notes: list[str] = []
    if job.scheme.name == "w8a8":
        act = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric"))
        mlmodel = cto.linear_quantize_activations(mlmodel, act, [{job.input_name: c} for c in job.calibration])
    compressed = (cto.linear_quantize_weights if job.scheme.name in ("w8", "w8a8") else cto.palettize_weights)(
        mlmodel, _weight_config(cto, job.scheme.name))
    if job.path.exists():
        shutil.rmtree(job.path)
    compressed.save(str(job.path))
    ops = op_counts(job.path)
    n_compressed = sum(ops[o] for o in COMPRESSED_OPS)
    if n_compressed == 0:
        notes.append(f"no weight tensor has {WEIGHT_THRESHOLD} or more elements: nothing was compressed")
    else:
        notes.append(f"{n_compressed} weight tensors compressed "
                     f"({', '.join(f'{o} x{ops[o]}' for o in COMPRESSED_OPS if ops[o])})")
    return QuantResult(notes=notes)
