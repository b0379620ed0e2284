"""Fuzzing the wire format and the collector (bounded: seconds, not minutes, on 2 cores).

- hypothesis: any report or manifest built from valid parts round-trips through JSON and
  validates against the checked-in JSON Schema; payloads broken in the ways devices break
  them (non-finite or negative numbers, unordered stats, unsafe names, times past UTC's
  range) are refused by pydantic and by the real server with a 422, never a 500.
- schemathesis: every operation of the server's own /openapi.json, random positive and
  negative inputs plus its coverage phase's boundary values, against the real collector on a
  free loopback port: no 5xx.
"""

from __future__ import annotations

import itertools
import json
import math
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis import strategies as st
from pydantic import ValidationError

from mobilekit.collector.process import CollectorProcess
from mobilekit.collector.wire import (MAX_MS, REPORT_TARGETS, RUNTIMES, SCHEMA_DIR, TARGETS, ArtifactManifest,
                                      DeviceReport, Stats, golden_payloads)

TOKEN = "fuzz-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPORT_SCHEMA = jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / "report.schema.json").read_text()))
MANIFEST_SCHEMA = jsonschema.Draft202012Validator(json.loads((SCHEMA_DIR / "manifest.schema.json").read_text()))
# No example database: each run explores anew (a failure prints its reproducing seed).
FAST = settings(max_examples=60, deadline=2000, database=None)
HTTP = settings(max_examples=25, deadline=10_000, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    with CollectorProcess(f"sqlite:///{tmp / 'c.db'}", TOKEN, log_path=tmp / "server.log") as proc:
        yield proc


# ------------------------------------------------------------------------ strategies
text = st.text(max_size=24)
ms = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
sha = st.binary(min_size=32, max_size=32).map(bytes.hex)
offsets = st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))])
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets)
fraction = st.floats(min_value=0, max_value=1)


@st.composite
def stats(draw) -> dict:
    lo, med, p90, hi = sorted(draw(st.lists(ms, min_size=4, max_size=4)))
    between = lambda f: min(hi, max(lo, lo + (hi - lo) * f))  # noqa: E731
    return dict(min=lo, median=med, mean=between(draw(fraction)), p90=p90, std=draw(ms),
                max=hi, trimmed_mean=draw(st.none() | fraction.map(between)))


@st.composite
def reports(draw) -> dict:
    results = draw(st.none() | st.fixed_dictionaries(dict(
        compile_ms=st.none() | ms, load_ms=ms, first_inference_ms=ms, latency_ms=stats(),
        latencies_ms=st.none() | st.lists(ms, max_size=20), peak_memory_mb=st.none() | ms)))
    return dict(
        schema_version=1,
        report_id=draw(st.from_regex(r"[A-Za-z0-9_.:-]{8,64}", fullmatch=True)),
        created_at=draw(times).isoformat(),
        device=draw(st.fixed_dictionaries(dict(
            kind=st.sampled_from(["phone", "tablet", "host"]), make=text, model=text,
            model_identifier=st.none() | text, os=text, os_version=text, chip=st.none() | text,
            cpu_cores=st.none() | st.integers(1, 256), ram_mb=st.none() | st.integers(1, 1 << 20)))),
        app=draw(st.fixed_dictionaries(dict(name=text, version=text, runtime=st.sampled_from(RUNTIMES),
                                            runtime_version=text))),
        artifact=draw(st.fixed_dictionaries(dict(
            model=text, target=st.sampled_from(REPORT_TARGETS), sha256=sha, artifact_id=st.none() | text,
            precision=st.none() | text, quantization=st.none() | text))),
        config=draw(st.fixed_dictionaries(dict(
            compute_units=text, threads=st.none() | st.integers(1, 64), warmup=st.integers(0, 1000),
            iterations=st.integers(1, 100_000), batch_size=st.integers(1, 64)))),
        results=results,
        thermal=draw(st.none() | st.fixed_dictionaries(dict(before=st.none() | text, after=st.none() | text))),
        error=draw(text) if results is None else None,
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=8)
model_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)
file_names = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
                     min_size=1, max_size=40).filter(lambda n: n not in (".", "..", "manifest.json"))


@st.composite
def manifests(draw) -> dict:
    m = json.loads(json.dumps(golden_payloads()["manifest_xnnpack.json"]))
    m.update(model=draw(model_names), file=draw(file_names), target=draw(st.sampled_from(TARGETS)),
             size_bytes=draw(st.integers(0, 2**63 - 1)), sha256=draw(sha), created_at=draw(times).isoformat(),
             conversion=draw(st.dictionaries(text, json_values, max_size=4)))
    m["validation"].update(max_abs_diff=draw(st.none() | ms), top1_agreement=draw(st.none() | fraction))
    return m


# ------------------------------------------------------------------- valid -> round trip
@FAST
@given(reports())
def test_any_valid_report_round_trips_and_fits_the_json_schema(payload):
    report = DeviceReport.model_validate(payload)
    wire = report.model_dump_json()
    assert DeviceReport.model_validate_json(wire) == report
    REPORT_SCHEMA.validate(json.loads(wire))


@FAST
@given(manifests())
def test_any_valid_manifest_round_trips_and_fits_the_json_schema(payload):
    manifest = ArtifactManifest.model_validate(payload)
    wire = manifest.model_dump_json()
    assert ArtifactManifest.model_validate_json(wire) == manifest
    MANIFEST_SCHEMA.validate(json.loads(wire))
    # The id the collector derives can be fetched: one URL path segment.
    assert "/" not in f"{manifest.model}-{manifest.target}-{manifest.sha256[:8]}"


@FAST
@given(st.lists(ms, min_size=1, max_size=50) | st.lists(st.sampled_from([0.1, 0.3, 7.0, 5e-324]), min_size=1))
def test_stats_computed_from_real_latencies_are_always_accepted(latencies):
    """The stricter ordering rules must not refuse honest devices: the host computes stats as
    the apps do (numpy/scipy definitions), and float rounding (the mean of equal values one
    ulp above their max) is not an inconsistency."""
    from mobilekit.timing import summarize

    Stats.model_validate(summarize(latencies))


@HTTP
@given(reports())
def test_any_valid_report_is_stored_whole_by_the_server(server, payload):
    payload["report_id"] = f"fuzz-{uuid.uuid4()}"  # hypothesis replays examples: keep ids fresh
    r = httpx.post(server.url + "/api/v1/reports", json=payload, headers=AUTH, timeout=30)
    assert r.status_code == 201, r.text[:300]
    (stored,) = httpx.get(server.url + "/api/v1/reports", params={"limit": 1}, timeout=30).json()["reports"]
    stored.pop("received_at")
    assert stored == DeviceReport.model_validate(payload).model_dump(mode="json")


# ----------------------------------------------------------------- broken -> refused
NUMERIC_PATHS = [("results", "load_ms"), ("results", "first_inference_ms"), ("results", "latency_ms", "min"),
                 ("results", "latency_ms", "median"), ("results", "latency_ms", "mean"),
                 ("results", "latency_ms", "p90"), ("results", "latency_ms", "std"),
                 ("results", "latency_ms", "max"), ("results", "peak_memory_mb")]


def _set(payload: dict, path: tuple, value) -> None:
    for key in path[:-1]:
        payload = payload[key]
    payload[path[-1]] = value


@st.composite
def broken_reports(draw) -> tuple[str, str]:
    """(JSON text, what is wrong) for a timed report broken in one way."""
    p = draw(reports().filter(lambda r: r["results"] is not None))
    kind = draw(st.sampled_from(["non-finite", "negative", "unordered", "too-long", "raw-latency", "time"]))
    if kind in ("non-finite", "negative", "too-long"):
        bad = {"non-finite": st.sampled_from([math.inf, -math.inf, math.nan]),
               "negative": st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
               "too-long": st.floats(min_value=MAX_MS * 1.01, allow_nan=False, allow_infinity=False)}[kind]
        paths = [q for q in NUMERIC_PATHS if kind != "too-long" or q[-1] != "peak_memory_mb"]  # MiB, not ms
        _set(p, draw(st.sampled_from(paths)), draw(bad))
    elif kind == "unordered":
        s = p["results"]["latency_ms"]
        # Make one pair out of order: max below p90, p90 below median, or median below min.
        a, b = draw(st.sampled_from([("max", "p90"), ("p90", "median"), ("median", "min")]))
        s[b] = s[a] + draw(st.floats(min_value=1e-3, max_value=1e3)) + 1e-6 * s[a]
        if b == "min":
            s["mean"] = max(s["mean"], s["min"])
    elif kind == "raw-latency":
        p["results"]["latencies_ms"] = [1.0, draw(st.sampled_from([-1.0, math.inf, math.nan]))]
    else:
        p["created_at"] = draw(st.sampled_from(["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"]))
    return json.dumps(p), kind  # Python writes Infinity/NaN as many device JSON libraries do


@FAST
@given(broken_reports())
def test_broken_reports_are_refused_by_the_model(case):
    body, kind = case
    with pytest.raises(ValidationError):
        DeviceReport.model_validate_json(body)


@HTTP
@given(broken_reports())
def test_broken_reports_are_422_from_the_server_never_500(server, case):
    body, kind = case
    r = httpx.post(server.url + "/api/v1/reports", content=body.encode(),
                   headers={**AUTH, "Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 422, (kind, r.status_code, r.text[:300])
    assert r.json()["detail"].startswith("invalid report: check ")


bad_file_names = st.one_of(
    st.sampled_from(["", ".", "..", "manifest.json", "a/b", "..\\x", "model.pte\n"]),
    st.tuples(st.text(max_size=8), st.sampled_from("/\\"), st.text(max_size=8)).map("".join))
bad_model_names = st.one_of(
    st.sampled_from(["", "a/b", "..", "-x", "a b", "x?y", "x#y", "name%2F"]),
    st.tuples(model_names, st.sampled_from("/\\ ?#%\n"), model_names).map("".join))


@st.composite
def broken_manifests(draw) -> str:
    m = draw(manifests())
    field = draw(st.sampled_from(["file", "model", "number"]))
    if field == "file":
        m["file"] = draw(bad_file_names)
    elif field == "model":
        m["model"] = draw(bad_model_names)
    else:
        _set(m, draw(st.sampled_from([("validation", "max_abs_diff"), ("input", "scale"), ("conversion", "x")])),
             draw(st.sampled_from([math.inf, -math.inf, math.nan])))
    return json.dumps(m)


@FAST
@given(broken_manifests())
def test_broken_manifests_are_refused_by_the_model(body):
    with pytest.raises(ValidationError):
        ArtifactManifest.model_validate_json(body)


@HTTP
@given(broken_manifests())
def test_broken_manifests_are_422_from_the_server_never_500(server, body):
    name = json.loads(body)["file"] or "model.bin"
    files = {"manifest": ("manifest.json", body.encode()), "file": (name, b"not checked: refused before")}
    r = httpx.post(server.url + "/api/v1/artifacts", files=files, headers=AUTH, timeout=30)
    assert r.status_code == 422, (r.status_code, r.text[:300])
    assert "not a valid artifact manifest" in r.json()["detail"]


# -------------------------------------------------------------------------- schemathesis
def _openapi_operations(server):
    import schemathesis

    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    # An operation the loader cannot build (an unresolvable $ref, ...) fails here.
    ops = [result.ok() for result in schema.get_all_operations()]
    assert {"POST /api/v1/reports", "GET /api/v1/reports", "GET /api/v1/summary"} <= {op.label for op in ops}
    return schema, ops


def _call(server, case) -> int:
    from schemathesis.checks import not_a_server_error

    return case.call_and_validate(base_url=server.url, headers=AUTH, checks=[not_a_server_error],
                                  timeout=30).status_code


# Random examples per operation and mode; a plot costs ~0.3 s, so summary.png gets fewer.
EXAMPLES = {"GET /api/v1/summary.png": 5}


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_openapi_operations_never_answer_5xx(server, mode):
    from schemathesis.generation import GenerationMode

    _, ops = _openapi_operations(server)
    statuses: dict[str, set[int]] = {}
    for op in ops:
        seen = statuses.setdefault(op.label, set())

        @settings(max_examples=EXAMPLES.get(op.label, 12), deadline=10_000, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy(generation_mode=GenerationMode(mode)))
        def call(case):
            seen.add(_call(server, case))

        try:
            call()
        except Unsatisfiable:
            if mode == "positive":
                raise
            # No parameter and no body to make invalid (e.g. /healthz).
    # The cases got through to the handlers, not only to the validation layer.
    if mode == "positive":  # (a random schema-valid report rarely has ordered stats: mostly 422)
        assert 200 in statuses["GET /api/v1/reports"] and 200 in statuses["GET /api/v1/summary"]
    else:
        assert 422 in statuses["GET /api/v1/reports"]


def test_openapi_boundary_values_never_answer_5xx(server):
    """schemathesis' coverage phase: each parameter and body field at and past its declared
    limits (minimum/maximum, formats, missing and wrong types, unexpected methods)."""
    from schemathesis.generation import GenerationMode

    schema, ops = _openapi_operations(server)
    counts = {}
    for op in ops:
        generation = schema.config.generation_for(operation=op, phase="coverage")
        cases = schema.iter_coverage_cases(op, generation_modes=list(GenerationMode), generation_config=generation)
        counts[op.label] = 0
        for case in itertools.islice(cases, 150):  # bounded: the report body alone yields ~440
            _call(server, case)
            counts[op.label] += 1
    # The report body's schema resolves: its fields get boundary cases, not just one.
    assert counts["POST /api/v1/reports"] > 50, counts
