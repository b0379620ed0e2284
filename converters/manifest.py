"""manifest.json from a conversion's facts: validated by the artifact's schema
(mobilekit.artifact) and checked against the registry, so apps can rely on its versioned
schema and the collector accepts it.

Reading, writing, hashing and sizing artifacts live in mobilekit.artifact.
"""

from __future__ import annotations

from datetime import datetime, timezone

from mobilekit.errors import MobilekitError


def build_manifest(**fields) -> dict:
    """Validate through ArtifactManifest and the registry; return the JSON-ready dict."""
    from pydantic import ValidationError

    from converters.backends import TARGETS
    from mobilekit.artifact import ArtifactManifest

    fields.setdefault("created_at", datetime.now(timezone.utc).replace(microsecond=0))
    bug = "this is a mobilekit bug; please report it with --debug output"
    try:
        manifest = ArtifactManifest.model_validate(fields)
    except ValidationError as e:
        raise MobilekitError(f"the manifest does not fit the wire format: {e.errors()[0]}", bug) from e
    target = TARGETS.get(manifest.target)
    if target is None or manifest.runtime != target.runtime:
        raise MobilekitError(f"the manifest's target {manifest.target!r} and runtime {manifest.runtime!r} "
                             "are not a registered pair (converters.backends)", bug)
    return manifest.model_dump(mode="json")
