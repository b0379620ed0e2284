"""manifest.json: built from the conversion's facts and validated with the wire format's
ArtifactManifest (mobilekit.collector.wire), so apps can rely on its versioned schema."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from mobilekit.errors import MobilekitError

MANIFEST_NAME = "manifest.json"

def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def sha256_of(path: Path) -> str:
    """sha256 of a file; for a folder (.mlpackage), of each file's relative path and bytes in
    sorted order, so the same package hashes the same on every machine."""
    h = hashlib.sha256()
    for f in _files(path):
        if path.is_dir():
            h.update(f.relative_to(path).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in _files(path))


def build_manifest(**fields) -> dict:
    """Validate through ArtifactManifest and return the JSON-ready dict."""
    from pydantic import ValidationError

    from mobilekit.collector.wire import ArtifactManifest

    fields.setdefault("created_at", datetime.now(timezone.utc).replace(microsecond=0))
    try:
        return ArtifactManifest.model_validate(fields).model_dump(mode="json")
    except ValidationError as e:
        raise MobilekitError(f"the manifest does not fit the wire format: {e.errors()[0]}",
                             "this is a mobilekit bug; please report it with --debug output") from e


def write_manifest(folder: Path, manifest: dict) -> Path:
    path = folder / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(path)  # never leave a half-written manifest beside an artifact
    return path


def read_manifest(folder_or_file: str | Path) -> dict:
    """The manifest of an artifact folder, validated against the wire format."""
    from mobilekit.collector.wire import ArtifactManifest

    p = Path(folder_or_file)
    p = p / MANIFEST_NAME if p.is_dir() else p
    try:
        return ArtifactManifest.model_validate_json(p.read_text()).model_dump(mode="json")
    except FileNotFoundError:
        raise MobilekitError(f"{p} does not exist", "give a folder written by `mobilekit convert`") from None
    except ValueError as e:
        raise MobilekitError(f"{p} is not a valid manifest: {str(e).splitlines()[0]}",
                             "re-convert the model with `mobilekit convert`") from e
