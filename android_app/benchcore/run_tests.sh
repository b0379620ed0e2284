#!/usr/bin/env bash
# Compile benchcore with plain javac and run its JUnit 4 tests; no Gradle or Android SDK needed.
# CI runs this through tests/test_android_benchcore.py, which also starts a real collector and
# passes MOBILEKIT_COLLECTOR_URL / _TOKEN for the integration tests (skipped without them).
#
#   android_app/benchcore/run_tests.sh [TestClass ...]     (default: every *Test class)
#
# JUnit comes from Debian's junit4 package (apt-get install junit4) or JUNIT_JAR/HAMCREST_JAR.
set -euo pipefail
cd "$(dirname "$0")"

JUNIT_JAR=${JUNIT_JAR:-/usr/share/java/junit4.jar}
HAMCREST_JAR=${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}
for tool in javac java; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found; install a JDK 17 (apt-get install openjdk-17-jdk-headless)" >&2; exit 3; }
done
for jar in "$JUNIT_JAR" "$HAMCREST_JAR"; do
  [ -f "$jar" ] || { echo "error: $jar not found; apt-get install junit4 (or set JUNIT_JAR / HAMCREST_JAR)" >&2; exit 3; }
done

BUILD=${BENCHCORE_BUILD:-build/javac}
rm -rf "$BUILD"
mkdir -p "$BUILD/main" "$BUILD/test"

# Main sources: Java 8 API level, which is what Android (minSdk 26) provides, so an API the
# phone lacks fails here rather than on the device. -Werror keeps the code warning-free.
find src/main/java -name '*.java' > "$BUILD/main-sources.txt"
javac --release 8 -Xlint:all,-options,-serial -Werror -encoding UTF-8 -d "$BUILD/main" @"$BUILD/main-sources.txt"

find src/test/java -name '*.java' > "$BUILD/test-sources.txt"
CP="$BUILD/main:$JUNIT_JAR:$HAMCREST_JAR"
javac --release 17 -encoding UTF-8 -cp "$CP" -d "$BUILD/test" @"$BUILD/test-sources.txt"

if [ "$#" -gt 0 ]; then
  classes=("$@")
else
  mapfile -t classes < <(cd src/test/java && find . -name '*Test.java' | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort)
fi

for i in "${!classes[@]}"; do
  case "${classes[$i]}" in *.*) ;; *) classes[$i]="org.mobilekit.benchcore.${classes[$i]}" ;; esac
done
exec java -cp "$BUILD/test:$CP" org.junit.runner.JUnitCore "${classes[@]}"
