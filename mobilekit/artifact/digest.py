"""The manifest's sha256 and size of an artifact's model, one definition for every reader.

A model is a file (.pte, .tflite, .onnx, .ptl) or a directory (a Core ML .mlpackage). The
sha256 of a file is of its bytes. The sha256 of a directory is of, for each regular file
under it in order of its relative POSIX path (plain string order): that path in UTF-8, a
NUL byte, then the file's bytes. The collector computes the same digest of the directory
inside an uploaded zip without extracting it (zipped_directory_sha256), so the path order is
the string order a zip listing sorts to, not pathlib's per-component order.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


def _feed(h, fh: BinaryIO) -> None:
    for block in iter(lambda: fh.read(CHUNK), b""):
        h.update(block)


def _directory_files(path: Path) -> list[tuple[str, Path]]:
    """(relative POSIX path, file) of every regular file under `path`, in digest order."""
    return sorted((f.relative_to(path).as_posix(), f) for f in path.rglob("*") if f.is_file())


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        _feed(h, fh)
    return h.hexdigest()


def directory_sha256(path: str | Path) -> str:
    """The manifest's sha256 of a directory model (.mlpackage); see the module docstring."""
    path = Path(path)
    h = hashlib.sha256()
    for rel, f in _directory_files(path):
        h.update(rel.encode() + b"\0")
        with open(f, "rb") as fh:
            _feed(h, fh)
    return h.hexdigest()


def zipped_directory_sha256(zip_path: str | Path, top: str) -> str:
    """directory_sha256 of the directory `top` inside a zip, read without extracting; a zip
    with anything outside `top/` is refused (ValueError)."""
    h = hashlib.sha256()
    with zipfile.ZipFile(zip_path) as zf:
        entries = {}
        for info in zf.infolist():
            if info.is_dir():
                continue
            if not info.filename.startswith(top + "/"):
                raise ValueError(f"zip entry {info.filename!r} is outside {top}/")
            entries[info.filename[len(top) + 1:]] = info
        for rel in sorted(entries):
            h.update(rel.encode() + b"\0")
            with zf.open(entries[rel]) as fh:
                _feed(h, fh)
    return h.hexdigest()


def sha256_of(path: str | Path) -> str:
    """The manifest's sha256 of a model: of a file's bytes, or of a directory (.mlpackage)."""
    path = Path(path)
    return directory_sha256(path) if path.is_dir() else sha256_file(path)


def size_of(path: str | Path) -> int:
    """The manifest's size_bytes: a file's size, or the sum of a directory's files."""
    path = Path(path)
    if path.is_dir():
        return sum(f.stat().st_size for _, f in _directory_files(path))
    return path.stat().st_size
