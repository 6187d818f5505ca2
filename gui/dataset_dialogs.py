"""The window's dataset part: File > Open Dataset…, the class mapping it asks for, the Dataset dock, exports."""
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow

from limelight.core.dataset import (CONFUSION_FILE, PREDICTIONS_FILE, save_confusion_png, scan_dataset,
                                    write_predictions_csv)
from limelight.gui.background_tasks import BackgroundTasks
from limelight.gui.class_mapping_dialog import ClassMappingDialog
from limelight.gui.dataset_panel import DatasetPanel


#: The most of the window's height the Dataset dock takes when it first shows.
MAX_DOCK_SHARE = 0.4


class DatasetDialogs(QObject):
    """Opens a labelled folder, asks which folder is which class, and shows the session's evaluation of it.

    The folder is scanned off the GUI thread; the mapping dialog always comes before evaluating, so
    a folder matched by sorted order, or not at all, is seen and fixed by the user. The evaluation
    itself is the session's (`session.evaluation`), run as the window's one run.

    Parameters
    ----------
    window : MainWindow
        Whose session, settings, browser, file dialogs and messages are used; the Dataset dock is added to it.
    """

    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self._window = window
        self._session = window.session
        self._settings = window.settings
        self._scanner = BackgroundTasks(self, max_threads=1)
        self._scanner.sig_done.connect(self._on_scanned)
        self._scanner.sig_failed.connect(lambda folder, message: window.show_error(message, "dataset"))
        self.mapping_dialog: ClassMappingDialog | None = None

        self.panel = DatasetPanel(window)
        self.dock = QDockWidget("Dataset", window)
        self.dock.setObjectName("dataset_dock")
        self.dock.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        self.dock.hide()  # until a dataset is evaluated

        self.panel.sig_cell_chosen.connect(self._show_in_browser)
        self.panel.sig_photo_chosen.connect(self._open_photo)
        self.panel.sig_mapping_requested.connect(self.change_mapping)
        self.panel.sig_export_predictions_requested.connect(self.export_predictions_dialog)
        self.panel.sig_export_confusion_requested.connect(self.export_confusion_dialog)
        self._session.sig_evaluation_changed.connect(self._on_evaluation_changed)

    # --- Opening -----------------------------------------------------------------------------

    @Slot()
    def open_dataset_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._window, "Open Dataset", self._settings.last_folder("datasets"))
        if folder:
            self._settings.set_last_folder("datasets", folder)
            self.open_dataset(folder)

    def open_dataset(self, folder) -> None:
        """Scan a folder of class folders in the background, then ask for the class mapping."""
        if self._session.model_info() is None:
            self._window.show_error("Wait for the model to load, then open the dataset again.", "dataset")
            return
        self._window.message_bar.clear("dataset")
        self._window.statusBar().showMessage(f"Reading the class folders of {Path(folder).name}…", 0)
        self._scanner.start(str(folder), scan_dataset, folder)

    @Slot(object, object)
    def _on_scanned(self, folder, dataset) -> None:
        info = self._session.model_info()
        if info is None or self._window.isHidden():
            return
        self._window.statusBar().showMessage(
            f"{len(dataset):,} images in {len(dataset.folders)} class folders; check the class mapping.", 0)
        self._ask_mapping(dataset, info.class_names)

    @Slot()
    def change_mapping(self) -> None:
        """Ask for the class mapping of the dataset shown again, and evaluate with the new one."""
        dataset, evaluation, info = self._session.dataset, self._session.evaluation, self._session.model_info()
        if dataset is None or evaluation is None or info is None:
            return
        same_classes = tuple(info.class_names) == tuple(evaluation.label_names)
        self._ask_mapping(dataset, info.class_names, evaluation.mapping if same_classes else None)

    def _ask_mapping(self, dataset, label_names, mapping=None) -> None:
        if self.mapping_dialog is not None:
            self.mapping_dialog.close()
            self.mapping_dialog.deleteLater()
        dialog = self.mapping_dialog = ClassMappingDialog(dataset.folders, label_names, mapping=mapping,
                                                          parent=self._window)
        dialog.setWindowTitle(f"Class Mapping: {dataset.root.name} ({len(dataset):,} images)")
        dialog.sig_mapping_chosen.connect(lambda chosen: self._session.evaluate_dataset(dataset, chosen))
        dialog.open()

    # --- Showing -----------------------------------------------------------------------------

    @Slot(object)
    def _on_evaluation_changed(self, evaluation) -> None:
        self.panel.set_evaluation(evaluation)
        if evaluation.failures:
            path, reason = evaluation.failures[0]
            others = len(evaluation.failures) - 1
            self._window.show_error(f"{path}: {reason}" + (f" (and {others:,} more images not read)" if others else "")
                                    + "; the evaluation leaves them out.", "dataset")
        if not self.dock.isVisible():
            self.dock.show()
            # The whole matrix, within a share of the window that leaves the photo and the other panels room.
            # Measured once the dock is laid out: the matrix sizes its rows to their contents then.
            QTimer.singleShot(0, self._fit_dock)
        self.dock.raise_()

    @Slot()
    def _fit_dock(self) -> None:
        # The whole matrix, within a share of the window that leaves the photo and the other panels room.
        height = min(self.panel.height_for_matrix(), int(self._window.height() * MAX_DOCK_SHARE))
        self._window.resizeDocks([self.dock], [height], Qt.Orientation.Vertical)

    @Slot(object)
    def _show_in_browser(self, positions) -> None:
        """Fill the image browser with exactly these images of the evaluation."""
        evaluation = self._session.evaluation
        browser = self._window.browser
        browser.clear()
        browser.add_paths([evaluation.paths[i] for i in positions])
        names, first = evaluation.label_names, positions[0]
        self._window.statusBar().showMessage(
            f"{len(positions):,} image{'s' * (len(positions) != 1)} of “{names[evaluation.true[first]]}” "
            f"predicted as “{names[evaluation.predicted[first]]}” in the browser.", 6000)

    @Slot(int)
    def _open_photo(self, position: int) -> None:
        browser = self._window.browser
        path = self._session.evaluation.paths[position]
        if not browser.select_path(path):
            browser.add_paths([path])

    # --- Exporting ---------------------------------------------------------------------------

    @Slot()
    def export_predictions_dialog(self) -> None:
        path = self._ask_save_path("Export Predictions", PREDICTIONS_FILE, "CSV file (*.csv)")
        if path is not None:
            self.export_predictions(path)

    @Slot()
    def export_confusion_dialog(self) -> None:
        path = self._ask_save_path("Export Confusion Matrix", CONFUSION_FILE, "PNG image (*.png)")
        if path is not None:
            self.export_confusion(path)

    def export_predictions(self, path) -> bool:
        """Write the evaluation's predictions CSV to `path`, asking first if it exists; whether it was written."""
        return self._export(path, write_predictions_csv)

    def export_confusion(self, path) -> bool:
        """Draw the evaluation's confusion matrices into a PNG at `path`, asking first if it exists."""
        return self._export(path, save_confusion_png)

    def _ask_save_path(self, title: str, name: str, filters: str) -> Path | None:
        start = str(Path(self._settings.last_folder("export")) / name)
        # Overwriting is confirmed by the window's confirm_overwrite, as every other save is.
        path, _ = QFileDialog.getSaveFileName(self._window, title, start, filters, "",
                                              QFileDialog.Option.DontConfirmOverwrite)
        return Path(path) if path else None

    def _export(self, path, write) -> bool:
        evaluation = self._session.evaluation
        path = Path(path)
        if evaluation is None or (path.exists() and not self._window.files.confirm_overwrite([path])):
            return False
        try:
            write(path, evaluation)
        except OSError as error:
            self._window.show_error(f"{path}: cannot write it ({error.strerror or error}).", "save")
            return False
        self._settings.set_last_folder("export", path)
        self._window.statusBar().showMessage(f"Saved {path}.", 6000)
        return True

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Close the mapping dialog and wait for a folder still being read."""
        if self.mapping_dialog is not None:
            self.mapping_dialog.close()
        return self._scanner.wait(timeout_ms)
