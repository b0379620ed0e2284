"""The collector, end to end: the real `mobilekit collect` in a child process on a free
loopback port, talked to over HTTP (raw httpx and mobilekit's client)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest

from conftest import TINY, mobilekit_cli
from mobilekit.collector.client import CollectorClient
from mobilekit.collector.process import CollectorProcess, free_port
from mobilekit.collector.wire import SCHEMA_DIR, ArtifactManifest
from mobilekit.errors import MobilekitError

TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GOLDEN_REPORTS = sorted((SCHEMA_DIR / "golden").glob("report_*.json"))


def golden(name: str) -> dict:
    return json.loads((SCHEMA_DIR / "golden" / name).read_text())


def total(url: str, **params) -> int:
    return httpx.get(url + "/api/v1/reports", params=dict(params, limit=0)).json()["total"]


def make_onnx_artifact(folder: Path) -> tuple[Path, np.ndarray]:
    """A real (tiny) ONNX classifier and its manifest: mean over H, W -> flatten -> MatMul.
    Returns the folder and the weight, so a test can check what the file computes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    t, c, s, k = TINY["num_frames"], 3, TINY["image_size"], TINY["num_classes"]
    w = np.random.default_rng(0).standard_normal((t * c, k)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["video"], ["pooled"], axes=[3, 4], keepdims=0),
         helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
         helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "tiny", [helper.make_tensor_value_info("video", TensorProto.FLOAT, [1, t, c, s, s])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, k])],
        initializer=[numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save(model, path)
    data = path.read_bytes()
    manifest = ArtifactManifest(
        model="tiny_mean", num_classes=k,
        input=dict(name="video", shape=[1, t, c, s, s], mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        outputs=[dict(name="logits", shape=[1, k])], target="onnx", runtime="onnxruntime",
        compute_units="cpu", precision="fp32", file="model.onnx", size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(), created_at="2026-11-21T10:00:00Z",
        tools={"onnx": onnx.__version__}, validation=dict(status="skipped", reason="handmade for tests"))
    (folder / "manifest.json").write_text(manifest.model_dump_json(indent=2))
    return folder, w


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("collector")
    with CollectorProcess(f"sqlite:///{tmp / 'c.db'}", TOKEN, log_path=tmp / "server.log") as proc:
        yield proc


# --------------------------------------------------------------------------- reports
def test_golden_reports_are_stored_once_and_duplicates_answer_the_same_id(server):
    before = total(server.url)
    for path in GOLDEN_REPORTS:
        body = path.read_bytes()
        first = httpx.post(server.url + "/api/v1/reports", content=body, headers=AUTH)
        assert first.status_code == 201, first.text
        rid = json.loads(body)["report_id"]
        assert first.json() == {"id": rid, "duplicate": False}
        again = httpx.post(server.url + "/api/v1/reports", content=body, headers=AUTH)
        assert again.status_code == 200
        assert again.json() == {"id": rid, "duplicate": True}
    assert total(server.url) == before + len(GOLDEN_REPORTS)
    stored = httpx.get(server.url + "/api/v1/reports", params={"device": "iphone 15 pro"}).json()["reports"]
    ios = golden("report_ios_ane.json")
    assert [r["report_id"] for r in stored] == [ios["report_id"]]
    assert {k: v for k, v in stored[0].items() if k != "received_at"} == ios  # nothing lost


def test_invalid_report_is_422_naming_the_fields_and_stores_nothing(server):
    before = total(server.url)
    bad = golden("report_android_xnnpack.json")
    bad["report_id"] = "bad-report-0001"
    del bad["device"]["model"]
    bad["config"]["iterations"] = 0
    r = httpx.post(server.url + "/api/v1/reports", json=bad, headers=AUTH)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"device.model", "config.iterations"} <= fields
    assert "device.model" in r.json()["detail"]
    junk = httpx.post(server.url + "/api/v1/reports", content=b"{not json", headers=AUTH)
    assert junk.status_code == 422
    assert total(server.url) == before
    assert total(server.url, model="vlf_b0", device="Pixel 8") >= 0  # filters accepted


def test_oversized_body_is_413_with_or_without_content_length(server):
    before = total(server.url)
    big = golden("report_android_xnnpack.json")
    big["report_id"] = "big-report-0001"
    big["results"]["latencies_ms"] = [43.5] * 200_000  # ~1.4 MB, over the 1 MiB limit
    body = json.dumps(big).encode()
    r = httpx.post(server.url + "/api/v1/reports", content=body, headers=AUTH)
    assert r.status_code == 413 and "limit" in r.json()["detail"]

    def chunked():  # no Content-Length: the limit must hold while the body streams in
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]

    r = httpx.post(server.url + "/api/v1/reports", content=chunked(), headers=AUTH)
    assert r.status_code == 413
    assert total(server.url) == before


def test_concurrent_posts_of_one_report_store_it_once(server):
    from concurrent.futures import ThreadPoolExecutor

    payload = golden("report_android_xnnpack.json")
    payload["report_id"] = "concurrent-retry-0001"
    body = json.dumps(payload).encode()
    before = total(server.url)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: httpx.post(server.url + "/api/v1/reports", content=body,
                                                   headers=AUTH).status_code, range(16)))
    assert sorted(codes) == [200] * 15 + [201]
    assert total(server.url) == before + 1


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_missing_or_wrong_token_is_401(server, headers):
    before = total(server.url)
    payload = golden("report_ios_ane.json")
    payload["report_id"] = "unauthorised-0001"
    r = httpx.post(server.url + "/api/v1/reports", json=payload, headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert total(server.url) == before


def _run(model: str, device: str, median: float, rid: str, units="cpu", target="xnnpack") -> dict:
    p = golden("report_android_xnnpack.json")
    p["report_id"] = rid
    p["artifact"].update(model=model, target=target)
    p["device"]["model"] = device
    p["config"]["compute_units"] = units
    p["results"]["latency_ms"] = dict(min=median * 0.9, median=median, mean=median, p90=median * 1.2, std=0.1)
    return p


def test_summary_median_of_medians_relative_to_a_reference(server):
    client = CollectorClient(server.url, token=TOKEN)
    for i, m in enumerate([10.0, 14.0, 12.0]):
        assert client.post_report(_run("ref_net", "Test Phone", m, f"sum-ref-{i}"))["duplicate"] is False
    for i, m in enumerate([30.0, 36.0]):
        client.post_report(_run("big_net", "Test Phone", m, f"sum-big-{i}"))
    client.post_report(_run("big_net", "Other Phone", 50.0, "sum-other-0"))
    # The client's retry path sends the same id: stored once.
    assert client.post_report(_run("big_net", "Test Phone", 99.0, "sum-big-0"))["duplicate"] is True

    data = client.summary(relative_to="ref_net", device="Test Phone")
    rows = {r["model"]: r for r in data["rows"]}
    assert set(rows) == {"ref_net", "big_net"}
    assert rows["ref_net"]["runs"] == 3 and rows["ref_net"]["median_ms"] == pytest.approx(12.0)
    assert rows["ref_net"]["p90_ms"] == pytest.approx(14.4)
    assert rows["big_net"]["runs"] == 2 and rows["big_net"]["median_ms"] == pytest.approx(33.0)
    assert rows["big_net"]["relative"] == pytest.approx(33.0 / 12.0)
    assert rows["ref_net"]["relative"] == pytest.approx(1.0) and rows["big_net"]["unit"] == "CPU"
    # Default reference: the fastest model on each device and unit; a column without the
    # reference model gets no relative value.
    other = [r for r in client.summary(device="Other Phone")["rows"]]
    assert [(r["model"], r["relative"]) for r in other] == [("big_net", 1.0)]
    assert client.summary(relative_to="ref_net", device="Other Phone")["rows"][0]["relative"] is None
    since = httpx.get(server.url + "/api/v1/reports", params={"since": "2030-01-01T00:00:00Z"}).json()
    assert since["total"] == 0


def test_client_gives_a_clear_error_for_a_wrong_token_or_no_server(server):
    with pytest.raises(MobilekitError, match="401.*token"):
        CollectorClient(server.url, token="nope").post_report(golden("report_ios_ane.json"))
    dead = CollectorClient(f"http://127.0.0.1:{free_port()}", token=TOKEN, retries=1, backoff_s=0.05)
    with pytest.raises(MobilekitError, match="cannot reach the collector"):
        dead.post_report(golden("report_ios_ane.json"))


# ------------------------------------------------------------------------- artifacts
def test_artifact_upload_download_sha256_checked_and_runs(server, tmp_path):
    import onnxruntime as ort

    folder, w = make_onnx_artifact(tmp_path / "tiny_mean-onnx")
    manifest = json.loads((folder / "manifest.json").read_text())
    push = subprocess.run(mobilekit_cli() + ["push", str(folder), "--server", server.url, "--token", TOKEN],
                          capture_output=True, text=True, timeout=120)
    assert push.returncode == 0, push.stderr
    aid = f"tiny_mean-onnx-{manifest['sha256'][:8]}"
    assert f"uploaded: {aid}" in push.stdout
    again = CollectorClient(server.url, token=TOKEN).push_artifact(folder)
    assert again["id"] == aid and again["duplicate"] is True

    listed = {a["id"]: a for a in httpx.get(server.url + "/api/v1/artifacts").json()["artifacts"]}
    assert listed[aid]["sha256"] == manifest["sha256"] and listed[aid]["file_name"] == "model.onnx"
    assert listed[aid]["size_bytes"] == (folder / "model.onnx").stat().st_size
    assert httpx.get(f"{server.url}/api/v1/artifacts/{aid}/manifest").json() == manifest
    raw = httpx.get(f"{server.url}/api/v1/artifacts/{aid}/file")
    assert raw.headers["x-checksum-sha256"] == manifest["sha256"]
    assert raw.headers["etag"] == f'"{manifest["sha256"]}"'
    assert hashlib.sha256(raw.content).hexdigest() == manifest["sha256"]

    got = CollectorClient(server.url).download_artifact(aid, tmp_path / "download")
    assert got.read_bytes() == (folder / "model.onnx").read_bytes()
    x = np.random.default_rng(1).standard_normal(manifest["input"]["shape"]).astype(np.float32)
    (logits,) = ort.InferenceSession(str(got)).run(None, {"video": x})
    np.testing.assert_allclose(logits, x.mean(axis=(3, 4)).reshape(1, -1) @ w, rtol=1e-4, atol=1e-5)
    assert httpx.get(f"{server.url}/api/v1/artifacts/nope/file").status_code == 404


def test_artifact_with_wrong_checksum_or_token_is_refused_and_not_kept(server, tmp_path):
    folder, _ = make_onnx_artifact(tmp_path / "a")
    manifest = (folder / "manifest.json").read_bytes()
    before = httpx.get(server.url + "/api/v1/artifacts").json()["artifacts"]
    damaged = (folder / "model.onnx").read_bytes() + b"x"
    files = {"manifest": ("manifest.json", manifest), "file": ("model.onnx", damaged)}
    r = httpx.post(server.url + "/api/v1/artifacts", files=files, headers=AUTH)
    assert r.status_code == 422 and "checksum mismatch" in r.json()["detail"]
    r = httpx.post(server.url + "/api/v1/artifacts", files=files)
    assert r.status_code == 401
    files["manifest"] = ("manifest.json", b'{"model": "x"}')
    r = httpx.post(server.url + "/api/v1/artifacts", files=files, headers=AUTH)
    assert r.status_code == 422 and "not a valid artifact manifest" in r.json()["detail"]
    assert httpx.get(server.url + "/api/v1/artifacts").json()["artifacts"] == before
    # A file changed after conversion is caught before anything is sent.
    (folder / "model.onnx").write_bytes(damaged)
    push = subprocess.run(mobilekit_cli() + ["push", str(folder), "--server", server.url, "--token", TOKEN],
                          capture_output=True, text=True, timeout=120)
    assert push.returncode == 2 and push.stderr.startswith("error:") and "sha256" in push.stderr


def test_directory_artifact_travels_as_a_zip_checked_against_the_manifest(server, tmp_path):
    import zipfile

    from mobilekit.artifact import directory_sha256, sha256_of
    from mobilekit.collector.artifacts import zip_directory

    folder, _ = make_onnx_artifact(tmp_path / "pkg")
    pkg = folder / "model.mlpackage"  # stands in for an .mlpackage: a directory artifact
    (pkg / "Data" / "weights").mkdir(parents=True)
    (pkg / "Data" / "weights" / "weight.bin").write_bytes(bytes(range(256)) * 8)
    (pkg / "Manifest.json").write_text("{}")
    # The collector hashes a directory exactly as `mobilekit convert` does.
    assert directory_sha256(pkg) == sha256_of(pkg)
    m = json.loads((folder / "manifest.json").read_text())
    m.update(file="model.mlpackage", target="coreml-cpu", runtime="coreml", sha256=sha256_of(pkg))
    (folder / "manifest.json").write_text(json.dumps(m))
    client = CollectorClient(server.url, token=TOKEN)
    first = client.push_artifact(folder)
    assert first["duplicate"] is False and first["file_sha256"] != m["sha256"]
    assert client.push_artifact(folder)["duplicate"] is True  # deterministic zip: same bytes
    got = client.download_artifact(first["id"], tmp_path / "dl")
    assert got.name == "model.mlpackage.zip"
    with zipfile.ZipFile(got) as zf:
        assert sorted(zf.namelist()) == ["model.mlpackage/Data/weights/weight.bin",
                                         "model.mlpackage/Manifest.json"]
        zf.extractall(tmp_path / "unzipped")
    assert sha256_of(tmp_path / "unzipped" / "model.mlpackage") == m["sha256"]

    # A zip whose package is not the one the manifest hashed is refused, even when the zip
    # itself arrived intact.
    (pkg / "Manifest.json").write_text('{"changed": true}')
    zipped = tmp_path / "model.mlpackage.zip"
    zip_directory(pkg, zipped)
    data = zipped.read_bytes()
    files = {"manifest": ("manifest.json", json.dumps(m).encode()), "file": (zipped.name, data)}
    r = httpx.post(server.url + "/api/v1/artifacts", files=files, headers=AUTH,
                   data={"sha256": hashlib.sha256(data).hexdigest()})
    assert r.status_code == 422 and "inside the zip" in r.json()["detail"]
    with pytest.raises(MobilekitError, match="changed after conversion"):
        client.push_artifact(folder)


# --------------------------------------------------------------------------- restart
def test_restart_on_the_same_sqlite_file_keeps_everything(tmp_path):
    db = f"sqlite:///{tmp_path / 'keep.db'}"
    folder, _ = make_onnx_artifact(tmp_path / "art")
    proc = CollectorProcess(db, TOKEN, log_path=tmp_path / "server.log")
    with proc:
        client = CollectorClient(proc.url, token=TOKEN)
        for path in GOLDEN_REPORTS:
            client.post_report(json.loads(path.read_text()))
        aid = client.push_artifact(folder)["id"]
        summary = client.summary()
    assert (tmp_path / "keep.db").is_file()
    with proc:  # same port, same file
        client = CollectorClient(proc.url, token=TOKEN)
        assert client.list_reports()["total"] == len(GOLDEN_REPORTS)
        assert client.summary() == summary
        assert [a["id"] for a in client.list_artifacts()] == [aid]
        got = client.download_artifact(aid, tmp_path / "after")
        assert got.read_bytes() == (folder / "model.onnx").read_bytes()
        again = client.post_report(json.loads(GOLDEN_REPORTS[0].read_text()))
        assert again["duplicate"] is True
