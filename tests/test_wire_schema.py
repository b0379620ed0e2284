"""The checked-in JSON Schemas and golden payloads equal what the wire models produce."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from mobilekit.collector.wire import SCHEMA_DIR, DeviceReport, export_schemas


def test_checked_in_schema_files_are_in_sync(tmp_path):
    fresh = export_schemas(tmp_path)
    for path in fresh:
        rel = path.relative_to(tmp_path)
        checked_in = SCHEMA_DIR / rel
        assert checked_in.exists(), f"{rel} missing: run python -m mobilekit.collector.wire"
        assert checked_in.read_text() == path.read_text(), \
            f"{rel} is stale: run python -m mobilekit.collector.wire and commit the result"
    names = {p.name for p in (SCHEMA_DIR / "golden").iterdir()}
    assert names == {p.name for p in (tmp_path / "golden").iterdir()}


def _golden(name: str) -> dict:
    return json.loads((SCHEMA_DIR / "golden" / name).read_text())


def test_report_must_carry_results_or_error():
    payload = _golden("report_failed.json")
    payload["error"] = None
    with pytest.raises(ValidationError, match="either results or an error"):
        DeviceReport.model_validate(payload)


def test_unknown_keys_are_rejected_not_dropped():
    payload = _golden("report_ios_ane.json")
    payload["device"]["ramMB"] = 8192
    with pytest.raises(ValidationError, match="ramMB"):
        DeviceReport.model_validate(payload)


def test_unordered_stats_are_rejected():
    payload = _golden("report_android_xnnpack.json")
    payload["results"]["latency_ms"]["min"] = 99.0
    with pytest.raises(ValidationError, match="min <= median <= p90"):
        DeviceReport.model_validate(payload)


def test_version_1_reports_are_still_accepted_without_numerics():
    payload = _golden("report_android_xnnpack.json")
    payload.pop("numerics")
    payload["schema_version"] = 1
    assert DeviceReport.model_validate(payload).numerics is None
    payload["numerics"] = _golden("report_ios_ane.json")["numerics"]
    with pytest.raises(ValidationError, match="numerics needs schema_version 2"):
        DeviceReport.model_validate(payload)


def test_results_beside_an_error_only_when_the_check_set_could_not_run():
    payload = _golden("report_android_xnnpack.json")
    payload["error"] = "check set: checkset/logits.bin is truncated"
    with pytest.raises(ValidationError, match="not both"):
        DeviceReport.model_validate(payload)
    payload["numerics"] = dict(status="error", detail=payload["error"], samples=0)
    assert DeviceReport.model_validate(payload).results is not None
