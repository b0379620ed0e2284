"""Artifact folders from `mobilekit convert` (manifest.json, the model file and its check set
under checkset/) on both sides of the wire: read and check one on the client, keep the bytes
on the server.

A model that is a directory (an .mlpackage) travels as a zip with fixed timestamps and sorted
entries, so pushing the same artifact twice gives the same bytes and the same id. The server
keeps files content-addressed under its artifact folder (`<sha256 of the bytes>`), so the
database row and the bytes cannot disagree about what a hash means. Opening, verifying and
hashing an artifact are mobilekit.artifact's; this module adds the wire format's manifest
(the registry's targets), the zip and the server's store.

The check set's files (mobilekit/artifact/checkset.py) travel beside the model: on upload each
is a multipart file field named by its manifest path (`checkset/input.bin`), hashed against
the manifest's sha256 and kept content-addressed like the model; apps fetch each from
`GET /api/v1/artifacts/{id}/checkset/{name}`, hashed again before it is served. A manifest
without `check_set` (older converters) travels as before.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Optional

from mobilekit.artifact import (CHUNK, open_artifact, parse_manifest, sha256_file,  # noqa: F401 - client, server
                                zipped_directory_sha256)
from mobilekit.collector.wire import ArtifactManifest
from mobilekit.errors import MobilekitError

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
CHECKSET_PREFIX = "checkset/"
MAX_CHECKSET_FILES = 64  # input, labels and one per output: a cap on multipart parts, not a real limit


def artifact_id(manifest: ArtifactManifest) -> str:
    """Readable and stable: `vlf_b0-xnnpack-3f3f3f3f` (model, target, sha256 prefix)."""
    return f"{manifest.model}-{manifest.target}-{manifest.sha256[:8]}"


def zip_directory(src: Path, dest: Path) -> None:
    """Deterministic zip of a directory (entries relative to its parent, so it unzips to src.name)."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in src.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(src.parent)), date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with open(path, "rb") as f:
                zf.writestr(info, f.read())


def read_manifest(text: bytes | str, where: str) -> ArtifactManifest:
    """A manifest as the wire format takes it (the registry's targets and runtimes)."""
    return parse_manifest(text, where, ArtifactManifest)


def check_set_entries(check_set) -> list[dict]:
    """The check set's files as {file, name, sha256, bytes} (input, outputs, labels), from the
    manifest's `check_set` (a dict or the pydantic model; None: []). Each must sit directly
    in checkset/ under a name of its own, so it is one URL segment on the wire and one plain
    file on the phone; else MobilekitError."""
    if check_set is None:
        return []
    if hasattr(check_set, "model_dump"):
        check_set = check_set.model_dump(mode="json")
    entries = [check_set["input"], *check_set["outputs"]] + ([check_set["labels"]] if check_set.get("labels") else [])
    out, seen = [], set()
    for e in entries:
        rel = e["file"]
        name = rel[len(CHECKSET_PREFIX):]
        if not rel.startswith(CHECKSET_PREFIX) or not name or "/" in name or name in (".", ".."):
            raise MobilekitError(f"check set file {rel!r} is not directly in {CHECKSET_PREFIX}",
                                 "re-run `mobilekit convert`; it writes checkset/<name>.bin")
        if name in seen:
            raise MobilekitError(f"check set file {rel!r} is listed twice in the manifest",
                                 "re-run `mobilekit convert`")
        seen.add(name)
        out.append({"file": rel, "name": name, "sha256": e["sha256"], "bytes": e["bytes"]})
    return out


def check_one_program(manifest: ArtifactManifest) -> None:
    """The collector stores and serves one program per artifact: a frame-cache stream (an
    encoder and a head) would reach a phone without its head, so it is refused (MobilekitError)."""
    streaming = manifest.streaming
    if streaming is not None and len(streaming.programs) > 1:
        files = ", ".join(p.file for p in streaming.programs)
        raise MobilekitError(f"{manifest.model} is a frame-cache stream of {len(streaming.programs)} programs "
                             f"({files}); the collector serves one program per artifact",
                             "push it to a phone with `mobilekit android run DIR` (it copies every "
                             "program), or push the clip artifact or a state-form stream")


@dataclass
class ArtifactUpload:
    """What `mobilekit push` sends: the manifest, the file to upload (a zip for a directory)
    and the check set's files (field name = manifest path, local path)."""
    manifest: ArtifactManifest
    manifest_bytes: bytes
    path: Path            # the file to send
    upload_name: str      # its name on the wire: manifest.file, or manifest.file + ".zip"
    sha256: str           # of the bytes sent
    cleanup: Path | None = None
    check_files: list[tuple[str, Path]] = field(default_factory=list)

    def close(self) -> None:
        if self.cleanup is not None:
            shutil.rmtree(self.cleanup, ignore_errors=True)


def prepare_upload(folder: Path) -> ArtifactUpload:
    """Check an artifact folder (wire-valid manifest, model file intact, check set present
    and every file of it the bytes the manifest hashed) and get it ready to upload (caller
    closes it)."""
    from mobilekit.artifact.checkset import read_check_set

    art = open_artifact(folder, schema=ArtifactManifest)
    manifest, raw = art.manifest, art.manifest_path.read_bytes()
    check_one_program(manifest)
    entries = check_set_entries(manifest.check_set)
    if entries:  # a broken check set stops here: the phones would only report it missing
        read_check_set(art.folder, manifest.check_set)
    check_files = [(e["file"], art.folder / e["file"]) for e in entries]
    if art.file.is_dir():
        tmp = Path(tempfile.mkdtemp(prefix="mobilekit-push-"))
        zipped = tmp / f"{manifest.file}.zip"
        zip_directory(art.file, zipped)
        return ArtifactUpload(manifest, raw, zipped, zipped.name, sha256_file(zipped), cleanup=tmp,
                              check_files=check_files)
    return ArtifactUpload(manifest, raw, art.file, manifest.file, manifest.sha256, check_files=check_files)


UPLOAD_PREFIX = ".upload-"


class ArtifactFiles:
    """The server's artifact bytes: one file per sha256 under `root`."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def remove_stale_uploads(self, older_than: float) -> list[Path]:
        """Delete upload temp files last written before `older_than` (a time.time()): a killed
        server never got to remove them. Only our own prefix is touched; a newer one may be an
        upload in progress in another worker."""
        removed = []
        for p in self.root.glob(UPLOAD_PREFIX + "*"):
            try:
                if p.is_file() and not p.is_symlink() and p.stat().st_mtime < older_than:
                    p.unlink()
                    removed.append(p)
            except FileNotFoundError:  # another worker removed it first
                pass
        return removed

    def path(self, file_sha256: str) -> Path:
        return self.root / file_sha256

    def verified(self, file_sha256: str) -> Path:
        """The stored file, hashed again first: FileNotFoundError when absent, ChecksumMismatch
        when the bytes on disk are no longer the ones kept (a damaged disk, a hand edit)."""
        path = self.path(file_sha256)
        if not path.is_file():
            raise FileNotFoundError(path)
        got = sha256_file(path)
        if got != file_sha256:
            raise ChecksumMismatch(f"stored bytes have sha256 {got}, expected {file_sha256}")
        return path

    def save(self, src: BinaryIO, expected_sha256: str,
             verify: Optional[Callable[[Path], None]] = None) -> int:
        """Copy a stream in, hashing as it goes, and keep it only if its sha256 is the expected
        one (else ChecksumMismatch) and `verify(tmp_path)` does not raise. Atomic: a partial or
        refused upload never appears under a hash."""
        h, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=UPLOAD_PREFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                for block in iter(lambda: src.read(CHUNK), b""):
                    h.update(block)
                    size += len(block)
                    out.write(block)
            digest = h.hexdigest()
            if digest != expected_sha256:
                raise ChecksumMismatch(f"received bytes have sha256 {digest}, expected {expected_sha256}")
            if verify is not None:
                verify(Path(tmp))
            os.replace(tmp, self.path(digest))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size


class ChecksumMismatch(Exception):
    """Uploaded bytes that are not what the manifest (or the sender) says they are."""
