"""The message bar: a non-modal line above the image for errors the user should see, each with its cause."""
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QToolButton


class MessageBar(QFrame):
    """A non-modal one-line message above the image, for errors the user should see.

    Each message has a cause, so what fixes the cause hides its message and no other: showing a
    photo hides a message about the last photo, not one about files that could not be opened.
    """

    #: What a message is about: the photo on screen, an explanation or batch run, the superpixel
    #: preview, a model, a report being opened, a save, files given to the window, or a dataset.
    CAUSES = ("photo", "explain", "preview", "model", "report", "save", "files", "dataset")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setStyleSheet("#messageBar { background: #fdecea; border: 1px solid #f5c2bd;"
                           " border-radius: 4px; } QLabel { color: #611a15; }")
        icon = QLabel(self)
        icon.setPixmap(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(16, 16))
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(self)
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Hide this message")
        close.clicked.connect(self.hide)
        self._cause: str | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(icon)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.hide()

    def show_message(self, text: str, cause: str) -> None:
        if cause not in self.CAUSES:
            raise ValueError(f"unknown message cause {cause!r}")
        self._cause = cause
        self.label.setText(text)
        self.show()

    def clear(self, *causes: str) -> None:
        """Hide the message if it is about one of `causes`."""
        if self._cause in causes:
            self.hide()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def cause(self) -> str | None:
        return self._cause if self.isVisible() else None


if __name__ == "__main__":
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    bar = MessageBar()
    bar.show_message("coffee.jpg: the file is not an image Limelight reads.", "photo")
    sys.exit(app.exec())
