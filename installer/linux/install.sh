#!/bin/sh
# Install the Limelight bundle with its menu entry, icons and file types, for one user by default.
set -eu

usage="usage: install.sh [--prefix DIR] [BUNDLE]

Installs BUNDLE (default: installer/dist/limelight, built by 'make installer') into DIR
(default: ~/.local) as DIR/lib/limelight, with DIR/bin/limelight, a desktop menu entry, icons
and the .keras file type; makes Limelight open .keras files, and offers it for images."

here=$(cd "$(dirname "$0")" && pwd)
prefix="$HOME/.local"
bundle="$here/../dist/limelight"
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a folder" >&2; exit 2; }
                  prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        -h|--help) echo "$usage"; exit 0 ;;
        -*) echo "install.sh: unknown option $1" >&2; echo "$usage" >&2; exit 2 ;;
        *) bundle=$1; shift ;;
    esac
done

if [ ! -x "$bundle/limelight" ] || [ ! -d "$bundle/_internal" ]; then
    echo "install.sh: $bundle is not a Limelight bundle (no limelight program and _internal" \
         "folder in it); build one with 'make installer'" >&2
    exit 1
fi
case "$prefix" in
    /*) ;;
    *) prefix="$(pwd)/$prefix" ;;
esac
# The menu entry's Exec line takes a quoted path, but not these characters in it.
case "$prefix" in
    *[\"\`\$\\\|\&%]*) echo "install.sh: the prefix $prefix has a character (\" \` \$ \\ | & %)" \
                            "that a desktop entry cannot run; choose another" >&2
                       exit 1 ;;
esac
app="$prefix/lib/limelight"
if [ -e "$app" ] && [ ! -x "$app/limelight" ]; then
    echo "install.sh: $app exists and is not a Limelight installation; move it away first" >&2
    exit 1
fi

link="$prefix/bin/limelight"
if { [ -e "$link" ] || [ -L "$link" ]; } && [ "$(readlink "$link")" != ../lib/limelight/limelight ]; then
    echo "install.sh: $link exists and is not this installer's link; remove it first" \
         "(a pip-installed limelight, perhaps)" >&2
    exit 1
fi

# Copy first, then swap: a failed copy leaves the old version in place.
mkdir -p "$prefix/lib" "$prefix/bin" "$prefix/share/applications" "$prefix/share/mime/packages"
rm -rf "$app.new"
cp -R "$bundle" "$app.new"
rm -rf "$app"
mv "$app.new" "$app"
ln -sf ../lib/limelight/limelight "$link"

# The menu entry runs the installed program by its full path: DIR/bin need not be on PATH.
sed -e "s|^Exec=limelight|Exec=\"$link\"|" -e "s|^TryExec=limelight|TryExec=$link|" \
    "$here/limelight.desktop" > "$prefix/share/applications/limelight.desktop"

for icon in "$here"/icons/hicolor/*/apps/limelight.*; do
    size_folder=${icon#"$here/icons/"}
    mkdir -p "$prefix/share/icons/$(dirname "$size_folder")"
    cp "$icon" "$prefix/share/icons/$size_folder"
done
cp "$here/limelight-keras.xml" "$prefix/share/mime/packages/limelight-keras.xml"

. "$here/refresh-caches.sh"
# Nothing else opens .keras files, so Limelight becomes their default. Images keep their own
# viewer and get "Open with Limelight" from the entry's MimeType.
if command -v xdg-mime >/dev/null; then
    xdg-mime default limelight.desktop application/x-keras
fi

echo "Limelight installed in $app; start it from the menu or with $link"
case ":$PATH:" in
    *":$prefix/bin:"*) ;;
    *) echo "($prefix/bin is not on your PATH; add it to start 'limelight' by name)" ;;
esac
