"""Trust in the collector: bad input is refused with a 422 (never a 500, never stored as
something else), names cannot escape an artifact folder, reading never writes. The real
`mobilekit collect` in a child process on a free loopback port, as in test_collector.py."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

import httpx
import jsonschema
import pytest
from pydantic import ValidationError

from mobilekit.collector.client import CollectorClient
from mobilekit.collector.process import CollectorProcess
from mobilekit.collector.storage import Store
from mobilekit.collector.wire import SCHEMA_DIR, ArtifactManifest, DeviceReport
from mobilekit.errors import MobilekitError
from test_collector import golden, make_onnx_artifact

TOKEN = "trust-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPORT_SCHEMA = json.loads((SCHEMA_DIR / "report.schema.json").read_text())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trust")
    # What a killed server leaves behind: an upload temp file (ours) and an unrelated file.
    artifacts = tmp / "c.db.artifacts"
    artifacts.mkdir()
    (artifacts / ".upload-killed").write_bytes(b"x" * 4096)
    (artifacts / "notes.txt").write_text("not the collector's")
    with CollectorProcess(f"sqlite:///{tmp / 'c.db'}", TOKEN, log_path=tmp / "server.log") as proc:
        proc.artifacts = artifacts
        yield proc


def total(url: str) -> int:
    return httpx.get(url + "/api/v1/reports", params={"limit": 0}).json()["total"]


def post_text(url: str, text: str, headers=AUTH) -> httpx.Response:
    return httpx.post(url + "/api/v1/reports", content=text.encode(),
                      headers={**headers, "Content-Type": "application/json"})


def android(rid: str) -> dict:
    p = golden("report_android_xnnpack.json")
    p["report_id"] = rid
    return p


# ----------------------------------------------------------------- non-finite numbers
# JSON text as a device's JSON library may write it: Python's json module, Gson with
# serializeSpecialFloatingPointValues, ... all spell these tokens this way.
@pytest.mark.parametrize("path, token", [
    (("results", "load_ms"), "Infinity"),
    (("results", "latency_ms", "median"), "NaN"),
    (("results", "latency_ms", "std"), "Infinity"),
    (("results", "peak_memory_mb"), "NaN"),
])
def test_non_finite_numbers_are_422_and_not_stored(server, path, token):
    payload = android(f"nonfinite-{'-'.join(path)}")
    node = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "__X__"
    text = json.dumps(payload).replace('"__X__"', token)
    before = total(server.url)
    r = post_text(server.url, text)
    assert r.status_code == 422, r.text
    assert ".".join(path) in r.json()["detail"] and "finite" in r.json()["detail"]
    assert total(server.url) == before
    # Every stored report still validates against the schema it was accepted under.
    for stored in httpx.get(server.url + "/api/v1/reports", params={"limit": 10000}).json()["reports"]:
        stored.pop("received_at")
        jsonschema.validate(stored, REPORT_SCHEMA)


@pytest.mark.parametrize("patch", [
    lambda m: m["validation"].update(max_abs_diff=float("inf")),
    lambda m: m["input"].update(scale=float("nan")),
    lambda m: m.update(conversion={"seconds": float("nan")}),
    lambda m: m.update(quantization={"scheme": "int8", "tool": "t", "report": {"after": [1.0, float("-inf")]}}),
], ids=["validation", "input", "conversion", "quantization-report"])
def test_non_finite_numbers_anywhere_in_a_manifest_are_refused(patch):
    m = golden("manifest_xnnpack.json")
    patch(m)
    with pytest.raises(ValidationError, match="finite"):
        ArtifactManifest.model_validate(m)


@pytest.mark.parametrize("stats, why", [
    (dict(min=1.0, median=2.0, mean=2.0, p90=3.0, std=0.1, max=2.5), "p90 (3) > max (2.5)"),
    (dict(min=1.0, median=2.0, mean=9.0, p90=3.0, std=0.1, max=4.0), "mean (9) > max (4)"),
    (dict(min=2.5, median=3.0, mean=2.0, p90=3.5, std=0.1), "min (2.5) > mean (2)"),
    (dict(min=1.0, median=2.0, mean=2.0, p90=3.0, std=0.1, max=4.0, trimmed_mean=5.0), "trimmed_mean"),
    (dict(min=1.0, median=2.0, mean=2.0, p90=3.0, std=-0.1), "greater than or equal to 0"),
])
def test_inconsistent_or_negative_statistics_are_422(server, stats, why):
    payload = android(f"stats-{hashlib.sha256(why.encode()).hexdigest()[:12]}")
    payload["results"]["latency_ms"] = stats
    before = total(server.url)
    r = httpx.post(server.url + "/api/v1/reports", json=payload, headers=AUTH)
    assert r.status_code == 422 and why in r.text, r.text
    assert total(server.url) == before


def test_negative_raw_latencies_are_422(server):
    payload = android("negative-raw-1")
    payload["results"]["latencies_ms"] = [4.1, -3.0, 4.2]
    r = httpx.post(server.url + "/api/v1/reports", json=payload, headers=AUTH)
    assert r.status_code == 422 and "results.latencies_ms.1" in r.json()["detail"]


# --------------------------------------------------------------- 422 instead of 500
OUT_OF_RANGE = "9999-12-31T23:59:59-23:59"  # valid ISO 8601; in UTC it is past year 9999


@pytest.mark.parametrize("path", ["/api/v1/reports", "/api/v1/summary", "/api/v1/summary.png"])
def test_since_that_overflows_utc_is_422(server, path):
    r = httpx.get(server.url + path, params={"since": OUT_OF_RANGE})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "since"]
    assert "UTC" in r.json()["detail"][0]["msg"]


def test_report_created_at_that_overflows_utc_is_422(server):
    payload = android("created-at-overflow")
    payload["created_at"] = OUT_OF_RANGE
    before = total(server.url)
    r = httpx.post(server.url + "/api/v1/reports", json=payload, headers=AUTH)
    assert r.status_code == 422 and "created_at" in r.json()["detail"]
    assert total(server.url) == before


def test_offset_is_bounded_past_the_end_is_an_empty_page(server):
    assert httpx.get(server.url + "/api/v1/reports", params={"offset": 2**70}).status_code == 422
    page = httpx.get(server.url + "/api/v1/reports", params={"offset": 2**31 - 1})
    assert page.status_code == 200 and page.json()["reports"] == []


def test_plot_shows_names_with_dollar_signs_literally(server):
    """A `$...$` name started matplotlib mathtext and an invalid one failed the plot: 500."""
    odd = android("odd-name-1")
    odd["artifact"]["model"] = r"$\nope$"
    odd["device"]["model"] = "Fuzz $phone"
    assert httpx.post(server.url + "/api/v1/reports", json=odd, headers=AUTH).status_code == 201
    png = httpx.get(server.url + "/api/v1/summary.png", params={"device": "fuzz $phone",
                                                                "relative_to": r"$\x$"})
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"


def test_summary_ratio_past_float_range_is_null_not_infinity(tmp_path):
    """Valid latencies whose ratio overflows (a denormal reference) gave relative=inf:
    `report --format json` printed `Infinity`, which is not JSON."""
    path = tmp_path / "c.db"
    store = Store(f"sqlite:///{path}")
    for rid, model, ms in [("tiny-ratio-1", "tiny_net", 5e-324), ("tiny-ratio-2", "slow_net", 1e9)]:
        p = android(rid)
        p["artifact"]["model"] = model
        p["results"]["latency_ms"] = dict(min=ms, median=ms, mean=ms, p90=ms, std=0.0)
        store.add_reports([DeviceReport.model_validate(p)])
    store.close()
    r = cli("report", "--db", f"sqlite:///{path}", "--format", "json")
    assert r.exit_code == 0, r.stderr

    def no_constants(name):
        raise AssertionError(f"{name} is not JSON")

    rows = {row["model"]: row for row in json.loads(r.stdout, parse_constant=no_constants)}
    assert rows["tiny_net"]["relative"] == 1.0 and rows["slow_net"]["relative"] is None


# --------------------------------------------------------------------- artifact names
BAD_FILES = ["..", ".", "manifest.json", "sub/model.onnx", "..\\model.onnx", "", "model\n.onnx"]


@pytest.mark.parametrize("name", BAD_FILES)
def test_manifest_file_must_be_a_plain_name(name):
    with pytest.raises(ValidationError, match="file"):
        ArtifactManifest.model_validate({**golden("manifest_xnnpack.json"), "file": name})


@pytest.mark.parametrize("model", ["a/b", "..", "", "name with space", "x?y", "vlf_b0\n"])
def test_manifest_model_must_make_a_fetchable_id(model):
    with pytest.raises(ValidationError, match="model"):
        ArtifactManifest.model_validate({**golden("manifest_xnnpack.json"), "model": model})


def _artifacts(server) -> tuple[list, set]:
    return (httpx.get(server.url + "/api/v1/artifacts").json()["artifacts"],
            {p.name for p in server.artifacts.iterdir()})


@pytest.mark.parametrize("field, value", [("file", "manifest.json"), ("file", ".."),
                                          ("model", "team/vlf_b0")])
def test_server_and_client_refuse_bad_artifact_names(server, tmp_path, field, value):
    folder, _ = make_onnx_artifact(tmp_path / "art")
    m = json.loads((folder / "manifest.json").read_text())
    data = (folder / "model.onnx").read_bytes()
    m[field] = value
    before = _artifacts(server)
    upload_name = m["file"] if field == "file" else "model.onnx"
    files = {"manifest": ("manifest.json", json.dumps(m).encode()), "file": (upload_name, data)}
    r = httpx.post(server.url + "/api/v1/artifacts", files=files, headers=AUTH)
    assert r.status_code == 422 and field in r.json()["detail"], r.text
    assert _artifacts(server) == before  # nothing recorded, no bytes kept
    # The Python client refuses the folder before sending anything.
    (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(MobilekitError, match=f"not a valid artifact manifest.*{field}"):
        CollectorClient(server.url, token=TOKEN).push_artifact(folder)


def test_client_download_refuses_a_stored_manifest_naming_manifest_json(server, tmp_path):
    """A database from before names were checked may hold such a manifest: the download must
    not overwrite the folder's manifest.json with the model bytes."""
    folder, _ = make_onnx_artifact(tmp_path / "art")
    m = json.loads((folder / "manifest.json").read_text())
    client = CollectorClient(server.url, token=TOKEN)
    pushed = client.push_artifact(folder)
    bad = ArtifactManifest.model_construct(**{**ArtifactManifest.model_validate(m).__dict__,
                                              "file": "manifest.json", "model": "old_row"})
    store = Store(f"sqlite:///{server.db_url[len('sqlite:///'):]}")
    try:
        store.add_artifact("old-row-1", bad, "manifest.json", pushed["file_sha256"], pushed["size_bytes"])
    finally:
        store.close()
    dest = tmp_path / "dl"
    dest.mkdir()
    (dest / "manifest.json").write_text('{"keep": true}')
    with pytest.raises(MobilekitError, match="manifest's own name"):
        client.download_artifact("old-row-1", dest)
    assert json.loads((dest / "manifest.json").read_text()) == {"keep": True}
    assert sorted(p.name for p in dest.iterdir()) == ["manifest.json"]


# -------------------------------------------------------------------------- openapi
def test_openapi_document_refs_all_resolve(server):
    doc = httpx.get(server.url + "/openapi.json").json()
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    for ref in refs:
        assert ref.startswith("#/"), ref
        node = doc
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"{ref} does not resolve in /openapi.json"
            node = node[part]
    body = doc["paths"]["/api/v1/reports"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/DeviceReport"}
    assert "#/components/schemas/Stats" in refs
    # The document's report schema accepts what the wire model accepts.
    resolver_doc = {**doc["components"]["schemas"]["DeviceReport"], "components": doc["components"]}
    jsonschema.validate(golden("report_ios_ane.json"), resolver_doc)


# ----------------------------------------------------------------------------- auth
@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_bearer_scheme_is_case_insensitive(server, scheme):
    payload = android(f"scheme-{scheme}")
    r = httpx.post(server.url + "/api/v1/reports", json=payload,
                   headers={"Authorization": f"{scheme} {TOKEN}"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("value", [f"Basic {TOKEN}", f"Bearer{TOKEN}", f"bearer {TOKEN}x", "bearer"])
def test_other_schemes_and_tokens_are_401(server, value):
    r = httpx.post(server.url + "/api/v1/reports", json=android("scheme-wrong"),
                   headers={"Authorization": value})
    assert r.status_code == 401


# ------------------------------------------------------------------- upload temp files
def test_stale_upload_temp_files_are_removed_at_start_and_failures_leave_none(server, tmp_path):
    names = {p.name for p in server.artifacts.iterdir()}
    assert ".upload-killed" not in names and "notes.txt" in names
    # Refused uploads (bad checksum, a zip that is not the package) keep nothing either.
    folder, _ = make_onnx_artifact(tmp_path / "a")
    manifest = (folder / "manifest.json").read_bytes()
    files = {"manifest": ("manifest.json", manifest),
             "file": ("model.onnx", (folder / "model.onnx").read_bytes() + b"x")}
    assert httpx.post(server.url + "/api/v1/artifacts", files=files, headers=AUTH).status_code == 422
    junk = b"PK not a zip"
    files = {"manifest": ("manifest.json", manifest), "file": ("model.onnx.zip", junk)}
    r = httpx.post(server.url + "/api/v1/artifacts", files=files, headers=AUTH,
                   data={"sha256": hashlib.sha256(junk).hexdigest()})
    assert r.status_code == 422
    assert not [p for p in server.artifacts.iterdir() if p.name.startswith(".upload-")]


def test_only_our_old_temp_files_are_removed(tmp_path):
    from mobilekit.collector.artifacts import ArtifactFiles

    files = ArtifactFiles(tmp_path)
    old, new, other = tmp_path / ".upload-old", tmp_path / ".upload-new", tmp_path / ".uploaded-by-me"
    for p in (old, new, other):
        p.write_bytes(b"x")
    start = time.time()
    os.utime(old, (start - 3600, start - 3600))
    os.utime(other, (start - 3600, start - 3600))
    os.utime(new, (start + 5, start + 5))  # written after the process started: an upload in flight
    assert files.remove_stale_uploads(older_than=start) == [old]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".upload-new", ".uploaded-by-me"]


# ------------------------------------------------------------------- report / collect --db
def cli(*args: str):
    from click.testing import CliRunner

    from mobilekit.cli import cli as group

    return CliRunner().invoke(group, list(args))


def test_report_db_never_writes_to_a_sqlite_file_of_another_program(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (body TEXT)")
    con.execute("INSERT INTO notes VALUES ('precious')")
    con.commit()
    con.close()
    before = path.read_bytes()
    r = cli("report", "--db", f"sqlite:///{path}")
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and len(r.stderr.splitlines()) == 1
    assert "no mobilekit collector tables" in r.stderr and "Traceback" not in r.stderr
    assert path.read_bytes() == before  # no tables created, not even switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_db_takes_a_plain_file_path_as_a_sqlite_file(tmp_path, monkeypatch):
    path = tmp_path / "c.db"
    store = Store(f"sqlite:///{path}")
    assert store.add_reports([DeviceReport.model_validate(golden("report_android_xnnpack.json"))]) == [True]
    store.close()
    monkeypatch.chdir(tmp_path)
    r = cli("report", "--db", "c.db", "--format", "json")   # as users type it, relative
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(r.stdout)) == 1


def test_report_db_reads_a_collector_database_read_only(tmp_path):
    path = tmp_path / "c.db"
    store = Store(f"sqlite:///{path}")
    assert store.add_reports([DeviceReport.model_validate(golden("report_android_xnnpack.json"))]) == [True]
    store.close()
    os.chmod(path, 0o444)  # a read-only copy (e.g. from a backup) is readable
    try:
        r = cli("report", "--db", f"sqlite:///{path}", "--format", "json")
    finally:
        os.chmod(path, 0o644)
    assert r.exit_code == 0, r.stderr
    assert [row["model"] for row in json.loads(r.stdout)] == ["vlf_b0"]


@pytest.mark.parametrize("command", ["report", "collect"])
def test_db_that_is_not_sqlite_is_one_clear_line(tmp_path, command):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 40)
    before = path.read_bytes()
    args = ["--db", f"sqlite:///{path}"] + (["--port", "0", "--token", "t"] if command == "collect" else [])
    r = cli(command, *args)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(f"error: {path} is not a SQLite database") and "Traceback" not in r.stderr
    assert path.read_bytes() == before
    assert not Path(str(path) + ".artifacts").exists()
