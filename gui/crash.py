"""The log file, and the last line of defence: an unhandled exception goes to the log and a dialog, never a crash."""
import logging
import logging.handlers
import os
import platform
import sys
import threading
import traceback
from importlib import metadata
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, Qt, Signal, Slot, qVersion
from PySide6.QtWidgets import (QApplication, QDialog, QDialogButtonBox, QLabel, QPlainTextEdit,
                               QStyle, QVBoxLayout, QWidget)

#: Points the log at another file, e.g. for tests.
LOG_ENV = "LIMELIGHT_LOG"
#: The log rotates at this size, keeping this many old files beside it.
LOG_BYTES = 1024**2
LOG_BACKUPS = 3

log = logging.getLogger(__name__)


def log_path() -> Path:
    """The log file: ``$LIMELIGHT_LOG``, or ``log/limelight.log`` in the app's local data folder."""
    override = os.environ.get(LOG_ENV)
    if override:
        return Path(override)
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(folder) / "log" / "limelight.log"


class CrashDialog(QDialog):
    """Says that something went wrong, with a report to copy and where the log file is."""

    def __init__(self, report: str, log_file: Path | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Unexpected Error")
        headline = QLabel("<b>Something went wrong inside Limelight.</b>", self)
        body = QLabel("The window is still working and nothing was saved over. If something looks "
                      "wrong, save your results and start Limelight again. To report the "
                      "problem, copy the report below.", self)
        body.setWordWrap(True)
        self.report = QPlainTextEdit(report, self)
        self.report.setReadOnly(True)
        self.report.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.report.setMinimumSize(560, 220)
        where = str(log_file) if log_file else "no log file could be written"
        self.log_label = QLabel(f"Log file: {where}", self)
        self.log_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log_label.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.copy_button = buttons.addButton("Copy Report", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DialogSaveButton))
        self.copy_button.clicked.connect(self.copy_report)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        for widget in (headline, body, self.report, self.log_label, buttons):
            layout.addWidget(widget)

    def add_report(self, report: str) -> None:
        """Another failure: shown in the open dialog, or in place of the last one."""
        if self.isVisible():
            self.report.appendPlainText("\n" + report)
        else:
            self.report.setPlainText(report)

    @Slot()
    def copy_report(self) -> None:
        QApplication.clipboard().setText(self.report.toPlainText())


class CrashReporter(QObject):
    """Logs unhandled exceptions from any thread and shows them in a CrashDialog on the GUI thread.

    `install` makes one; it replaces ``sys.excepthook`` and ``threading.excepthook`` and logs to a
    rotating file until `uninstall`.
    """

    sig_report = Signal(str)
    """A report to show; emitted from any thread, shown on the GUI thread."""

    def __init__(self, log_file: Path | None):
        super().__init__()
        self.log_file = log_file
        self.dialog: CrashDialog | None = None
        self._previous = (sys.excepthook, threading.excepthook)
        self.sig_report.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def excepthook(self, exc_type, exc_value, exc_traceback) -> None:
        self.report(exc_type, exc_value, exc_traceback, threading.current_thread().name)

    def threading_excepthook(self, args) -> None:
        if args.exc_type is SystemExit:
            return
        self.report(args.exc_type, args.exc_value, args.exc_traceback,
                    args.thread.name if args.thread else "unknown thread")

    def report(self, exc_type, exc_value, exc_traceback, thread_name: str) -> None:
        """Log an exception and ask for the dialog; never raises."""
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous[0](exc_type, exc_value, exc_traceback)
            return
        try:
            log.critical("unhandled exception in %s", thread_name,
                         exc_info=(exc_type, exc_value, exc_traceback))
            self.sig_report.emit(crash_report(exc_type, exc_value, exc_traceback, thread_name))
        except Exception:  # The hook of last resort must not fail in turn; stderr still works.
            traceback.print_exception(exc_type, exc_value, exc_traceback)

    @Slot(str)
    def _show(self, report: str) -> None:
        try:
            # One dialog, kept and reused: a burst of failures must not open a burst of windows.
            if self.dialog is None:
                self.dialog = CrashDialog(report, self.log_file)
            else:
                self.dialog.add_report(report)
            self.dialog.show()
            self.dialog.raise_()
        except Exception:
            log.exception("could not show the crash report")

    def uninstall(self) -> None:
        """Put the previous hooks back and stop logging to the file."""
        global _installed
        sys.excepthook, threading.excepthook = self._previous
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "limelight_log", False)]:
            root.removeHandler(handler)
            handler.close()
        if _installed is self:
            _installed = None


_installed: CrashReporter | None = None


def install(log_file=None) -> CrashReporter:
    """Log to a rotating file and send unhandled exceptions to the crash dialog.

    Call once a QApplication exists. Returns the reporter, kept alive here until `uninstall`.
    """
    global _installed
    if _installed is not None:
        _installed.uninstall()
    path = _start_log(Path(log_file) if log_file else log_path())
    _installed = CrashReporter(path)
    sys.excepthook = _installed.excepthook
    threading.excepthook = _installed.threading_excepthook
    log.info("Limelight %s started; log file %s", _version(), path)
    return _installed


def _start_log(path: Path) -> Path | None:
    """Add the rotating file handler to the root logger; None when the file cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=LOG_BYTES,
                                                       backupCount=LOG_BACKUPS, encoding="utf-8")
    except OSError as error:
        print(f"limelight: cannot write the log file {path} ({error.strerror or error})",
              file=sys.stderr)
        return None
    handler.limelight_log = True
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    return path


def crash_report(exc_type, exc_value, exc_traceback, thread_name: str) -> str:
    """The text a user copies into a bug report: versions, thread and traceback."""
    lines = [f"Limelight {_version()}, Python {platform.python_version()}, Qt {qVersion()}, "
             f"{platform.platform()}", f"Thread: {thread_name}", ""]
    lines += traceback.format_exception(exc_type, exc_value, exc_traceback)
    return "\n".join(line.rstrip("\n") for line in lines)


def _version() -> str:
    try:
        return metadata.version("limelight")
    except metadata.PackageNotFoundError:
        return "development"


if __name__ == "__main__":
    app = QApplication(sys.argv)
    reporter = install()
    try:
        raise RuntimeError("a preview of the crash dialog")
    except RuntimeError:
        reporter.report(*sys.exc_info(), threading.current_thread().name)
    app.exec()
