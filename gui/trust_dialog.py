"""The explicit question before loading a model file that would run code on this computer."""
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QStyle,
                               QVBoxLayout, QWidget)


class TrustDialog(QDialog):
    """Ask whether to load a model that would run code; Cancel is the default answer.

    Parameters
    ----------
    path : str or Path
        The model file or SavedModel folder.
    reason : str
        Why it would run code, as `UntrustedModelError.reason` says it.
    sha256 : str, optional
        The content hash the answer is remembered by.
    """

    def __init__(self, path, reason: str, parent: QWidget | None = None, *,
                 sha256: str | None = None):
        super().__init__(parent)
        path = Path(path)
        self.path = path
        self.setWindowTitle("Trust This Model?")
        self.setModal(True)

        icon = QLabel(self)
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize)
        icon.setPixmap(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(size, size))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)

        what = "folder" if path.is_dir() else "file"
        self.headline = QLabel(f"<b>Loading this {what} can run any code on your computer with "
                               "your permissions.</b>", self)
        self.headline.setWordWrap(True)
        body = QLabel(
            "It could read, change or delete your files, or use the network, just as you can. "
            f"Load “{path.name}” only if you made it yourself or trust where it came from.", self)
        body.setWordWrap(True)
        self.reason_label = QLabel(f"Why: {_sentence(reason)}", self)
        self.reason_label.setWordWrap(True)
        remembered = (f" (SHA-256 {sha256[:12]}…)" if sha256 else "")
        self.memory_label = QLabel(
            f"Limelight remembers your trust for this exact content{remembered}: a renamed or "
            f"copied {what} is not asked about again, a changed one is.", self)
        self.memory_label.setWordWrap(True)
        location = QLabel(str(path), self)
        location.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        location.setStyleSheet("color: palette(mid);")
        location.setWordWrap(True)

        self.buttons = QDialogButtonBox(self)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.trust_button = self.buttons.addButton("Trust and Load",
                                                   QDialogButtonBox.ButtonRole.AcceptRole)
        self.trust_button.setToolTip("Load the model and let it run its code")
        self.cancel_button.setToolTip("Do not load it; keep the model that is loaded now")
        self.cancel_button.setDefault(True)
        self.cancel_button.setFocus()
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        text = QVBoxLayout()
        text.setSpacing(10)
        for widget in (self.headline, body, self.reason_label, self.memory_label, location):
            text.addWidget(widget)
        top = QHBoxLayout()
        top.setSpacing(16)
        top.addWidget(icon)
        top.addLayout(text, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addSpacing(8)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(460)


def ask_trust(path, reason: str, parent: QWidget | None = None, *,
              sha256: str | None = None) -> bool:
    """Show the trust question and return True only when the user chose to trust the model."""
    dialog = TrustDialog(path, reason, parent, sha256=sha256)
    try:
        return dialog.exec() == QDialog.DialogCode.Accepted
    finally:
        dialog.deleteLater()


def _sentence(reason: str) -> str:
    # The engine's advice repeats what the dialog says, and its flag means nothing in the window.
    reason = reason.split("; load it only if")[0].replace(" (--trust-model)", "").strip()
    return (reason[:1].upper() + reason[1:]).rstrip(".") + "."


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    answer = ask_trust(sys.argv[1] if len(sys.argv) > 1 else "downloads/model_with_lambda.keras",
                       "model contains a Lambda layer, which runs code when loaded; load it only "
                       "if you trust its source (--trust-model)")
    print("trusted" if answer else "cancelled")
