#!/usr/bin/env bash
# Packaging checks for CI (called by .ci/run before the test suite):
#   1. the .desktop entry passes desktop-file-validate and the metainfo passes appstreamcli
#      validate (Debian's desktop-file-utils and appstream, installed here when missing);
#   2. the PyInstaller bundle is built and smoke-tested, but only when its inputs changed.
#
# "Changed" means: the hash of pyproject.toml + packaging/ (packaging/build-inputs.sh) differs
# from packaging/build-inputs.sha256, which build.sh writes after a successful build and the
# developer commits. File contents are compared, not commits, so a fresh clone with no
# reachable history decides the same way, and several commits pushed at once are all covered.
# A missing or stale stamp means "build": when in doubt, build.
# INFUSION_PREP_BUNDLE_BUILD=always|never overrides the decision.
set -euo pipefail
cd "$(dirname "$0")/.."
app_id="org.infusionprep.InfusionPrep"

missing=()
command -v desktop-file-validate >/dev/null 2>&1 || missing+=(desktop-file-utils)
command -v appstreamcli >/dev/null 2>&1 || missing+=(appstream)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "Installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

echo "== desktop-file-validate packaging/linux/$app_id.desktop"
desktop-file-validate "packaging/linux/$app_id.desktop"
echo "== appstreamcli validate --no-net packaging/linux/$app_id.metainfo.xml"
appstreamcli validate --no-net "packaging/linux/$app_id.metainfo.xml"

mode="${INFUSION_PREP_BUNDLE_BUILD:-auto}"
case "$mode" in
  always) build=true; why="INFUSION_PREP_BUNDLE_BUILD=always" ;;
  never) build=false; why="INFUSION_PREP_BUNDLE_BUILD=never" ;;
  auto)
    current="$(bash packaging/build-inputs.sh)"
    recorded="$(cat packaging/build-inputs.sha256 2>/dev/null || true)"
    if [ "$current" != "$recorded" ]; then
      build=true; why="packaging/ or pyproject.toml differ from the last recorded build"
    else
      build=false; why="packaging/ and pyproject.toml match packaging/build-inputs.sha256"
    fi ;;
  *) echo "INFUSION_PREP_BUNDLE_BUILD must be auto, always or never, not '$mode'" >&2; exit 2 ;;
esac

if $build; then
  echo "== bundle build and smoke test ($why)"
  # The system libraries Qt needs for the smoke test come with the project's own setup.
  bash packaging/bootstrap.sh
  bash packaging/build.sh
else
  echo "== bundle build skipped: $why"
fi
