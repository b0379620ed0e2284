"""A small Python client for the collector (what the host benchmark and `mobilekit push` /
`mobilekit report --server` use).

    client = CollectorClient("http://192.168.1.20:8765", token="...")
    client.post_report(report)                 # retried with the same report id
    client.push_artifact(Path("out/vlf_b0-xnnpack"))
    client.download_artifact(artifact_id, Path("downloads/"))   # sha256-checked, check set included

Errors the user can act on (wrong token, invalid report, unreachable server after the
retries) raise MobilekitError with the server's explanation.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Optional, Union

import httpx
from pydantic import ValidationError

from mobilekit.collector.artifacts import CHUNK, check_set_entries, prepare_upload, read_manifest
from mobilekit.collector.wire import DeviceReport
from mobilekit.errors import MobilekitError

_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class CollectorClient:
    def __init__(self, server: str, token: Optional[str] = None, timeout: float = 30.0,
                 retries: int = 5, backoff_s: float = 0.5):
        if not server.startswith(("http://", "https://")):
            server = "http://" + server
        self.server = server.rstrip("/")
        self.token = token if token is not None else os.environ.get("MOBILEKIT_TOKEN")
        self.retries, self.backoff_s = retries, backoff_s
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "CollectorClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------------- transport
    def _request(self, method: str, path: str, retry: bool = True, **kw) -> httpx.Response:
        """Send with retries on connection errors and 5xx/429 (safe: reports and artifacts are
        idempotent); raise MobilekitError on any other failure."""
        attempts = self.retries + 1 if retry else 1
        last: Union[Exception, httpx.Response, None] = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                resp = self.http.request(method, path, **kw)
            except httpx.TransportError as e:
                last = e
                continue
            if resp.status_code in _RETRY_STATUS:
                last = resp
                continue
            if resp.status_code >= 400:
                raise MobilekitError(f"collector {self.server} answered {resp.status_code} to "
                                     f"{method} {path}: {_detail(resp)}", _fix(resp.status_code))
            return resp
        if isinstance(last, httpx.Response):
            raise MobilekitError(f"collector {self.server} answered {last.status_code} to {method} {path} "
                                 f"{attempts} times: {_detail(last)}", "check the server's log")
        raise MobilekitError(f"cannot reach the collector at {self.server} ({last})",
                             "start it with `mobilekit collect` and check the address and port")

    # ------------------------------------------------------------------------- reports
    def post_report(self, report: Union[DeviceReport, dict]) -> dict:
        """Post one report; retries send the same report id, so it is stored once.
        Returns {"id": report_id, "duplicate": bool}."""
        if isinstance(report, dict):
            try:
                report = DeviceReport.model_validate(report)
            except ValidationError as e:  # caught here rather than as a 422 after a round trip
                fields = ", ".join(sorted({".".join(map(str, x["loc"])) or "(root)" for x in e.errors()}))
                raise MobilekitError(f"invalid report, check {fields}: {e.errors()[0]['msg']}",
                                     "see mobilekit/collector/schemas/report.schema.json") from e
        body = report.model_dump_json().encode()
        return self._request("POST", "/api/v1/reports", content=body,
                             headers={"Content-Type": "application/json"}).json()

    def list_reports(self, limit: int = 100, offset: int = 0, **filters: Any) -> dict:
        """{"total", "reports": [...]}; filters: model, target, device, runtime, since."""
        params = {k: v for k, v in filters.items() if v is not None}
        return self._request("GET", "/api/v1/reports",
                             params=dict(params, limit=limit, offset=offset)).json()

    def summary(self, relative_to: Optional[str] = None, **filters: Any) -> dict:
        params = {k: v for k, v in dict(filters, relative_to=relative_to).items() if v is not None}
        return self._request("GET", "/api/v1/summary", params=params).json()

    def health(self) -> dict:
        return self._request("GET", "/healthz", retry=False).json()

    # ----------------------------------------------------------------------- artifacts
    def push_artifact(self, folder: Path) -> dict:
        """Upload an artifact folder (manifest.json + model + its check set; a directory model
        is zipped). Returns {"id", "duplicate", "sha256", "file_sha256", "size_bytes"}."""
        from contextlib import ExitStack

        up = prepare_upload(Path(folder))
        try:
            for attempt in range(self.retries + 1):
                with ExitStack() as stack:  # reopened per attempt: a retry resends from byte 0
                    f = stack.enter_context(open(up.path, "rb"))
                    files = [("manifest", ("manifest.json", up.manifest_bytes, "application/json")),
                             ("file", (up.upload_name, f, "application/octet-stream"))]
                    files += [(rel, (Path(rel).name, stack.enter_context(open(path, "rb")), "application/octet-stream"))
                              for rel, path in up.check_files]
                    try:
                        return self._request("POST", "/api/v1/artifacts", retry=False, files=files,
                                             data={"sha256": up.sha256}).json()
                    except MobilekitError as e:
                        if attempt == self.retries or "cannot reach" not in str(e):
                            raise
                time.sleep(self.backoff_s * 2 ** attempt)
        finally:
            up.close()
        raise AssertionError("unreachable")

    def list_artifacts(self, model: Optional[str] = None, target: Optional[str] = None) -> list[dict]:
        params = {k: v for k, v in dict(model=model, target=target).items() if v}
        return self._request("GET", "/api/v1/artifacts", params=params).json()["artifacts"]

    def artifact_manifest(self, artifact_id: str) -> dict:
        return self._request("GET", f"/api/v1/artifacts/{artifact_id}/manifest").json()

    def download_artifact(self, artifact_id: str, dest_dir: Path) -> Path:
        """Download an artifact's file, its check set (checkset/) and manifest.json into
        dest_dir; each file is checked against its sha256 (the server's X-Checksum-Sha256 for
        the file, the manifest's for the check set) and only then moved into place. A check
        set the collector does not have (pushed before it kept them) is left out, so the
        bench reports it missing. Returns the model file's path."""
        dest_dir = Path(dest_dir)
        manifest = self.artifact_manifest(artifact_id)
        # Checked like a local artifact folder (the file name above all: a manifest stored by an
        # older collector could name `..` or manifest.json) before anything is written.
        parsed = read_manifest(json.dumps(manifest), f"the manifest of {artifact_id!r}")
        file_name, entries = parsed.file, check_set_entries(parsed.check_set)
        dest_dir.mkdir(parents=True, exist_ok=True)
        base = f"/api/v1/artifacts/{artifact_id}"
        target = self._download(f"{base}/file", artifact_id, dest_dir, None, (file_name, file_name + ".zip"))
        for e in entries:
            (dest_dir / "checkset").mkdir(exist_ok=True)
            self._download(f"{base}/checkset/{e['name']}", artifact_id, dest_dir / "checkset", e["sha256"],
                           (e["name"],), missing_ok=True)
        mtmp = dest_dir / "manifest.json.part"
        mtmp.write_text(json.dumps(manifest, indent=2) + "\n")
        mtmp.replace(dest_dir / "manifest.json")
        return target

    def _download(self, path: str, artifact_id: str, dest_dir: Path, expected: Optional[str],
                  names: tuple[str, ...], missing_ok: bool = False) -> Optional[Path]:
        """GET `path` into dest_dir under the served name (one of `names`), through sha256:
        `expected` (else the X-Checksum-Sha256 header) must match or nothing is left.
        `missing_ok`: a 404/410 returns None."""
        with self.http.stream("GET", path) as resp:
            if resp.status_code != 200:
                resp.read()
                if missing_ok and resp.status_code in (404, 410):
                    return None
                raise MobilekitError(f"collector answered {resp.status_code} for artifact "
                                     f"{artifact_id!r}: {_detail(resp)}", _fix(resp.status_code))
            header = resp.headers.get("x-checksum-sha256", "")
            want = expected or header
            name = _filename(resp) or names[0]
            if name not in names:
                raise MobilekitError(f"collector serves {path} of artifact {artifact_id!r} as {name!r}, its "
                                     f"manifest names {names[0]!r}", "push the artifact again")
            target, partial = dest_dir / name, dest_dir / (name + ".part")
            h = hashlib.sha256()
            with open(partial, "wb") as out:
                for block in resp.iter_bytes(CHUNK):
                    h.update(block)
                    out.write(block)
        got = h.hexdigest()
        if got != want or (header and header != got):
            partial.unlink(missing_ok=True)
            what = "download of" if expected is None else f"download of {names[0]} of"
            raise MobilekitError(f"{what} {artifact_id!r} has sha256 {got[:12]}..., "
                                 f"{'the server says' if expected is None else 'the manifest says'} {want[:12]}...",
                                 "download it again")
        partial.replace(target)
        return target


def _filename(resp: httpx.Response) -> Optional[str]:
    cd = resp.headers.get("content-disposition", "")
    for part in cd.split(";"):
        part = part.strip()
        if part.startswith("filename="):
            return Path(part[len("filename="):].strip('"')).name
    return None


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return detail if isinstance(detail, str) else str(detail)[:300]


def _fix(status: int) -> str:
    return {401: "pass the token `mobilekit collect` printed (--token or MOBILEKIT_TOKEN)",
            404: "check the id with GET /api/v1/artifacts",
            413: "the body is over the server's size limit",
            422: "fix the fields named above"}.get(status, "check the request and the server's log")
