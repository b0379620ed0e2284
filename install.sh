#!/usr/bin/env bash
# Install everything mobilekit and its test suite need, on a fresh machine:
#   1. system packages the tests use (a JDK and JUnit 4 for the Android core, Chromium for the
#      dashboard), through apt-get when this runs as root on a Debian-like system;
#   2. a virtual environment in .venv with mobilekit and all its extras ([dev]).
# Safe to run again: it reuses .venv and skips system packages already installed.
#
#   bash install.sh            (the README's first command and .ci/run both call it)
#
# PYTHON=python3.12 picks the interpreter (3.11 or newer).
set -euo pipefail
cd "$(dirname "$0")"

SYSTEM_PACKAGES=(openjdk-17-jdk-headless junit4 chromium)

missing_system_packages() {
  local missing=()
  command -v javac >/dev/null && command -v java >/dev/null || missing+=(openjdk-17-jdk-headless)
  [ -f /usr/share/java/junit4.jar ] && [ -f /usr/share/java/hamcrest-core.jar ] || missing+=(junit4)
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing+=(chromium)
  echo "${missing[@]:-}"
}

missing=$(missing_system_packages)
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "install.sh: installing system packages: $missing"
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086  # word splitting of the package list is wanted
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "install.sh: system packages missing ($missing); the Android and dashboard tests need them:" \
         "run 'sudo apt-get install -y ${SYSTEM_PACKAGES[*]}' (or your system's equivalent)" >&2
  fi
fi

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "install.sh: $("$PYTHON" --version 2>&1) is too old; mobilekit needs Python 3.11 or newer (set PYTHON=...)" >&2
  exit 2
}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e ".[dev]"
echo "install.sh: ready (.venv/bin/mobilekit)"
