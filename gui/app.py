"""Start the Qt application and show the main window."""
import sys

from PySide6.QtWidgets import QApplication, QMainWindow


def main(argv: list[str]) -> int:
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("Limelight")
    window = QMainWindow()
    window.setWindowTitle("Limelight")
    window.resize(1280, 800)
    window.show()
    return app.exec()
