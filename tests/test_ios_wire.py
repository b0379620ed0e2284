"""The iOS app's Codable structs (ios_app/BenchCore/Sources/BenchCore/Wire.swift) against the
collector's checked-in JSON Schemas. No Swift compiler runs here, so the Swift source is
parsed: every schema property has a CodingKey with the same JSON key, the Swift type fits
the schema type (nullable <-> optional, required -> non-optional), no extra keys, and
encode(to:) writes every key (as null when nil), so a schema change cannot silently break
the app. The XCTest suite (swift test, on a Mac) round-trips the golden payloads themselves."""

from __future__ import annotations

import json
import plistlib
import re
from pathlib import Path

import pytest

from conftest import REPO
from mobilekit.collector.wire import SCHEMA_DIR

BENCHCORE = REPO / "ios_app" / "BenchCore"
WIRE_SWIFT = BENCHCORE / "Sources" / "BenchCore" / "Wire.swift"


def _block(src: str, start: int) -> str:
    """The text between the `{` at or after `start` and its matching `}`."""
    open_at = src.index("{", start)
    depth = 0
    for i in range(open_at, len(src)):
        depth += {"{": 1, "}": -1}.get(src[i], 0)
        if depth == 0:
            return src[open_at + 1:i]
    raise AssertionError("unbalanced braces in Swift source")


def swift_structs(src: str) -> dict[str, dict]:
    """name -> {props: {name: type}, keys: {case: json key}, encoded: [case, ...]}"""
    out = {}
    for m in re.finditer(r"^public struct (\w+): Codable\b", src, re.M):
        body = _block(src, m.end())
        props = dict(re.findall(r"^    public (?:var|let) (\w+): ([^=\n]+?)\s*$", body, re.M))
        ck = re.search(r"enum CodingKeys: String, CodingKey", body)
        keys: dict[str, str] = {}
        if ck:
            for line in _block(body, ck.end()).splitlines():
                line = line.strip()
                if not line.startswith("case "):
                    continue
                for part in line[5:].split(","):
                    name, _, raw = part.partition("=")
                    keys[name.strip()] = raw.strip().strip('"') if raw else name.strip()
        enc = re.search(r"func encode\(to encoder: Encoder\) throws", body)
        encoded = re.findall(r"c\.encode\((\w+), forKey: \.(\w+)\)", _block(body, enc.end())) if enc else []
        out[m.group(1)] = dict(props=props, keys=keys, encoded=encoded)
    return out


def swift_type(schema: dict) -> str:
    """The Swift type a schema property must have."""
    if "anyOf" in schema:
        kinds = [s for s in schema["anyOf"] if s.get("type") != "null"]
        assert len(kinds) == 1, schema
        return swift_type(kinds[0]) + "?"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    t = schema.get("type")
    if t == "array":
        return f"[{swift_type(schema['items'])}]"
    if t == "object":
        extra = schema.get("additionalProperties")
        return f"[String: {swift_type(extra)}]" if isinstance(extra, dict) else "[String: JSONValue]"
    return {"string": "String", "integer": "Int", "number": "Double", "boolean": "Bool"}[t]


def schema_objects() -> dict[str, dict]:
    """Every object schema by its Swift struct name: the two roots and their $defs."""
    objs = {}
    for fname, root in (("report.schema.json", "DeviceReport"), ("manifest.schema.json", "ArtifactManifest")):
        schema = json.loads((SCHEMA_DIR / fname).read_text())
        objs[root] = schema
        objs.update(schema["$defs"])
    return objs


SCHEMAS = schema_objects()
STRUCTS = swift_structs(WIRE_SWIFT.read_text())


def test_every_schema_object_has_a_swift_struct():
    assert set(SCHEMAS) <= set(STRUCTS), f"missing in Wire.swift: {sorted(set(SCHEMAS) - set(STRUCTS))}"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_swift_struct_matches_schema(name):
    schema, struct = SCHEMAS[name], STRUCTS[name]
    props, required = schema["properties"], set(schema.get("required", []))
    json_keys = set(struct["keys"].values())
    assert json_keys == set(props), (f"{name}: keys only in Swift {sorted(json_keys - set(props))}, "
                                     f"only in the schema {sorted(set(props) - json_keys)}")
    assert set(struct["keys"]) == set(struct["props"]), f"{name}: properties without a CodingKey or vice versa"
    for case, key in struct["keys"].items():
        declared = struct["props"][case].replace(" ", "")
        expected = swift_type(props[key]).replace(" ", "")
        assert declared == expected, f"{name}.{case} ({key}): Swift {declared}, schema wants {expected}"
        if key in required:
            assert not declared.endswith("?"), f"{name}.{key} is required but optional in Swift"
    # encode(to:) writes every key once, each property under its own key (nil -> null)
    assert sorted(struct["encoded"]) == sorted((c, c) for c in struct["keys"]), \
        f"{name}.encode(to:) must encode each property under its own key exactly once"


def test_the_parser_sees_a_renamed_key():
    """The check above would catch a drift: rename a key in a copy of the source."""
    src = WIRE_SWIFT.read_text().replace('case reportId = "report_id"', 'case reportId = "reportId"')
    assert set(swift_structs(src)["DeviceReport"]["keys"].values()) != set(SCHEMAS["DeviceReport"]["properties"])


def test_benchcore_is_free_of_ui_frameworks_and_guards_coreml():
    for src in (BENCHCORE / "Sources").rglob("*.swift"):
        text = src.read_text()
        assert not re.search(r"^import (UIKit|SwiftUI)\b", text, re.M), src.name
        if re.search(r"^import CoreML\b", text, re.M):
            assert "#if canImport(CoreML)" in text.split("import CoreML")[0], \
                f"{src.name}: import CoreML only inside #if canImport(CoreML)"


def test_swift_tests_find_the_golden_payloads():
    """GoldenTests walks five levels up from its own path to the repo root."""
    tests = BENCHCORE / "Tests" / "BenchCoreTests" / "GoldenTests.swift"
    assert "for _ in 0..<5 { url.deleteLastPathComponent() }" in tests.read_text()
    assert tests.parents[4] == REPO
    assert len(list((SCHEMA_DIR / "golden").glob("*.json"))) == 5


def test_xcode_project_references_existing_files():
    pbx = (REPO / "ios_app" / "MobilekitBench.xcodeproj" / "project.pbxproj").read_text()
    assert pbx.count("{") == pbx.count("}") and pbx.count("(") == pbx.count(")")
    ids = re.findall(r"^\t\t([0-9A-F]{24}) ", pbx, re.M)
    assert len(ids) == len(set(ids)), "duplicate object ids"
    for ref in set(re.findall(r"= ([0-9A-F]{24})\b", pbx)) | set(re.findall(r"^\t\t\t\t([0-9A-F]{24}) ", pbx, re.M)):
        assert ref in ids, f"dangling reference {ref}"
    for path in re.findall(r"lastKnownFileType = [\w.]+; path = ([\w.]+);", pbx):
        where = REPO / "ios_app" / ("MobilekitBench/" + path if path != "BenchCore" else path)
        assert where.exists(), where
    assert "relativePath = BenchCore;" in pbx and "IPHONEOS_DEPLOYMENT_TARGET = 17.0;" in pbx
    plist = plistlib.loads((REPO / "ios_app" / "MobilekitBench" / "Info.plist").read_bytes())
    assert plist["NSAppTransportSecurity"] == {"NSAllowsArbitraryLoads": True}  # plain http on the LAN
    assert "NSLocalNetworkUsageDescription" in plist


def test_swift_and_java_check_set_mirrors_name_the_schema_statuses_and_rules():
    """CheckSetData.swift and CheckSet.java compute the report's numerics block (the JVM test
    runs the Java one on a converter-written check set): both must produce the schema's
    statuses and read the manifest's tolerance rules by their schema names."""
    report = json.loads((SCHEMA_DIR / "report.schema.json").read_text())["$defs"]["Numerics"]["properties"]
    manifest = json.loads((SCHEMA_DIR / "manifest.schema.json").read_text())["$defs"]["CheckTolerance"]
    statuses = set(report["status"]["enum"])
    rules = set(manifest["properties"]["rule"]["enum"])
    swift = (BENCHCORE / "Sources" / "BenchCore" / "CheckSetData.swift").read_text()
    java = (REPO / "android_app" / "benchcore" / "src" / "main" / "java" / "org" / "mobilekit" / "benchcore"
            / "CheckSet.java").read_text()
    for src in (swift, java):
        assert {s for s in statuses if f'"{s}"' in src} == statuses
        assert '"max_abs_diff"' in src  # the per-clip rule is read by name; the other is the else branch
    assert rules == {"max_abs_diff", "top1_cosine"}
    for key in ("min_top1_agreement", "min_cosine", "max_abs_diff"):
        assert f'"{key}"' in java
    assert "CheckSetData.read(folder:" in swift or "public static func read(folder:" in swift
