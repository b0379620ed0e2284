"""The wire format: the one source of truth for what crosses the network.

Device reports (phones and hosts -> collector) and artifact manifests (converter -> apps)
are versioned pydantic models. The manifest's models live with the artifact
(mobilekit.artifact.schema); this module narrows its target and runtime to the registry's
(converters.backends), as it does a report's. `python -m mobilekit.collector.wire` exports
their JSON Schema and the golden example payloads to mobilekit/collector/schemas/, where the Java
(android_app/benchcore) and Swift (ios_app/BenchCore) tests read them; tests/test_wire_schema.py
keeps the checked-in files equal to what these models produce.

Conventions: snake_case keys, times in ISO 8601 UTC, durations in milliseconds (`_ms`),
sizes in bytes or MiB as the key says, unknown keys rejected (a typo is an error, not data loss).
Every number is finite (Infinity/NaN are refused: JSON cannot carry them, so they would be
stored as null and the stored payload would then fail this very schema).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import Field, field_validator, model_validator

from converters.backends import runtime_names, target_names
from mobilekit.artifact import schema as _artifact
from mobilekit.artifact.schema import (  # noqa: F401 - the wire format's names for the manifest's parts
    MANIFEST_FILE_NAME, MANIFEST_SCHEMA_VERSION, MODEL_NAME_PATTERN, InputSpec, JsonObject, OutputSpec,
    Quantization, UtcDatetime, Validation, check_file_name, check_sha256)
from mobilekit.artifact.schema import StrictModel as _Strict

# 2: the numerics block; 3: the streaming block. Version-1 and -2 reports are still accepted.
REPORT_SCHEMA_VERSION = 3
SCHEMA_DIR = Path(__file__).with_name("schemas")

# The registry's lists (converters.backends): a target added there is on the wire at once.
TARGETS = tuple(target_names())
# Reports may also describe eager PyTorch on a desktop (`mobilekit bench --models ... --post`):
# no artifact file exists, so "pytorch" is a report target and runtime but never a manifest's target.
REPORT_TARGETS = TARGETS + ("pytorch",)
RUNTIMES = tuple(runtime_names()) + ("pytorch",)
# Longer than any timed run can be: keeps medians of medians and ratios finite.
MAX_MS = 1e9

Milliseconds = Annotated[float, Field(ge=0, le=MAX_MS)]


# ----------------------------------------------------------------------------- manifest
# The manifest's schema lives with the artifact (mobilekit/artifact/schema.py, the ground
# floor, which knows no registry); the wire narrows target and runtime to the registry's.
# Same class name, no docstring: the exported JSON Schema's title and text stay the apps'.
class ArtifactManifest(_artifact.ArtifactManifest):
    target: Literal[TARGETS]
    runtime: Literal[RUNTIMES]


# ------------------------------------------------------------------------------- report
class Device(_Strict):
    kind: Literal["phone", "tablet", "host"] = "phone"
    make: str = Field(description="Apple, Google, samsung, ... (Build.MANUFACTURER)")
    model: str = Field(description="Marketing or build model, e.g. 'Pixel 8', 'iPhone 15 Pro'")
    model_identifier: Optional[str] = Field(None, description="e.g. iPhone16,1 or Build.DEVICE")
    os: str = Field(description="iOS, Android, Linux, macOS")
    os_version: str
    chip: Optional[str] = Field(None, description="SoC or CPU, e.g. 'A17 Pro', 'Tensor G3'")
    cpu_cores: Optional[int] = Field(None, ge=1)
    ram_mb: Optional[int] = Field(None, ge=1)


class App(_Strict):
    name: str = Field(description="mobilekit-ios, mobilekit-android, mobilekit-host")
    version: str
    runtime: Literal[RUNTIMES]
    runtime_version: str


class ArtifactRef(_Strict):
    model: str
    target: Literal[REPORT_TARGETS]
    sha256: str
    artifact_id: Optional[str] = Field(None, description="Collector id when downloaded from it")
    precision: Optional[str] = None
    quantization: Optional[str] = None

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        return check_sha256(v)


class RunConfig(_Strict):
    compute_units: str = Field(description="cpuOnly, cpuAndGPU, cpuAndNeuralEngine, all, cpu")
    threads: Optional[int] = Field(None, ge=1, description="CPU threads, where the runtime takes it")
    warmup: int = Field(ge=0)
    iterations: int = Field(ge=1)
    batch_size: int = Field(1, ge=1)


def _at_most(a: float, b: float) -> bool:
    """a <= b, allowing last-digit rounding on the device: the mean of equal latencies can come
    out one ulp above their max ([0.1] * 3 -> 0.10000000000000002), an interpolated p90 too."""
    return a <= b + 1e-9 * abs(b)


class Stats(_Strict):
    min: Milliseconds
    median: Milliseconds
    mean: Milliseconds
    p90: Milliseconds
    std: Milliseconds
    max: Optional[Milliseconds] = None
    trimmed_mean: Optional[Milliseconds] = Field(None, description="Mean without the top and bottom 10%")

    @model_validator(mode="after")
    def _ordered(self):
        top = self.p90 if self.max is None else self.max
        broken = [
            f"{a} ({x:g}) > {b} ({y:g})" for a, x, b, y, ok in (
                ("min", self.min, "median", self.median, self.min <= self.median),
                ("median", self.median, "p90", self.p90, self.median <= self.p90),
                ("p90", self.p90, "max", top, _at_most(self.p90, top)),
                ("min", self.min, "mean", self.mean, _at_most(self.min, self.mean)),
                ("mean", self.mean, "max", top, self.max is None or _at_most(self.mean, top)),
            ) if not ok]
        if self.trimmed_mean is not None and not (_at_most(self.min, self.trimmed_mean)
                                                  and (self.max is None or _at_most(self.trimmed_mean, top))):
            broken.append(f"trimmed_mean ({self.trimmed_mean:g}) outside [min, max]")
        if broken:
            raise ValueError("stats must satisfy min <= median <= p90 <= max and min <= mean <= max; "
                             "got " + ", ".join(broken))
        return self


class Results(_Strict):
    compile_ms: Optional[Milliseconds] = Field(None, description="On-device compile (Core ML)")
    load_ms: Milliseconds
    first_inference_ms: Milliseconds
    latency_ms: Stats = Field(description="Statistics of the timed iterations")
    latencies_ms: Optional[list[Milliseconds]] = Field(None, description="Every timed latency, in order")
    peak_memory_mb: Optional[float] = Field(None, ge=0)


class Thermal(_Strict):
    before: Optional[str] = Field(None, description="iOS ProcessInfo.ThermalState or Android "
                                                    "PowerManager thermal status name")
    after: Optional[str] = None


class Numerics(_Strict):
    status: Literal["agrees", "disagrees", "error"] = Field(
        description="agrees: within the check set's tolerance; error: the check set could not be run "
                    "(the report's error says why)")
    detail: Optional[str] = Field(None, description="Why it disagrees, or what the error was")
    samples: int = Field(ge=0, description="Check-set clips compared")
    rule: Optional[Literal["max_abs_diff", "top1_cosine"]] = Field(None, description="The manifest's tolerance rule")
    max_abs_diff: Optional[float] = Field(None, ge=0)
    mean_abs_diff: Optional[float] = Field(None, ge=0)
    cosine: Optional[float] = Field(None, ge=-1, le=1, description="Lowest per-clip cosine")
    top1_agreement: Optional[float] = Field(None, ge=0, le=1)
    accuracy: Optional[float] = Field(None, ge=0, le=1, description="Top-1 vs the check set's labels")
    reference_accuracy: Optional[float] = Field(None, ge=0, le=1, description="Eager PyTorch's, same clips")


class StreamRun(_Strict):
    mode: Literal["state", "frame-cache"] = Field(
        description="The artifact's streaming form: state (one step, state fed back) or frame-cache "
                    "(encoder per frame, head over a ring buffer)")
    window: Optional[int] = Field(None, ge=1, description="frame-cache: frames of tokens the head takes")
    frames: int = Field(ge=1, description="Frames stepped in all: the ring buffer's fill, warm-up and timed")
    frame_latency_ms: Stats = Field(description="Per new frame (one step, or encoder + head over a full "
                                                "window), over the timed frames: the same figures as "
                                                "results.latency_ms")
    clip_latency_ms: Optional[Stats] = Field(None, description="The clip artifact's latency, when the same "
                                                               "run timed it beside the stream")
    clip_sha256: Optional[str] = Field(None, description="The clip artifact that clip_latency_ms timed")

    @field_validator("clip_sha256")
    @classmethod
    def _sha(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else check_sha256(v)

    @model_validator(mode="after")
    def _window(self):
        if self.mode == "frame-cache" and self.window is None:
            raise ValueError("a frame-cache stream names its window")
        if (self.clip_latency_ms is None) != (self.clip_sha256 is None):
            raise ValueError("clip_latency_ms and clip_sha256 come together (the clip artifact timed)")
        return self


class DeviceReport(_Strict):
    schema_version: Literal[1, 2, 3] = REPORT_SCHEMA_VERSION
    report_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                           description="Idempotency key: a retry sends the same id")
    created_at: UtcDatetime = Field(description="When the run finished (UTC)")
    device: Device
    app: App
    artifact: ArtifactRef
    config: RunConfig
    results: Optional[Results] = None
    thermal: Optional[Thermal] = None
    error: Optional[str] = Field(None, description="Set for a failed run (results null), or beside results "
                                                   "when the check set could not be run (numerics.status error)")
    numerics: Optional[Numerics] = Field(None, description="The artifact's check set run before timing (v2)")
    streaming: Optional[StreamRun] = Field(None, description="A streaming artifact's run: results time one "
                                                             "new frame each (v3)")

    @model_validator(mode="after")
    def _results_or_error(self):
        if self.schema_version == 1 and self.numerics is not None:
            raise ValueError("numerics needs schema_version 2")
        if self.streaming is not None:
            if self.schema_version < 3:
                raise ValueError("streaming needs schema_version 3")
            if self.results is None:
                raise ValueError("streaming describes timed frames: a failed run carries no streaming block")
            got, want = self.results.latency_ms.median, self.streaming.frame_latency_ms.median
            if abs(got - want) > 1e-9 * max(abs(got), abs(want)):
                raise ValueError(f"a streaming report's results time one new frame: results.latency_ms.median "
                                 f"({got:g}) must equal streaming.frame_latency_ms.median ({want:g})")
        both_ok = self.numerics is not None and self.numerics.status == "error"
        if self.results is None and self.error is None:
            raise ValueError("a report carries either results or an error; it has neither")
        if self.results is not None and self.error is not None and not both_ok:
            raise ValueError("a report carries either results or an error, not both (both only when "
                             "numerics.status is 'error': timed, but its check set could not be run)")
        return self


# ------------------------------------------------------------------------------ goldens
_SHA_A = "3f" * 32
_SHA_B = "a1" * 32


def golden_payloads() -> dict[str, dict]:
    """Example payloads every client must produce in this exact shape."""
    stats = dict(min=3.91, median=4.12, mean=4.2, p90=4.55, std=0.21, max=5.02, trimmed_mean=4.15)
    ios = dict(
        schema_version=3, report_id="ios-5b2f7c1e-9d4a-4e2b-8f61-0c3a9e7d2b10",
        created_at="2026-11-20T10:15:30Z",
        device=dict(kind="phone", make="Apple", model="iPhone 15 Pro", model_identifier="iPhone16,1",
                    os="iOS", os_version="18.1", chip="A17 Pro", cpu_cores=6, ram_mb=8192),
        app=dict(name="mobilekit-ios", version="0.1.0", runtime="coreml", runtime_version="iOS 18.1"),
        artifact=dict(model="vlf_b0", target="ane", sha256=_SHA_A, artifact_id="vlf_b0-ane-3f3f3f3f",
                      precision="fp16", quantization=None),
        config=dict(compute_units="cpuAndNeuralEngine", threads=None, warmup=10, iterations=100, batch_size=1),
        results=dict(compile_ms=812.5, load_ms=143.2, first_inference_ms=18.7, latency_ms=stats,
                     latencies_ms=[4.12, 3.91, 4.55, 5.02, 4.2], peak_memory_mb=212.4),
        thermal=dict(before="nominal", after="fair"),
        error=None,
        numerics=dict(status="agrees", detail=None, samples=4, rule="max_abs_diff", max_abs_diff=0.0123,
                      mean_abs_diff=0.0021, cosine=0.99998, top1_agreement=1.0, accuracy=0.75,
                      reference_accuracy=0.75),
    )
    android = dict(
        schema_version=3, report_id="android-0e6a2d14-77c3-4b51-9a0f-5d8e1c2b3a49",
        created_at="2026-11-20T11:02:03Z",
        device=dict(kind="phone", make="Google", model="Pixel 8", model_identifier="shiba",
                    os="Android", os_version="15", chip="Tensor G3", cpu_cores=9, ram_mb=7864),
        app=dict(name="mobilekit-android", version="0.1.0", runtime="executorch", runtime_version="1.5.1"),
        artifact=dict(model="vlf_b0", target="xnnpack", sha256=_SHA_B, artifact_id=None,
                      precision="fp32", quantization=None),
        config=dict(compute_units="cpu", threads=4, warmup=10, iterations=100, batch_size=1),
        results=dict(compile_ms=None, load_ms=95.0, first_inference_ms=61.2,
                     latency_ms=dict(min=41.0, median=43.5, mean=44.1, p90=47.9, std=2.3, max=52.0,
                                     trimmed_mean=43.8),
                     latencies_ms=None, peak_memory_mb=180.0),
        thermal=dict(before="none", after="light"),
        error=None,
        numerics=dict(status="disagrees", detail="clip 2: max abs diff 0.0417 > tolerance 0.00612", samples=4,
                      rule="max_abs_diff", max_abs_diff=0.0417, mean_abs_diff=0.0009, cosine=0.9991,
                      top1_agreement=1.0, accuracy=None, reference_accuracy=None),
    )
    failed = dict(
        schema_version=3, report_id="android-failed-1c9b8e77-2a3d-4f10-b6e5-93d0c4a1f2e8",
        created_at="2026-11-20T11:05:00Z",
        device=android["device"], app=android["app"],
        artifact=dict(model="x3d_xs", target="xnnpack", sha256=_SHA_B, artifact_id=None,
                      precision="fp32", quantization=None),
        config=dict(compute_units="cpu", threads=4, warmup=10, iterations=100, batch_size=1),
        results=None, thermal=None,
        error="load failed: Error 0x20 (NotSupported) loading method forward",
        numerics=None,
    )
    # vlf_b0 converted with --streaming (frame-cache): each timed run is one new frame, the
    # encoder on it and the head over the last 16 frames' tokens.
    frame = dict(min=3.9, median=4.31, mean=4.4, p90=4.92, std=0.3, max=5.6, trimmed_mean=4.36)
    stream = dict(
        android, report_id="android-stream-4d7e1b2a-0c5f-4e8d-9b13-6a2f8c0e7d51",
        artifact=dict(model="vlf_b0", target="xnnpack", sha256="c4" * 32, artifact_id=None,
                      precision="fp32", quantization=None),
        results=dict(compile_ms=None, load_ms=102.0, first_inference_ms=9.8, latency_ms=frame,
                     latencies_ms=None, peak_memory_mb=150.0),
        numerics=None,
        streaming=dict(mode="frame-cache", window=16, frames=126, frame_latency_ms=frame,
                       clip_latency_ms=None, clip_sha256=None),
    )
    manifest = dict(
        schema_version=1, model="vlf_b0", family="vlf", num_classes=254, classes=None,
        input=dict(name="video", shape=[1, 16, 3, 224, 224], layout="BTCHW", dtype="float32",
                   color="RGB", scale=1 / 255, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225],
                   frame_sampling="tsn"),
        outputs=[dict(name="logits", shape=[1, 254], kind="logits")],
        target="xnnpack", runtime="executorch", compute_units="cpu", delegate="xnnpack",
        precision="fp32", quantization=None, file="model.pte", size_bytes=44123456, sha256=_SHA_B,
        created_at="2026-11-20T09:00:00Z",
        tools={"torch": "2.13.0", "executorch": "1.5.1", "mobilekit": "0.1.0"},
        validation=dict(status="passed", reason=None, runtime="executorch 1.5.1", samples=3,
                        max_abs_diff=2.1e-05, mean_abs_diff=3.0e-06, top1_agreement=1.0,
                        tolerance=1e-3, host_latency_ms=352.0),
        conversion={"seconds": 41.2, "rewrites": ["decompose_layer_norms"], "notes": []},
        check_set=dict(
            version=1, source="synthetic val", count=4, precision="fp32", reference="eager PyTorch fp32",
            tolerance=dict(rule="max_abs_diff", base=1e-3, max_abs_diff=[0.00612, 0.00587, 0.00612, 0.00601],
                           min_top1_agreement=None, min_cosine=None,
                           description="per clip: max|got-expected| <= max_abs_diff[i] = the larger of 0.001 x "
                                       "max(1, max|expected|) and 20 x eager fp32's distance from float64"),
            input=dict(name=None, file="checkset/input.bin", dtype="float32", shape=[4, 1, 16, 3, 224, 224],
                       bytes=38535168, sha256="5c" * 32),
            outputs=[dict(name="logits", file="checkset/logits.bin", dtype="float32", shape=[4, 1, 254],
                          bytes=4064, sha256="7e" * 32)],
            labels=None, total_bytes=38539232),
    )
    return {
        "report_ios_ane.json": ios,
        "report_android_xnnpack.json": android,
        "report_failed.json": failed,
        "report_android_stream.json": stream,
        "manifest_xnnpack.json": manifest,
    }


def export_schemas(out_dir: Path = SCHEMA_DIR) -> list[Path]:
    """Write the JSON Schemas and golden payloads (validated through the models)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "golden").mkdir(exist_ok=True)
    written = []
    for name, model in (("report", DeviceReport), ("manifest", ArtifactManifest)):
        path = out_dir / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n")
        written.append(path)
    for fname, payload in golden_payloads().items():
        model = ArtifactManifest if fname.startswith("manifest") else DeviceReport
        canonical = model.model_validate(payload).model_dump(mode="json")
        path = out_dir / "golden" / fname
        path.write_text(json.dumps(canonical, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in export_schemas():
        print(p)
