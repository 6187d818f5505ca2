"""The main window: the docks around the image, and the views of the session's state."""
import dataclasses
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QApplication, QDockWidget, QLabel, QMainWindow, QProgressBar, QToolButton,
                               QVBoxLayout, QWidget)

from limelight.core.caption import METHOD_TITLES
from limelight.core.errors import LimelightError
from limelight.core.images import is_supported_image
from limelight.core.models import MODEL_FILE_TYPES
from limelight.gui.compare import CompareDialog
from limelight.gui.drawing import OverlayPainter
from limelight.gui.file_dialogs import FileDialogs
from limelight.gui.image_browser import ImageBrowser
from limelight.gui.image_view import ImageView, place_in_photo
from limelight.gui.menus import VIEW_MODES, WindowCommands
from limelight.gui.message_bar import MessageBar
from limelight.gui.model_picker import ModelPicker
from limelight.gui.overlay_controls import OverlayControls
from limelight.gui.parameter_panel import ExplainRequest, ParameterPanel
from limelight.gui.predictions_panel import PredictionsPanel
from limelight.gui.preprocessing_dialog import PreprocessingDialog
from limelight.gui.scroll_panel import scroll_panel
from limelight.gui.session import DEFAULT_SOURCE, Session, describe_seconds, model_title
from limelight.gui.settings import Settings
from limelight.gui.trust_dialog import ask_trust
from limelight.gui.worker import BUILTIN_PREFIX, REPORT_PREFIX

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
        # The method of the result drawn last, and the display a result made with another method
        # than the panel's keeps: the one it was drawn with when the method changed.
        self._shown_method: str | None = None
        self._stale_display: str | None = None
        self.preprocessing_dialog: PreprocessingDialog | None = None
        self.compare: CompareDialog | None = None
        self._closing = False

        self._build_widgets()
        self.session = Session(self.settings, request=self.parameter_panel.request, parent=self)
        self.controller = self.session.controller
        self.painter = OverlayPainter()
        self.files = FileDialogs(self)
        self.commands = WindowCommands(self)
        self.status_cancel.setDefaultAction(self.commands.cancel)
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
        self.stale_note = QLabel(self)
        self.stale_note.setObjectName("staleNote")
        self.stale_note.setWordWrap(True)
        self.stale_note.setStyleSheet("#staleNote { background: #fff4d6; color: #5c4300; border: 1px solid "
                                      "#f0d58a; border-radius: 4px; padding: 3px 8px; }")
        self.stale_note.hide()
        layout.addWidget(self.stale_note)
        layout.addWidget(self.image_view, 1)
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
        # The panel's own progress bar can be scrolled out of sight; this one is always there.
        self.status_progress = QProgressBar(self)
        self.status_progress.setMaximumWidth(180)
        self.status_progress.setMaximumHeight(16)
        self.status_progress.setTextVisible(True)
        self.status_progress.hide()
        self.status_eta = QLabel(self)
        self.status_eta.hide()
        self.status_cancel = QToolButton(self)  # its action, Cancel, is one of the commands
        self.status_cancel.setAutoRaise(True)
        self.status_cancel.hide()
        for widget in (self.status_progress, self.status_eta, self.status_cancel, self.image_status,
                       self.model_status):
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
        self.parameter_panel.sig_preview_toggled.connect(self._on_preview_toggled)
        self.parameter_panel.sig_segmentation_changed.connect(session.request_preview)
        self.parameter_panel.sig_method_changed.connect(self._on_method_changed)
        self.overlay_controls.sig_style_changed.connect(self._on_style_changed)
        self.predictions_panel.sig_target_chosen.connect(session.choose_target)
        self.predictions_panel.sig_add_samples_requested.connect(session.add_samples)
        self.image_view.sig_view_mode_changed.connect(self._on_view_mode_changed)
        self.image_view.sig_zoom_changed.connect(self._on_zoom_changed)

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
        session.sig_preview_shown.connect(self._on_preview_shown)
        session.sig_running_changed.connect(self._set_running)
        session.sig_progress.connect(self._on_progress)
        session.sig_report_opened.connect(self._on_report_opened)
        session.sig_preprocessing_choices.connect(self._on_preprocessing_choices)
        session.sig_batch_done.connect(self._on_batch_done)
        session.sig_error.connect(self.show_error)
        session.sig_errors_cleared.connect(lambda causes: self.message_bar.clear(*causes))
        session.sig_status.connect(self.statusBar().showMessage)

    def _restore(self, images, model, trust_model) -> None:
        settings = self.settings
        self.model_picker.set_recent(settings.recent_models())
        geometry = settings.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            screen = QApplication.primaryScreen()
            available = screen.availableGeometry() if screen else None
            if available is not None:
                self.resize(min(1440, available.width() - 40), min(900, available.height() - 60))
            else:
                self.resize(1280, 800)
        state = settings.window_state()
        if state is None or not self.restoreState(state):
            # Sized once the window has its real size: dock sizes are shared out from it.
            QTimer.singleShot(0, self._default_dock_sizes)
        request = _request_from_fields(settings.last_request())
        if request is None:
            # Grad-CAM answers in well under a second: the first click on Explain shows something
            # at once, and LIME is one choice away in the parameter panel.
            request = dataclasses.replace(self.parameter_panel.request(), method="gradcam")
        self.parameter_panel.set_request(request)
        style = _style_from_fields(settings.last_style())
        if style is not None:
            self.overlay_controls.set_style(style)
        else:
            self._use_natural_display(request.method)
        self.overlay_controls.set_superpixel_method(request.method == "lime")
        self.set_view_mode(settings.view_mode())

        added, skipped = self.browser.add_paths(images or settings.last_images() or sample_images())
        if skipped:
            self.show_error(f"{skipped} of the files given are not images Limelight reads.", "files")
        last = settings.last_model()
        if model:
            source = model
        elif last.startswith(BUILTIN_PREFIX) or (last and Path(last).exists()):
            source = last
        else:
            source = DEFAULT_SOURCE
        if not source.startswith(BUILTIN_PREFIX) and not Path(source).exists():
            # `--model efficientnet_lite0`: a built-in model by name, as the CLI accepts.
            from limelight.core.zoo import BUILTIN_MODELS

            if source in BUILTIN_MODELS:
                source = BUILTIN_PREFIX + source
        # The first load starts once the window has painted: importing TensorFlow in the worker
        # holds the interpreter most of the time, and would keep the window from showing.
        self._first_load = (source, trust_model)
        self.model_picker.set_busy(f"Loading {model_title(source)}…")

    # --- Photos ----------------------------------------------------------------------------

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
            added, skipped = self.browser.add_paths(images)
            other_count += skipped
            if added == 0 and not models and not saved_models:
                self.statusBar().showMessage("No new images found.", 4000)
            elif added:
                self.statusBar().showMessage(f"Added {added} image{'s' * (added != 1)}.", 4000)
        if other_count:
            self.show_error(f"{other_count} dropped file{'s are' if other_count != 1 else ' is'} "
                            "neither an image nor a model Limelight opens.", "files")
        model = (models or saved_models or [None])[0]
        if model is not None:
            self.settings.set_last_folder("models", model)
            self.load_model(str(model), False)

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
        self.overlay_controls.set_superpixel_method(opened.explanation.kind == "lime")

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
        self.settings.set_last_request(_request_fields(self.parameter_panel.request()))
        self.session.explain()

    @Slot()
    def click_explain(self) -> None:
        """Press the panel's Explain button, so its rules (not while running) hold for every way in."""
        self.parameter_panel.explain_button.click()

    @Slot(bool, bool)
    def _set_running(self, running: bool, auto: bool = False) -> None:
        self.parameter_panel.set_running(running, auto=auto)
        self.commands.set_running(running, can_add_samples=self.session.can_add_samples(self.session.shown_result()))
        self.status_progress.setRange(0, 0)  # busy until the first progress report
        self.status_eta.setText(self.parameter_panel.eta.text())
        for widget in (self.status_progress, self.status_eta, self.status_cancel):
            widget.setVisible(running)

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.parameter_panel.set_progress(done, total)
        self.status_progress.setRange(0, max(total, 1))
        self.status_progress.setValue(done)
        # The same words as the panel's bar, which says when the total is only a cap.
        self.status_progress.setFormat(self.parameter_panel.progress.format())
        self.status_eta.setText(self.parameter_panel.eta.text())

    @Slot(object)
    def _on_batch_done(self, result) -> None:
        if result.failures:
            self.show_error(f"{len(result.failures)} image(s) failed; the first: {result.failures[0]}", "explain")
        self.statusBar().showMessage(f"{'Stopped. ' if result.cancelled else ''}Wrote {len(result.written)} files.",
                                     8000)

    @Slot(object)
    def _on_result_shown(self, result) -> None:
        from limelight.core.overlay import weight_scale

        method = result.request.method if result is not None else None
        if method != self._shown_method:
            self._stale_display = None
        self._shown_method = method
        self._update_stale_note()
        if result is None:
            self.image_view.set_overlay(None)
            self.overlay_controls.set_weights(None)
            self.predictions_panel.set_info(None)
            return
        self.commands.add_samples.setEnabled(not self.session.is_running() and self.session.can_add_samples(result))
        low, _ = weight_scale(result.explanation, result.target)
        self.overlay_controls.set_weights(np.asarray(result.explanation.weight_map(result.target)), signed=low < 0)
        self._show_info()
        if not self.session.preview_on():
            self._render()
        self.sig_explanation_shown.emit(result)

    @Slot()
    def _show_info(self) -> None:
        result = self.session.shown_result()
        if result is not None:
            self.predictions_panel.set_info(self.session.explanation_info(result))

    def _render(self) -> None:
        """Draw the shown explanation with the current style (no recomputation)."""
        result, image = self.session.shown_result(), self.session.current_image()
        if result is None or image is None:
            return
        try:
            self.painter.draw(self.image_view, image, result, self.shown_style())
        except LimelightError as error:
            self.show_error(str(error), "explain")

    @Slot(float)
    def _on_zoom_changed(self, _zoom: float) -> None:
        # A new overlay only when the zoom crosses a step of the overlay scale, not at every wheel step.
        if (self.session.shown_result() is not None and not self.session.preview_on()
                and self.image_view.overlay_outdated()):
            self._render()

    def shown_style(self):
        """The style the shown explanation is drawn with.

        The overlay controls' style, except for a result made with another method than the one the
        panel now has: it keeps the display it was drawn with until a new result replaces it.
        """
        from limelight.core.overlay import natural_display

        style = self.overlay_controls.style()
        result = self.session.shown_result()
        if result is None or not self.is_stale(result):
            return style
        display = self._stale_display or natural_display(result.request.method)
        return dataclasses.replace(style, display=display)

    def is_stale(self, result) -> bool:
        """Whether `result` was made with another method than the panel's (a report never is)."""
        return (not result.model.startswith(REPORT_PREFIX)
                and result.request.method != self.parameter_panel.request().method)

    def _update_stale_note(self) -> None:
        result = self.session.shown_result()
        stale = result is not None and self.is_stale(result)
        if stale:
            made = METHOD_TITLES[result.request.method]
            wanted = METHOD_TITLES[self.parameter_panel.request().method]
            self.stale_note.setText(f"Out of date: made with {made}, drawn as it was. Press Explain to see {wanted}.")
        self.stale_note.setVisible(stale)
        self.overlay_controls.set_shown_display(self.shown_style().display if stale else None)

    @Slot(str)
    def _on_method_changed(self, method: str) -> None:
        before = self.shown_style().display
        self.overlay_controls.set_superpixel_method(method == "lime")
        self._use_natural_display(method)
        # The shown result keeps the display it was made with; the controls now set up the next one.
        shown = self.session.shown_result()
        self._stale_display = before if shown is not None and self.is_stale(shown) else None
        self._update_stale_note()
        if shown is not None and not self.session.preview_on():
            self._render()

    def _use_natural_display(self, method: str) -> None:
        # Each family reads best in its own display (see natural_display). The user can still
        # pick any display afterwards.
        from limelight.core.overlay import natural_display

        style = self.overlay_controls.style()
        if style.display != natural_display(method):
            self.overlay_controls.set_style(dataclasses.replace(style, display=natural_display(method)))
            self.settings.set_last_style(_style_fields(self.overlay_controls.style()))

    @Slot(object)
    def _on_style_changed(self, style) -> None:
        self.settings.set_last_style(_style_fields(style))
        self._update_stale_note()
        if self.session.shown_result() is not None and not self.session.preview_on():
            self._render()
        if self.compare is not None and self.compare.isVisible():
            self.compare.restyle()

    @Slot(bool)
    def _on_preview_toggled(self, on: bool) -> None:
        self.session.set_preview(on)
        if not on:
            if self.session.shown_result() is not None:
                self._render()
            else:
                self.image_view.set_overlay(None)

    @Slot(object)
    def _on_preview_shown(self, preview) -> None:
        self.image_view.set_overlay(place_in_photo(self.session.current_image(), preview.rendered))

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
        self._default_dock_sizes()
        self.settings.forget_layout()

    @Slot()
    def _default_dock_sizes(self) -> None:
        """Give the image most of the width, and the Explain button a place in view."""
        self.resizeDocks([self.browser_dock, self.model_dock], [250, 340], Qt.Orientation.Horizontal)
        height = self.height()
        # Room for the four sample thumbnails (and the dock's title); the rest for the predictions.
        title = self.browser_dock.widget().geometry().top()
        images = title + self.browser.height_for_rows(min(4, max(1, self.browser.count())))
        self.resizeDocks([self.browser_dock, self.predictions_dock], [images, max(300, height - images)],
                         Qt.Orientation.Vertical)
        model = self.model_picker.sizeHint().height() + 30
        parameters = max(260, min(560, (height - model) * 11 // 20))
        self.resizeDocks([self.model_dock, self.parameters_dock, self.overlay_dock],
                         [model, parameters, max(200, height - model - parameters)], Qt.Orientation.Vertical)

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
        QTimer.singleShot(0, lambda: self.open_paths(paths))

    def closeEvent(self, event) -> None:
        if self._closing:
            event.accept()
            return
        self._closing = True
        self.settings.set_geometry(self.saveGeometry())
        self.settings.set_window_state(self.saveState())
        self.settings.set_last_images(self.browser.paths())
        self.settings.set_last_request(_request_fields(self.parameter_panel.request()))
        self.settings.set_last_style(_style_fields(self.overlay_controls.style()))
        self.settings.sync()
        if self.compare is not None:
            self.compare.close()
        if self.preprocessing_dialog is not None:
            self.preprocessing_dialog.close()
        # Cancel, quit, bounded wait: never terminate() a thread that may be inside TensorFlow.
        self.session.shutdown(SHUTDOWN_WAIT_MS)
        self.browser.shutdown()
        event.accept()


# --- Persisting values ---------------------------------------------------------------------

def _request_fields(request) -> dict:
    fields = dataclasses.asdict(request)
    fields["segmentation_params"] = [list(item) for item in request.segmentation_params]
    return fields


def _request_from_fields(fields: dict):
    if not fields:
        return None
    try:
        fields = dict(fields)
        fields["segmentation_params"] = tuple(tuple(item) for item in fields.get("segmentation_params", ()))
        return ExplainRequest(**fields)
    except (TypeError, ValueError, LimelightError):
        # A settings file from another version: start from the panel's defaults.
        return None


def _style_fields(style) -> dict:
    return dataclasses.asdict(style)


def _style_from_fields(fields: dict):
    from limelight.core.overlay import OverlayStyle

    if not fields:
        return None
    try:
        return OverlayStyle(**fields)
    except (TypeError, ValueError, LimelightError):
        return None


if __name__ == "__main__":
    from limelight.gui.app import main

    sys.exit(main(sys.argv[1:]))
