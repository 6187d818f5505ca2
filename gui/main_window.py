"""The main window: the docks around the image, and the views of the session's state."""
import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QApplication, QDockWidget, QLabel, QMainWindow,
                               QVBoxLayout, QWidget)

from limelight.core.images import is_supported_image
from limelight.core.methods import SUPERPIXEL_METHODS
from limelight.gui.compare import CompareDialog
from limelight.gui.dataset_dialogs import DatasetDialogs
from limelight.gui.dataset_explain import DatasetExplanations
from limelight.gui.drawing import OverlayPainter
from limelight.gui.file_dialogs import FileDialogs
from limelight.gui.image_browser import ImageBrowser
from limelight.gui.image_view import ImageView
from limelight.gui.menus import VIEW_MODES, WindowCommands
from limelight.gui.message_bar import MessageBar
from limelight.gui.overlay_presenter import OverlayPresenter
from limelight.gui.model_picker import ModelPicker
from limelight.gui.overlay_controls import OverlayControls
from limelight.gui.parameter_panel import ParameterPanel
from limelight.gui.predictions_panel import PredictionsPanel
from limelight.gui.sanity_check import SanityChecks
from limelight.gui.run_status import RunStatus
from limelight.gui.preprocessing_dialog import PreprocessingDialog
from limelight.gui.scroll_panel import scroll_panel
from limelight.gui.session import Session, describe_seconds, model_title
from limelight.gui.settings import Settings
from limelight.gui.trust_dialog import ask_trust
from limelight.gui.window_state import default_dock_sizes, request_fields, restore_window, save_window

#: The first model load starts at the window's first paint, or this long after it is shown.
FIRST_LOAD_LATEST_MS = 1000
#: How long the window waits for the worker to stop when it closes mid-run.
SHUTDOWN_WAIT_MS = 5000


def sample_images() -> list[str]:
    """The sample photos shipped with Limelight."""
    from limelight.resources import resource_path

    folder = Path(str(resource_path("samples")))
    order = ["chelsea.jpg", "coffee.jpg", "astronaut.jpg", "rocket.jpg"]
    files = [folder / name for name in order if (folder / name).is_file()]
    files += [p for p in sorted(folder.iterdir()) if is_supported_image(p) and p not in files]
    return [str(p) for p in files]


def app_icon() -> QIcon:
    from limelight.resources import resource_path

    return QIcon(str(resource_path("icons", "limelight.svg")))


class MainWindow(QMainWindow):
    """Limelight's window: browse images, pick a model, explain, tune the overlay, save.

    The state (photo, model, target, shown explanation) lives in `session`; the window's parts
    show it and ask it for changes. `files` holds the file dialogs, `commands` the actions.

    Parameters
    ----------
    settings : Settings, optional
        Where to remember things; tests pass one on a temporary file.
    images : list of str, optional
        Images to open; by default the last session's, or the samples on a first run.
    model : str, optional
        A model path or ``builtin:<name>`` to load instead of the last one used.
    trust_model : bool
        Trust `model` to run code (the ``--trust-model`` flag).
    """

    sig_model_loaded = Signal(object)
    """A model finished loading and is now current: its ModelInfo."""
    sig_explanation_shown = Signal(object)
    """An explanation is on screen: its ExplainResult."""
    sig_image_shown = Signal(str)
    """A photo is on screen: its path."""
    sig_predictions_shown = Signal(object)
    """The top classes of the current image are on screen: a Predictions."""
    sig_message = Signal(str)
    """An error or notice was shown to the user."""

    def __init__(self, *, settings: Settings | None = None, images=None, model: str | None = None,
                 trust_model: bool = False):
        super().__init__()
        self.settings = settings or Settings()
        self.setWindowTitle("Limelight")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self._first_load: tuple[str, bool] | None = None  # (source, trust) until the window first paints
        self.preprocessing_dialog: PreprocessingDialog | None = None
        self.compare: CompareDialog | None = None
        self._closing = False

        self._build_widgets()
        self.session = Session(self.settings, request=self.parameter_panel.request, parent=self)
        self.controller = self.session.controller
        self.painter = OverlayPainter()
        # Connected to the session before the window, so the overlay is drawn when the window says it is shown.
        self.overlay = OverlayPresenter(self.session, self.image_view, self.overlay_controls, self.parameter_panel,
                                        self.painter, self.settings, self)
        self.sanity = SanityChecks(self.session, self)
        layout = self.centralWidget().layout()
        layout.addWidget(self.overlay.note)
        layout.addWidget(self.image_view, 1)
        self.files = FileDialogs(self)
        self.datasets = DatasetDialogs(self)
        self.dataset_explanations = DatasetExplanations(self)
        self.commands = WindowCommands(self)
        self.run_status.cancel.setDefaultAction(self.commands.cancel)
        self.browser.set_actions([self.commands.open_images, self.commands.open_folder])
        self._default_state = self.saveState()
        self._connect()
        self._restore(images, model, trust_model)

    # --- Building --------------------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.image_view = ImageView(self)
        self.message_bar = MessageBar(self)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.setSpacing(4)
        layout.addWidget(self.message_bar)
        self.setCentralWidget(central)

        self.browser = ImageBrowser(self)
        self.model_picker = ModelPicker(self, settings=self.settings)
        self.parameter_panel = ParameterPanel(self)
        self.overlay_controls = OverlayControls(self)
        self.predictions_panel = PredictionsPanel(self)
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.browser_dock = self._dock("Images", "images", self.browser, left)
        # These scroll on a small screen rather than squeezing the scores or cutting notes mid-line.
        self.predictions_dock = self._dock("Predictions", "predictions", self.predictions_panel, left, scroll=True)
        self.model_dock = self._dock("Model", "model", self.model_picker, right, scroll=True)
        self.parameters_dock = self._dock("Explanation", "parameters", self.parameter_panel, right, scroll=True)
        self.overlay_dock = self._dock("Overlay", "overlay", self.overlay_controls, right, scroll=True)

        status = self.statusBar()
        self.model_status = QLabel(self)
        self.model_status.setStyleSheet("color: palette(mid); padding: 0 6px;")
        self.image_status = QLabel(self)
        self.image_status.setStyleSheet("color: palette(mid); padding: 0 6px;")
        self.run_status = RunStatus(self)  # its Cancel button's action is one of the commands
        for widget in (self.run_status, self.image_status, self.model_status):
            status.addPermanentWidget(widget)

    def _dock(self, title, name, widget, area, *, scroll=False) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{name}_dock")
        dock.setWidget(scroll_panel(widget, dock) if scroll else widget)
        self.addDockWidget(area, dock)
        return dock

    def docks(self) -> list[QDockWidget]:
        return [self.browser_dock, self.predictions_dock, self.model_dock, self.parameters_dock,
                self.overlay_dock]

    def _connect(self) -> None:
        session = self.session
        self.browser.sig_image_selected.connect(session.select_image)
        self.browser.sig_images_changed.connect(self._on_images_changed)
        self.model_picker.sig_model_requested.connect(self._on_model_requested)
        self.model_picker.sig_open_model_requested.connect(self.files.open_model_dialog)
        self.model_picker.sig_message.connect(lambda message: self.show_error(message, "model"))
        self.parameter_panel.sig_explain_requested.connect(self.explain)
        self.parameter_panel.sig_cancel_requested.connect(session.cancel)
        self.parameter_panel.sig_segmentation_changed.connect(session.request_preview)
        self.overlay_controls.sig_style_changed.connect(self._restyle_compare)
        self.overlay.sig_error.connect(self.show_error)
        self.predictions_panel.sig_target_chosen.connect(session.choose_target)
        self.predictions_panel.sig_add_samples_requested.connect(session.add_samples)
        self.sanity.show_in(self.predictions_panel.sanity_strip)
        self.image_view.sig_view_mode_changed.connect(self._on_view_mode_changed)

        session.sig_image_loading.connect(lambda path: self.image_status.setText("Loading…"))
        session.sig_image_shown.connect(self._on_image_shown)
        session.sig_image_failed.connect(self._on_image_failed)
        session.sig_model_loading.connect(self._on_model_loading)
        session.sig_model_loaded.connect(self._on_model_loaded)
        session.sig_trust_required.connect(self._on_trust_required)
        session.sig_predictions_shown.connect(self._on_predictions_shown)
        session.sig_target_changed.connect(self.predictions_panel.set_target)
        session.sig_result_shown.connect(self._on_result_shown)
        session.sig_info_changed.connect(self._show_info)
        session.sig_running_changed.connect(self._set_running)
        session.sig_progress.connect(self._on_progress)
        session.sig_report_opened.connect(self._on_report_opened)
        session.sig_preprocessing_choices.connect(self._on_preprocessing_choices)
        session.sig_batch_done.connect(self._on_batch_done)
        session.sig_error.connect(self.show_error)
        session.sig_errors_cleared.connect(lambda causes: self.message_bar.clear(*causes))
        session.sig_status.connect(self.statusBar().showMessage)

    def _restore(self, images, model, trust_model) -> None:
        restore_window(self)
        added, skipped = self.browser.add_paths(images or self.settings.last_images() or sample_images())
        if skipped:
            self.show_error(f"{skipped} of the files given are not images Limelight reads.", "files")
        source = self.session.startup_source(model)
        # The first load starts once the window has painted: importing TensorFlow in the worker
        # holds the interpreter most of the time, and would keep the window from showing.
        self._first_load = (source, trust_model)
        self.model_picker.set_busy(f"Loading {model_title(source)}…")

    # --- Photos ----------------------------------------------------------------------------

    @Slot(str, object)
    def _on_image_shown(self, path: str, image) -> None:
        self.image_view.set_image(image)
        if image is None:
            self.predictions_panel.set_predictions([])
            self.image_status.setText("")
            return
        self.image_status.setText(f"{Path(path).name} · {image.shape[1]} × {image.shape[0]}")
        # Messages about the last photo and its explanation no longer apply; others (files that
        # could not be opened, a model that failed) still do.
        self.message_bar.clear("photo", "explain", "preview")
        self.sig_image_shown.emit(path)

    @Slot(str, str)
    def _on_image_failed(self, path: str, message: str) -> None:
        self.browser.mark_failed(path, message)
        if path == self.session.current_path():
            self.image_view.set_image(None)
            self.image_status.setText("")
            self.show_error(message, "photo")

    @Slot(object)
    def _on_report_opened(self, opened) -> None:
        path, image = self.session.current_path(), self.session.current_image()
        # The photo joins the browser without the selection flow, which would ask the model about it.
        self.browser.blockSignals(True)
        try:
            self.browser.add_paths([path])
        finally:
            self.browser.blockSignals(False)
        self._on_images_changed(self.browser.count())
        self.image_view.set_image(image)
        self.image_status.setText(f"{Path(path).name} · {image.shape[1]} × {image.shape[0]}")
        self.message_bar.clear("photo", "explain", "preview", "report")
        self.predictions_panel.set_predictions(self.session.report_predictions(opened))
        self.predictions_panel.set_target(opened.target)
        if opened.info.get("style") is not None:
            self.overlay_controls.set_style(opened.info["style"])
        self.overlay_controls.set_superpixel_method(opened.explanation.method in SUPERPIXEL_METHODS)

    @Slot(object)
    def _on_preprocessing_choices(self, choices) -> None:
        if self._closing:
            return
        if self.preprocessing_dialog is not None:
            # One question at a time: the model it asked about is no longer the current one.
            self.preprocessing_dialog.close()
            self.preprocessing_dialog.deleteLater()
        dialog = self.preprocessing_dialog = PreprocessingDialog(
            choices.model, Path(choices.path).name, choices.choices, choices.current, self)
        dialog.sig_chosen.connect(self._on_preprocessing_chosen)
        dialog.open()

    @Slot(str, str)
    def _on_preprocessing_chosen(self, source: str, mode: str) -> None:
        if self.session.model_source() == source:
            self.model_picker.choose_preprocessing(mode)

    @Slot(int)
    def _on_images_changed(self, count: int) -> None:
        self.commands.batch.setEnabled(count > 0)

    # --- Models ----------------------------------------------------------------------------

    def load_model(self, source: str, trust: bool = False) -> None:
        """Load a model in the worker; the current one stays until the new one is ready."""
        self._first_load = None  # a model asked for before the first paint replaces the start-up one
        self.session.load_model(source, trust)

    @Slot(str, bool)
    def _on_model_requested(self, source: str, trusted: bool) -> None:
        # The file's content hash decides trust in the worker, so a file changed since it was
        # trusted is asked about again; what the picker remembers is not enough.
        self.load_model(source)

    @Slot(str)
    def _on_model_loading(self, source: str) -> None:
        if source:
            self.model_picker.set_pending_source(source)
            self.model_picker.set_busy(f"Loading {model_title(source)}…")
            self.statusBar().showMessage(f"Loading {model_title(source)}…")
        else:
            self.model_picker.set_busy(None)
            self.model_picker.set_current_source(self.session.model_source())

    @Slot(object)
    def _on_model_loaded(self, info) -> None:
        self.model_picker.set_model_info(info)
        self.predictions_panel.set_class_names(list(info.class_names))
        self.parameter_panel.set_layers(list(info.layers))
        # The worker has imported matplotlib while loading; the plots are built now, not with the first result.
        self.overlay_controls.build_histogram()
        self.predictions_panel.build_faithfulness_plot()
        self.model_status.setText(info.name)
        self.statusBar().showMessage(f"Loaded {info.name} in {describe_seconds(info.seconds)}, ready to explain.",
                                     8000)
        self.settings.set_last_model(info.source)
        if not info.builtin:
            self.settings.add_recent_model(info.source)
            self.model_picker.set_recent(self.settings.recent_models())
        self.sig_model_loaded.emit(info)

    @Slot(object)
    def _on_trust_required(self, trust) -> None:
        if ask_trust(trust.source, trust.reason, self, sha256=trust.sha256):
            self.session.trust_and_load(trust)
        else:
            info = self.session.model_info()
            self.statusBar().showMessage(f"Did not load {Path(trust.source).name}; "
                                         f"kept {info.name if info else 'no model'}.", 6000)

    # --- Explanations ----------------------------------------------------------------------

    @Slot(object)
    def _on_predictions_shown(self, predictions) -> None:
        if predictions is None:
            self.predictions_panel.set_predictions([])
            return
        self.predictions_panel.set_predictions(list(predictions.top))
        target = self.session.target()
        if target is None and predictions.top:
            target = predictions.top[0][0]
        if target is not None:
            self.predictions_panel.set_target(target)
        self.sig_predictions_shown.emit(predictions)

    @Slot()
    def explain(self) -> None:
        """Explain the current image with the parameter panel's settings."""
        self.settings.set_last_request(request_fields(self.parameter_panel.request()))
        self.session.explain()

    @Slot()
    def click_explain(self) -> None:
        """Press the panel's Explain button, so its rules (not while running) hold for every way in."""
        self.parameter_panel.explain_button.click()

    @Slot(bool, bool)
    def _set_running(self, running: bool, auto: bool = False) -> None:
        self.parameter_panel.set_running(running, auto=auto)
        self.commands.set_running(running, can_add_samples=self.session.can_add_samples(self.session.shown_result()))
        self.run_status.set_running(running, self.parameter_panel.eta.text())

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.parameter_panel.set_progress(done, total)
        # The same words as the panel's bar, which says when the total is only a cap.
        self.run_status.set_progress(done, total, self.parameter_panel.progress.format(),
                                     self.parameter_panel.eta.text())

    @Slot(object)
    def _on_batch_done(self, result) -> None:
        if result.failures:
            self.show_error(f"{len(result.failures)} image(s) failed; the first: {result.failures[0]}", "explain")
        self.statusBar().showMessage(f"{'Stopped. ' if result.cancelled else ''}Wrote {len(result.written)} files.",
                                     8000)

    @Slot(object)
    def _on_result_shown(self, result) -> None:
        if result is None:
            self.predictions_panel.set_info(None)
            return
        self.commands.add_samples.setEnabled(not self.session.is_running() and self.session.can_add_samples(result))
        self._show_info()
        self.sig_explanation_shown.emit(result)

    @Slot()
    def _show_info(self) -> None:
        result = self.session.shown_result()
        if result is not None:
            self.predictions_panel.set_info(self.session.explanation_info(result))

    @Slot(object)
    def _restyle_compare(self, _style) -> None:
        if self.compare is not None and self.compare.isVisible():
            self.compare.restyle()

    # --- Messages and view -----------------------------------------------------------------

    @Slot(str, str)
    def show_error(self, message: str, cause: str) -> None:
        """Tell the user something failed, in the window; the previous state stays.

        `cause` (one of MessageBar.CAUSES) says what fixing it looks like: the message goes away then.
        """
        self.message_bar.show_message(message, cause)
        self.statusBar().showMessage(message, 10000)
        self.sig_message.emit(message)

    @Slot()
    def copy_to_clipboard(self) -> None:
        image = self.image_view.current_pixmap_image()
        if image.isNull():
            self.statusBar().showMessage("Nothing to copy yet.", 3000)
            return
        QApplication.clipboard().setImage(image)
        self.statusBar().showMessage("Copied the image to the clipboard.", 3000)

    @Slot(str)
    def set_view_mode(self, mode: str) -> None:
        if mode not in VIEW_MODES:
            return
        self.commands.view_modes[mode].setChecked(True)
        if self.image_view.view_mode() != mode:
            self.image_view.set_view_mode(mode)
        self.settings.set_view_mode(mode)

    @Slot(str)
    def _on_view_mode_changed(self, mode: str) -> None:
        if mode in self.commands.view_modes:
            self.commands.view_modes[mode].setChecked(True)
            self.settings.set_view_mode(mode)

    @Slot()
    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock in self.docks():
            dock.setFloating(False)
            dock.show()
        default_dock_sizes(self)
        self.settings.forget_layout()

    @Slot()
    def show_compare(self) -> None:
        if self.compare is None:
            self.compare = CompareDialog(self.session, self.painter, request=self.parameter_panel.request,
                                         style=self.overlay_controls.style, parent=self)
        self.compare.refresh_models()
        self.compare.show()
        self.compare.raise_()
        if self.session.current_image() is not None:
            self.compare.run()

    # --- Window events ---------------------------------------------------------------------

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self._first_load is not None:
            # After this paint returns, so the window is on screen before the worker starts.
            QTimer.singleShot(0, self._start_first_load)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._first_load is not None:
            # A window shown minimised or covered may not paint for a while: load anyway.
            QTimer.singleShot(FIRST_LOAD_LATEST_MS, self._start_first_load)

    @Slot()
    def _start_first_load(self) -> None:
        if self._first_load is not None and not self._closing:
            source, trust = self._first_load
            self._first_load = None
            self.load_model(source, trust)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        # Open after the drop returns: a trust dialog must not run inside the drag's event loop.
        QTimer.singleShot(0, lambda: self.files.open_paths(paths))

    def closeEvent(self, event) -> None:
        if self._closing:
            event.accept()
            return
        self._closing = True
        save_window(self)
        if self.compare is not None:
            self.compare.close()
        if self.preprocessing_dialog is not None:
            self.preprocessing_dialog.close()
        self.dataset_explanations.close_dialogs()
        # Cancel, quit, bounded wait: never terminate() a thread that may be inside TensorFlow.
        self.session.shutdown(SHUTDOWN_WAIT_MS)
        self.browser.shutdown()
        self.datasets.shutdown()
        event.accept()


if __name__ == "__main__":
    from limelight.gui.app import main

    sys.exit(main(sys.argv[1:]))
