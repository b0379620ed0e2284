"""Static checks of the Android app module that need no Android SDK: the manifest, layout,
resources and Gradle files agree with the Java sources, and the headless intent extras that
`mobilekit android run` sends are the ones BenchmarkActivity reads, with the same types.
(Compiling and running the app needs the Android SDK and a phone: see the README.)"""

from __future__ import annotations

import re
import tomllib
import xml.etree.ElementTree as ET

from conftest import REPO

APP = REPO / "android_app" / "app"
JAVA = APP / "src" / "main" / "java" / "org" / "mobilekit" / "bench"
ANDROID_NS = "{http://schemas.android.com/apk/res/android}"


def _java() -> str:
    return "\n".join(p.read_text() for p in JAVA.rglob("*.java"))


def test_manifest_activities_exist_and_benchmark_activity_is_exported():
    root = ET.parse(APP / "src" / "main" / "AndroidManifest.xml").getroot()
    perms = {e.get(ANDROID_NS + "name") for e in root.iter("uses-permission")}
    assert "android.permission.INTERNET" in perms
    app = root.find("application")
    assert app.get(ANDROID_NS + "usesCleartextTraffic") == "true"  # http collector on the LAN
    activities = {a.get(ANDROID_NS + "name"): a for a in app.iter("activity")}
    for name in activities:
        assert (JAVA / f"{name.lstrip('.')}.java").is_file(), name
    assert activities[".BenchmarkActivity"].get(ANDROID_NS + "exported") == "true"


def test_layout_ids_and_strings_used_by_the_code_exist():
    layouts = "\n".join(p.read_text() for p in (APP / "src/main/res/layout").glob("*.xml"))
    ids = set(re.findall(r'@\+id/(\w+)', layouts))
    used = set(re.findall(r"(?<!android\.)\bR\.id\.(\w+)", _java()))
    assert used and used <= ids, used - ids
    strings = {e.get("name") for e in ET.parse(APP / "src/main/res/values/strings.xml").getroot()}
    referenced = set(re.findall(r"@string/(\w+)", layouts + (APP / "src/main/AndroidManifest.xml").read_text()))
    assert referenced <= strings, referenced - strings
    for layout in re.findall(r"(?<!android\.)\bR\.layout\.(\w+)", _java()):
        assert (APP / "src/main/res/layout" / f"{layout}.xml").is_file()


def test_gradle_files_use_only_catalog_entries():
    catalog = tomllib.loads((REPO / "android_app/gradle/libs.versions.toml").read_text())
    libs = {k.replace("-", ".") for k in catalog["libraries"]}
    plugins = {k.replace("-", ".") for k in catalog["plugins"]}
    for gradle in (REPO / "android_app").rglob("build.gradle"):
        text = gradle.read_text()
        for ref in re.findall(r"\blibs\.((?!versions|plugins)[\w.]+)", text):
            assert ref in libs, f"{gradle}: libs.{ref} not in the version catalog"
        for ref in re.findall(r"\blibs\.plugins\.([\w.]+)", text):
            assert ref in plugins, f"{gradle}: plugin {ref} not in the version catalog"
        for ref in re.findall(r"libs\.versions\.(\w+)\.get\(\)", text):
            assert ref in catalog["versions"], ref
    settings = (REPO / "android_app/settings.gradle").read_text()
    assert '":app"' in settings and '":benchcore"' in settings
    assert (REPO / "android_app/gradle/wrapper/gradle-wrapper.properties").read_text().count("distributionUrl=") == 1


def test_cli_extras_match_what_benchmark_activity_reads():
    from mobilekit.commands import android

    src = (JAVA / "BenchmarkActivity.java").read_text()
    strings = set(re.findall(r'getStringExtra\("(\w+)"\)', src))
    ints = set(re.findall(r'getIntExtra\("(\w+)",', src))
    cli = (REPO / "mobilekit/commands/android.py").read_text()
    sent_strings = set(re.findall(r'"--es", "(\w+)"', cli))
    sent_ints = set(re.findall(r'"--ei", "(\w+)"', cli))
    assert sent_strings == {"artifact_dir", "result_file", "server", "token", "compute_unit"}
    assert sent_ints == {"warmup", "iterations", "threads"}
    assert sent_strings <= strings and sent_ints <= ints
    # the files the CLI polls are the ones the app writes
    assert android.ACTIVITY == "org.mobilekit.bench/.BenchmarkActivity"
    assert 'new File(ctx.getFilesDir(), "mobilekit")' in (JAVA / "AppFiles.java").read_text()
    assert 'new File(root(ctx), "results")' in (JAVA / "AppFiles.java").read_text()
    assert 'base + ".delivery.json"' in (JAVA / "BenchmarkRun.java").read_text()
    assert "files/mobilekit/results/" in cli and '".delivery.json"' in cli


def test_every_wire_runtime_the_app_claims_is_a_wire_runtime():
    from mobilekit.collector.wire import RUNTIMES
    from mobilekit.commands.android import ANDROID_RUNTIMES

    runners = (JAVA / "runners" / "Runners.java").read_text()
    claimed = set(re.findall(r'case "([\w-]+)":', runners))
    assert claimed == set(ANDROID_RUNTIMES) and claimed <= set(RUNTIMES)
    for runner in ("ExecuTorchRunner", "PyTorchLiteRunner", "LiteRtRunner"):
        text = (JAVA / "runners" / f"{runner}.java").read_text()
        [name] = re.findall(r'public String runtime\(\) \{\s*return "([\w-]+)";', text)
        assert name in claimed, runner
