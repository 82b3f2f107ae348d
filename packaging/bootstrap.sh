#!/usr/bin/env bash
# Sets up everything on a fresh Debian/Ubuntu machine: the system libraries Qt needs, a virtual
# environment in .venv and the program installed into it (editable, so a git pull is enough).
#   bash packaging/bootstrap.sh          # to run the program
#   bash packaging/bootstrap.sh --test   # also the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

# Qt's xcb/offscreen platform plugins and the fonts the PDFs embed. Skipped when already there.
system_packages=(python3 python3-venv python3-pip libegl1 libgl1 libglib2.0-0 libfontconfig1 libdbus-1-3
  libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
  libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xinerama0 libxcb-xkb1 libpulse0 fonts-dejavu-core
  fonts-droid-fallback)  # CJK names on the labels and sheets (reports/fonts.py)
# --test also needs a real print system for the printing tests: CUPS with a virtual PDF printer
# (tests/cups_server.py starts a private server), poppler to read the printed PDFs back.
# PostgreSQL: the storage, service and crash tests also run against a real server; without
# INFUSION_PREP_TEST_POSTGRES, tests/postgres_server.py starts a throwaway cluster of its own.
# desktop-file-utils and appstream: tests/test_packaging.py validates the desktop entry and the
# metainfo with them (it fails, never skips, without them).
[ "${1:-}" = "--test" ] && system_packages+=(cups cups-client printer-driver-cups-pdf poppler-utils postgresql
  desktop-file-utils appstream)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for package in "${system_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "Installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet --editable ".${extras}"
# An editable install leaves the program's own modules uncompiled, and with PYTHONDONTWRITEBYTECODE
# set (as on these machines) Python never writes their bytecode: every start compiled them again
# (about 60-80 ms of each `calc` or `--version`). Stale files are recompiled by Python as usual.
.venv/bin/python -m compileall -q infusion_app >/dev/null
