# Sourced by install.sh and uninstall.sh after they add or remove files under $prefix/share:
# desktops find menu entries, file types and icons through these caches.
if command -v update-mime-database >/dev/null; then
    update-mime-database "$prefix/share/mime"
fi
if command -v update-desktop-database >/dev/null; then
    update-desktop-database -q "$prefix/share/applications"
fi
# Only refresh an icon cache that exists: a new one would hide icons installed later without it.
if [ -f "$prefix/share/icons/hicolor/icon-theme.cache" ] && command -v gtk-update-icon-cache >/dev/null; then
    gtk-update-icon-cache -q -f -t "$prefix/share/icons/hicolor"
fi
