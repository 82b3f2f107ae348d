#!/usr/bin/env bash
# Prints one SHA-256 over everything the bundle build depends on: pyproject.toml (the
# dependencies) and packaging/ (the spec, the scripts, the build requirements), less the
# benchmarks, the screenshots and the stamp itself. build.sh records it in
# packaging/build-inputs.sha256 after a successful build; packaging/ci-checks.sh rebuilds only
# when the two differ.
# Works without git history (CI's fresh clone) because it hashes file contents, not commits.
set -euo pipefail
cd "$(dirname "$0")/.."

list_inputs() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard -- pyproject.toml packaging
  else
    { echo pyproject.toml; find packaging -type f; }
  fi
}

list_inputs \
  | grep -v -e '^packaging/benchmarks/' -e '^packaging/screenshots/' -e '^packaging/build-inputs.sha256$' -e '__pycache__' \
  | LC_ALL=C sort -u \
  | while IFS= read -r file; do [ -f "$file" ] && sha256sum -- "$file"; done \
  | sha256sum | cut -d' ' -f1
