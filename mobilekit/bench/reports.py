"""Benchmark results as collector reports, and posting them.

A host-artifact run already is a `DeviceReport` (host.py). A desktop run of eager PyTorch
becomes one report per inference row (single-instance and batch-mode; the wire format has
no field for a training step, so train rows stay in the results JSON only).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from mobilekit.errors import MobilekitError

# The wire format's name for an eager-PyTorch "artifact", the first of these it knows.
_EAGER_TARGETS = ("pytorch", "eager")


def eager_target() -> str:
    from mobilekit.collector.wire import REPORT_TARGETS as TARGETS

    for name in _EAGER_TARGETS:
        if name in TARGETS:
            return name
    raise MobilekitError("the collector's wire format has no target for eager PyTorch runs "
                         f"(mobilekit.collector.wire.TARGETS = {', '.join(TARGETS)})",
                         "save with --out, or post a converted artifact's run with "
                         "`mobilekit bench --artifact DIR --post URL`")


def model_identity(model: str, frames: int, size: int, num_classes) -> str:
    """A stable sha256 for an eager model configuration (no file exists to hash): runs of
    the same configuration group together in the collector."""
    key = json.dumps({"model": model, "frames": frames, "size": size, "num_classes": num_classes},
                     sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()


def desktop_reports(result: dict) -> list:
    """`DeviceReport`s for the inference rows of a desktop benchmark result."""
    import uuid

    from mobilekit import __version__
    from mobilekit.bench.host import host_device
    from mobilekit.collector.wire import DeviceReport

    target = eager_target()
    cfg, env = result["config"], result["environment"]
    device = host_device()
    if env.get("gpu"):
        device["chip"] = f"{env['gpu']} + {device['chip']}"
    finished = datetime.fromisoformat(result["finished_at"]).astimezone(timezone.utc)
    reports = []
    for row in result["results"]:
        if row["mode"] == "train":
            continue
        body = {
            "report_id": f"host-{uuid.uuid4()}",
            "created_at": finished,
            "device": device,
            "app": {"name": "mobilekit-host", "version": __version__, "runtime": "pytorch",
                    "runtime_version": env["torch"]},
            "artifact": {"model": row["model"], "target": target,
                         "sha256": model_identity(row["model"], row["frames"], row["size"],
                                                  row.get("num_classes", cfg["num_classes"])),
                         "precision": "mixed" if row["precision"] == "amp" else "fp32"},
            "config": {"compute_units": "gpu" if cfg["device"].startswith("cuda") else "cpu",
                       "threads": row.get("threads"), "warmup": cfg["warmup"],
                       "iterations": cfg["iters"], "batch_size": row["batch_size"]},
        }
        if row["status"] == "ok":
            body["results"] = {"load_ms": row["load_ms"], "first_inference_ms": row["first_ms"],
                               "latency_ms": row["latency_ms"], "latencies_ms": row["latencies_ms"],
                               "peak_memory_mb": row["peak_memory_mb"]}
        else:
            body["error"] = row["error"] or row["status"]
        reports.append(DeviceReport.model_validate(body))
    return reports


def post_reports(url: str, reports: list, token: str | None) -> list[tuple[object, dict | Exception]]:
    """POST each report through the collector's client (retries keep the report id, so a
    retried report is stored once). Returns (report, answer or the MobilekitError) pairs:
    one unreachable post must not drop the others."""
    from mobilekit.collector.client import CollectorClient

    outcome = []
    with CollectorClient(url, token=token) as client:
        for rep in reports:
            try:
                outcome.append((rep, client.post_report(rep)))
            except MobilekitError as e:
                outcome.append((rep, e))
    return outcome
