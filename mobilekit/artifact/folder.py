"""An artifact on disk: a folder holding the model file (or .mlpackage directory) and
manifest.json. Open it and verify it, read its manifest, write one.

    art = open_artifact("artifacts/vlf_b0-xnnpack")    # or ".../model.pte" with its manifest beside it
    art.folder, art.file, art.manifest.target          # manifest: a validated ArtifactManifest

Every problem is a one-line MobilekitError naming it: a missing path, no manifest.json, an
invalid manifest (with the fields at fault), a missing model file, a sha256 mismatch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, TypeVar

from mobilekit.artifact.digest import sha256_of
from mobilekit.artifact.schema import MANIFEST_FILE_NAME, ArtifactManifest
from mobilekit.errors import MobilekitError

M = TypeVar("M", bound=ArtifactManifest)
_RECONVERT = "re-create the artifact with `mobilekit convert`"


@dataclass(frozen=True)
class ArtifactFolder:
    """An opened artifact. `manifest` is the validated model (of the schema `open_artifact`
    was given; use `.model_dump(mode="json")` for the dict); it is None only for a bare model
    file opened with `bare_ok=True`."""

    folder: Path
    file: Path
    manifest: Optional[ArtifactManifest]

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST_FILE_NAME

    def verify(self) -> None:
        """Raise unless the model's sha256 is the manifest's (nothing to check without one)."""
        if self.manifest is None:
            return
        digest = sha256_of(self.file)
        if digest != self.manifest.sha256:
            raise MobilekitError(
                f"{self.file} does not match the manifest's sha256 (it hashes to {digest[:12]}..., "
                f"the manifest says {self.manifest.sha256[:12]}...)",
                "it changed after conversion, or a copy damaged it: copy the whole artifact folder "
                "again, or re-run `mobilekit convert`")


def parse_manifest(data: bytes | str | dict, where: str, schema: type[M] = ArtifactManifest) -> M:
    """A manifest (its JSON text, or a dict) validated by `schema`; `where` names it in the error."""
    from pydantic import ValidationError

    try:
        return schema.model_validate(data) if isinstance(data, dict) else schema.model_validate_json(data)
    except ValidationError as e:
        errs = e.errors()
        fields = ", ".join(dict.fromkeys(".".join(str(p) for p in err["loc"]) or "(root)" for err in errs))
        first = errs[0]["msg"].removeprefix("Value error, ")
        raise MobilekitError(f"{where} is not a valid artifact manifest (fields: {fields}; {first})",
                             _RECONVERT) from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise MobilekitError(f"cannot read {path}: {e.strerror or e}",
                             "check the file's permissions, or re-create the artifact") from None


def read_manifest(folder_or_file: str | Path, schema: type[M] = ArtifactManifest) -> M:
    """The validated manifest of an artifact folder (or of a manifest.json path)."""
    p = Path(folder_or_file)
    p = p / MANIFEST_FILE_NAME if p.is_dir() else p
    if not p.is_file():
        raise MobilekitError(f"{p} does not exist", "give a folder written by `mobilekit convert`")
    return parse_manifest(_read_bytes(p), str(p), schema)


def _names(raw: bytes) -> Optional[str]:
    """The `file` a manifest's JSON names, or None when it is not a JSON object naming one."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    name = data.get("file") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


def open_artifact(path: str | Path, *, verify: bool = True, bare_ok: bool = False,
                  schema: type[ArtifactManifest] = ArtifactManifest) -> ArtifactFolder:
    """Open an artifact folder, or a model file (or .mlpackage) with the manifest that names
    it beside it; with `verify`, check the model's sha256 against the manifest.

    `bare_ok`: a model file without a manifest that names it opens with manifest None (host
    runtimes run plain .onnx / .pte files). `schema`: the model to validate with (the
    collector passes its wire-format subclass, which knows the registry's targets)."""
    p = Path(path)
    if not p.exists():
        raise MobilekitError(f"{p} does not exist", "give an artifact folder written by `mobilekit convert`"
                             + (" or a model file" if bare_ok else ""))
    if p.is_dir() and p.suffix != ".mlpackage":
        mpath = p / MANIFEST_FILE_NAME
        if not mpath.is_file():
            raise MobilekitError(f"{p} has no manifest.json",
                                 "give a folder written by `mobilekit convert` (the model file and manifest.json)"
                                 + (", or the model file itself" if bare_ok else ""))
        manifest = parse_manifest(_read_bytes(mpath), str(mpath), schema)
        art = ArtifactFolder(p, p / manifest.file, manifest)
        if not art.file.exists():
            raise MobilekitError(f"{art.file} named by {mpath} is missing",
                                 "copy the whole artifact folder, or re-run `mobilekit convert`")
    else:
        mpath = p.parent / MANIFEST_FILE_NAME
        raw = _read_bytes(mpath) if mpath.is_file() else None
        named = _names(raw) if raw is not None else None
        if named == p.name or (raw is not None and named is None and not bare_ok):
            art = ArtifactFolder(p.parent, p, parse_manifest(raw, str(mpath), schema))
        elif bare_ok:
            art = ArtifactFolder(p.parent, p, None)
        elif raw is None:
            raise MobilekitError(f"{p} has no manifest.json beside it",
                                 "give the folder written by `mobilekit convert` (the model file and manifest.json)")
        else:
            raise MobilekitError(f"{mpath} describes {named!r}, not {p.name}",
                                 "give the artifact folder itself, or keep each model in its own folder")
    if verify:
        art.verify()
    return art


def write_manifest(folder: str | Path, manifest: ArtifactManifest | dict) -> Path:
    """Write `folder`/manifest.json atomically (a crash never leaves half a manifest beside an
    artifact). A dict is validated first; returns the path."""
    if not isinstance(manifest, ArtifactManifest):
        manifest = parse_manifest(manifest, "the manifest to write")
    path = Path(folder) / MANIFEST_FILE_NAME
    tmp = path.with_name(f".{MANIFEST_FILE_NAME}.tmp{os.getpid()}")
    try:
        with open(tmp, "w") as fh:
            fh.write(json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path

