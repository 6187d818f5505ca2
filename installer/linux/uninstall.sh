#!/bin/sh
# Remove what install.sh installed, and nothing else: the user's settings, log and cache stay.
set -eu

usage="usage: uninstall.sh [--prefix DIR]

Removes Limelight from DIR (default: ~/.local): DIR/lib/limelight, DIR/bin/limelight, its menu
entry, icons and .keras file type, and Limelight as the default for .keras files."

here=$(cd "$(dirname "$0")" && pwd)
prefix="$HOME/.local"
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || { echo "uninstall.sh: --prefix needs a folder" >&2; exit 2; }
                  prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        -h|--help) echo "$usage"; exit 0 ;;
        *) echo "uninstall.sh: unknown argument $1" >&2; echo "$usage" >&2; exit 2 ;;
    esac
done
case "$prefix" in
    /*) ;;
    *) prefix="$(pwd)/$prefix" ;;
esac

app="$prefix/lib/limelight"
link="$prefix/bin/limelight"
if [ ! -x "$app/limelight" ]; then
    echo "uninstall.sh: Limelight is not installed in $prefix (no $app/limelight)" >&2
    exit 1
fi

rm -rf "$app"
if [ "$(readlink "$link" || true)" = ../lib/limelight/limelight ]; then
    rm -f "$link"
fi
rm -f "$prefix/share/applications/limelight.desktop" "$prefix/share/mime/packages/limelight-keras.xml"
for icon in "$here"/icons/hicolor/*/apps/limelight.*; do
    rm -f "$prefix/share/icons/${icon#"$here/icons/"}"
done

. "$here/refresh-caches.sh"
# Drop the default install.sh set (xdg-mime has no command for it); other defaults stay.
defaults="${XDG_CONFIG_HOME:-$HOME/.config}/mimeapps.list"
if [ -f "$defaults" ] && grep -q '^application/x-keras=limelight.desktop;\?$' "$defaults"; then
    sed -i '/^application\/x-keras=limelight\.desktop;\?$/d' "$defaults"
fi

echo "Limelight removed from $prefix; your settings, log and model cache are kept"
