"""The question asked once when a model does not say how its input is scaled: each mode's top classes side by side."""
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QButtonGroup, QDialog, QDialogButtonBox, QGridLayout, QLabel, QRadioButton,
                               QVBoxLayout, QWidget)

from limelight.core.models import PREPROCESSING_MODES

class PreprocessingDialog(QDialog):
    """Show the current photo's top classes under each preprocessing mode; the user picks one.

    Parameters
    ----------
    source : str
        The model file.
    photo_name : str
        The photo the predictions are for.
    choices : sequence of (mode, [(index, name, probability), ...])
        Each mode's top classes, in `PREPROCESSING_MODES` order.
    current : str
        The mode assumed now; it is selected at first.
    """

    sig_chosen = Signal(str, str)
    """The model's source and the mode the user chose."""

    def __init__(self, source: str, photo_name: str, choices, current: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.source = source
        self.setWindowTitle("How Was This Model Trained?")
        intro = QLabel(f"<b>{Path(source).name}</b> does not say how it scales its input, and a wrong guess "
                       "gives plausible but wrong answers. Here is what it predicts for "
                       f"<b>{photo_name}</b> under each scaling; choose the one that looks right. "
                       "Limelight remembers the choice beside the model file.", self)
        intro.setWordWrap(True)
        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        self.group = QButtonGroup(self)
        self.buttons, self.predictions = {}, {}
        for column, (mode, top) in enumerate(choices):
            button = QRadioButton(mode, self)
            button.setChecked(mode == current)
            self.group.addButton(button)
            self.buttons[mode] = button
            formula = QLabel(PREPROCESSING_MODES[mode], self)
            formula.setWordWrap(True)
            formula.setStyleSheet("color: palette(placeholder-text);")
            lines = "<br>".join(f"{name} {probability:.1%}" for _, name, probability in top)
            predictions = self.predictions[mode] = QLabel(lines, self)
            predictions.setTextFormat(Qt.TextFormat.RichText)
            row, col = divmod(column, 3)
            grid.addWidget(button, 3 * row, col)
            grid.addWidget(formula, 3 * row + 1, col)
            grid.addWidget(predictions, 3 * row + 2, col, Qt.AlignmentFlag.AlignTop)
        box = QDialogButtonBox(self)
        self.use_button = box.addButton("Use This Scaling", QDialogButtonBox.ButtonRole.AcceptRole)
        box.addButton(f"Keep “{current}” for Now", QDialogButtonBox.ButtonRole.RejectRole)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(grid)
        layout.addWidget(box)
        self.setMinimumWidth(560)

    def chosen(self) -> str:
        """The mode selected now."""
        return next(mode for mode, button in self.buttons.items() if button.isChecked())

    def accept(self) -> None:
        self.sig_chosen.emit(self.source, self.chosen())
        super().accept()


def _preview():
    """Show the dialog alone with made-up predictions."""
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    top = [(967, "espresso", 0.9), (504, "coffee mug", 0.05), (968, "cup", 0.02)]
    choices = [(mode, top) for mode in PREPROCESSING_MODES]
    dialog = PreprocessingDialog("efficientnet_lite0.keras", "coffee.jpg", choices, "unit")
    dialog.sig_chosen.connect(lambda source, mode: print(source, mode))
    dialog.show()
    sys.exit(app.exec())


if __name__ == "__main__":
    _preview()
