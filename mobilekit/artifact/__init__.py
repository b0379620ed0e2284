"""The artifact: what `mobilekit convert` writes (a model file or .mlpackage, and manifest.json
beside it in one folder), and the one place it is described, opened, verified and written.

    from mobilekit.artifact import open_artifact, write_manifest, sha256_of
    art = open_artifact("artifacts/vlf_b0-xnnpack")      # sha256 checked; MobilekitError if not intact
    art.file, art.manifest.input.shape

    schema.py   the manifest's pydantic models and naming rules (ArtifactManifest, ...)
    digest.py   sha256 of a file, a directory (.mlpackage) or a directory inside a zip; size
    folder.py   open_artifact / read_manifest / parse_manifest / write_manifest

Ground floor: imports only mobilekit.errors, the standard library and pydantic. It knows no
target list; the collector's wire format narrows target and runtime to the registry's
(converters.backends). Names are imported on first use (PEP 562), so importing the package
for the digest functions does not import pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    **dict.fromkeys(("ArtifactManifest", "InputSpec", "OutputSpec", "Validation", "Quantization", "StrictModel",
                     "JsonObject", "UtcDatetime", "MANIFEST_FILE_NAME", "MANIFEST_SCHEMA_VERSION",
                     "MODEL_NAME_PATTERN", "NAME_PATTERN", "check_file_name", "check_model_name", "check_name",
                     "check_sha256"), "mobilekit.artifact.schema"),
    **dict.fromkeys(("CHUNK", "sha256_file", "directory_sha256", "zipped_directory_sha256", "sha256_of",
                     "size_of"), "mobilekit.artifact.digest"),
    **dict.fromkeys(("ArtifactFolder", "open_artifact", "parse_manifest", "read_manifest", "write_manifest"),
                    "mobilekit.artifact.folder"),
}

if TYPE_CHECKING:
    from mobilekit.artifact.digest import (CHUNK, directory_sha256, sha256_file, sha256_of, size_of,
                                           zipped_directory_sha256)
    from mobilekit.artifact.folder import ArtifactFolder, open_artifact, parse_manifest, read_manifest, write_manifest
    from mobilekit.artifact.schema import (MANIFEST_FILE_NAME, MANIFEST_SCHEMA_VERSION, MODEL_NAME_PATTERN,
                                           NAME_PATTERN, ArtifactManifest, InputSpec, JsonObject, OutputSpec,
                                           Quantization, StrictModel, UtcDatetime, Validation, check_file_name,
                                           check_model_name, check_name, check_sha256)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mobilekit.artifact' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
