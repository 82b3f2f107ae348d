#!/usr/bin/env bash
# Builds the one-folder bundle dist/infusion-prep/ with PyInstaller, then smoke-tests it.
#   bash packaging/build.sh             # build and smoke-test
#   bash packaging/build.sh --tarball   # also pack dist/infusion-prep-VERSION-linux-ARCH.tar.gz
# The bundle runs on a workstation with no Python: copy the folder, or unpack the tarball and
# run its install.sh (see README, "For IT"). Build on the oldest Linux you deploy to: the bundle
# needs a glibc at least as new as the build machine's.
#
# Uses its own virtual environment (build/venv, or $INFUSION_PREP_BUILD_VENV) with the project
# installed normally, never the editable .venv: see the note at the top of infusion-prep.spec.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

tarball=false
[ "${1:-}" = "--tarball" ] && tarball=true

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
# PyInstaller reads shared-library dependencies with objdump (binutils).
if ! command -v objdump >/dev/null 2>&1; then
  echo "Installing binutils (PyInstaller needs objdump)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq binutils
fi

root="$(pwd)"
mkdir -p build
venv="$(realpath -m "${INFUSION_PREP_BUILD_VENV:-build/venv}")"
log="$root/build/pip.log"
run_logged() {  # quiet on success, the end of the log on failure
  if ! "$@" >>"$log" 2>&1; then
    echo "FAILED: $*" >&2
    tail -n 80 "$log" >&2
    exit 1
  fi
}

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
echo "Installing the program and PyInstaller into $venv"
: >"$log"
run_logged "$venv/bin/python" -m pip install --quiet --upgrade pip
run_logged "$venv/bin/python" -m pip install --quiet -r packaging/requirements-build.txt .
# Same version number, new code: make pip replace the copy it already has.
run_logged "$venv/bin/python" -m pip install --quiet --no-deps --force-reinstall .

log="$root/build/pyinstaller.log"
: >"$log"
echo "Running PyInstaller (log: build/pyinstaller.log)"
rm -rf dist/infusion-prep
# Run from build/, not the repository root: from the root, `import infusion_app` would find the
# source tree (which has no infusion_app/resources) instead of the installed package.
(cd build && run_logged "$venv/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$root/dist" --workpath "$root/build/pyinstaller" "$root/packaging/infusion-prep.spec")

# Desktop integration travels with the bundle so that install.sh needs nothing else.
bundle="dist/infusion-prep"
mkdir -p "$bundle/share/applications" "$bundle/share/metainfo"
cp packaging/linux/org.infusionprep.InfusionPrep.desktop "$bundle/share/applications/"
cp packaging/linux/org.infusionprep.InfusionPrep.metainfo.xml "$bundle/share/metainfo/"
mkdir -p "$bundle/share/icons"
cp -r resources/icons/hicolor "$bundle/share/icons/"
cp packaging/linux/install.sh "$bundle/install.sh"
chmod +x "$bundle/install.sh"

bash packaging/smoke-test.sh "$bundle"

if $tarball; then
  version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml | head -1)"
  archive="dist/infusion-prep-$version-linux-$(uname -m).tar.gz"
  tar -C dist -czf "$archive" infusion-prep
  echo "Packed $archive ($(du -h "$archive" | cut -f1))"
fi

bash packaging/build-inputs.sh >packaging/build-inputs.sha256
elapsed=$(( $(date +%s) - started ))
echo "Built $bundle: $(du -sh "$bundle" | cut -f1), $(find "$bundle" -type f | wc -l) files, in ${elapsed} s"
echo "Recorded the build inputs in packaging/build-inputs.sha256; commit it with your packaging change."
