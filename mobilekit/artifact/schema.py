"""manifest.json: the versioned pydantic models of what `mobilekit convert` writes beside a
model file, and the naming rules every reader of an artifact applies.

This is the ground floor: it knows no registry. `target`, `runtime` and `compute_units` are
checked here as well-formed names only; the collector's wire format
(mobilekit.collector.wire.ArtifactManifest, a subclass) narrows target and runtime to the
registry's lists (converters.backends), and is what the JSON Schema for the apps is exported
from. Field names, types and descriptions here are that schema: change them only together
with the checked-in files under mobilekit/collector/schemas/ (python -m mobilekit.collector.wire).

Conventions: snake_case keys, times in ISO 8601 UTC, unknown keys rejected (a typo is an
error, not data loss), every number finite (JSON cannot carry Infinity/NaN). The model
classes carry no docstrings on purpose: pydantic would put them in the exported schema.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

MANIFEST_SCHEMA_VERSION = 1
MANIFEST_FILE_NAME = "manifest.json"
# A model name becomes part of an artifact id (`<model>-<target>-<sha8>`), a URL path segment
# and a folder name: letters, digits, `_`, `.` and `-` only, so every id can be fetched.
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
# Targets, runtimes and compute units (xnnpack, pytorch-lite, cpuAndNeuralEngine): the target
# is part of the artifact id too, so the same URL-safe alphabet, starting with a letter.
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
_MODEL_NAME = re.compile(MODEL_NAME_PATTERN)
_NAME = re.compile(NAME_PATTERN)
_SHA256 = re.compile(SHA256_PATTERN)


def _utc_convertible(v: datetime) -> datetime:
    """Refuse a time that has no UTC equivalent (9999-12-31T23:59:59-23:59 overflows year
    9999): stored times and filters are compared in UTC."""
    if v.tzinfo is not None:
        try:
            v.astimezone(timezone.utc)
        except OverflowError:
            raise ValueError("time is out of range once converted to UTC; send it in UTC (Z)") from None
    return v


def _finite_json(v: Any, where: str = "") -> Any:
    """Free-form JSON (conversion notes, quantization report) must hold finite numbers too."""
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"{where or 'value'} is {v}; only finite numbers are allowed")
    if isinstance(v, dict):
        for k, x in v.items():
            _finite_json(x, f"{where}.{k}" if where else str(k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _finite_json(x, f"{where}[{i}]")
    return v


UtcDatetime = Annotated[datetime, AfterValidator(_utc_convertible)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_finite_json)]


def check_file_name(name: str) -> str:
    """The artifact file named by a manifest: one plain name inside the artifact folder. The
    Android reader (benchcore Manifest.java) refuses `/`, `\\` and `..`; beyond that, `.`, an
    empty name and manifest.json itself would make a download overwrite or miss the folder."""
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"file {name!r} must be a plain file name inside the artifact folder "
                         "(no '/', '\\', '.' or '..')")
    if name == MANIFEST_FILE_NAME:
        raise ValueError(f"file {name!r} is the manifest's own name; name the model file")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError(f"file {name!r} contains control characters")
    return name


def check_model_name(name: str) -> str:
    if not _MODEL_NAME.fullmatch(name):
        raise ValueError(f"model {name!r} must be 1-100 letters, digits, '_', '.' or '-' starting with a "
                         "letter or digit (it becomes part of the artifact id and its URL)")
    return name


def check_name(name: str, what: str) -> str:
    """A target, runtime or compute-unit name: well formed (the registry, one floor up, says
    which ones exist)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{what} {name!r} must be 1-64 letters, digits, '_', '.' or '-' starting with a letter")
    return name


def check_sha256(v: str) -> str:
    if not _SHA256.match(v):
        raise ValueError("sha256 must be 64 lowercase hex digits")
    return v


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class InputSpec(StrictModel):
    name: str = Field(description="Input tensor name in the artifact")
    shape: list[int] = Field(description="Static shape, e.g. [1, 16, 3, 224, 224]")
    layout: str = Field("BTCHW", description="Axis order of `shape`")
    dtype: Literal["float32", "float16", "int8", "uint8"] = "float32"
    color: Literal["RGB", "BGR"] = "RGB"
    scale: float = Field(1 / 255, description="Pixel value multiplier applied before mean/std")
    mean: list[float]
    std: list[float]
    frame_sampling: str = Field("tsn", description="tsn: one frame per equal segment (centre at "
                                                   "inference); consecutive: streaming models")


class OutputSpec(StrictModel):
    name: str
    shape: list[int]
    kind: Literal["logits", "state"] = "logits"


class Validation(StrictModel):
    status: Literal["passed", "failed", "skipped"]
    reason: Optional[str] = Field(None, description="Why skipped or failed, e.g. 'needs macOS'")
    runtime: Optional[str] = Field(None, description="Host runtime used, e.g. 'executorch 1.5.1'")
    samples: Optional[int] = Field(None, description="Random clips compared against eager PyTorch")
    max_abs_diff: Optional[float] = None
    mean_abs_diff: Optional[float] = None
    top1_agreement: Optional[float] = Field(None, ge=0, le=1)
    tolerance: Optional[float] = None
    host_latency_ms: Optional[float] = Field(None, description="Median host latency, batch 1")


class Quantization(StrictModel):
    scheme: str = Field(description="e.g. int8, int8-dynamic, w8, palettize4, dynamic-int8")
    tool: str = Field(description="Library that quantized, e.g. 'torchao pt2e + XNNPACKQuantizer'")
    calibration: Optional[str] = Field(None, description="Calibration source, e.g. 'synthetic'")
    calibration_samples: Optional[int] = None
    report: JsonObject = Field(default_factory=dict, description="Size/latency/agreement before vs after")


class CheckTensor(StrictModel):
    name: Optional[str] = Field(None, description="The output's name (outputs only)")
    file: str = Field(description="Path inside the artifact folder, e.g. checkset/input.bin")
    dtype: Literal["float32", "int32"] = Field(description="Little-endian, C order, no header")
    shape: list[int] = Field(description="[N clips, *the tensor's shape]")
    bytes: int = Field(ge=0)
    sha256: str

    @field_validator("file")
    @classmethod
    def _rel(cls, v: str) -> str:
        if not v or v.startswith("/") or "\\" in v or any(p in ("", ".", "..") for p in v.split("/")):
            raise ValueError(f"check set file {v!r} must be a relative path inside the artifact folder")
        return v

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        return check_sha256(v)


class CheckTolerance(StrictModel):
    rule: Literal["max_abs_diff", "top1_cosine"]
    description: str
    base: Optional[float] = Field(None, description="max_abs_diff: the relative base (fp32 1e-3, fp16 5e-2)")
    max_abs_diff: Optional[list[float]] = Field(None, description="max_abs_diff: the bound per clip")
    min_top1_agreement: Optional[float] = Field(None, ge=0, le=1)
    min_cosine: Optional[float] = Field(None, ge=-1, le=1)


class CheckSet(StrictModel):
    version: Literal[1] = 1
    source: str = Field(description="Where the clips came from, e.g. 'synthetic val'")
    count: int = Field(ge=1, description="Clips N")
    precision: str = Field(description="The artifact's precision the tolerance is for")
    reference: str = Field(description="What computed the expected outputs, e.g. 'eager PyTorch fp32'")
    tolerance: CheckTolerance
    input: CheckTensor
    outputs: list[CheckTensor] = Field(min_length=1, description="Expected outputs, in the manifest's order")
    labels: Optional[CheckTensor] = None
    total_bytes: int = Field(ge=0)


class TensorSpec(StrictModel):
    name: str
    shape: list[int]
    dtype: Literal["float32"] = "float32"


class StateSpec(StrictModel):
    name: str = Field(description="Input name; the program returns it updated as `<name>_out`")
    shape: list[int]
    dtype: Literal["float32"] = "float32"
    init: Literal["zeros"] = Field("zeros", description="A fresh stream starts from zeros")


class StreamProgram(StrictModel):
    role: Literal["step", "encoder", "head"] = Field(
        description="step: frame + state -> logits + state; encoder: frame -> tokens; head: window of tokens -> logits")
    file: str = Field(max_length=200, description="A plain file name inside the artifact folder")
    size_bytes: int = Field(ge=0, le=2**63 - 1)
    sha256: str
    inputs: list[TensorSpec] = Field(min_length=1, description="In call order")
    outputs: list[TensorSpec] = Field(min_length=1, description="In the program's order")

    @field_validator("file")
    @classmethod
    def _file(cls, v: str) -> str:
        return check_file_name(v)

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        return check_sha256(v)


class StreamValidation(StrictModel):
    status: Literal["passed", "failed", "skipped"]
    reason: Optional[str] = None
    runtime: Optional[str] = None
    frames: Optional[int] = Field(None, description="Frames fed through the artifact one at a time")
    compared: Optional[int] = Field(None, description="Outputs compared with the eager clip model")
    max_abs_diff: Optional[float] = None
    tolerance: Optional[float] = None
    top1_agreement: Optional[float] = Field(None, ge=0, le=1)
    frame_latency_ms: Optional[float] = Field(None, description="Median host latency of one new frame")


class Streaming(StrictModel):
    mode: Literal["state", "frame-cache"] = Field(
        description="state: one step program, state fed back; frame-cache: encoder per frame, head "
                    "over a ring buffer of the last `window` frames' tokens")
    programs: list[StreamProgram] = Field(min_length=1, description="`file` is the first program")
    state: list[StateSpec] = Field(default_factory=list,
                                   description="state mode: inputs after the frame, outputs after the logits")
    window: Optional[int] = Field(None, ge=1, description="frame-cache: frames of tokens the head takes, "
                                                          "oldest first along axis 1")
    validation: StreamValidation


class BundledProgram(StrictModel):
    """ExecuTorch's BundledProgram beside the .pte (converters/backends/executorch/bundled.py)."""
    file: str = Field(description="The .bpte in the artifact folder, e.g. model.bpte")
    size_bytes: int = Field(ge=0, le=2**63 - 1)
    sha256: str
    program_sha256: str = Field(description="sha256 of the .pte it bundles (the manifest's sha256)")
    method: str = "forward"
    test_cases: int = Field(ge=1, description="One per check set clip")
    rtol: float = Field(0.0, ge=0)
    atol: list[float] = Field(description="Per test case: the atol of ExecuTorch's verify_method_outputs")
    description: str
    verified: JsonObject = Field(default_factory=dict, description="status (agrees / skipped), where and how")

    @field_validator("file")
    @classmethod
    def _file(cls, v: str) -> str:
        return check_file_name(v)

    @field_validator("sha256", "program_sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        return check_sha256(v)


class ArtifactManifest(StrictModel):
    schema_version: Literal[1] = MANIFEST_SCHEMA_VERSION
    model: str = Field(json_schema_extra={"pattern": MODEL_NAME_PATTERN},
                       description="Letters, digits, _ . - (part of the collector's artifact id)")
    family: Optional[str] = None
    num_classes: int
    classes: Optional[list[str]] = Field(None, description="Class labels in logit order, if known")
    input: InputSpec
    outputs: list[OutputSpec] = Field(min_length=1)
    target: str
    runtime: str
    compute_units: str = Field(description="cpuAndNeuralEngine, cpuAndGPU, cpuOnly, cpu")
    delegate: Optional[str] = Field(None, description="ExecuTorch delegate, e.g. xnnpack, coreml")
    precision: Literal["fp32", "fp16", "int8", "mixed"]
    quantization: Optional[Quantization] = None
    file: str = Field(max_length=200, description="The artifact's file name inside its folder: a "
                                                  "plain name, not manifest.json")
    size_bytes: int = Field(ge=0, le=2**63 - 1)
    sha256: str
    created_at: UtcDatetime
    tools: dict[str, str] = Field(description="Versions of torch, the converter and runtime")
    validation: Validation
    conversion: JsonObject = Field(default_factory=dict, description="seconds, rewrites applied, notes")
    streaming: Optional[Streaming] = Field(None, description="A streaming artifact: programs, state, ring buffer")
    check_set: Optional[CheckSet] = Field(None, description="Input clips and expected outputs (mobilekit/artifact/checkset.py)")
    bundled: Optional[BundledProgram] = Field(None, description="ExecuTorch BundledProgram (.bpte) of the program "
                                                                "and its check set")

    @field_validator("file")
    @classmethod
    def _file(cls, v: str) -> str:
        return check_file_name(v)

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        return check_model_name(v)

    @field_validator("target", "runtime", "compute_units")
    @classmethod
    def _names(cls, v: str, info) -> str:
        return check_name(v, info.field_name.replace("_", " "))

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        return check_sha256(v)
