"""The window's file dialogs and what they do: open images, models and reports; save, export and batch-export."""
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from limelight.core.errors import LimelightError
from limelight.core.images import SUPPORTED_EXTENSIONS, is_supported_image
from limelight.core.models import MODEL_FILE_TYPES
from limelight.core.pipeline import captioned, write_report
from limelight.core.report import output_name
from limelight.gui.drawing import rendered_frame
from limelight.gui.session import model_title
from limelight.gui.jobs import REPORT_PREFIX

IMAGE_FILTERS = "PNG image (*.png);;JPEG image (*.jpg *.jpeg);;WebP image (*.webp);;TIFF image (*.tif *.tiff)"


class FileDialogs(QObject):
    """Asks where to open from and save to, remembering each kind's last folder, and does it.

    Parameters
    ----------
    window : MainWindow
        Whose session, settings, browser, panels and messages the dialogs use.
    """

    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self._window = window
        self._session = window.session
        self._settings = window.settings

    # --- Opening -----------------------------------------------------------------------------

    def open_paths(self, paths) -> None:
        """Open image files and folders in the browser, and load a model file if one is among them."""
        images, models, saved_models, other = [], [], [], []
        for path in map(Path, paths):
            if path.is_dir() and (path / "saved_model.pb").is_file():
                saved_models.append(path)
            elif path.is_dir() or is_supported_image(path):
                images.append(path)
            elif path.suffix.lower() in MODEL_FILE_TYPES:
                models.append(path)
            else:
                other.append(path)
        other_count = len(other)
        if images:
            added, skipped = self._window.browser.add_paths(images)
            other_count += skipped
            if added == 0 and not models and not saved_models:
                self._window.statusBar().showMessage("No new images found.", 4000)
            elif added:
                self._window.statusBar().showMessage(f"Added {added} image{'s' * (added != 1)}.", 4000)
        if other_count:
            self._window.show_error(f"{other_count} dropped file{'s are' if other_count != 1 else ' is'} "
                            "neither an image nor a model Limelight opens.", "files")
        model = (models or saved_models or [None])[0]
        if model is not None:
            self._settings.set_last_folder("models", model)
            self._window.load_model(str(model), False)

    @Slot()
    def open_images_dialog(self) -> None:
        patterns = " ".join(f"*{ext}" for ext in SUPPORTED_EXTENSIONS)
        paths, _ = QFileDialog.getOpenFileNames(self._window, "Open Images", self._settings.last_folder("images"),
                                                f"Images ({patterns});;All files (*)")
        if paths:
            self._settings.set_last_folder("images", paths[0])
            self.open_paths(paths)

    @Slot()
    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._window, "Open Folder", self._settings.last_folder("images"))
        if folder:
            self._settings.set_last_folder("images", folder)
            self._settings.set_value("folders/images", folder)
            self.open_paths([folder])

    @Slot()
    def open_report_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._window, "Open Report", self._settings.last_folder("export"),
                                              "Limelight report (*.json);;All files (*)")
        if path:
            self.open_report(path)

    def open_report(self, path) -> None:
        """Show a saved report's explanation and scores again, over its photo; no model needed.

        A report that cannot be read gets a message and leaves the window as it was.
        """
        self._settings.set_last_folder("export", path)
        self._session.open_report(path)

    @Slot()
    def open_model_dialog(self) -> None:
        types = " ".join(f"*{ext}" for ext in MODEL_FILE_TYPES)
        path, _ = QFileDialog.getOpenFileName(self._window, "Open Model", self._settings.last_folder("models"),
                                              f"Keras models ({types});;All files (*)")
        if path:
            self._settings.set_last_folder("models", path)
            self._window.load_model(path, False)

    @Slot()
    def open_saved_model_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._window, "Open SavedModel Folder",
                                                  self._settings.last_folder("models"))
        if folder:
            self._settings.set_last_folder("models", folder)
            # It always needs trust: the worker answers with TrustRequired unless its content is trusted.
            self._window.load_model(folder)

    # --- Saving ------------------------------------------------------------------------------

    def _default_name(self, suffix: str) -> str:
        """The shown explanation's file name, as batch exports and the command line name it."""
        result = self._session.shown_result()
        return output_name(self._session.current_path(), self._session.class_name(result.target), result.target,
                           result.request.method) + suffix

    def _ask_save_path(self, title: str, kind: str, name: str, filters: str) -> Path | None:
        start = str(Path(self._settings.last_folder(kind)) / name)
        # Overwriting is confirmed by confirm_overwrite, which knows every file a save writes.
        path, _ = QFileDialog.getSaveFileName(self._window, title, start, filters, "",
                                              QFileDialog.Option.DontConfirmOverwrite)
        return Path(path) if path else None

    @Slot()
    def save_annotated_dialog(self) -> None:
        if self._session.shown_result() is None:
            self._window.show_error("Explain the image first; then save it with Ctrl+S.", "save")
            return
        path = self._ask_save_path("Save Annotated Image", "save", self._default_name(".png"), IMAGE_FILTERS)
        if path is not None:
            self.save_annotated(path)

    @Slot()
    def save_captioned_dialog(self) -> None:
        if self._session.shown_result() is None:
            self._window.show_error("Explain the image first; then save it with its caption.", "save")
            return
        path = self._ask_save_path("Save with Caption", "save", self._default_name("_caption.png"), IMAGE_FILTERS)
        if path is not None:
            self.save_annotated(path, caption=True)

    def rendered_frame(self) -> np.ndarray | None:
        """The shown explanation drawn over the part of the photo it covers, at full resolution."""
        result = self._session.shown_result()
        return None if result is None else rendered_frame(result, self._window.overlay.shown_style())

    def captioned_frame(self) -> np.ndarray:
        """The shown explanation at full resolution with its caption (and a heatmap's colour scale) under it."""
        result = self._session.shown_result()
        return captioned(self.rendered_frame(), result.explanation, result.target, self._window.overlay.shown_style(),
                         label_name=self._session.explanation_info(result)["label"],
                         model_name=model_title(result.model))

    def save_annotated(self, path, *, caption: bool = False) -> bool:
        """Save the shown explanation at the photo's resolution, asking before replacing a file.

        With `caption`, the method, class, probability and trust scores are written under it.
        """
        from limelight.core import report

        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".png")
        if path.exists() and not self.confirm_overwrite([path]):
            return False
        try:
            image = self.captioned_frame() if caption else self.rendered_frame()
            report.save_annotated(path, image, force=True)
        except LimelightError as error:
            self._window.show_error(str(error), "save")
            return False
        self._settings.set_last_folder("save", path)
        self._window.message_bar.clear("save")
        self._window.statusBar().showMessage(f"Saved {path}.", 6000)
        return True

    @Slot()
    def export_report_dialog(self) -> None:
        shown = self._session.shown_result()
        if shown is None:
            self._window.show_error("Explain the image first; then export its report.", "save")
            return
        if shown.model.startswith(REPORT_PREFIX):
            self._window.show_error(f"This explanation is already saved in {shown.model[len(REPORT_PREFIX):]}.",
                                    "save")
            return
        path = self._ask_save_path("Export Report", "export", self._default_name(".json"),
                                   "Limelight report (*.json)")
        if path is not None:
            self.export_report(path)

    def export_report(self, path) -> bool:
        """Write the JSON report (its arrays beside it as .npz) and the side-by-side figure."""
        from limelight.core import report

        path = Path(path)
        if path.suffix.lower() != ".json":
            path = path.with_name(path.name + ".json")
        figure = path.with_name(path.stem + "_figure.png")
        existing = [p for p in (path, path.with_suffix(".npz"), figure) if p.exists()]
        if existing and not self.confirm_overwrite(existing):
            return False
        result, info = self._session.shown_result(), self._session.model_info()
        style = self._window.overlay.shown_style()
        written = []
        try:
            write_report(path, result.explanation, info, target=result.target, photo_path=result.path,
                         style=style, sanity=self._window.sanity.result_for(result), force=True)
            written = [path, path.with_suffix(".npz")]
            report.save_figure(figure, result.frame, result.explanation, result.target, style,
                               label_name=self._session.class_name(result.target), model_name=info.name,
                               force=True)
        except LimelightError as error:
            # All or nothing: a report without its figure is a half-done export.
            for done in written:
                done.unlink(missing_ok=True)
            self._window.show_error(str(error), "save")
            return False
        self._settings.set_last_folder("export", path)
        self._window.message_bar.clear("save")
        self._window.statusBar().showMessage(f"Exported {path.name} and {figure.name}.", 6000)
        return True

    @Slot()
    def explain_all_dialog(self) -> None:
        if not self._window.browser.paths():
            self._window.show_error("Open some images first.", "explain")
            return
        if self._session.model_info() is None:
            self._window.show_error("Wait for the model to load, then try again.", "explain")
            return
        folder = QFileDialog.getExistingDirectory(self._window, "Export Explanations To",
                                                  self._settings.last_folder("export"))
        if folder:
            self.explain_all(folder)

    def explain_all(self, folder):
        """Explain every image in the browser for its top class and save the results in `folder`.

        Runs as one cancellable job. Files from an earlier export are replaced only after
        one confirmation. Returns the run's JobHandle, or None when the user declined.
        """
        folder = Path(folder)
        paths = self._window.browser.paths()
        existing = sorted({str(p) for path in paths
                           for p in folder.glob(f"{_glob_escape(Path(path).stem)}_*")
                           if p.suffix.lower() in (".png", ".jpg", ".json", ".npz")})
        if existing and not self.confirm_overwrite(existing):
            return None
        self._settings.set_last_folder("export", folder)
        return self._session.explain_all(paths, self._window.parameter_panel.request(),
                                         self._window.overlay_controls.style(), folder, overwrite=bool(existing))

    def confirm_overwrite(self, paths) -> bool:
        """Ask once before replacing files; True when the user agrees."""
        paths = [str(p) for p in paths]
        shown = "\n".join(paths[:5]) + (f"\n… and {len(paths) - 5} more" if len(paths) > 5 else "")
        one = len(paths) == 1
        answer = QMessageBox.question(
            self._window, "Replace Files?",
            f"{'This file already exists' if one else f'{len(paths)} files already exist'}:\n"
            f"{shown}\n\nReplace {'it' if one else 'them'}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)
