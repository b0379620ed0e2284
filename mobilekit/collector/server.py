"""The collector's HTTP API (FastAPI, served by uvicorn): phones and hosts post reports here,
apps download artifacts from here, `mobilekit report` and the dashboard read from here.

Auth: every write (POST) needs `Authorization: Bearer <token>`. Reads (GET) are open, so
the dashboard works in any browser on the LAN; a token sent on a GET is ignored.

Throughput: a report is validated in the request, then handed to one writer task that
stores whatever has queued up meanwhile in a single transaction (group commit), so SQLite
pays one commit per batch instead of one per report. The request answers only after its
batch committed: a 201 means stored.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import socket
import threading
import time
import zipfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from mobilekit import __version__
from mobilekit.collector.artifacts import (MAX_CHECKSET_FILES, ArtifactFiles, ChecksumMismatch, artifact_id,
                                          check_one_program, check_set_entries, read_manifest, zipped_directory_sha256)
from mobilekit.collector.storage import DEFAULT_DB_URL, ReportFilter, Store
from mobilekit.collector.summary import summarize
from mobilekit.collector.wire import DeviceReport, UtcDatetime
from mobilekit.errors import MobilekitError

MAX_REPORT_BYTES = 1 << 20          # a report with 10k raw latencies is ~150 KB
MAX_ARTIFACT_BYTES = 4 << 30
# Past the end a page is simply empty; beyond this an offset is a client bug (and would
# overflow the database's 64-bit integers), so it is a 422.
MAX_OFFSET = 2**31 - 1
# A `since` filter: ISO 8601 that has a UTC equivalent (else 422, not an overflow later).
Since = Annotated[Optional[UtcDatetime], Query(description="ISO 8601; runs created at or after")]
STATIC = Path(__file__).with_name("static")
log = logging.getLogger("mobilekit.collector")
_PROCESS_START = time.time()  # (module import): upload temp files older than this are orphans


# ------------------------------------------------------------------------------ limits
class BodyLimit:
    """413 for a request body over the limit: at once from Content-Length, or while it
    streams in (chunked uploads), before anything is parsed or stored."""

    def __init__(self, app, report_bytes: int, artifact_bytes: int):
        self.app, self.report_bytes, self.artifact_bytes = app, report_bytes, artifact_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        limit = self.artifact_bytes if scope["path"].startswith("/api/v1/artifacts") else self.report_bytes
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await JSONResponse(_too_large(int(length), limit), 413)(scope, receive, send)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # FastAPI turns this into the 413 response
                    raise HTTPException(413, _too_large(seen, limit)["detail"])
            return message

        await self.app(scope, limited_receive, send)


def _too_large(size: int, limit: int) -> dict:
    return {"detail": f"request body of {size} bytes is over the limit of {limit} bytes; "
                      "send fewer raw latencies (keep the stats) or raise the server's limit"}


# ------------------------------------------------------------------------------ writer
class ReportWriter:
    """One task that stores queued reports in batches, one transaction each."""

    def __init__(self, store: Store, max_batch: int = 1000):
        self.store, self.max_batch = store, max_batch
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task: Optional[asyncio.Task] = None

    async def submit(self, report: DeviceReport) -> bool:
        """True if stored now, False if this report id was already stored."""
        fut = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((report, fut))
        return await fut

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                results = await asyncio.to_thread(self.store.add_reports, [r for r, _ in batch])
            except Exception:
                # Keep one bad report from failing its neighbours: retry one by one.
                results = []
                for report, _ in batch:
                    try:
                        results.append((await asyncio.to_thread(self.store.add_reports, [report]))[0])
                    except Exception as e:
                        results.append(e)
            for (report, fut), res in zip(batch, results):
                if res is True and log.isEnabledFor(logging.INFO):
                    log.info("%s", _describe(report))
                if fut.done():
                    continue
                if isinstance(res, Exception):
                    fut.set_exception(res)
                else:
                    fut.set_result(res)


def _describe(r: DeviceReport) -> str:
    if r.results:
        what = f"median {r.results.latency_ms.median:.2f} ms, p90 {r.results.latency_ms.p90:.2f} ms"
    else:  # one line of the device's error text, whatever it sent
        what = "FAILED: " + (r.error or "").strip().split("\n", 1)[0][:200]
    return (f"report {r.report_id}: {r.artifact.model} ({r.artifact.target}) on {r.device.model} "
            f"[{r.config.compute_units}]: {what}")


# ------------------------------------------------------------------------------ helpers
def _errors(e: ValidationError) -> list[dict]:
    return [{"field": ".".join(str(p) for p in err["loc"]) or "(body)",
             "message": err["msg"].removeprefix("Value error, ")} for err in e.errors()]


class _Cache:
    """Summaries and plots keyed by the database revision: polling dashboards cost one query."""

    def __init__(self, size: int = 64):
        self.size, self.items = size, {}
        self.lock = threading.Lock()  # GET handlers run in a thread pool

    def get(self, key, make):
        with self.lock:  # also keeps two dashboards from computing the same summary twice
            if key not in self.items:
                if len(self.items) >= self.size:
                    self.items.pop(next(iter(self.items)))
                self.items[key] = make()
            return self.items[key]


def lan_addresses() -> list[str]:
    """IPv4 addresses of this machine that a phone on the same network can reach."""
    found: list[str] = []
    try:  # the interface of the default route; a UDP connect sends nothing
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            found.append(s.getsockname()[0])
    except OSError:
        pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(info[4][0])
    except OSError:
        pass
    out = []
    for a in found:
        if a not in out and not a.startswith("127."):
            out.append(a)
    return out


# --------------------------------------------------------------------------------- app
def create_app(db_url: str = DEFAULT_DB_URL, token: str = "", artifacts_dir: Optional[Path] = None,
               max_report_bytes: int = MAX_REPORT_BYTES,
               max_artifact_bytes: int = MAX_ARTIFACT_BYTES) -> FastAPI:
    """The collector app. Artifact bytes go to `artifacts_dir` (default: beside the SQLite
    file as <name>.artifacts/, or ./mobilekit-artifacts for PostgreSQL)."""
    if not token:
        raise MobilekitError("the collector needs a token", "pass --token or set MOBILEKIT_TOKEN")
    store = Store(db_url)
    if artifacts_dir is None:
        artifacts_dir = (store.sqlite_path.with_name(store.sqlite_path.name + ".artifacts")
                         if store.sqlite_path else Path("mobilekit-artifacts"))
    files = ArtifactFiles(Path(artifacts_dir))
    # Uploads a killed process left half-written: ours by prefix, and older than this process.
    for stale in files.remove_stale_uploads(older_than=_PROCESS_START):
        log.info("removed %s, an upload a stopped collector left unfinished", stale)
    writer = ReportWriter(store)
    cache = _Cache()
    expected_token = token.encode()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        writer.task = asyncio.create_task(writer.run())
        try:
            yield
        finally:
            writer.task.cancel()
            store.close()

    app = FastAPI(title="mobilekit collector", version=__version__, lifespan=lifespan,
                  description="Latency reports from phones and hosts; artifacts for the apps. "
                              "POSTs need `Authorization: Bearer <token>`; GETs are open.")
    app.add_middleware(BodyLimit, report_bytes=max_report_bytes, artifact_bytes=max_artifact_bytes)
    app.state.store, app.state.files = store, files

    def require_token(request: Request) -> None:
        # RFC 7235: the scheme is case-insensitive (`bearer x` is `Bearer x`).
        scheme, _, credentials = request.headers.get("authorization", "").strip().partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), expected_token)
        if not ok:
            raise HTTPException(401, "missing or wrong token; send `Authorization: Bearer <token>` "
                                     "with the token `mobilekit collect` printed",
                                headers={"WWW-Authenticate": "Bearer"})

    def report_filter(model, target, device, runtime, since) -> ReportFilter:
        return ReportFilter(model=model, target=target, device=device, runtime=runtime, since=since)

    # ---------------------------------------------------------------------- reports
    @app.post("/api/v1/reports", status_code=201, summary="Store a device report",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"$ref": "#/components/schemas/DeviceReport"}}}}})
    async def post_report(request: Request) -> JSONResponse:
        """Body: a DeviceReport (mobilekit.collector.wire). 201 when stored; 200 with
        `duplicate: true` when this report_id was stored before (nothing changes)."""
        require_token(request)
        body = await request.body()
        try:
            report = DeviceReport.model_validate_json(body)
        except ValidationError as e:
            errs = _errors(e)
            fields = ", ".join(sorted({x["field"] for x in errs}))
            first = f"{errs[0]['field']}: {errs[0]['message']}"
            return JSONResponse({"detail": f"invalid report: check {fields} ({first})", "errors": errs}, 422)
        new = await writer.submit(report)
        return JSONResponse({"id": report.report_id, "duplicate": not new}, 201 if new else 200)

    @app.get("/api/v1/reports", summary="Stored reports, newest first")
    def get_reports(model: Optional[str] = None, target: Optional[str] = None,
                    device: Optional[str] = None, runtime: Optional[str] = None,
                    since: Since = None, limit: int = Query(100, ge=0, le=10000),
                    offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> dict:
        """`device` matches the device model, model identifier or make (case-insensitive).
        `total` counts every match; `reports` holds one page of full payloads."""
        total, page = store.list_reports(report_filter(model, target, device, runtime, since), limit, offset)
        return {"total": total, "limit": limit, "offset": offset, "reports": page}

    def _summary(f: ReportFilter, relative_to: Optional[str]) -> tuple[int, int, list[dict]]:
        rev, count = store.revision()
        rows = cache.get(("summary", rev, f, relative_to),
                         lambda: summarize(store.summary_rows(f), relative_to))
        return rev, count, rows

    @app.get("/api/v1/summary", summary="Latency per model x device x compute unit")
    def get_summary(model: Optional[str] = None, target: Optional[str] = None,
                    device: Optional[str] = None, runtime: Optional[str] = None,
                    since: Since = None,
                    relative_to: Optional[str] = Query(None, description="Reference model, e.g. vlf_b0; "
                                                       "default: the fastest model per column")) -> dict:
        """Rows: runs, failed, median_ms (median of the runs' medians), p90_ms (median of the
        runs' p90s) and relative (median_ms / the reference's on the same device, unit, target).
        `revision` changes whenever a report is stored."""
        rev, count, rows = _summary(report_filter(model, target, device, runtime, since), relative_to)
        return {"revision": rev, "reports": count, "relative_to": relative_to, "rows": rows}

    @app.get("/api/v1/summary.png", summary="The summary as a plot (PNG)",
             response_class=Response, responses={200: {"content": {"image/png": {}}}})
    def get_summary_png(model: Optional[str] = None, target: Optional[str] = None,
                        device: Optional[str] = None, runtime: Optional[str] = None,
                        since: Since = None, relative_to: Optional[str] = None) -> Response:
        from mobilekit.collector.plots import plot_summary

        f = report_filter(model, target, device, runtime, since)
        rev, _, rows = _summary(f, relative_to)
        png = cache.get(("png", rev, f, relative_to), lambda: plot_summary(rows, relative_to))
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-cache"})

    # -------------------------------------------------------------------- artifacts
    @app.post("/api/v1/artifacts", status_code=201, summary="Upload an artifact folder")
    async def post_artifact(request: Request) -> JSONResponse:
        """multipart/form-data: `manifest` (manifest.json), `file` (the model file, or for a
        directory such as an .mlpackage a zip named `<manifest.file>.zip`), for a zip `sha256`
        of the zip, and when the manifest has a `check_set` one file field per check set file
        named by its manifest path (`checkset/input.bin`, ...). A file must hash to the
        manifest's sha256; a zip to the given sha256, and the directory inside it to the
        manifest's sha256 (path + bytes of each file, as `mobilekit convert` hashes it); each
        check set file to its manifest sha256; else 422 and nothing is kept. The same
        artifact again: 200, duplicate (a check set it lacked is kept now)."""
        require_token(request)
        async with request.form(max_files=2 + MAX_CHECKSET_FILES, max_fields=4) as form:
            mfile, upload = form.get("manifest"), form.get("file")
            if mfile is None or upload is None or isinstance(upload, str):
                raise HTTPException(422, "multipart fields `manifest` and `file` are required; "
                                         "upload with `mobilekit push ARTIFACT_DIR`")
            raw = await mfile.read() if not isinstance(mfile, str) else mfile.encode()
            try:
                manifest = read_manifest(raw, "manifest")
                check_one_program(manifest)
            except MobilekitError as e:
                raise HTTPException(422, str(e))
            name = Path(upload.filename or "").name
            if name == manifest.file:
                expected = manifest.sha256
            elif name == f"{manifest.file}.zip":
                expected = str(form.get("sha256") or "")
                if len(expected) != 64:
                    raise HTTPException(422, "a zipped directory needs the `sha256` field of the zip")
            else:
                raise HTTPException(422, f"file is named {name!r} but the manifest names {manifest.file!r} "
                                         f"(or {manifest.file}.zip for a directory)")
            verify = None
            if name != manifest.file:
                def verify(path: Path) -> None:  # the zipped directory is the one the manifest hashed
                    try:
                        got = zipped_directory_sha256(path, manifest.file)
                    except (ValueError, zipfile.BadZipFile) as e:
                        raise ChecksumMismatch(f"the upload is not a zip of {manifest.file}/ ({e})")
                    if got != manifest.sha256:
                        raise ChecksumMismatch(f"{manifest.file} inside the zip has sha256 {got}, "
                                               f"the manifest says {manifest.sha256}")
            try:
                entries = check_set_entries(manifest.check_set)
            except MobilekitError as e:
                raise HTTPException(422, str(e))
            parts = {}
            for e in entries:  # all present before any byte is kept
                part = form.get(e["file"])
                if part is None or isinstance(part, str):
                    raise HTTPException(422, f"the manifest indexes a check set but the upload has no "
                                             f"{e['file']}; push the whole folder with `mobilekit push`")
                parts[e["file"]] = part
            kept: list[Path] = []  # new files only: another artifact may share a check set's bytes
            try:
                for e in entries:
                    fresh = not files.path(e["sha256"]).exists()
                    try:
                        await asyncio.to_thread(files.save, parts[e["file"]].file, e["sha256"])
                    except ChecksumMismatch as err:
                        raise ChecksumMismatch(f"check set file {e['file']}: {err}")
                    if fresh:
                        kept.append(files.path(e["sha256"]))
                size = await asyncio.to_thread(files.save, upload.file, expected, verify)
            except ChecksumMismatch as e:
                for p in kept:
                    p.unlink(missing_ok=True)
                raise HTTPException(422, f"checksum mismatch: {e}; the upload was damaged or the "
                                         "manifest does not belong to this file, nothing was kept")
        aid = artifact_id(manifest)
        new = await asyncio.to_thread(store.add_artifact, aid, manifest, name, expected, size)
        return JSONResponse({"id": aid, "duplicate": not new, "sha256": manifest.sha256,
                             "file_sha256": expected, "size_bytes": size, "check_set_files": len(entries),
                             "check_set_bytes": sum(e["bytes"] for e in entries)}, 201 if new else 200)

    @app.get("/api/v1/artifacts", summary="Uploaded artifacts")
    def get_artifacts(model: Optional[str] = None, target: Optional[str] = None) -> dict:
        """Each: id, model, target, precision, sha256 (manifest), file_name, file_sha256 (of
        the bytes GET .../file serves), size_bytes, uploaded_at."""
        return {"artifacts": store.list_artifacts(model, target)}

    def _artifact(aid: str) -> dict:
        row = store.get_artifact(aid)
        if row is None:
            raise HTTPException(404, f"no artifact {aid!r}; GET /api/v1/artifacts lists the ids")
        return row

    @app.get("/api/v1/artifacts/{aid}/manifest", summary="An artifact's manifest.json")
    def get_artifact_manifest(aid: str) -> Response:
        return Response(_artifact(aid)["manifest"], media_type="application/json")

    @app.get("/api/v1/artifacts/{aid}/file", summary="An artifact's file (checksum in headers)",
             response_class=FileResponse)
    def get_artifact_file(aid: str) -> FileResponse:
        """Headers: X-Checksum-Sha256 and ETag carry the sha256 of the bytes served."""
        row = _artifact(aid)
        path = files.path(row["file_sha256"])
        if not path.is_file():
            raise HTTPException(410, f"the bytes of {aid!r} are missing from {files.root}; push it again")
        return FileResponse(path, filename=row["file_name"], media_type="application/octet-stream",
                            headers={"X-Checksum-Sha256": row["file_sha256"],
                                     "ETag": f'"{row["file_sha256"]}"'})

    @app.get("/api/v1/artifacts/{aid}/checkset/{name}", summary="A file of an artifact's check set",
             response_class=FileResponse)
    def get_artifact_checkset(aid: str, name: str) -> FileResponse:
        """`name` as in the manifest's check_set (`input.bin` for checkset/input.bin), hashed
        against the manifest before it is served; X-Checksum-Sha256 carries that sha256.
        404: no such file in the manifest; 410: the bytes are missing (pushed before the
        collector kept check sets) or damaged: push the artifact again."""
        row = _artifact(aid)
        try:
            entries = check_set_entries(json.loads(row["manifest"]).get("check_set"))
        except (MobilekitError, ValueError, KeyError, TypeError) as e:
            raise HTTPException(410, f"the stored manifest of {aid!r} has no usable check set ({e}); push it again")
        entry = next((e for e in entries if e["name"] == name), None)
        if entry is None:
            have = ", ".join(e["name"] for e in entries) or "none: the artifact has no check set"
            raise HTTPException(404, f"{aid!r} has no check set file {name!r} (it has {have})")
        try:
            path = files.verified(entry["sha256"])
        except FileNotFoundError:
            raise HTTPException(410, f"the check set of {aid!r} is not on this collector (pushed before it "
                                     "kept check sets); push the artifact again")
        except ChecksumMismatch as e:
            raise HTTPException(410, f"the stored check set file {entry['file']} of {aid!r} is damaged ({e}); "
                                     "push the artifact again")
        return FileResponse(path, filename=name, media_type="application/octet-stream",
                            headers={"X-Checksum-Sha256": entry["sha256"], "ETag": f'"{entry["sha256"]}"'})

    # ------------------------------------------------------------------------- misc
    @app.get("/healthz", summary="Ready check")
    def healthz() -> dict:
        rev, count = store.revision()
        return {"status": "ok", "version": __version__, "reports": count}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> HTMLResponse:
        return HTMLResponse((STATIC / "dashboard.html").read_text())

    def openapi() -> dict:
        # The report body is read by hand (for our 422 format), so FastAPI does not know its
        # model: put it and its nested models under components, where its $refs point.
        if app.openapi_schema is None:
            doc = FastAPI.openapi(app)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            body = DeviceReport.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in {**body.pop("$defs", {}), "DeviceReport": body}.items():
                if schemas.setdefault(name, sub) != sub:
                    raise RuntimeError(f"OpenAPI component {name!r} defined twice")  # a naming bug
        return app.openapi_schema

    app.openapi = openapi
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` with several workers: settings come from the env."""
    return create_app(db_url=os.environ.get("MOBILEKIT_DB", DEFAULT_DB_URL),
                      token=os.environ.get("MOBILEKIT_TOKEN", ""),
                      artifacts_dir=(Path(os.environ["MOBILEKIT_ARTIFACTS"])
                                     if os.environ.get("MOBILEKIT_ARTIFACTS") else None))


def serve(host: str, port: int, db_url: str, token: str, artifacts_dir: Optional[Path] = None,
          workers: int = 1, access_log: bool = False, quiet: bool = False) -> None:
    """Run the collector under uvicorn until interrupted (blocks). Unless quiet, each stored
    report is logged as one line (logger mobilekit.collector) on stderr."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    log_config = json.loads(json.dumps(LOGGING_CONFIG))
    log_config["formatters"]["mobilekit"] = {"format": "%(asctime)s %(message)s", "datefmt": "%H:%M:%S"}
    log_config["handlers"]["mobilekit"] = {"formatter": "mobilekit", "class": "logging.StreamHandler",
                                           "stream": "ext://sys.stderr"}
    log_config["loggers"]["mobilekit.collector"] = {"handlers": ["mobilekit"], "propagate": False,
                                                    "level": "WARNING" if quiet else "INFO"}
    opts: dict[str, Any] = dict(host=host, port=port, log_level="info" if access_log else "warning",
                                access_log=access_log, loop="auto", http="auto", log_config=log_config)
    if workers > 1:
        os.environ.update(MOBILEKIT_DB=db_url, MOBILEKIT_TOKEN=token)
        if artifacts_dir:
            os.environ["MOBILEKIT_ARTIFACTS"] = str(artifacts_dir)
        Store(db_url).close()  # create the tables once, before the workers race to
        uvicorn.run("mobilekit.collector.server:app_from_env", factory=True, workers=workers, **opts)
    else:
        uvicorn.run(create_app(db_url, token, artifacts_dir), **opts)

