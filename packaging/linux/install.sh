#!/usr/bin/env bash
# Installs the unpacked bundle system-wide (build.sh copies this file into dist/infusion-prep/).
#   sudo ./install.sh                  # into /opt/infusion-prep, with a launcher in /usr/local
#   sudo ./install.sh --prefix /opt/x  # somewhere else
#   sudo ./install.sh --uninstall
#   ./install.sh --prefix ~/opt/infusion-prep --bindir ~/.local/bin --datadir ~/.local/share   # one user
# The program's data is per user (~/.local/share/infusion-prep) and is never touched here.
set -euo pipefail
bundle="$(cd "$(dirname "$0")" && pwd)"
app_id="org.infusionprep.InfusionPrep"
prefix="/opt/infusion-prep"
share="/usr/local/share"
bin="/usr/local/bin"
uninstall=false

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --bindir) bin="$2"; shift 2 ;;
    --datadir) share="$2"; shift 2 ;;
    --uninstall) uninstall=true; shift ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

icon_files() { (cd "$bundle/share/icons" && find hicolor -type f); }

refresh_caches() {
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$share/applications" || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$share/icons/hicolor" || true
}

if $uninstall; then
  rm -f "$bin/infusion-prep" "$share/applications/$app_id.desktop" "$share/metainfo/$app_id.metainfo.xml"
  icon_files | while IFS= read -r icon; do rm -f "$share/icons/$icon"; done
  [ "$prefix" != "/" ] && rm -rf "$prefix"
  refresh_caches
  echo "Removed infusion-prep (users' data folders are kept)."
  exit 0
fi

if [ "$bundle" != "$(realpath -m "$prefix")" ]; then
  rm -rf "$prefix"
  mkdir -p "$(dirname "$prefix")"
  cp -a "$bundle" "$prefix"
fi
mkdir -p "$bin" "$share/applications" "$share/metainfo"
ln -sfn "$prefix/infusion-prep" "$bin/infusion-prep"
install -m 644 "$bundle/share/applications/$app_id.desktop" "$share/applications/"
install -m 644 "$bundle/share/metainfo/$app_id.metainfo.xml" "$share/metainfo/"
icon_files | while IFS= read -r icon; do install -D -m 644 "$bundle/share/icons/$icon" "$share/icons/$icon"; done
refresh_caches
echo "Installed $("$prefix/infusion-prep" --version)"
echo "Start it from the applications menu (Infusion Prep) or with: infusion-prep"
