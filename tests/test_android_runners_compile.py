"""The Android app's runners and plain classes compiled with javac against compile-only stubs of
the pinned runtime libraries (android_app/app/stubs/java: ExecuTorch 1.5.1, PyTorch Lite 1.13.1,
LiteRT 1.4.2, and the few android.* members the plain classes use), each stub written from the
upstream source at the pinned version. A call that does not match the library (a wrong return
type, a missing overload, a static/instance mix-up) is a red test here instead of a build failure,
or a crash, on a phone. No Android SDK is needed. Left out: the two Activities (MainActivity,
BenchmarkActivity), which need android.app.Activity, the widgets and the R class generated from
the resources; they call no runtime library (checked below)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from conftest import REPO

ANDROID = REPO / "android_app"
APP_SRC = ANDROID / "app" / "src" / "main" / "java"
STUBS = ANDROID / "app" / "stubs"
ACTIVITIES = {"MainActivity.java", "BenchmarkActivity.java"}
# Packages of the runtime libraries the app embeds; stubs stand in for them here.
LIBRARY_PACKAGES = ("org.pytorch", "org.tensorflow", "com.google.ai.edge", "com.facebook")
JAVAC_LINT = ["-Xlint:all,-options,-serial", "-Werror", "-encoding", "UTF-8"]


def _require_javac() -> None:
    missing = [t for t in ("javac", "java") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: install a JDK 17 "
                    "(apt-get install openjdk-17-jdk-headless), as .ci/run does")


def _catalog_versions() -> dict[str, str]:
    return tomllib.loads((ANDROID / "gradle" / "libs.versions.toml").read_text())["versions"]


def build_config_source(executorch_flavor: str = "xnnpack") -> str:
    """org.mobilekit.bench.BuildConfig as the Android Gradle plugin generates it for a debug
    build with -PexecutorchFlavor=`executorch_flavor`: its standard fields plus every
    buildConfigField of app/build.gradle, with the version-catalog references and the build
    script's own variables resolved."""
    gradle = (ANDROID / "app" / "build.gradle").read_text()
    versions = _catalog_versions()
    # app/build.gradle: def executorchFlavor = (findProperty("executorchFlavor") ?: "xnnpack")
    assert re.search(r'findProperty\("executorchFlavor"\) \?: "xnnpack"', gradle)
    variables = {"executorchVulkan": str(executorch_flavor == "vulkan").lower()}

    def resolve(expr: str) -> str:
        expr = re.sub(r"\$\{libs\.versions\.(\w+)\.get\(\)\}", lambda m: versions[m.group(1)], expr)
        expr = re.sub(r"\$\{(\w+)\}", lambda m: variables[m.group(1)], expr)
        return expr.replace('\\"', '"')

    [app_id] = re.findall(r'applicationId\s+"([\w.]+)"', gradle)
    [version_code] = re.findall(r"versionCode\s+(\d+)", gradle)
    [version_name] = re.findall(r'versionName\s+"([^"]+)"', gradle)
    fields = [
        'public static final boolean DEBUG = Boolean.parseBoolean("true");',
        f'public static final String APPLICATION_ID = "{app_id}";',
        'public static final String BUILD_TYPE = "debug";',
        f"public static final int VERSION_CODE = {version_code};",
        f'public static final String VERSION_NAME = "{version_name}";',
    ]
    custom = re.findall(r'buildConfigField\s+"(\w+)",\s*"(\w+)",\s*"((?:[^"\\]|\\.)*)"', gradle)
    assert custom, "app/build.gradle declares no buildConfigField"
    fields += [f"public static final {t} {name} = {resolve(value)};" for t, name, value in custom]
    body = "\n".join("  " + f for f in fields)
    return f"package org.mobilekit.bench;\n\npublic final class BuildConfig {{\n{body}\n}}\n"


def _app_sources() -> list[Path]:
    return sorted(p for p in APP_SRC.rglob("*.java") if p.name not in ACTIVITIES)


def _javac(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["javac", "--release", "17", *args], capture_output=True, text=True,
                          timeout=300)


def _compile(root: Path, executorch_flavor: str = "xnnpack") -> dict:
    """Stubs into one class folder, then benchcore + the app's non-Activity sources + the JVM
    probes against them (so the app is checked against compiled signatures, as with the AARs)."""
    stub_classes, app_classes, gen = root / "stubs", root / "app", root / "gen"
    build_config = gen / "org" / "mobilekit" / "bench" / "BuildConfig.java"
    build_config.parent.mkdir(parents=True)
    build_config.write_text(build_config_source(executorch_flavor))

    stubs = _javac(["-encoding", "UTF-8", "-d", str(stub_classes),
                    *map(str, sorted((STUBS / "java").rglob("*.java")))])
    assert stubs.returncode == 0, stubs.stderr[-4000:]
    sources = [*sorted((ANDROID / "benchcore" / "src" / "main" / "java").rglob("*.java")),
               *_app_sources(), *sorted((STUBS / "test").rglob("*.java")), build_config]
    app = _javac([*JAVAC_LINT, "-cp", str(stub_classes), "-d", str(app_classes),
                  *map(str, sources)])
    return dict(result=app, classpath=f"{app_classes}:{stub_classes}")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The default build (-PexecutorchFlavor=xnnpack: org.pytorch:executorch-android)."""
    _require_javac()
    return _compile(tmp_path_factory.mktemp("android-javac"))


@pytest.fixture(scope="module")
def compiled_vulkan(tmp_path_factory):
    """The build with -PexecutorchFlavor=vulkan (org.pytorch:executorch-android-vulkan)."""
    _require_javac()
    return _compile(tmp_path_factory.mktemp("android-javac-vulkan"), "vulkan")


def test_app_compiles_against_the_pinned_library_signatures(compiled):
    app = compiled["result"]
    assert app.returncode == 0, "javac against the library stubs:\n" + app.stderr[-6000:]


def test_runners_report_the_pinned_versions_without_calling_their_library(compiled):
    """Every stub method throws, so a runner that calls its library in runtime(),
    runtimeVersion() or close() before load() fails here; the versions are the catalog's."""
    assert compiled["result"].returncode == 0, compiled["result"].stderr[-3000:]
    run = subprocess.run(["java", "-cp", compiled["classpath"],
                          "org.mobilekit.bench.runners.RunnerIdentity"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    v = _catalog_versions()
    assert run.stdout.split("\n")[:4] == [f"executorch {v['executorch']}",
                                          f"pytorch-lite {v['pytorchLite']}",
                                          f"litert {v['litert']}", f"litert {v['litert']}"]


def test_only_compiled_sources_use_the_runtime_libraries():
    """The Activities are left out of the compile: they must not call a runtime library."""
    for src in APP_SRC.rglob("*.java"):
        if src.name in ACTIVITIES:
            imports = re.findall(r"^import\s+(?:static\s+)?([\w.]+)", src.read_text(), re.M)
            assert not [i for i in imports if i.startswith(LIBRARY_PACKAGES)], src.name


def test_every_stub_cites_its_upstream_source_and_holds_no_logic():
    stubs = sorted((STUBS / "java").rglob("*.java"))
    assert len(stubs) >= 15
    for stub in stubs:
        text = stub.read_text()
        head = text.split("\npackage ")[0]
        assert "Compile-only stub" in head and re.search(r"Source: .+@\S+", head), stub
        assert f"/{stub.stem}." in head, stub  # the upstream file (.java or .kt)
        # a method or constructor body is only `throw new UnsupportedOperationException();`
        bodies = re.findall(r"\)\s*(?:throws [\w., ]+)?\{\n(.*?)\n\s*\}", text, re.S)
        for body in bodies:
            assert body.strip() in ("throw new UnsupportedOperationException();", ""), (stub, body)



def _artifact(folder: Path, **fields) -> Path:
    """An artifact folder the app's Manifest reads: the golden xnnpack manifest with `fields`."""
    import hashlib
    import json

    from mobilekit.collector.wire import SCHEMA_DIR

    folder.mkdir()
    data = b"model bytes"
    manifest = json.loads((SCHEMA_DIR / "golden" / "manifest_xnnpack.json").read_text())
    manifest.update(size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), **fields)
    (folder / manifest["file"]).write_bytes(data)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _choice(compiled: dict, folder: Path, units: str) -> str:
    assert compiled["result"].returncode == 0, compiled["result"].stderr[-3000:]
    run = subprocess.run(["java", "-cp", compiled["classpath"], "org.mobilekit.bench.runners.RunnerChoice",
                          str(folder), units], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.strip()


VULKAN = dict(target="vulkan", delegate="vulkan", compute_units="gpu")
TFLITE = dict(target="tflite", runtime="litert", delegate=None, file="model.tflite")


def test_the_runner_follows_the_compute_units(compiled, tmp_path):
    """LiteRT: the same .tflite on cpu or through the GPU delegate; a .pte only where it was
    lowered for."""
    tflite = _artifact(tmp_path / "t", **TFLITE)
    assert _choice(compiled, tflite, "cpu") == "runner LiteRtRunner"
    assert _choice(compiled, tflite, "gpu") == "runner LiteRtRunner gpu"
    assert _choice(compiled, tflite, "npu").startswith("refused compute units npu are not available for LiteRT")
    xnnpack = _artifact(tmp_path / "x")
    assert _choice(compiled, xnnpack, "cpu") == "runner ExecuTorchRunner"
    assert _choice(compiled, xnnpack, "gpu") == (
        "refused target xnnpack runs on cpu only, not gpu; convert for a target that runs there "
        "(LiteRT's .tflite takes cpu or gpu)")


def test_a_vulkan_artifact_is_refused_by_the_default_aar_with_what_is_missing(compiled, tmp_path):
    """org.pytorch:executorch-android is built without EXECUTORCH_BUILD_VULKAN (its release
    flavor "xnnpack"): a Vulkan .pte would fail in loadMethod (VulkanBackend not registered)."""
    v = _catalog_versions()["executorch"]
    assert _choice(compiled, _artifact(tmp_path / "v", **VULKAN), "gpu") == (
        f"refused target vulkan needs ExecuTorch's Vulkan backend: the app's ExecuTorch AAR "
        f"(org.pytorch:executorch-android {v}) is built without the Vulkan backend "
        "(EXECUTORCH_BUILD_VULKAN=OFF), so VulkanBackend is not registered; rebuild the app with the "
        "Vulkan AAR: ./gradlew -PexecutorchFlavor=vulkan installDebug (org.pytorch:executorch-android-vulkan)")


def test_the_vulkan_aar_build_runs_a_vulkan_artifact_through_executorch(compiled_vulkan, tmp_path):
    vulkan = _artifact(tmp_path / "v", **VULKAN)
    assert _choice(compiled_vulkan, vulkan, "gpu") == "runner ExecuTorchRunner"
    assert _choice(compiled_vulkan, vulkan, "cpu").startswith("refused target vulkan runs on gpu only")
    gradle = (ANDROID / "app" / "build.gradle").read_text()
    assert "executorchVulkan ? libs.executorch.android.vulkan : libs.executorch.android" in gradle
    catalog = tomllib.loads((ANDROID / "gradle" / "libs.versions.toml").read_text())["libraries"]
    assert catalog["executorch-android-vulkan"] == {"module": "org.pytorch:executorch-android-vulkan",
                                                    "version": {"ref": "executorch"}}
    for name in ("litert-gpu", "litert-gpu-api"):  # LiteRT's GPU delegate, at litert's version
        assert catalog[name] == {"module": f"com.google.ai.edge.litert:{name}", "version": {"ref": "litert"}}
