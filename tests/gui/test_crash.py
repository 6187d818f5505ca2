"""Unhandled exceptions: logged to a rotating file, shown in a dialog with a copyable report, never a crash."""
import logging
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QStandardPaths, QTimer
from PySide6.QtWidgets import QApplication, QPlainTextEdit, QWidget

from limelight.gui import crash


@pytest.fixture
def reporter(tmp_path):
    reporter = crash.install(tmp_path / "log" / "limelight.log")
    yield reporter
    if reporter.dialog is not None:
        reporter.dialog.close()
    reporter.uninstall()


def explode(message):
    raise ValueError(message)


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_shows_a_copyable_report_and_the_app_goes_on(qtbot, reporter):
    QTimer.singleShot(0, lambda: explode("the first surprise"))
    qtbot.waitUntil(lambda: reporter.dialog is not None and reporter.dialog.isVisible(), timeout=5000)
    dialog = reporter.dialog
    report = dialog.report.toPlainText()
    assert "ValueError: the first surprise" in report and "in explode" in report
    assert report.startswith("Limelight ") and "Thread: MainThread" in report
    assert dialog.report.isReadOnly() and isinstance(dialog.report, QPlainTextEdit)
    assert str(reporter.log_file) in dialog.log_label.text()
    dialog.copy_button.click()
    assert QApplication.clipboard().text() == report
    # The log file has the whole traceback too.
    logged = reporter.log_file.read_text(encoding="utf-8")
    assert "unhandled exception in MainThread" in logged and "ValueError: the first surprise" in logged
    # The event loop still runs, and a second failure joins the open dialog instead of a new one.
    QTimer.singleShot(0, lambda: explode("the second surprise"))
    qtbot.waitUntil(lambda: "the second surprise" in dialog.report.toPlainText(), timeout=5000)
    assert reporter.dialog is dialog


def test_an_exception_in_a_python_thread_reaches_the_dialog(qtbot, reporter):
    thread = threading.Thread(target=explode, args=("off the GUI thread",), name="helper-thread")
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: reporter.dialog is not None, timeout=5000)
    report = reporter.dialog.report.toPlainText()
    assert "Thread: helper-thread" in report and "ValueError: off the GUI thread" in report


def test_the_hooks_are_put_back_on_uninstall(tmp_path):
    before = sys.excepthook, threading.excepthook
    reporter = crash.install(tmp_path / "limelight.log")
    assert sys.excepthook == reporter.excepthook
    assert threading.excepthook == reporter.threading_excepthook
    reporter.uninstall()
    assert (sys.excepthook, threading.excepthook) == before
    assert not [h for h in logging.getLogger().handlers if getattr(h, "limelight_log", False)]


def test_the_log_rotates(tmp_path, monkeypatch):
    monkeypatch.setattr(crash, "LOG_BYTES", 2000)
    reporter = crash.install(tmp_path / "limelight.log")
    try:
        for index in range(100):
            logging.getLogger("limelight.test").warning("line %d of a long session", index)
    finally:
        reporter.uninstall()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["limelight.log", *(f"limelight.log.{i}" for i in range(1, crash.LOG_BACKUPS + 1))]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    assert "line 99 of a long session" in (tmp_path / "limelight.log").read_text()


def test_the_log_lives_in_the_users_log_folder(monkeypatch):
    monkeypatch.delenv(crash.LOG_ENV, raising=False)
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    assert crash.log_path() == Path(folder) / "log" / "limelight.log"
    monkeypatch.setenv(crash.LOG_ENV, "/somewhere/else.log")
    assert crash.log_path() == Path("/somewhere/else.log")


def test_a_log_that_cannot_be_written_is_no_reason_to_fail(qtbot, tmp_path, capsys):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the log folder should be")
    reporter = crash.install(blocker / "limelight.log")
    try:
        assert reporter.log_file is None
        assert "cannot write the log file" in capsys.readouterr().err
        reporter.report(ValueError, ValueError("still reported"), None, "MainThread")
        qtbot.waitUntil(lambda: reporter.dialog is not None, timeout=5000)
        assert "no log file" in reporter.dialog.log_label.text()
        reporter.dialog.close()
    finally:
        reporter.uninstall()


def test_the_app_installs_the_crash_handler_at_start(qtbot, monkeypatch, tmp_path):
    import limelight.gui.main_window as main_window
    from limelight.gui import app

    windows = []

    class StandIn(QWidget):
        def __init__(self, **kwargs):
            super().__init__()
            windows.append(self)

    monkeypatch.setenv(crash.LOG_ENV, str(tmp_path / "start.log"))
    monkeypatch.setattr(main_window, "MainWindow", StandIn)
    monkeypatch.setattr(QApplication, "exec", lambda self: 0)
    try:
        assert app.main([]) == 0
        assert sys.excepthook == crash._installed.excepthook
        assert "started; log file" in (tmp_path / "start.log").read_text()
    finally:
        crash._installed.uninstall()
        for window in windows:
            window.close()
