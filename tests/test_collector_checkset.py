"""The collector carries an artifact's check set (issue #21): `mobilekit push` sends checkset/
beside the model, the server checks each file against the manifest's sha256 on upload and
again before serving it, and the Python client and the Android benchcore download it with the
artifact. The artifact is the real converter's (a tiny untrained tsn_b0, xnnpack), the server
the real `mobilekit collect` on a free loopback port, the host bench the real ExecuTorch."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import httpx
import pytest

from conftest import REPO, TINY, mobilekit_cli
from mobilekit.artifact import read_manifest
from mobilekit.collector.client import CollectorClient
from mobilekit.collector.process import CollectorProcess

TOKEN = "checkset-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    from converters import convert

    root = tmp_path_factory.mktemp("art")
    return convert("tsn_b0", "xnnpack", root / "tsn_b0-xnnpack", samples=1, latency_runs=0, **TINY).path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("collector")
    with CollectorProcess(f"sqlite:///{tmp / 'c.db'}", TOKEN, log_path=tmp / "server.log") as proc:
        proc.store_dir = tmp / "c.db.artifacts"
        yield proc


def _copy(src, dst, drop_check_set=False):
    shutil.copytree(src, dst)
    if drop_check_set:
        shutil.rmtree(dst / "checkset")
        m = json.loads((dst / "manifest.json").read_text())
        del m["check_set"]
        m["model"] = "tsn_b0_old"  # another id than the artifact with one
        (dst / "manifest.json").write_text(json.dumps(m, indent=2))
    return dst


def _push(folder, server):
    return subprocess.run(mobilekit_cli() + ["push", str(folder), "--server", server.url, "--token", TOKEN],
                          capture_output=True, text=True, timeout=120)


def _ids(server) -> list[str]:
    return [a["id"] for a in httpx.get(server.url + "/api/v1/artifacts").json()["artifacts"]]


def _files(check_set) -> list[str]:
    return [check_set["input"]["file"]] + [o["file"] for o in check_set["outputs"]]


def _multipart(folder, manifest=None, replace=None, drop=None):
    m = manifest or (folder / "manifest.json").read_bytes()
    cs = json.loads(m)["check_set"]
    model = json.loads(m)["file"]
    files = [("manifest", ("manifest.json", m)), ("file", (model, (folder / model).read_bytes()))]
    for rel in _files(cs):
        if rel != drop:
            data = (replace or {}).get(rel, (folder / rel).read_bytes())
            files.append((rel, (rel.split("/")[-1], data)))
    return files


def test_push_download_and_bench_carry_the_check_set(server, artifact, tmp_path):
    from mobilekit.bench.host import run_artifact

    manifest = read_manifest(artifact)
    cs = manifest.check_set.model_dump(mode="json")
    push = _push(artifact, server)
    assert push.returncode == 0, push.stderr
    aid = f"tsn_b0-xnnpack-{manifest.sha256[:8]}"
    assert f"uploaded: {aid}" in push.stdout
    assert f"check set: 2 files, {cs['total_bytes']:,} bytes" in push.stdout

    # Each file served as the manifest hashed it.
    for rel, entry in zip(_files(cs), [cs["input"], *cs["outputs"]]):
        r = httpx.get(f"{server.url}/api/v1/artifacts/{aid}/checkset/{rel.split('/')[-1]}")
        assert r.status_code == 200 and r.headers["x-checksum-sha256"] == entry["sha256"]
        assert r.content == (artifact / rel).read_bytes()
    r = httpx.get(f"{server.url}/api/v1/artifacts/{aid}/checkset/labels.bin")
    assert r.status_code == 404 and "input.bin" in r.json()["detail"]

    # What a host downloads from the collector is checked before it is timed, and agrees.
    dest = tmp_path / "download"
    CollectorClient(server.url).download_artifact(aid, dest)
    for rel in _files(cs):
        assert (dest / rel).read_bytes() == (artifact / rel).read_bytes()
    report = run_artifact(dest, warmup=0, iters=1, threads=1)
    assert report.error is None and report.numerics.status == "agrees", report.numerics
    assert report.numerics.samples == cs["count"]


def test_a_broken_check_set_is_refused_at_push_and_upload(server, artifact, tmp_path):
    before = _ids(server)
    stored_before = sorted(p.name for p in server.store_dir.iterdir())
    bad = _copy(artifact, tmp_path / "bad")
    rel = read_manifest(bad).check_set.outputs[0].file
    logits = bad / rel
    good = logits.read_bytes()
    flipped = bytes([good[0] ^ 1]) + good[1:]

    # The CLI: one line, nothing sent (tampered, then truncated, then missing).
    for broken, why in [(flipped, "sha256"), (good[:-4], "truncated"), (None, "missing")]:
        if broken is None:
            logits.unlink()
        else:
            logits.write_bytes(broken)
        push = _push(bad, server)
        assert push.returncode == 2, push.stdout
        [line] = push.stderr.strip().splitlines()
        assert line.startswith("error: check set file") and why in line, line

    # The server, sent by hand: a damaged file or a missing part is a 422 and nothing is kept.
    r = httpx.post(server.url + "/api/v1/artifacts", files=_multipart(artifact, replace={rel: flipped}), headers=AUTH)
    assert r.status_code == 422 and f"check set file {rel}" in r.json()["detail"], r.text
    r = httpx.post(server.url + "/api/v1/artifacts", files=_multipart(artifact, drop=rel), headers=AUTH)
    assert r.status_code == 422 and f"has no {rel}" in r.json()["detail"], r.text
    assert _ids(server) == before
    assert sorted(p.name for p in server.store_dir.iterdir()) == stored_before


def test_old_artifacts_still_serve(server, artifact, tmp_path):
    from mobilekit.bench.host import run_artifact

    # A manifest from before check sets: pushed, served and downloaded as before.
    old = _copy(artifact, tmp_path / "old", drop_check_set=True)
    client = CollectorClient(server.url, token=TOKEN)
    aid = client.push_artifact(old)["id"]
    got = client.download_artifact(aid, tmp_path / "dl-old")
    assert got.read_bytes() == (artifact / read_manifest(artifact).file).read_bytes()
    assert not (tmp_path / "dl-old" / "checkset").exists()
    r = httpx.get(f"{server.url}/api/v1/artifacts/{aid}/checkset/input.bin")
    assert r.status_code == 404 and "no check set" in r.json()["detail"]

    # Stored by a collector that did not keep check sets (or whose copy was damaged): the
    # model still serves, the check set is a 410 naming the fix, the download leaves it out so
    # the bench reports it missing (never a pass), and pushing again restores it.
    aid = client.push_artifact(artifact)["id"]
    cs = read_manifest(artifact).check_set
    stored = server.store_dir / cs.input.sha256
    stored.write_bytes(stored.read_bytes()[:-8] + b"damaged!")
    r = httpx.get(f"{server.url}/api/v1/artifacts/{aid}/checkset/input.bin")
    assert r.status_code == 410 and "damaged" in r.json()["detail"] and "push the artifact again" in r.json()["detail"]
    stored.unlink()
    r = httpx.get(f"{server.url}/api/v1/artifacts/{aid}/checkset/input.bin")
    assert r.status_code == 410 and "push the artifact again" in r.json()["detail"]
    dest = tmp_path / "dl-gone"
    client.download_artifact(aid, dest)
    assert not (dest / cs.input.file).exists() and (dest / cs.outputs[0].file).is_file()
    report = run_artifact(dest, warmup=0, iters=1, threads=1)
    assert report.numerics.status == "error" and "missing" in report.numerics.detail, report.numerics
    assert report.results is not None  # the timing still ran

    assert client.push_artifact(artifact)["duplicate"] is True
    r = httpx.get(f"{server.url}/api/v1/artifacts/{aid}/checkset/input.bin")
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == cs.input.sha256


def test_android_benchcore_downloads_the_check_set(server, artifact, tmp_path):
    """android_app/benchcore's CollectorClient.downloadArtifact (what MainActivity calls) on the
    JVM against the real collector; CheckSet.read verifies what came down."""
    for tool in ("javac", "java"):
        if shutil.which(tool) is None:
            pytest.fail(f"missing {tool}: install a JDK 17 and junit4, as .ci/run does")
    client = CollectorClient(server.url, token=TOKEN)
    aid = client.push_artifact(artifact)["id"]
    old = client.push_artifact(_copy(artifact, tmp_path / "old-java", drop_check_set=True))["id"]
    env = dict(os.environ, MOBILEKIT_COLLECTOR_URL=server.url, MOBILEKIT_COLLECTOR_TOKEN=TOKEN,
               MOBILEKIT_TEST_CHECKSET_ARTIFACT_ID=aid, MOBILEKIT_TEST_CHECKSET_ARTIFACT_DIR=str(artifact),
               MOBILEKIT_TEST_NO_CHECKSET_ARTIFACT_ID=old, BENCHCORE_BUILD=str(tmp_path / "javac"))
    run = subprocess.run([str(REPO / "android_app/benchcore/run_tests.sh"), "CheckSetDownloadTest"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    assert "OK (2 tests)" in run.stdout, run.stdout[-3000:]
