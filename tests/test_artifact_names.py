"""One artifact naming rule for every reader: the collector's wire model (server and Python
client), Android's Manifest.java and iOS's ArtifactNames.swift are each tested on the cases in
mobilekit/collector/schemas/artifact_names.json (Java in ManifestTest, Swift in
ArtifactNamesTests)."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from conftest import REPO
from mobilekit.artifact import MODEL_NAME_PATTERN
from mobilekit.collector.wire import SCHEMA_DIR, ArtifactManifest

NAMES = json.loads((SCHEMA_DIR / "artifact_names.json").read_text())
GOLDEN = json.loads((SCHEMA_DIR / "golden" / "manifest_xnnpack.json").read_text())


def _manifest(**changes) -> dict:
    return {**GOLDEN, **changes}


@pytest.mark.parametrize("name", NAMES["good_files"])
def test_good_file_names_are_accepted(name):
    assert ArtifactManifest.model_validate(_manifest(file=name)).file == name


@pytest.mark.parametrize("name", NAMES["bad_files"])
def test_bad_file_names_are_refused(name):
    with pytest.raises(ValidationError, match="file"):
        ArtifactManifest.model_validate(_manifest(file=name))


@pytest.mark.parametrize("name", NAMES["good_models"])
def test_good_model_names_are_accepted(name):
    assert ArtifactManifest.model_validate(_manifest(model=name)).model == name


@pytest.mark.parametrize("name", NAMES["bad_models"] + ["a" * 101])
def test_bad_model_names_are_refused(name):
    with pytest.raises(ValidationError, match="model"):
        ArtifactManifest.model_validate(_manifest(model=name))


def test_every_reader_states_the_same_model_pattern():
    assert NAMES["model_pattern"] == MODEL_NAME_PATTERN
    java = (REPO / "android_app/benchcore/src/main/java/org/mobilekit/benchcore/Manifest.java").read_text()
    assert f'"{MODEL_NAME_PATTERN.strip("^$")}"' in java
    swift = (REPO / "ios_app/BenchCore/Sources/BenchCore/ArtifactNames.swift").read_text()
    assert "(1...100).contains" in swift and re.search(r'"_".*"\.".*"-"', swift)
