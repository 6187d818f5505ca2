"""The status bar's view of a run: progress, time left and Cancel, shown only while a run is under way."""
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget


class RunStatus(QWidget):
    """A progress bar, the time left and a Cancel button, in the status bar.

    The parameter panel has its own progress bar, but it can be scrolled out of sight; this one is
    always there.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(180)
        self.progress.setMaximumHeight(16)
        self.progress.setTextVisible(True)
        self.eta = QLabel(self)
        self.cancel = QToolButton(self)
        self.cancel.setAutoRaise(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.progress, self.eta, self.cancel):
            layout.addWidget(widget)
        self.hide()

    def set_running(self, running: bool, eta: str) -> None:
        """Show the bar, busy until the first progress report, or hide it all."""
        self.progress.setRange(0, 0)
        self.eta.setText(eta)
        self.setVisible(running)

    def set_progress(self, done: int, total: int, text: str, eta: str) -> None:
        """Show `done` of `total` with the bar's `text` (a QProgressBar format) and the time left."""
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(text)
        self.eta.setText(eta)


def duration_text(seconds: float) -> str:
    """A time left or taken as the window writes it: "12 s", "2 min 05 s" (never "0 s")."""
    if seconds < 1:
        return "1 s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes} min {seconds:02d} s"


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    status = RunStatus()
    status.set_running(True, "Estimating time left…")
    status.set_progress(40, 100, "%v of %m samples", "About 12 s left")
    sys.exit(app.exec())
