"""Compare Models: a second model evaluated on the same dataset, both confusion matrices, and where the two disagree."""
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QGridLayout, QHBoxLayout,
                               QLabel, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout)

from limelight.core.errors import LimelightError
from limelight.gui.compare import model_choices
from limelight.gui.controller import JobHandle
from limelight.gui.dataset_explain import RunProgress
from limelight.gui.jobs import EvaluateDataset, LoadModel, TrustRequired

DISAGREEMENT_COLUMNS = ("Image", "True class", "First model says", "Second model says")


def fill_confusion(table: QTableWidget, evaluation) -> None:
    """Show `evaluation`'s confusion matrix (counts; rows: true class, columns: predicted class) in `table`."""
    matrix, columns = evaluation.confusion()
    table.clear()
    table.setRowCount(len(matrix))
    table.setColumnCount(len(columns))
    table.setHorizontalHeaderLabels(evaluation.column_names(columns))
    table.setVerticalHeaderLabels(evaluation.column_names(evaluation.classes))
    for row, counts in enumerate(matrix):
        for column, count in enumerate(counts):
            table.setItem(row, column, QTableWidgetItem(str(int(count))))
    table.resizeColumnsToContents()
    table.resizeRowsToContents()


class CompareModelsDialog(QDialog):
    """A second model on the dataset the window evaluated: both confusion matrices, and the images they disagree on.

    The second model loads with the window's trust rules (a file that runs code only when its
    content was trusted before) and is evaluated in the background, its predictions kept in the
    prediction store. Clicking a disagreement asks the window to show that photo.

    Parameters
    ----------
    session : Session
        Whose dataset and evaluation are the first side, on whose worker the second runs.
    parent : QWidget, optional
    """

    sig_photo_requested = Signal(int)
    """Show this image (its position in the window's evaluation) in the window."""
    sig_compared = Signal(object)
    """The second model's evaluation is shown: an Evaluation."""

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Compare Models")
        self._session = session
        self._jobs: list[JobHandle] = []
        self._first = self._second = None
        self._rows = []
        self.model_combo = QComboBox(self)
        self.model_combo.setToolTip("The model to set against the window's on the same images")
        self.compare_button = QPushButton("Evaluate", self)
        self.compare_button.setDefault(True)
        self.compare_button.clicked.connect(self.compare)
        self.titles = [QLabel(self), QLabel(self)]
        self.matrices = [QTableWidget(self), QTableWidget(self)]
        for table in self.matrices:
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.setAccessibleName("Confusion matrix (rows: true class, columns: predicted class)")
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.disagreements = QTableWidget(0, len(DISAGREEMENT_COLUMNS), self)
        self.disagreements.setHorizontalHeaderLabels(DISAGREEMENT_COLUMNS)
        self.disagreements.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.disagreements.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.disagreements.horizontalHeader().setStretchLastSection(True)
        self.disagreements.setToolTip("Click an image to show it in the window")
        self.disagreements.verticalHeader().hide()
        self.disagreements.cellClicked.connect(self._on_disagreement_clicked)
        self.run_progress = RunProgress(self)
        self.run_progress.sig_cancel_requested.connect(self.cancel)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(QLabel("Second model:", self))
        top.addWidget(self.model_combo, 1)
        top.addWidget(self.compare_button)
        grid = QGridLayout()
        for column in range(2):
            grid.addWidget(self.titles[column], 0, column)
            grid.addWidget(self.matrices[column], 1, column)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(grid, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.disagreements, 1)
        layout.addWidget(self.run_progress)
        layout.addWidget(buttons)
        self.refresh()
        self.resize(900, 640)

    def refresh(self) -> None:
        """Offer the models, and show the window's evaluation as the first side."""
        chosen = self.model_combo.currentData()
        self.model_combo.clear()
        for source, title in model_choices(self._session):
            if source != self._session.model_source():
                self.model_combo.addItem(title, source)
        if chosen:
            self.choose_model(chosen)
        first = self._session.evaluation
        if first is not None and first is not self._first:
            self._first = first
            self.titles[0].setText(f"{first.model_name}: accuracy {first.accuracy:.1%}")
            fill_confusion(self.matrices[0], first)

    def choose_model(self, source: str) -> None:
        """Offer `source` (a built-in model or a file) and choose it."""
        if self.model_combo.findData(source) < 0:
            self.model_combo.addItem(Path(source).name, source)
        self.model_combo.setCurrentIndex(self.model_combo.findData(source))

    @Slot()
    def compare(self) -> None:
        """Load the chosen model and evaluate it on the window's dataset, in the background."""
        self.refresh()
        source = self.model_combo.currentData()
        if self._session.evaluation is None or self._session.dataset is None:
            self.summary.setText("Open a dataset and evaluate it first (File > Open Dataset…).")
            return
        if not source:
            self.summary.setText("Choose a second model.")
            return
        self.cancel()
        self.summary.setText(f"Loading {self.model_combo.currentText()}…")
        self.run_progress.start()
        # Trust is by content, as in the window: a file changed since it was trusted is refused.
        trusted = frozenset(self._session.settings.trusted_hashes())
        self._jobs.append(self._session.controller.submit(
            LoadModel(source, trusted_hashes=trusted), channel="compare-models-load",
            on_result=lambda info: self._on_loaded(source, info), on_failed=self._on_failed))

    def _on_loaded(self, source: str, info) -> None:
        from limelight.core.dataset import match_classes

        if isinstance(info, TrustRequired):
            self._on_failed(f"{Path(source).name} would run code when loaded ({info.reason}); open it once with "
                            "File > Open Model and trust it, then compare")
            return
        first = self._session.evaluation
        try:
            # The window's mapping holds where the class names are the same; another model matches its own.
            mapping = (first.mapping if tuple(info.class_names) == tuple(first.label_names)
                       else match_classes(first.mapping.folders, info.class_names))
        except LimelightError as error:
            self._on_failed(f"{info.name}: {error}")
            return
        self.summary.setText(f"Evaluating {info.name} on {len(self._session.dataset):,} images…")
        self._jobs.append(self._session.controller.submit(
            EvaluateDataset(source, self._session.dataset, mapping), channel="compare-models",
            on_result=self._on_evaluated, on_failed=self._on_failed, on_progress=self.run_progress.set_progress,
            on_finished=self.run_progress.hide))

    def _on_evaluated(self, second) -> None:
        from limelight.core.dataset import disagreements

        self._jobs = []
        first = self._first
        self._second = second
        self.titles[1].setText(f"{second.model_name}: accuracy {second.accuracy:.1%}")
        fill_confusion(self.matrices[1], second)
        self._rows = disagreements(first, second)
        where = {path: i for i, path in enumerate(second.paths)}
        self.disagreements.setRowCount(len(self._rows))
        self.disagreements.setHorizontalHeaderLabels(
            ["Image", "True class", f"{first.model_name} says", f"{second.model_name} says"])
        for row, i in enumerate(self._rows):
            j = where[first.paths[i]]
            path = Path(first.paths[i])
            cells = (f"{path.parent.name}/{path.name}", first.label_names[first.true[i]],
                     f"{first.label_names[first.predicted[i]]} ({first.confidence[i]:.0%})",
                     f"{second.label_names[second.predicted[j]]} ({second.confidence[j]:.0%})")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(str(path))
                self.disagreements.setItem(row, column, item)
        self.disagreements.resizeColumnsToContents()
        self.disagreements.resizeRowsToContents()
        self.summary.setText(f"The two models disagree on {len(self._rows):,} of {len(first.paths):,} images"
                             + ("; click one to show it." if len(self._rows) else "."))
        self.sig_compared.emit(second)

    def _on_failed(self, message: str) -> None:
        self.cancel()
        self.summary.setText(message)

    @Slot(int, int)
    def _on_disagreement_clicked(self, row: int, _column: int) -> None:
        self.sig_photo_requested.emit(int(self._rows[row]))

    @Slot()
    def cancel(self) -> None:
        jobs, self._jobs = self._jobs, []
        for job in jobs:
            job.cancel()
        self.run_progress.hide()

    def done(self, code: int) -> None:
        self.cancel()
        super().done(code)
