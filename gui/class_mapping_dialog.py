"""The class mapping dialog: which model class each class folder of a dataset stands for, checked by the user."""
import sys

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QHeaderView, QLabel,
                               QTableWidget, QTableWidgetItem, QVBoxLayout)

from limelight.core.dataset import MATCH_RULES, ClassMapping, match_classes, name_matches
from limelight.core.errors import DatasetError

#: The rule column's words for a folder no rule matched.
NOT_MATCHED = "not matched: choose its class"


class ClassMappingDialog(QDialog):
    """One row per class folder: the folder, the model class it stands for (a combo box) and the rule that chose it.

    Nothing is evaluated until the user presses Evaluate, so a mapping by sorted order, or a folder
    that names no class, is never used unseen.

    Parameters
    ----------
    folders : tuple of str
        The dataset's class folders (`Dataset.folders`).
    label_names : tuple of str
        The model's class names, by index.
    mapping : ClassMapping, optional
        The mapping to start from (the last one used); by default `match_classes`' own.
    parent : QWidget, optional
    """

    sig_mapping_chosen = Signal(object)
    """The user accepted the mapping: a ClassMapping."""

    def __init__(self, folders, label_names, *, mapping: ClassMapping | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Class Mapping")
        self._folders, self._label_names = tuple(folders), tuple(label_names)
        problem = ""
        if mapping is None:
            try:
                mapping = match_classes(self._folders, self._label_names)
            except DatasetError as error:
                problem = str(error)
        self._mapping = mapping
        matched = name_matches(self._folders, self._label_names) if mapping is None else {}

        self.note = QLabel(self)
        self.note.setWordWrap(True)
        if problem:
            unmatched = [f for f in self._folders if f not in matched]
            self.note.setText(f"{len(unmatched)} of {len(self._folders)} class folders name none of the model's "
                              f"{len(self._label_names)} classes. Choose the class of each row marked "
                              "“not matched”.")
            self.note.setStyleSheet("color: #611a15;")
        elif "sorted order" in mapping.rules:
            self.note.setText("The folder names are not the model's class names, so the folders were matched "
                              "by sorted order, as Keras numbers classes. Check each row before evaluating.")
            self.note.setStyleSheet("color: #7a4d00;")
        else:
            self.note.setText("Each class folder and the model class it stands for. Change any that is wrong.")

        self.table = QTableWidget(len(self._folders), 3, self)
        self.table.setHorizontalHeaderLabels(["Folder", "Model class", "Matched"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        # One list of classes for every row: a thousand-class model times a hundred folders stays instant.
        classes = QStandardItemModel(self)
        for index, name in enumerate(self._label_names):
            item = QStandardItem(f"{name} [{index}]")
            item.setData(index, Qt.ItemDataRole.UserRole)
            classes.appendRow(item)
        self.combos: list[QComboBox] = []
        for row, folder in enumerate(self._folders):
            self.table.setItem(row, 0, QTableWidgetItem(folder))
            combo = QComboBox(self.table)
            combo.setMaxVisibleItems(20)
            combo.setModel(classes)
            combo.setPlaceholderText("Choose a class…")
            if mapping is not None:
                combo.setCurrentIndex(mapping.classes[row])
                rule = MATCH_RULES[mapping.rules[row]]
            else:
                combo.setCurrentIndex(matched.get(folder, -1))
                rule = MATCH_RULES["name"] if folder in matched else NOT_MATCHED
            combo.currentIndexChanged.connect(lambda _index, row=row: self._on_changed(row))
            self.table.setCellWidget(row, 1, combo)
            self.table.setItem(row, 2, QTableWidgetItem(rule))
            self.combos.append(combo)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.evaluate_button = self.buttons.addButton("Evaluate", QDialogButtonBox.ButtonRole.AcceptRole)
        self.evaluate_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.buttons)
        self._update_button()
        self.resize(640, min(600, 140 + 34 * len(self._folders)))

    def chosen(self) -> dict:
        """The folders whose class the user chose or changed: {folder: class index}."""
        return {folder: combo.currentData() for row, (folder, combo) in enumerate(zip(self._folders, self.combos))
                if self._mapping is None or combo.currentData() != self._mapping.classes[row]}

    def mapping(self) -> ClassMapping:
        """The mapping as the rows say now (every row must have a class)."""
        if self._mapping is None:
            return match_classes(self._folders, self._label_names, chosen=self.chosen())
        return self._mapping.with_classes(self.chosen())

    @Slot(int)
    def _on_changed(self, row: int) -> None:
        self.table.item(row, 2).setText(MATCH_RULES["set by hand"])
        self._update_button()

    def _update_button(self) -> None:
        self.evaluate_button.setEnabled(all(combo.currentIndex() >= 0 for combo in self.combos))

    def accept(self) -> None:
        if not self.evaluate_button.isEnabled():
            return
        super().accept()
        self.sig_mapping_chosen.emit(self.mapping())


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    dialog = ClassMappingDialog(("Ankle boot", "Bag", "mystery"), ("T-shirt/top", "Trouser", "Bag", "Ankle boot"))
    dialog.sig_mapping_chosen.connect(lambda mapping: print("\n".join(mapping.describe())))
    dialog.show()
    sys.exit(app.exec())
