"""The one place the app remembers things between runs: a typed wrapper around QSettings."""
import json
import logging
import os
import re
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

#: How many model files the model picker remembers.
MAX_RECENT_MODELS = 8
#: Folder kinds the file dialogs remember separately.
FOLDER_KINDS = ("images", "models", "labels", "save", "export", "datasets")
#: Points the app at another settings file (an INI file), e.g. for a clean first run.
SETTINGS_ENV = "LIMELIGHT_SETTINGS"
_SHA256 = re.compile("[0-9a-f]{64}")
#: A settings file that cannot be read is kept under its name plus this, and a fresh one started.
DAMAGED_SUFFIX = ".damaged"

log = logging.getLogger(__name__)


class Settings:
    """Typed reads and writes of everything Limelight remembers.

    Parameters
    ----------
    path : str or Path, optional
        An INI file to use instead of the platform's settings store; tests pass a
        temporary file so they never touch the user's settings. Without it the
        ``LIMELIGHT_SETTINGS`` environment variable is honoured, then the platform store.
    """

    def __init__(self, path=None):
        path = path or os.environ.get(SETTINGS_ENV)
        if path:
            self._store = QSettings(str(path), QSettings.Format.IniFormat)
        else:
            self._store = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                    "Limelight", "Limelight")
        # QSettings reads lazily: read now, so a damaged file is found before it is written over.
        self._store.allKeys()
        if self._store.status() == QSettings.Status.FormatError:
            self._start_over()

    def _start_over(self) -> None:
        """Keep a damaged settings file aside and go on with the defaults in a fresh one."""
        damaged = self._store.fileName()
        kept = damaged + DAMAGED_SUFFIX
        try:
            os.replace(damaged, kept)
        except OSError as error:
            kept = f"nowhere ({error.strerror or error})"
        log.warning("the settings file %s is damaged; starting from the defaults (the damaged "
                    "file is kept as %s)", damaged, kept)
        self._store = QSettings(damaged, QSettings.Format.IniFormat)

    @property
    def file_name(self) -> str:
        """The file the settings live in."""
        return self._store.fileName()

    def sync(self) -> None:
        """Write pending changes to disk now."""
        self._store.sync()

    def clear(self) -> None:
        """Forget everything (View > Reset layout uses the window keys only)."""
        self._store.clear()

    # --- Window ----------------------------------------------------------------------------

    def geometry(self) -> QByteArray | None:
        """The main window's saved geometry, or None on the first run."""
        return self._bytes("window/geometry")

    def set_geometry(self, data: QByteArray) -> None:
        self._store.setValue("window/geometry", data)

    def window_state(self) -> QByteArray | None:
        """The saved dock and toolbar layout, or None on the first run."""
        return self._bytes("window/state")

    def set_window_state(self, data: QByteArray) -> None:
        self._store.setValue("window/state", data)

    def forget_layout(self) -> None:
        """Drop the saved geometry and dock layout, so the next start uses the defaults."""
        self._store.remove("window")

    # --- Folders ---------------------------------------------------------------------------

    def last_folder(self, kind: str) -> str:
        """The folder a file dialog of `kind` last used, or the home folder."""
        _check_kind(kind)
        folder = self._str(f"folders/{kind}", "")
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    def set_last_folder(self, kind: str, path) -> None:
        """Remember the folder of `path` (a file or a folder) for dialogs of `kind`."""
        _check_kind(kind)
        path = Path(path)
        folder = path if path.is_dir() else path.parent
        self._store.setValue(f"folders/{kind}", str(folder))

    # --- Models ----------------------------------------------------------------------------

    def recent_models(self) -> list[str]:
        """Model files opened before, most recent first, only those that still exist."""
        models = self._json("models/recent", [])
        if not isinstance(models, list):
            return []
        return [m for m in models if isinstance(m, str) and Path(m).exists()][:MAX_RECENT_MODELS]

    def add_recent_model(self, path) -> None:
        """Put a model file at the top of the recent list."""
        path = str(path)
        models = [path] + [m for m in self.recent_models() if m != path]
        self._store.setValue("models/recent", json.dumps(models[:MAX_RECENT_MODELS]))

    def remove_recent_model(self, path) -> None:
        models = [m for m in self.recent_models() if m != str(path)]
        self._store.setValue("models/recent", json.dumps(models))

    def last_model(self) -> str:
        """The model source loaded last ("builtin:<name>" or a path), or "" on the first run."""
        return self._str("models/last", "")

    def set_last_model(self, source: str) -> None:
        self._store.setValue("models/last", str(source))

    # --- Trust -----------------------------------------------------------------------------

    def trusted_hashes(self) -> set[str]:
        """SHA-256 digests of the model files the user trusts to run code: content, never paths."""
        digests = self._json("trust/sha256", [])
        if not isinstance(digests, list):
            return set()
        return {d for d in digests if isinstance(d, str) and _SHA256.fullmatch(d)}

    def trust_hash(self, digest: str) -> None:
        """Remember that the user trusts the model file whose content has this SHA-256."""
        if not _SHA256.fullmatch(digest):
            raise ValueError(f"not a SHA-256 hex digest: {digest!r}")
        self._store.setValue("trust/sha256", json.dumps(sorted(self.trusted_hashes() | {digest})))
        self._store.sync()

    # --- Images ----------------------------------------------------------------------------

    def last_images(self) -> list[str]:
        """The images that were in the browser at the last close, that still exist."""
        images = self._json("images/open", [])
        if not isinstance(images, list):
            return []
        return [p for p in images if isinstance(p, str) and Path(p).is_file()]

    def set_last_images(self, paths) -> None:
        self._store.setValue("images/open", json.dumps([str(p) for p in paths]))

    # --- Parameters ------------------------------------------------------------------------

    def last_request(self) -> dict:
        """The explanation parameters used last, as the dict `ExplainRequest` fields give; {} if none."""
        value = self._json("explain/request", {})
        return value if isinstance(value, dict) else {}

    def set_last_request(self, fields: dict) -> None:
        self._store.setValue("explain/request", json.dumps(fields))

    def last_style(self) -> dict:
        """The overlay style used last, as a dict of `OverlayStyle` fields; {} if none."""
        value = self._json("overlay/style", {})
        return value if isinstance(value, dict) else {}

    def set_last_style(self, fields: dict) -> None:
        self._store.setValue("overlay/style", json.dumps(fields))

    def view_mode(self) -> str:
        """"explained", "original" or "split"."""
        mode = self._str("view/mode", "explained")
        return mode if mode in ("explained", "original", "split") else "explained"

    def set_view_mode(self, mode: str) -> None:
        self._store.setValue("view/mode", mode)

    def int_value(self, key: str, default: int) -> int:
        """A whole number stored under `key`, or `default` when missing or not a number."""
        try:
            return int(self._value(key, default, int))
        except (TypeError, ValueError):
            return default

    def set_value(self, key: str, value) -> None:
        self._store.setValue(key, value)

    # --- Typed reads -----------------------------------------------------------------------

    def _value(self, key: str, default, kind):
        # A hand-edited or damaged value must not crash start-up: it reads as the default.
        try:
            return self._store.value(key, default, type=kind)
        except (TypeError, ValueError) as error:
            log.warning("ignoring the damaged setting %s (%s)", key, error)
            return default

    def _str(self, key: str, default: str) -> str:
        value = self._value(key, default, str)
        return value if isinstance(value, str) else default

    def _bytes(self, key: str) -> QByteArray | None:
        value = self._value(key, None, QByteArray)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def _json(self, key: str, default):
        # Lists and dicts go in as JSON text: QSettings' INI encoding of nested values differs by
        # platform and Qt version, and a hand-edited or damaged value must not crash start-up.
        text = self._str(key, "")
        if not text:
            return default
        try:
            return json.loads(text)
        except ValueError:
            return default


def _check_kind(kind: str) -> None:
    if kind not in FOLDER_KINDS:
        raise ValueError(f"unknown folder kind {kind!r}; use one of {', '.join(FOLDER_KINDS)}")
