"""The Dataset panel: a model's accuracy on a labelled folder, confusion matrix, per-class scores, wrong predictions."""
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QSplitter, QTableView, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout,
                               QWidget)

#: The matrix cells' colormap (matplotlib's): light for few images, dark for many.
MATRIX_COLORMAP = "Blues"
#: Cells darker than this (0 to 1, the colormap's position) get white text.
DARK_CELL = 0.6
#: Rows a column's width is measured on: measuring every one of 50,000 wrong predictions takes seconds.
MEASURED_ROWS = 200


class WrongPredictions(QAbstractTableModel):
    """The wrong predictions of an Evaluation as table rows, the most confident first; cells are made when shown."""

    COLUMNS = ("Image", "True", "Predicted", "Confidence")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: tuple = ()

    def set_evaluation(self, evaluation) -> None:
        self.beginResetModel()
        if evaluation is None:
            self._rows = ()
        else:
            positions = evaluation.wrong()
            names = evaluation.label_names
            # The arrays' properties compute on each access: read each once.
            true, predicted, confidence = (evaluation.true[positions], evaluation.predicted[positions],
                                           evaluation.confidence[positions])
            self._rows = tuple(zip(positions.tolist(), (evaluation.paths[i] for i in positions),
                                   (names[i] for i in true), (names[i] for i in predicted), confidence.tolist()))
        self.endResetModel()

    def position(self, row: int) -> int:
        """The position in the Evaluation of the image on `row`."""
        return self._rows[row][0]

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        _, path, true, predicted, confidence = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            # With its folder: two class folders (one set by hand to the other's class) may hold the same name.
            path = Path(path)
            return (f"{path.parent.name}/{path.name}", true, predicted, f"{confidence:.1%}")[column]
        if role == Qt.ItemDataRole.ToolTipRole and column == 0:
            return str(path)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class DatasetPanel(QWidget):
    """What a model gets right and wrong on a labelled dataset; it shows an Evaluation and asks for the rest.

    Clicking a matrix cell asks for its images in the image browser; clicking a wrong prediction
    asks for its photo. The buttons ask the window for the class mapping, explanations, a second
    model and exports; the panel itself never runs a model.
    """

    sig_cell_chosen = Signal(object)
    """A matrix cell was clicked: the positions (ndarray of int) of its images in the Evaluation."""
    sig_photo_chosen = Signal(int)
    """A wrong prediction was clicked: its position in the Evaluation."""
    sig_why_requested = Signal(int)
    """Why? on a wrong prediction: its position in the Evaluation's images."""
    sig_explain_requested = Signal(object)
    """Explain these images: their positions (ndarray of int) in the Evaluation."""
    sig_compare_requested = Signal()
    """Compare with another model was clicked."""
    sig_mapping_requested = Signal()
    """Class mapping… was clicked: the user wants to check or change which folder is which class."""
    sig_export_predictions_requested = Signal()
    """Export the predictions as CSV was clicked."""
    sig_export_confusion_requested = Signal()
    """Export the confusion matrix as PNG was clicked."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._evaluation = None
        self._columns: tuple = ()
        self._cell: np.ndarray | None = None

        self.summary = QLabel("Open a labelled folder with File > Open Dataset… to see how the model does on it.",
                              self)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.axes = QLabel("Rows: true class · columns: predicted class. Click a cell to show its images.", self)
        self.axes.setStyleSheet("color: palette(placeholder-text);")
        self.normalized = QCheckBox("Row-normalised", self)
        self.normalized.setToolTip("Show each row as fractions of its true class's images instead of counts")
        self.normalized.toggled.connect(self._fill_matrix)
        self.matrix = QTableWidget(self)
        self.matrix.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.matrix.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.matrix.setToolTip("Rows: true class; columns: predicted class. Click a cell to show its images.")
        self.matrix.cellClicked.connect(self._on_cell_clicked)
        self.matrix.cellActivated.connect(self._on_cell_clicked)  # Enter on the keyboard's current cell
        self.matrix.setAccessibleName("Confusion matrix")
        self.explain_cell_button = QPushButton("Explain These", self)
        self.explain_cell_button.setToolTip("Explain the images of the selected cell as one batch")
        self.explain_cell_button.setEnabled(False)
        self.explain_cell_button.clicked.connect(self._on_explain_cell)
        self.mapping_button = QPushButton("Class Mapping…", self)
        self.mapping_button.setToolTip("Check or change which model class each class folder stands for")
        self.mapping_button.clicked.connect(self.sig_mapping_requested)

        self.wrong_predictions = WrongPredictions(self)
        self.wrong = QTableView(self)
        self.wrong.setModel(self.wrong_predictions)
        self.wrong.horizontalHeader().setResizeContentsPrecision(MEASURED_ROWS)
        self.wrong.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.wrong.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.wrong.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.wrong.verticalHeader().hide()
        self.wrong.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.wrong.setToolTip("Wrong predictions, the most confident first. Click one to open it; "
                              "double-click to ask why.")
        self.wrong.selectionModel().currentRowChanged.connect(self._on_wrong_changed)
        self.wrong.doubleClicked.connect(lambda index: self._on_why())
        self.wrong.setAccessibleName("Wrong predictions")
        self.why_button = QPushButton("Why?", self)
        self.why_button.setToolTip("Why the model predicted this class, and why not the true one")
        self.why_button.setEnabled(False)
        self.why_button.clicked.connect(self._on_why)
        self.explain_wrong_button = QPushButton("Explain All Wrong", self)
        self.explain_wrong_button.setToolTip("Explain every wrong prediction as one batch")
        self.explain_wrong_button.clicked.connect(self._on_explain_wrong)
        self.per_class = QTableWidget(0, 5, self)
        self.per_class.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Images"])
        self.per_class.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.per_class.verticalHeader().hide()
        self.per_class.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.per_class.setAccessibleName("Per-class scores")
        self.compare_button = QPushButton("Compare with Another Model…", self)
        self.compare_button.clicked.connect(self.sig_compare_requested)
        self.export_csv_button = QPushButton("Export CSV…", self)
        self.export_csv_button.setToolTip("Save every image's true and predicted class and confidence as CSV")
        self.export_csv_button.clicked.connect(self.sig_export_predictions_requested)
        self.export_png_button = QPushButton("Export PNG…", self)
        self.export_png_button.setToolTip("Save the confusion matrix, counts and row-normalised, as a PNG image")
        self.export_png_button.clicked.connect(self.sig_export_confusion_requested)
        self._layout()
        self.set_evaluation(None)

    def _layout(self) -> None:
        matrix_part = QWidget(self)
        matrix_layout = QVBoxLayout(matrix_part)
        matrix_layout.setContentsMargins(0, 0, 0, 0)
        matrix_layout.addWidget(self.summary)
        matrix_layout.addWidget(self.axes)
        matrix_layout.addWidget(self.matrix, 1)
        row = QHBoxLayout()
        for widget in (self.normalized, self.explain_cell_button, self.mapping_button, self.export_csv_button,
                       self.export_png_button):
            row.addWidget(widget)
        row.addStretch(1)
        matrix_layout.addLayout(row)

        wrong_part = QWidget(self)
        wrong_layout = QVBoxLayout(wrong_part)
        wrong_layout.setContentsMargins(0, 0, 0, 0)
        wrong_layout.addWidget(self.wrong, 1)
        row = QHBoxLayout()
        for widget in (self.why_button, self.explain_wrong_button):
            row.addWidget(widget)
        row.addStretch(1)
        wrong_layout.addLayout(row)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(wrong_part, "Wrong")
        self.tabs.addTab(self.per_class, "Per Class")
        self.tabs.setCornerWidget(self.compare_button, Qt.Corner.TopRightCorner)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(matrix_part)
        splitter.addWidget(self.tabs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

    # --- Contents --------------------------------------------------------------------------

    def evaluation(self):
        return self._evaluation

    def set_evaluation(self, evaluation) -> None:
        """Show an Evaluation (limelight.core.dataset), or nothing (None)."""
        self._evaluation = evaluation
        self._cell = None
        self.explain_cell_button.setEnabled(False)
        self.why_button.setEnabled(False)
        for widget in (self.axes, self.normalized, self.matrix, self.tabs, self.mapping_button, self.explain_wrong_button,
                       self.compare_button, self.export_csv_button, self.export_png_button):
            widget.setEnabled(evaluation is not None)
        if evaluation is None:
            self.matrix.clear()
            self.matrix.setRowCount(0)
            self.matrix.setColumnCount(0)
            self.wrong_predictions.set_evaluation(None)
            self.per_class.setRowCount(0)
            return
        wrong = evaluation.wrong()
        unreadable = (f" · {len(evaluation.failures):,} unreadable (not counted)" if evaluation.failures else "")
        self.summary.setText(f"<b>Accuracy {evaluation.accuracy:.1%}</b> · {len(evaluation.paths):,} images · "
                             f"{len(wrong):,} wrong{unreadable} · {evaluation.model_name}")
        self._fill_matrix()
        self.wrong_predictions.set_evaluation(evaluation)
        self.wrong.resizeColumnsToContents()
        self._fill_per_class()
        self.explain_wrong_button.setEnabled(len(wrong) > 0)
        self.tabs.setTabText(0, f"Wrong ({len(wrong):,})")

    @Slot()
    def _fill_matrix(self) -> None:
        evaluation = self._evaluation
        if evaluation is None:
            return
        normalize = self.normalized.isChecked()
        matrix, self._columns = evaluation.confusion(normalize=normalize)
        counts = matrix if not normalize else evaluation.confusion()[0]
        self.matrix.clear()
        self.matrix.setRowCount(matrix.shape[0])
        self.matrix.setColumnCount(matrix.shape[1])
        self.matrix.setVerticalHeaderLabels(evaluation.column_names(evaluation.classes))
        self.matrix.setHorizontalHeaderLabels(evaluation.column_names(self._columns))
        from matplotlib import colormaps  # here, not at import: matplotlib costs the window's start a second

        colormap = colormaps[MATRIX_COLORMAP]
        top = max(float(matrix.max()), 1e-9)
        for row in range(matrix.shape[0]):
            for column in range(matrix.shape[1]):
                value = matrix[row, column]
                item = QTableWidgetItem(f"{value:.2f}" if normalize else f"{int(value):,}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                shade = float(value) / top
                item.setBackground(QColor.fromRgbF(*colormap(shade)))
                item.setForeground(QColor("white") if shade > DARK_CELL else QColor("black"))
                true, predicted = self.matrix.verticalHeaderItem(row).text(), self.matrix.horizontalHeaderItem(
                    column).text()
                item.setToolTip(f"{int(counts[row, column]):,} images of “{true}” predicted as “{predicted}”")
                self.matrix.setItem(row, column, item)
        self.matrix.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.matrix.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

    def _fill_per_class(self) -> None:
        rows = self._evaluation.per_class()
        self.per_class.setRowCount(len(rows))
        for row, scores in enumerate(rows):
            cells = (scores["class"], f"{scores['precision']:.2f}", f"{scores['recall']:.2f}",
                     f"{scores['f1']:.2f}", f"{scores['support']:,}")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.per_class.setItem(row, column, item)
        self.per_class.resizeColumnsToContents()

    def height_for_matrix(self) -> int:
        """The height that shows the whole matrix without scrolling, with the lines and buttons around it."""
        matrix = self.matrix
        rows = sum(matrix.rowHeight(r) for r in range(matrix.rowCount()))
        table = rows + matrix.horizontalHeader().sizeHint().height() + 2 * matrix.frameWidth()
        around = self.layout().contentsMargins().top() + self.layout().contentsMargins().bottom()
        return table + around + self.summary.sizeHint().height() + self.axes.sizeHint().height() + \
            self.mapping_button.sizeHint().height() + 4 * self.layout().spacing()

    def cell_positions(self, row: int, column: int) -> np.ndarray:
        """Positions in the Evaluation of the images of one matrix cell (true class `row`, predicted `column`)."""
        evaluation = self._evaluation
        predicted, wanted = evaluation.predicted, self._columns[column]
        chosen = ~np.isin(predicted, evaluation.classes) if wanted == -1 else predicted == wanted
        return np.flatnonzero((evaluation.true == evaluation.classes[row]) & chosen)

    def wrong_position(self) -> int | None:
        """The position in the Evaluation of the selected wrong prediction, if any."""
        row = self.wrong.currentIndex().row()
        return None if row < 0 else self.wrong_predictions.position(row)

    # --- Reactions -------------------------------------------------------------------------

    @Slot(int, int)
    def _on_cell_clicked(self, row: int, column: int) -> None:
        self._cell = self.cell_positions(row, column)
        self.explain_cell_button.setEnabled(len(self._cell) > 0)
        if len(self._cell):  # an empty cell has nothing to show; the browser keeps what it has
            self.sig_cell_chosen.emit(self._cell)

    @Slot()
    def _on_explain_cell(self) -> None:
        if self._cell is not None and len(self._cell):
            self.sig_explain_requested.emit(self._cell.copy())

    @Slot()
    def _on_explain_wrong(self) -> None:
        if self._evaluation is not None:
            self.sig_explain_requested.emit(self._evaluation.wrong())

    @Slot(QModelIndex, QModelIndex)
    def _on_wrong_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        position = self.wrong_position()
        self.why_button.setEnabled(position is not None)
        if position is not None:
            self.sig_photo_chosen.emit(position)

    @Slot()
    def _on_why(self) -> None:
        position = self.wrong_position()
        if position is not None:
            self.sig_why_requested.emit(position)


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    from limelight.core.dataset import ClassMapping, Evaluation

    app = QApplication(sys.argv)
    rng = np.random.default_rng(0)
    names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat")
    true = np.repeat(np.arange(5), 20)
    probabilities = rng.dirichlet(np.ones(5), size=100).astype(np.float32)
    probabilities[np.arange(100), true] += 0.6
    mapping = ClassMapping(names, tuple(range(5)), ("name",) * 5, names)
    evaluation = Evaluation("preview", mapping, tuple(Path(f"{n}_{i}.png") for i, n in enumerate(true)),
                            ("",) * 100, true, probabilities / probabilities.sum(1, keepdims=True), ())
    panel = DatasetPanel()
    panel.sig_cell_chosen.connect(lambda positions: print("cell", positions))
    panel.set_evaluation(evaluation)
    panel.resize(1000, 320)
    panel.show()
    sys.exit(app.exec())
