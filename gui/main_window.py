"""The main window: docks, menus and the flow from an opened image to a saved explanation."""
import dataclasses
import logging
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QIcon, QKeySequence
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QFrame, QHBoxLayout, QLabel,
                               QMainWindow, QMessageBox, QProgressBar, QStyle,
                               QToolBar, QToolButton, QVBoxLayout, QWidget)

from limelight.core.errors import LimelightError
from limelight.core.images import is_supported_image, load_image, place_in_photo, scale_photo_and_frame
from limelight.core.methods import METHOD_TITLES
from limelight.core.models import MODEL_FILE_TYPES
from limelight.core.pipeline import ExplainRequest, OpenedReport, write_report
from limelight.core.report import output_name
from limelight.gui.image_browser import ImageBrowser
from limelight.gui.compare import CompareDialog
from limelight.gui.image_view import ImageView
from limelight.gui.model_picker import ModelPicker, builtin_sources
from limelight.gui.overlay_controls import OverlayControls
from limelight.gui.parameter_panel import ParameterPanel
from limelight.gui.predictions_panel import MEASURING, PredictionsPanel
from limelight.gui.scroll_panel import scroll_panel
from limelight.gui.settings import Settings
from limelight.gui.trust_dialog import ask_trust
from limelight.gui.preprocessing_dialog import PreprocessingDialog
from limelight.gui.worker import (BUILTIN_PREFIX, REPORT_PREFIX, BackgroundTasks, BatchResult,
                                  ComparePreprocessing, Continue, Explain, ExplainAll, ExplainResult, LoadModel,
                                  ModelInfo, OpenReport, Predict, Predictions,
                                  PreprocessingChoices, SegmentPreview, SegmentPreviewResult, TrustRequired, Versions,
                                  WorkerController, more_samples)

log = logging.getLogger(__name__)


DEFAULT_SOURCE = BUILTIN_PREFIX + "efficientnet_lite0"
VIEW_MODES = {"original": "Original", "explained": "Explained", "split": "Split"}
#: Decoded photos kept in memory, so going back to an image shows it at once.
IMAGE_CACHE_BYTES = 400 * 2**20
#: Explanations kept, per (image, model, parameters).
EXPLANATION_CACHE_SIZE = 64
#: Scaled-down photos kept for drawing overlays at the size shown: the window's and Compare's two.
_VIEW_COPIES = 3
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


def describe_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


class MessageBar(QFrame):
    """A non-modal one-line message above the image, for errors the user should see.

    Each message has a cause, so what fixes the cause hides its message and no other: showing a
    photo hides a message about the last photo, not one about files that could not be opened.
    """

    #: What a message is about: the photo on screen, an explanation or batch run, the superpixel
    #: preview, a model, a report being opened, a save, or files given to the window.
    CAUSES = ("photo", "explain", "preview", "model", "report", "save", "files")

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


class MainWindow(QMainWindow):
    """Limelight's window: browse images, pick a model, explain, tune the overlay, save.

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

        self.controller = WorkerController(self)
        self.controller.sig_result.connect(self._on_result)
        self.controller.sig_failed.connect(self._on_failed)
        self.controller.sig_cancelled.connect(self._on_cancelled)
        self.controller.sig_progress.connect(self._on_progress)
        self.controller.sig_finished.connect(self._on_finished)
        self._loader = BackgroundTasks(self, max_threads=1)
        self._loader.sig_done.connect(self._on_image_loaded)
        self._loader.sig_failed.connect(self._on_image_failed)

        # State. The worker owns the model objects; the window only knows their ModelInfo.
        self._model: ModelInfo | None = None
        self._loading: tuple[str, bool] | None = None
        self._startup_load = True
        # User models whose preprocessing was asked about this session; each is asked once.
        self._asked_preprocessing = set()
        self.preprocessing_dialog = None
        self._first_load: tuple[str, bool] | None = None  # (source, trust) until the window first paints
        self._path = ""
        self._image: np.ndarray | None = None
        self._image_loading: str | None = None  # the selected photo, while it loads
        self._explain_when_loaded = False  # Explain was asked for while it loads
        self._images: OrderedDict[str, np.ndarray] = OrderedDict()
        self._predictions: dict[tuple[str, str], tuple] = {}
        self._target: int | None = None
        self._explanations: OrderedDict[tuple, ExplainResult] = OrderedDict()
        self._last_key: dict[tuple[str, str], tuple] = {}
        self._shown: ExplainResult | None = None
        # The display an out-of-date result (made with another method than the panel's) keeps: the
        # one it was drawn with when the method changed. None while the shown result is current.
        self._stale_display: str | None = None
        self._preview: SegmentPreviewResult | None = None
        self._preview_wanted = False
        # (id(photo), id(frame), scale) -> (photo, frame, scaled photo, scaled frame) that overlays
        # are drawn on: the window's view and Compare's two.
        self._view_copies: dict[tuple, tuple] = {}
        self._explain_id: int | None = None
        self._batch_id: int | None = None
        # Faithfulness of a class shown from an earlier LIME run: its job, and (explanation, class).
        self._scores_id: int | None = None
        self._measuring: tuple | None = None
        # Class names of the report whose explanation is shown.
        self._report_names: dict[int, str] = {}
        self._versions: dict | None = None
        self._compare: CompareDialog | None = None
        self._closing = False
        self._mine: set[int] = set()

        self._build_widgets()
        self._build_actions()
        self._build_menus()
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

        self.browser_dock = self._dock("Images", "images", self.browser,
                                       Qt.DockWidgetArea.LeftDockWidgetArea)
        # Scrolls on a small screen rather than squeezing the explanation's scores.
        self.predictions_dock = self._dock("Predictions", "predictions", self.predictions_panel,
                                           Qt.DockWidgetArea.LeftDockWidgetArea, scroll=True)
        # Scrolls on a small screen rather than cutting its notes mid-line.
        self.model_dock = self._dock("Model", "model", self.model_picker,
                                     Qt.DockWidgetArea.RightDockWidgetArea, scroll=True)
        self.parameters_dock = self._dock("Explanation", "parameters", self.parameter_panel,
                                          Qt.DockWidgetArea.RightDockWidgetArea, scroll=True)
        self.overlay_dock = self._dock("Overlay", "overlay", self.overlay_controls,
                                       Qt.DockWidgetArea.RightDockWidgetArea, scroll=True)

        self.browser.sig_image_selected.connect(self._on_image_selected)
        self.browser.sig_images_changed.connect(self._on_images_changed)
        self.model_picker.sig_model_requested.connect(self._on_model_requested)
        self.model_picker.sig_open_model_requested.connect(self.open_model_dialog)
        self.model_picker.sig_message.connect(lambda message: self.show_error(message, "model"))
        self.parameter_panel.sig_explain_requested.connect(self.explain)
        self.parameter_panel.sig_cancel_requested.connect(self.cancel)
        self.parameter_panel.sig_preview_toggled.connect(self._on_preview_toggled)
        self.parameter_panel.sig_segmentation_changed.connect(self._on_segmentation_changed)
        self.parameter_panel.sig_method_changed.connect(self._on_method_changed)
        self.overlay_controls.sig_style_changed.connect(self._on_style_changed)
        self.predictions_panel.sig_target_chosen.connect(self.choose_target)
        self.predictions_panel.sig_add_samples_requested.connect(self.add_samples)
        self.image_view.sig_view_mode_changed.connect(self._on_view_mode_changed)
        self.image_view.sig_zoom_changed.connect(self._on_zoom_changed)

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
        # Its action (Cancel) is made with the others, in _build_actions.
        self.status_cancel = QToolButton(self)
        self.status_cancel.setAutoRaise(True)
        self.status_cancel.hide()
        status.addPermanentWidget(self.status_progress)
        status.addPermanentWidget(self.status_eta)
        status.addPermanentWidget(self.status_cancel)
        status.addPermanentWidget(self.image_status)
        status.addPermanentWidget(self.model_status)

    def _dock(self, title, name, widget, area, *, scroll=False) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{name}_dock")
        if scroll:
            dock.setWidget(scroll_panel(widget, dock))
        else:
            dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text, slot, *, shortcut=None, tip=None, checkable=False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.setCheckable(checkable)
        if slot is not None:
            action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        keys = QKeySequence.StandardKey
        self.open_action = self._action("&Open Images…", self.open_images_dialog, shortcut=keys.Open,
                                        tip="Add image files to the browser")
        self.open_folder_action = self._action("Open &Folder…", self.open_folder_dialog,
                                               shortcut="Ctrl+Shift+O",
                                               tip="Add every image in a folder and its subfolders")
        self.open_report_action = self._action("Open &Report…", self.open_report_dialog,
                                               tip="Show a saved JSON report again, with its scores; "
                                                   "no model needed")
        self.open_model_action = self._action("Open &Model…", self.open_model_dialog,
                                              shortcut="Ctrl+M",
                                              tip="Load a .keras or .h5 model file")
        self.open_saved_model_action = self._action(
            "Open &SavedModel Folder…", self.open_saved_model_dialog,
            tip="Load a TensorFlow SavedModel folder (it runs its own code, so you are asked first)")
        self.save_action = self._action("&Save Annotated Image…", self.save_annotated_dialog,
                                        shortcut=keys.Save,
                                        tip="Save the explained image at the photo's resolution")
        self.save_captioned_action = self._action(
            "Save with &Caption…", self.save_captioned_dialog,
            tip="Save the explained image with the method, class, probability and trust scores "
                "written under it")
        self.export_action = self._action("&Export Report…", self.export_report_dialog,
                                          shortcut="Ctrl+Shift+S",
                                          tip="Save the explanation as a JSON report and a "
                                              "side-by-side figure")
        self.batch_action = self._action("Explain &All Images and Export…", self.explain_all_dialog,
                                         tip="Explain every image in the browser for its top "
                                             "class and save the results to a folder")
        self.quit_action = self._action("&Quit", self.close, shortcut=keys.Quit)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.copy_action = self._action("&Copy Image", self.copy_to_clipboard, shortcut=keys.Copy,
                                        tip="Copy what the view shows to the clipboard")
        self.zoom_in_action = self._action("Zoom &In", self.image_view.zoom_in, shortcut=keys.ZoomIn)
        self.zoom_out_action = self._action("Zoom &Out", self.image_view.zoom_out,
                                            shortcut=keys.ZoomOut)
        self.zoom_fit_action = self._action("&Fit to Window", self.image_view.zoom_fit,
                                            shortcut="Ctrl+0")
        self.zoom_actual_action = self._action("&Actual Size", self.image_view.zoom_actual,
                                               shortcut="Ctrl+1")
        self.view_mode_group = QActionGroup(self)
        self.view_mode_actions = {}
        for number, (mode, title) in enumerate(VIEW_MODES.items(), start=1):
            action = self._action(title, None, shortcut=f"Ctrl+Shift+{number}", checkable=True,
                                  tip={"original": "Show the photo alone",
                                       "explained": "Show the photo with the explanation",
                                       "split": "Original left, explained right; drag the "
                                                "divider"}[mode])
            action.triggered.connect(lambda checked, m=mode: self.set_view_mode(m))
            self.view_mode_group.addAction(action)
            self.view_mode_actions[mode] = action
        # The panel's Explain button can scroll out of sight on a small screen; this one cannot.
        # No shortcuts here: the panel owns Ctrl+E, Enter and Esc.
        self.explain_action = self._action("Explain", self._click_explain,
                                           tip="Explain the selected class of the current image "
                                               "(Ctrl+E)")
        self.cancel_action = self._action("Cancel", self.cancel,
                                          tip="Stop the explanation (Esc)")
        self.cancel_action.setVisible(False)
        self.status_cancel.setDefaultAction(self.cancel_action)
        self.add_samples_action = self._action("&Add Samples", self.add_samples,
                                               tip="Continue the shown LIME explanation with half as "
                                                   "many samples again; only the new ones go to the model")
        self.add_samples_action.setEnabled(False)
        self.compare_action = self._action("&Compare…", self.show_compare, shortcut="Ctrl+Shift+C",
                                           tip="Explain the image with two models or two "
                                               "methods side by side")
        self.reset_layout_action = self._action("&Reset Layout", self.reset_layout,
                                                tip="Put every panel back where it started")
        self.about_action = self._action("&About Limelight", self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_qt_action = self._action("About &Qt", QApplication.aboutQt)
        self.about_qt_action.setMenuRole(QAction.MenuRole.AboutQtRole)
        self.browser.set_actions([self.open_action, self.open_folder_action])
        self.open_action.setIconText("Open…")
        self.open_folder_action.setIconText("Folder…")

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for action in (self.open_action, self.open_folder_action, self.open_report_action, None,
                       self.open_model_action,
                       self.open_saved_model_action, None, self.save_action,
                       self.save_captioned_action, self.export_action,
                       self.batch_action, None, self.quit_action):
            file_menu.addSeparator() if action is None else file_menu.addAction(action)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.copy_action)
        edit_menu.addAction(self.browser.remove_action)
        explain_menu = bar.addMenu("E&xplain")
        for action in (self.explain_action, self.cancel_action, self.add_samples_action):
            explain_menu.addAction(action)
        view_menu = bar.addMenu("&View")
        for action in (self.zoom_in_action, self.zoom_out_action, self.zoom_fit_action,
                       self.zoom_actual_action, None, *self.view_mode_actions.values(), None,
                       self.compare_action, None):
            view_menu.addSeparator() if action is None else view_menu.addAction(action)
        panels = view_menu.addMenu("&Panels")
        for dock in (self.browser_dock, self.predictions_dock, self.model_dock,
                     self.parameters_dock, self.overlay_dock):
            panels.addAction(dock.toggleViewAction())
        view_menu.addAction(self.reset_layout_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)
        help_menu.addAction(self.about_qt_action)

        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        toolbar.setIconSize(QSize(18, 18))
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addAction(self.explain_action)
        toolbar.addAction(self.cancel_action)
        for action in (self.explain_action, self.cancel_action):
            button = toolbar.widgetForAction(action)
            button.setObjectName("runButton")
            button.setStyleSheet("#runButton { font-weight: bold; padding: 2px 14px; }")
        toolbar.addSeparator()
        for action in self.view_mode_actions.values():
            toolbar.addAction(action)
        toolbar.addSeparator()
        for action in (self.zoom_fit_action, self.zoom_actual_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        toolbar.addAction(self.compare_action)
        toolbar.addSeparator()
        toolbar.addAction(self.save_action)
        toolbar.addAction(self.copy_action)
        self.save_action.setIconText("Save…")
        self.copy_action.setIconText("Copy")
        self.compare_action.setIconText("Compare…")
        self.addToolBar(toolbar)
        self.toolbar = toolbar
        self._default_state = self.saveState()

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

        if images:
            paths = images
        else:
            paths = settings.last_images() or sample_images()
        added, skipped = self.browser.add_paths(paths)
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
        self.model_picker.set_busy(f"Loading {self._title_for(source)}…")

    # --- Public state ----------------------------------------------------------------------

    def model_source(self) -> str:
        """The source of the model that is loaded now ("" before the first load)."""
        return self._model.source if self._model else ""

    def model_info(self) -> ModelInfo | None:
        return self._model

    def current_path(self) -> str:
        return self._path

    def current_image(self) -> np.ndarray | None:
        return self._image

    def current_image_for(self, result) -> np.ndarray:
        """The whole photo a result belongs to (its frame when the photo is no longer cached)."""
        image = self._images.get(result.path)
        return image if image is not None else result.frame

    def shown_result(self) -> ExplainResult | None:
        """The explanation on screen, if any."""
        return self._shown

    def target(self) -> int | None:
        return self._target

    def is_busy(self) -> bool:
        return self.controller.busy

    # --- Images ----------------------------------------------------------------------------

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
        if images:
            added, skipped = self.browser.add_paths(images)
            other_count = len(other) + skipped
            if added == 0 and not models and not saved_models:
                self.statusBar().showMessage("No new images found.", 4000)
            elif added:
                self.statusBar().showMessage(f"Added {added} image{'s' * (added != 1)}.", 4000)
        else:
            other_count = len(other)
        if other_count:
            self.show_error(f"{other_count} dropped file{'s are' if other_count != 1 else ' is'} "
                            "neither an image nor a model Limelight opens.", "files")
        model = (models or saved_models or [None])[0]
        if model is not None:
            self.settings.set_last_folder("models", model)
            if model in saved_models:
                self._open_saved_model(model)
            else:
                self.load_model(str(model), False)

    @Slot()
    def open_images_dialog(self) -> None:
        patterns = " ".join(f"*{ext}" for ext in _image_extensions())
        paths, _ = QFileDialog.getOpenFileNames(self, "Open Images",
                                                self.settings.last_folder("images"),
                                                f"Images ({patterns});;All files (*)")
        if paths:
            self.settings.set_last_folder("images", paths[0])
            self.open_paths(paths)

    @Slot()
    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open Folder",
                                                  self.settings.last_folder("images"))
        if folder:
            self.settings.set_last_folder("images", folder)
            self.settings.set_value("folders/images", folder)
            self.open_paths([folder])

    @Slot()
    def open_report_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open Report", self.settings.last_folder("export"),
                                              "Limelight report (*.json);;All files (*)")
        if path:
            self.open_report(path)

    def open_report(self, path) -> None:
        """Show a saved report's explanation and scores again, over its photo; no model needed.

        A report that cannot be read gets a message and leaves the window as it was.
        """
        self.settings.set_last_folder("export", path)
        self._submit(OpenReport(str(path)), channel="report")
        self.statusBar().showMessage(f"Opening {Path(path).name}…")

    def _on_report_opened(self, opened: OpenedReport) -> None:
        explanation, info = opened.explanation, opened.info
        path = str(Path(info["image"]["path"]).resolve())
        method = "lime" if explanation.kind == "lime" else explanation.method
        result = ExplainResult(REPORT_PREFIX + opened.path, path, ExplainRequest(method=method), opened.target,
                               opened.frame, explanation, float(explanation.timings.get("total", 0.0)))
        entries = [entry for entry in info.get("labels", ()) if isinstance(entry, dict) and "index" in entry]
        self._report_names = {int(e["index"]): str(e["name"]) for e in entries if e.get("name") is not None}
        # The photo joins the browser without the selection flow, which would ask the model about it.
        self.browser.blockSignals(True)
        try:
            self.browser.add_paths([path])
        finally:
            self.browser.blockSignals(False)
        self._on_images_changed(self.browser.count())
        image = opened.image
        image.flags.writeable = False
        self._images[path] = image
        self._stop_measuring()
        self._path, self._image, self._target, self._shown, self._preview = path, image, opened.target, None, None
        self.image_view.set_image(image)
        self.image_status.setText(f"{Path(path).name} · {image.shape[1]} × {image.shape[0]}")
        self.message_bar.clear("photo", "explain", "preview", "report")
        self.predictions_panel.set_predictions(
            [(int(e["index"]), self._report_names.get(int(e["index"]), f"class {e['index']}"),
              float(e.get("probability") or 0.0)) for e in entries])
        self.predictions_panel.set_target(opened.target)
        if info.get("style") is not None:
            self.overlay_controls.set_style(info["style"])
        self.overlay_controls.set_superpixel_method(explanation.kind == "lime")
        self._show_result(result)
        model = (info.get("model") or {}).get("name", "an unknown model")
        self.statusBar().showMessage(f"Opened {Path(opened.path).name}: {METHOD_TITLES.get(method, method)} of "
                                     f"{model}.", 8000)

    @Slot(str)
    def _on_image_selected(self, path: str) -> None:
        self._path = path
        self._target = None
        self._shown = None
        self._update_stale_note()
        self._preview = None
        self._image_loading = None
        self._explain_when_loaded = False
        # Until the new photo is loaded there is no current photo: the view keeps the last one on
        # screen, but nothing may explain or draw over it in the new photo's name.
        self._image = None
        if not path:
            self.image_view.set_image(None)
            self.predictions_panel.set_predictions([])
            self.predictions_panel.set_info(None)
            self.overlay_controls.set_weights(None)
            self.image_status.setText("")
            return
        image = self._images.get(path)
        if image is not None:
            self._images.move_to_end(path)
            self._show_image(path, image)
        else:
            self.image_status.setText("Loading…")
            self._image_loading = path
            self._loader.start(path, load_image, path)

    @Slot(object, object)
    def _on_image_loaded(self, path, image) -> None:
        image.flags.writeable = False
        self._images[path] = image
        while sum(a.nbytes for a in self._images.values()) > IMAGE_CACHE_BYTES and len(self._images) > 1:
            self._images.popitem(last=False)
        if path == self._path:
            self._image_loading = None
            self._show_image(path, image)
            if self._explain_when_loaded:
                self._explain_when_loaded = False
                self.explain()

    @Slot(object, str)
    def _on_image_failed(self, path, message: str) -> None:
        self.browser.mark_failed(path, message)
        if path == self._path:
            self._image_loading = None
            self._explain_when_loaded = False
            self.image_view.set_image(None)
            self.image_status.setText("")
            self.show_error(message, "photo")

    def _show_image(self, path: str, image: np.ndarray) -> None:
        self._image = image
        self.image_view.set_image(image)
        self.image_status.setText(f"{Path(path).name} · {image.shape[1]} × {image.shape[0]}")
        # Messages about the last photo and its explanation no longer apply; others (files that
        # could not be opened, a model that failed) still do.
        self.message_bar.clear("photo", "explain", "preview")
        self.sig_image_shown.emit(path)
        self._refresh_for_image()

    def _refresh_for_image(self) -> None:
        """Show what is known about the current image under the current model, asking for the rest."""
        self.predictions_panel.set_info(None)
        if self._image is None:
            return
        source = self._model.source if self._model else (self._loading[0] if self._loading else "")
        if not source:
            return
        key = (source, self._path)
        if key in self._predictions:
            self._show_predictions(Predictions(source, self._path, self._predictions[key]))
        else:
            self.predictions_panel.set_predictions([])
            self._submit(Predict(source, self._path, self._image), channel="predict")
        last = self._last_key.get(key)
        result = self._explanations.get(last) if last else None
        if result is not None:
            self._target = result.target
            self._show_result(result)
        else:
            self.image_view.set_overlay(None)
            self.overlay_controls.set_weights(None)
        if self._preview_on():
            self._request_preview()
        self._ask_preprocessing_once()

    def _ask_preprocessing_once(self) -> None:
        """Ask how a user's model scales its input, once per model a session, when nothing says so."""
        info = self._model
        if (info is None or info.builtin or not info.preprocessing_guessed or self._image is None
                or info.source in self._asked_preprocessing):
            return
        self._asked_preprocessing.add(info.source)
        self._submit(ComparePreprocessing(info.source, self._path, self._image), channel="preprocessing")

    def _on_preprocessing_choices(self, choices: PreprocessingChoices) -> None:
        if self._model is None or self._model.source != choices.model or self._closing:
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
        if self._model is not None and self._model.source == source:
            self.model_picker.choose_preprocessing(mode)

    @Slot(int)
    def _on_images_changed(self, count: int) -> None:
        self.batch_action.setEnabled(count > 0)

    # --- Models ----------------------------------------------------------------------------

    def load_model(self, source: str, trust: bool = False) -> None:
        """Load a model in the worker; the current one stays until the new one is ready.

        A file that would run code loads if the user trusted its content before (by SHA-256),
        or with `trust` (the --trust-model flag); otherwise the user is asked.
        """
        self._first_load = None  # a model asked for before the first paint replaces the start-up one
        if self._loading and self._loading[0] == source and not trust:
            return
        self._loading = (source, trust)
        name = self._title_for(source)
        self.model_picker.set_pending_source(source)
        self.model_picker.set_busy(f"Loading {name}…")
        self.statusBar().showMessage(f"Loading {name}…")
        self._submit(LoadModel(source, trust=trust,
                               trusted_hashes=frozenset(self.settings.trusted_hashes())),
                     channel="model")

    @Slot(str, bool)
    def _on_model_requested(self, source: str, trusted: bool) -> None:
        # The file's content hash decides trust in the worker, so a file changed since it was
        # trusted is asked about again; what the picker remembers is not enough.
        self.load_model(source)

    @Slot()
    def open_model_dialog(self) -> None:
        types = " ".join(f"*{ext}" for ext in MODEL_FILE_TYPES)
        path, _ = QFileDialog.getOpenFileName(self, "Open Model", self.settings.last_folder("models"),
                                              f"Keras models ({types});;All files (*)")
        if path:
            self.settings.set_last_folder("models", path)
            self.load_model(path, False)

    @Slot()
    def open_saved_model_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open SavedModel Folder",
                                                  self.settings.last_folder("models"))
        if folder:
            self.settings.set_last_folder("models", folder)
            self._open_saved_model(Path(folder))

    def _open_saved_model(self, folder: Path) -> None:
        # It always needs trust: the worker answers with TrustRequired unless its content is trusted.
        self.load_model(str(folder))

    def _title_for(self, source: str) -> str:
        if source.startswith(BUILTIN_PREFIX):
            for builtin, title in builtin_sources():
                if builtin == source:
                    return title.split(" (")[0]
            return source[len(BUILTIN_PREFIX):]
        return Path(source).name

    def _on_model_loaded(self, info: ModelInfo) -> None:
        self._loading = None
        self._startup_load = False
        changed = self._model is None or self._model.source != info.source or self._model != info
        self._model = info
        if info.sha256:
            self.settings.trust_hash(info.sha256)
        self.model_picker.set_busy(None)
        self.message_bar.clear("model")
        self.model_picker.set_current_source(info.source)
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
        if changed:
            # Other preprocessing or labels give other predictions: forget this model's answers.
            self._predictions = {k: v for k, v in self._predictions.items() if k[0] != info.source}
            for key in [k for k in self._explanations if k[1] == info.source]:
                del self._explanations[key]
        self._target = None
        self._shown = None
        self._refresh_for_image()
        if self._versions is None:
            self._submit(Versions(), channel="versions")
        self.sig_model_loaded.emit(info)

    def _on_model_failed(self, source: str, message: str) -> None:
        self._loading = None
        self.model_picker.set_busy(None)
        self.model_picker.set_current_source(self.model_source())
        if self._startup_load and source != DEFAULT_SOURCE:
            # The model used last time is gone or broken: start with the built-in one instead.
            self._startup_load = False
            self.show_error(f"{message} Loaded the built-in model instead.", "model")
            self.load_model(DEFAULT_SOURCE)
            return
        self._startup_load = False
        kept = f" Kept {self._model.name}." if self._model else ""
        self.show_error(message + kept, "model")

    def _on_trust_required(self, trust: TrustRequired) -> None:
        self._loading = None
        self.model_picker.set_busy(None)
        if self._startup_load and self._model is None and trust.source != DEFAULT_SOURCE:
            # Never ask at start-up about a file from last time: start with the built-in model.
            self._startup_load = False
            self.statusBar().showMessage(f"{Path(trust.source).name} needs your trust to load; "
                                         "open it again to choose.", 8000)
            self.load_model(DEFAULT_SOURCE)
            return
        if ask_trust(trust.source, trust.reason, self, sha256=trust.sha256):
            self.settings.trust_hash(trust.sha256)
            self.load_model(trust.source)
        else:
            self.model_picker.set_current_source(self.model_source())
            kept = self._model.name if self._model else "no model"
            self.statusBar().showMessage(f"Did not load {Path(trust.source).name}; kept {kept}.",
                                         6000)

    # --- Predictions and targets -----------------------------------------------------------

    def _show_predictions(self, predictions: Predictions) -> None:
        self.predictions_panel.set_predictions(list(predictions.top))
        target = self._target if self._target is not None else (
            predictions.top[0][0] if predictions.top else None)
        if target is not None:
            self.predictions_panel.set_target(target)
        self.sig_predictions_shown.emit(predictions)

    @Slot(int)
    def choose_target(self, index: int) -> None:
        """Make class `index` the one explained and shown."""
        self._target = int(index)
        self.predictions_panel.set_target(self._target)
        shown = self._shown
        if shown is not None and self._target in shown.explanation.labels:
            self._show_result(dataclasses.replace(shown, target=self._target))
            return
        cached = self._cached_result(self._target)
        if cached is not None:
            self._show_result(cached)
            return
        if shown is not None and shown.request.method in ("gradcam", "gradcam++"):
            # A gradient map costs one pass: explain the new class at once.
            self.explain()
            return
        if shown is not None and shown.explanation.kind == "lime" and self._is_live(shown):
            # The samples are cached: the new class costs only its faithfulness curves.
            self._continue(shown, self._target, shown.explanation.num_samples)
            return
        if shown is not None:
            self._shown = None
            self._update_stale_note()
            self.image_view.set_overlay(None)
            self.overlay_controls.set_weights(None)
            self.predictions_panel.set_info(None)
        name = self._class_name(self._target)
        self.statusBar().showMessage(f"Click Explain to see why the model might say “{name}”.",
                                     6000)

    def _class_name(self, index: int) -> str:
        names = self._model.class_names if self._model else ()
        return names[index] if 0 <= index < len(names) else f"class {index}"

    # --- Explaining ------------------------------------------------------------------------

    @Slot()
    def explain(self) -> None:
        """Explain the current image with the parameter panel's settings."""
        if self._image is None and self._image_loading == self._path:
            self._explain_when_loaded = True
            self.statusBar().showMessage(f"Explaining {Path(self._path).name} once it has loaded…")
            return
        if self._image is None:
            self.show_error("Open an image first (File > Open Images…).", "explain")
            return
        source = self._model.source if self._model else (self._loading[0] if self._loading else "")
        if not source:
            self.show_error("Choose a model first.", "explain")
            return
        request = self.parameter_panel.request()
        self.settings.set_last_request(_request_fields(request))
        self.message_bar.clear("explain")
        self._stop_measuring()
        job = Explain(source, self._path, self._image, request, self._target)
        self._explain_id = self._submit(job, channel="explain")
        self._set_running(True, auto=request.is_auto())
        method = METHOD_TITLES.get(request.method, request.method)
        waiting = " (after the model loads)" if self._loading else ""
        self.statusBar().showMessage(f"Explaining {Path(self._path).name} with {method}{waiting}…")

    @Slot()
    def _click_explain(self) -> None:
        # Through the panel's button, so its rules (not while running) hold for both.
        self.parameter_panel.explain_button.click()

    @Slot()
    def cancel(self) -> None:
        """Stop the running explanation or batch export."""
        for request_id in (self._explain_id, self._batch_id):
            if request_id is not None:
                self.controller.cancel(request_id)
        # A job cancelled before it started never reports back, so stop showing it here.
        if self._explain_id is not None or self._batch_id is not None:
            self._explain_id = self._batch_id = None
            self._set_running(False)
            self.statusBar().showMessage("Cancelled.", 4000)

    def _set_running(self, running: bool, *, auto: bool = False) -> None:
        self.parameter_panel.set_running(running, auto=auto)
        self.explain_action.setVisible(not running)
        self.cancel_action.setVisible(running)
        self.status_progress.setRange(0, 0)  # busy until the first progress report
        self.status_eta.setText(self.parameter_panel.eta.text())
        for widget in (self.status_progress, self.status_eta, self.status_cancel):
            widget.setVisible(running)
        self.add_samples_action.setEnabled(not running and self._can_add_samples(self._shown))

    @Slot()
    def add_samples(self) -> None:
        """Continue the shown LIME explanation with more samples; only the new ones go to the model."""
        result = self._shown
        if self._explain_id is not None or self._batch_id is not None:
            return
        if not self._can_add_samples(result):
            self.show_error("Explain the image with LIME first; samples can be added to an explanation "
                            "of the current image and model, not to one opened from a report.", "explain")
            return
        more = more_samples(result.explanation.num_samples)
        self._continue(result, result.target, more)
        self.statusBar().showMessage(f"Adding samples: {result.explanation.num_samples:,} → {more:,}…")

    def _continue(self, result: ExplainResult, target: int, num_samples: int) -> None:
        """Run on from `result` with its samples, for `target` and `num_samples` in all."""
        self._stop_measuring()
        self.message_bar.clear("explain")
        self._explain_id = self._submit(Continue(result.model, self._image, result, target, num_samples),
                                        channel="explain")
        self._set_running(True)

    def _is_live(self, result: ExplainResult | None) -> bool:
        """Whether `result` explains the current image with the current model (not a report)."""
        return (result is not None and self._image is not None and result.path == self._path
                and result.model == self.model_source())

    def _can_add_samples(self, result: ExplainResult | None) -> bool:
        return self._is_live(result) and result.explanation.kind == "lime"

    def _measure_faithfulness(self, result: ExplainResult) -> None:
        """Measure the shown class's faithfulness in the background if its LIME run did not."""
        explanation, label = result.explanation, result.target
        if (explanation.kind != "lime" or label in explanation.faithfulness or not self._is_live(result)
                or self._measuring == (explanation, label)):
            return
        self._measuring = (explanation, label)
        job = Continue(result.model, self._image, result, label, explanation.num_samples)
        self._scores_id = self._submit(job, channel="scores")

    def _stop_measuring(self) -> None:
        self.controller.cancel_channel("scores")
        self._scores_id = self._measuring = None

    def _on_scores(self, job: Continue, result: ExplainResult) -> None:
        """A class's faithfulness arrived: keep it, and show it if its explanation is still shown."""
        key = self._cache_key(result.model, result.path, result.request, result.target)
        if self._explanations.get(key) is not None and self._explanations[key].explanation is job.result.explanation:
            self._explanations[key] = result
        shown = self._shown
        if shown is not None and shown.explanation is job.result.explanation:
            self._show_result(dataclasses.replace(result, target=shown.target))

    def _on_explained(self, result: ExplainResult) -> None:
        key = self._cache_key(result.model, result.path, result.request, result.target)
        self._explanations[key] = result
        self._explanations.move_to_end(key)
        while len(self._explanations) > EXPLANATION_CACHE_SIZE:
            self._explanations.popitem(last=False)
        self._last_key[(result.model, result.path)] = key
        seconds = describe_seconds(result.seconds)
        if result.path == self._path and result.model == self.model_source():
            self._target = result.target
            self.predictions_panel.set_target(result.target)
            self._show_result(result)
            self.statusBar().showMessage(
                f"Explained “{self._class_name(result.target)}” in {seconds}.", 6000)
        else:
            self.statusBar().showMessage(f"Explanation of {Path(result.path).name} is ready "
                                         f"({seconds}).", 6000)

    def _cache_key(self, model, path, request, target) -> tuple:
        # LIME explains several classes in one run, so its key leaves the class out.
        return (path, model, request.key(), None if request.method == "lime" else target)

    def _cached_result(self, target: int) -> ExplainResult | None:
        request = self.parameter_panel.request()
        key = self._cache_key(self.model_source(), self._path, request, target)
        result = self._explanations.get(key)
        if result is not None and target in result.explanation.labels:
            return dataclasses.replace(result, target=target)
        return None

    def _show_result(self, result: ExplainResult) -> None:
        from limelight.core.overlay import weight_scale

        if self._shown is None or self._shown.request.method != result.request.method:
            self._stale_display = None
        self._shown = result
        self._update_stale_note()
        self._measure_faithfulness(result)
        self.add_samples_action.setEnabled(self._explain_id is None and self._can_add_samples(result))
        weights = np.asarray(result.explanation.weight_map(result.target))
        low, _ = weight_scale(result.explanation, result.target)
        self.overlay_controls.set_weights(weights, signed=low < 0)
        self.predictions_panel.set_info(self.explanation_info(result))
        if not self._preview_on():
            self._render()
        self.sig_explanation_shown.emit(result)

    def _render(self) -> None:
        """Draw the shown explanation with the current style (no recomputation)."""
        result, image = self._shown, self._image
        if result is None or image is None:
            return
        try:
            self.draw_result(self.image_view, image, result, self.shown_style())
        except LimelightError as error:
            self.show_error(str(error), "explain")

    def draw_result(self, view: ImageView, photo: np.ndarray, result: ExplainResult, style) -> None:
        """Draw `result` over `photo` in `view` with `style`, at the resolution the view shows.

        Zoomed out, that is less than the photo's, so a style change on a large photo repaints
        within a frame; copying from the view asks for the photo's resolution.
        """
        from limelight.core.overlay import render

        scaled_photo, scaled_frame = self._scaled_for_view(photo, result.frame, view.overlay_scale())
        rendered = render(scaled_frame, result.explanation, result.target, style)

        def full_size():
            return place_in_photo(photo, render(result.frame, result.explanation, result.target, style))

        view.set_overlay(place_in_photo(scaled_photo, rendered), full_size=full_size)

    def _scaled_for_view(self, photo: np.ndarray, frame: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """The photo and frame at an overlay scale, kept for the last few photos, frames and scales."""
        key = (id(photo), id(frame), scale)
        kept = self._view_copies.get(key)
        if kept is None:
            kept = self._view_copies[key] = (photo, frame, *scale_photo_and_frame(photo, frame, scale))
            while len(self._view_copies) > _VIEW_COPIES:
                del self._view_copies[next(iter(self._view_copies))]
        return kept[2], kept[3]

    @Slot(float)
    def _on_zoom_changed(self, _zoom: float) -> None:
        # A new overlay only when the zoom crosses a step of the overlay scale, not at every wheel step.
        if self._shown is not None and not self._preview_on() and self.image_view.overlay_outdated():
            self._render()

    def rendered_frame(self) -> np.ndarray | None:
        """The shown explanation drawn over the part of the photo it covers, at full resolution."""
        from limelight.core.overlay import render

        result = self._shown
        if result is None:
            return None
        return render(result.frame, result.explanation, result.target, self.shown_style())

    def explanation_info(self, result: ExplainResult) -> dict:
        """What the info block shows about an explanation."""
        explanation, label = result.explanation, result.target
        report = result.model.startswith(REPORT_PREFIX)
        name = self._report_names.get(label) if report else None
        info = {"method": METHOD_TITLES.get(result.request.method, result.request.method),
                "label": name or self._class_name(label), "index": label, "time": result.seconds}
        if report:
            info["report"] = Path(result.model[len(REPORT_PREFIX):]).name
        faithfulness = explanation.faithfulness.get(label)
        if faithfulness is None and self._measuring == (explanation, label):
            faithfulness = MEASURING
        if explanation.kind == "lime":
            info.update(probability=explanation.probabilities.get(label),
                        fit=explanation.scores.get(label),
                        local_prediction=explanation.local_predictions.get(label),
                        samples=int(explanation.params.get("num_samples", len(explanation.masks))),
                        auto="auto" in explanation.params,
                        seed=explanation.params.get("seed"),
                        superpixels=int(explanation.num_segments),
                        stability=explanation.stability.get(label),
                        tie=_tie(explanation, label),
                        auto_stop=_auto_stop(explanation, label),
                        add_samples=self._can_add_samples(result))
        else:
            info.update(probability=explanation.probability, layer=explanation.layer,
                        class_score=explanation.class_score)
        info["faithfulness"] = faithfulness
        return info

    def describe_result(self, result: ExplainResult) -> str:
        info = self.explanation_info(result)
        model = self._title_for(result.model)
        return (f"{model} · {info['method']}: “{info['label']}” "
                f"{info['probability']:.0%} · {describe_seconds(result.seconds)}")

    def shown_style(self):
        """The style the shown explanation is drawn with.

        The overlay controls' style, except for a result made with another method than the one the
        panel now has: it keeps the display it was drawn with until a new result replaces it.
        """
        from limelight.core.overlay import natural_display

        style = self.overlay_controls.style()
        result = self._shown
        if result is None or not self.is_stale(result):
            return style
        display = self._stale_display or natural_display(result.request.method)
        return dataclasses.replace(style, display=display)

    def is_stale(self, result: ExplainResult) -> bool:
        """Whether `result` was made with another method than the panel's (a report never is)."""
        return (not result.model.startswith(REPORT_PREFIX)
                and result.request.method != self.parameter_panel.request().method)

    def _update_stale_note(self) -> None:
        result = self._shown
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
        stale = self._shown is not None and self.is_stale(self._shown)
        self._stale_display = before if stale else None
        self._update_stale_note()
        if self._shown is not None and not self._preview_on():
            self._render()

    def _use_natural_display(self, method: str) -> None:
        # Each family reads best in its own display (see natural_display). The user can still
        # pick any display afterwards.
        from limelight.core.overlay import natural_display

        display = natural_display(method)
        style = self.overlay_controls.style()
        if style.display != display:
            self.overlay_controls.set_style(dataclasses.replace(style, display=display))
            self.settings.set_last_style(_style_fields(self.overlay_controls.style()))

    @Slot(object)
    def _on_style_changed(self, style) -> None:
        self.settings.set_last_style(_style_fields(style))
        self._update_stale_note()
        if self._shown is not None and not self._preview_on():
            self._render()
        if self._compare is not None and self._compare.isVisible():
            self._compare.restyle()

    # --- Superpixel preview ----------------------------------------------------------------

    def _preview_on(self) -> bool:
        return self._preview_wanted

    @Slot(bool)
    def _on_preview_toggled(self, on: bool) -> None:
        self._preview_wanted = on
        if on:
            self._request_preview()
        else:
            self.controller.cancel_channel("preview")
            self.message_bar.clear("preview")
            self._preview = None
            if self._shown is not None:
                self._render()
            else:
                self.image_view.set_overlay(None)

    @Slot()
    def _on_segmentation_changed(self) -> None:
        if self._preview_on():
            self._request_preview()

    def _request_preview(self) -> None:
        source = self.model_source() or (self._loading[0] if self._loading else "")
        if self._image is None or not source:
            return
        request = self.parameter_panel.request()
        self._submit(SegmentPreview(source, self._path, self._image, request.segmentation,
                                              tuple(request.segmentation_params)),
                               channel="preview")

    def _on_preview(self, result: SegmentPreviewResult) -> None:
        if result.path != self._path or not self._preview_on():
            return
        self._preview = result
        self.message_bar.clear("preview")
        self.image_view.set_overlay(place_in_photo(self._image, result.rendered))
        self.statusBar().showMessage(f"{result.count} superpixels with {result.method}.", 4000)

    # --- Saving ----------------------------------------------------------------------------

    def _default_name(self, suffix: str) -> str:
        """The shown explanation's file name, as batch exports and the command line name it."""
        result = self._shown
        return output_name(self._path, self._class_name(result.target), result.target, result.request.method) + suffix

    def _ask_save_path(self, title: str, kind: str, name: str, filters: str) -> Path | None:
        start = str(Path(self.settings.last_folder(kind)) / name)
        # Overwriting is confirmed by _confirm_overwrite, which knows every file a save writes.
        path, _ = QFileDialog.getSaveFileName(self, title, start, filters, "",
                                              QFileDialog.Option.DontConfirmOverwrite)
        return Path(path) if path else None

    @Slot()
    def save_annotated_dialog(self) -> None:
        if self._shown is None:
            self.show_error("Explain the image first; then save it with Ctrl+S.", "save")
            return
        path = self._ask_save_path("Save Annotated Image", "save", self._default_name(".png"),
                                   "PNG image (*.png);;JPEG image (*.jpg *.jpeg);;"
                                   "WebP image (*.webp);;TIFF image (*.tif *.tiff)")
        if path is not None:
            self.save_annotated(path)

    @Slot()
    def save_captioned_dialog(self) -> None:
        if self._shown is None:
            self.show_error("Explain the image first; then save it with its caption.", "save")
            return
        path = self._ask_save_path("Save with Caption", "save", self._default_name("_caption.png"),
                                   "PNG image (*.png);;JPEG image (*.jpg *.jpeg);;"
                                   "WebP image (*.webp);;TIFF image (*.tif *.tiff)")
        if path is not None:
            self.save_annotated(path, caption=True)

    def captioned_frame(self) -> np.ndarray:
        """The shown explanation at full resolution with its caption (and a heatmap's colour scale) under it."""
        from limelight.core.caption import caption_lines, render_with_caption
        from limelight.core.overlay import heatmap_scale

        result, style = self._shown, self.shown_style()
        info = self.explanation_info(result)
        lines = caption_lines(result.explanation, result.target, label_name=info["label"],
                              model_name=self._title_for(result.model))
        scale = heatmap_scale(result.explanation, result.target, style) if style.display == "heatmap" else None
        return render_with_caption(self.rendered_frame(), lines, scale=scale)

    def save_annotated(self, path, *, caption: bool = False) -> bool:
        """Save the shown explanation at the photo's resolution, asking before replacing a file.

        With `caption`, the method, class, probability and trust scores are written under it.
        """
        from limelight.core import report

        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".png")
        if path.exists() and not self._confirm_overwrite([path]):
            return False
        try:
            image = self.captioned_frame() if caption else self.rendered_frame()
            report.save_annotated(path, image, force=True)
        except LimelightError as error:
            self.show_error(str(error), "save")
            return False
        self.settings.set_last_folder("save", path)
        self.message_bar.clear("save")
        self.statusBar().showMessage(f"Saved {path}.", 6000)
        return True

    @Slot()
    def export_report_dialog(self) -> None:
        if self._shown is None:
            self.show_error("Explain the image first; then export its report.", "save")
            return
        if self._shown.model.startswith(REPORT_PREFIX):
            self.show_error(f"This explanation is already saved in {self._shown.model[len(REPORT_PREFIX):]}.", "save")
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
        if existing and not self._confirm_overwrite(existing):
            return False
        result, info = self._shown, self._model
        style = self.shown_style()
        written = []
        try:
            write_report(path, result.explanation, info, target=result.target, photo_path=result.path,
                         style=style, force=True)
            written = [path, path.with_suffix(".npz")]
            report.save_figure(figure, result.frame, result.explanation, result.target, style,
                               label_name=self._class_name(result.target), model_name=info.name,
                               force=True)
        except LimelightError as error:
            # All or nothing: a report without its figure is a half-done export.
            for done in written:
                done.unlink(missing_ok=True)
            self.show_error(str(error), "save")
            return False
        self.settings.set_last_folder("export", path)
        self.message_bar.clear("save")
        self.statusBar().showMessage(f"Exported {path.name} and {figure.name}.", 6000)
        return True

    def _confirm_overwrite(self, paths) -> bool:
        """Ask once before replacing files; True when the user agrees."""
        paths = [str(p) for p in paths]
        shown = "\n".join(paths[:5]) + (f"\n… and {len(paths) - 5} more" if len(paths) > 5 else "")
        one = len(paths) == 1
        answer = QMessageBox.question(
            self, "Replace Files?",
            f"{'This file already exists' if one else f'{len(paths)} files already exist'}:\n"
            f"{shown}\n\nReplace {'it' if one else 'them'}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    @Slot()
    def copy_to_clipboard(self) -> None:
        image = self.image_view.current_pixmap_image()
        if image.isNull():
            self.statusBar().showMessage("Nothing to copy yet.", 3000)
            return
        QApplication.clipboard().setImage(image)
        self.statusBar().showMessage("Copied the image to the clipboard.", 3000)

    @Slot()
    def explain_all_dialog(self) -> None:
        if not self.browser.paths():
            self.show_error("Open some images first.", "explain")
            return
        if self._model is None:
            self.show_error("Wait for the model to load, then try again.", "explain")
            return
        folder = QFileDialog.getExistingDirectory(self, "Export Explanations To",
                                                  self.settings.last_folder("export"))
        if folder:
            self.explain_all(folder)

    def explain_all(self, folder) -> int | None:
        """Explain every image in the browser for its top class and save the results in `folder`.

        Runs as one cancellable job. Files from an earlier export are replaced only after
        one confirmation.
        """
        folder = Path(folder)
        paths = self.browser.paths()
        existing = sorted({str(p) for path in paths
                           for p in folder.glob(f"{_glob_escape(Path(path).stem)}_*")
                           if p.suffix.lower() in (".png", ".jpg", ".json", ".npz")})
        if existing and not self._confirm_overwrite(existing):
            return None
        self.settings.set_last_folder("export", folder)
        job = ExplainAll(self._model.source, tuple(paths), self.parameter_panel.request(),
                         self.overlay_controls.style(), str(folder), overwrite=bool(existing))
        self._batch_id = self._submit(job, channel="explain")
        self._set_running(True)
        self.statusBar().showMessage(f"Explaining {len(paths)} images into {folder}…")
        return self._batch_id

    def _on_batch_done(self, result: BatchResult) -> None:
        text = "Stopped. " if result.cancelled else ""
        text += f"Wrote {len(result.written)} files."
        if result.failures:
            self.show_error(f"{len(result.failures)} image(s) failed; the first: "
                            f"{result.failures[0]}", "explain")
        self.statusBar().showMessage(text, 8000)

    # --- Worker answers --------------------------------------------------------------------

    def _submit(self, job, *, channel: str) -> int | None:
        """Give the worker a job of the window's own (Compare submits its own jobs too)."""
        if self._closing:
            # Late answers (a photo decoded as the window closes) ask the stopped worker nothing.
            return None
        request_id = self.controller.submit(job, channel=channel)
        # Jobs cancelled before they started never finish; forget them here.
        self._mine = {i for i in self._mine if self.controller.is_live(i)}
        self._mine.add(request_id)
        return request_id

    @Slot(int, object, object)
    def _on_result(self, request_id: int, job, value) -> None:
        if request_id not in self._mine:
            return
        if isinstance(value, ModelInfo):
            if self._loading is None or self._loading[0] == value.source:
                self._on_model_loaded(value)
        elif isinstance(value, TrustRequired):
            self._on_trust_required(value)
        elif isinstance(value, Predictions):
            self._predictions[(value.model, value.path)] = value.top
            if value.path == self._path and value.model in (self.model_source(),
                                                            (self._loading or ("",))[0]):
                self._show_predictions(value)
        elif isinstance(value, ExplainResult) and request_id == self._explain_id:
            self._on_explained(value)
        elif isinstance(value, ExplainResult) and request_id == self._scores_id:
            self._on_scores(job, value)
        elif isinstance(value, OpenedReport):
            self._on_report_opened(value)
        elif isinstance(value, SegmentPreviewResult):
            self._on_preview(value)
        elif isinstance(value, PreprocessingChoices):
            self._on_preprocessing_choices(value)
        elif isinstance(value, BatchResult):
            self._on_batch_done(value)
        elif isinstance(job, Versions):
            self._versions = value

    @Slot(int, object, str)
    def _on_failed(self, request_id: int, job, message: str) -> None:
        if request_id not in self._mine:
            return
        if isinstance(job, LoadModel):
            self._on_model_failed(job.source, message)
        elif isinstance(job, (Explain, ExplainAll, Continue)) and request_id in (
                self._explain_id, self._batch_id, self._scores_id):
            self.show_error(message, "explain")
        elif isinstance(job, OpenReport):
            self.show_error(message, "report")
        elif isinstance(job, Predict) and job.path == self._path:
            self.show_error(message, "photo")
        elif isinstance(job, SegmentPreview) and job.path == self._path:
            self.show_error(message, "preview")
        elif isinstance(job, Versions):
            self._versions = {"error": message}

    @Slot(int, object)
    def _on_cancelled(self, request_id: int, job) -> None:
        if request_id in (self._explain_id, self._batch_id):
            self._set_running(False)
            self.statusBar().showMessage("Cancelled.", 4000)

    @Slot(int, int, int)
    def _on_progress(self, request_id: int, done: int, total: int) -> None:
        if request_id in (self._explain_id, self._batch_id):
            self.parameter_panel.set_progress(done, total)
            self.status_progress.setRange(0, max(total, 1))
            self.status_progress.setValue(done)
            # The same words as the panel's bar, which says when the total is only a cap.
            self.status_progress.setFormat(self.parameter_panel.progress.format())
            self.status_eta.setText(self.parameter_panel.eta.text())

    @Slot(int, object)
    def _on_finished(self, request_id: int, job) -> None:
        self._mine.discard(request_id)
        if request_id == self._explain_id:
            self._explain_id = None
        elif request_id == self._batch_id:
            self._batch_id = None
        elif request_id == self._scores_id:
            self._scores_id = self._measuring = None
            if self._shown is not None:  # "measuring…" ends, whatever the outcome
                self.predictions_panel.set_info(self.explanation_info(self._shown))
            return
        else:
            return
        if self._explain_id is None and self._batch_id is None:
            self._set_running(False)

    # --- Messages --------------------------------------------------------------------------

    def show_error(self, message: str, cause: str) -> None:
        """Tell the user something failed, in the window; the previous state stays.

        `cause` (one of MessageBar.CAUSES) says what fixing it looks like: the message goes away then.
        """
        self.message_bar.show_message(message, cause)
        self.statusBar().showMessage(message, 10000)
        self.sig_message.emit(message)

    # --- View ------------------------------------------------------------------------------

    @Slot(str)
    def set_view_mode(self, mode: str) -> None:
        if mode not in VIEW_MODES:
            return
        self.view_mode_actions[mode].setChecked(True)
        if self.image_view.view_mode() != mode:
            self.image_view.set_view_mode(mode)
        self.settings.set_view_mode(mode)

    @Slot(str)
    def _on_view_mode_changed(self, mode: str) -> None:
        if mode in self.view_mode_actions:
            self.view_mode_actions[mode].setChecked(True)
            self.settings.set_view_mode(mode)

    @Slot()
    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock in (self.browser_dock, self.predictions_dock, self.model_dock,
                     self.parameters_dock, self.overlay_dock):
            dock.setFloating(False)
            dock.show()
        self._default_dock_sizes()
        self.settings.forget_layout()

    @Slot()
    def _default_dock_sizes(self) -> None:
        """Give the image most of the width, and the Explain button a place in view."""
        self.resizeDocks([self.browser_dock, self.model_dock], [250, 340],
                         Qt.Orientation.Horizontal)
        height = self.height()
        # Room for the four sample thumbnails (and the dock's title); the rest for the predictions.
        title = self.browser_dock.widget().geometry().top()
        images = title + self.browser.height_for_rows(min(4, max(1, self.browser.count())))
        self.resizeDocks([self.browser_dock, self.predictions_dock], [images, max(300, height - images)],
                         Qt.Orientation.Vertical)
        model = self.model_picker.sizeHint().height() + 30
        parameters = max(260, min(560, (height - model) * 11 // 20))
        self.resizeDocks([self.model_dock, self.parameters_dock, self.overlay_dock],
                         [model, parameters, max(200, height - model - parameters)],
                         Qt.Orientation.Vertical)

    @Slot()
    def show_compare(self) -> None:
        if self._compare is None:
            self._compare = CompareDialog(self)
        self._compare.refresh_models()
        self._compare.show()
        self._compare.raise_()
        if self._image is not None:
            self._compare.run()

    @Slot()
    def show_about(self) -> None:
        import platform

        from PySide6 import __version__ as pyside_version
        from PySide6.QtCore import qVersion

        versions = self._versions or {}
        if not versions:
            self._submit(Versions(), channel="versions")
        pending = "starting…" if not versions else versions.get("error", "unknown")
        rows = [
            ("Limelight", _limelight_version()),
            ("TensorFlow", versions.get("tensorflow", pending)),
            ("Keras", versions.get("keras", pending)),
            ("Qt", f"{qVersion()} (PySide6 {pyside_version})"),
            ("Python", platform.python_version()),
            ("Compute device", versions.get("device", pending)),
        ]
        table = "".join(f"<tr><td>{k}</td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in rows)
        QMessageBox.about(self, "About Limelight",
                          "<h3>Limelight</h3><p>See why an image classifier decided what it "
                          f"decided: LIME and Grad-CAM explanations.</p><table>{table}</table>")

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

    # --- Drag and drop ---------------------------------------------------------------------

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

    # --- Closing ---------------------------------------------------------------------------

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
        if self._compare is not None:
            self._compare.close()
        if self.preprocessing_dialog is not None:
            self.preprocessing_dialog.close()
        # Cancel, quit, bounded wait: never terminate() a thread that may be inside TensorFlow.
        self.controller.shutdown(SHUTDOWN_WAIT_MS)
        self.browser.shutdown()
        self._loader.wait()
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
        fields["segmentation_params"] = tuple(
            tuple(item) for item in fields.get("segmentation_params", ()))
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


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)


def _image_extensions():
    from limelight.core.images import SUPPORTED_EXTENSIONS

    return SUPPORTED_EXTENSIONS


def _limelight_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("limelight")
    except PackageNotFoundError:
        return "development"


def _tie(explanation, label):
    """"5th place: a tie between 3 superpixels", or None when the last place shown is not shared."""
    from limelight.core.scores import describe_tie

    stability = explanation.stability.get(label)
    if stability is None:
        return None
    return describe_tie(explanation.weights[label], stability.k, tie_delta=stability.tie_delta) or None


def _auto_stop(explanation, label):
    """Why samples="auto" stopped short of a stable explanation, or None."""
    stability = explanation.stability.get(label)
    if stability is None or stability.word == "stable":
        return None
    return (explanation.params.get("auto") or {}).get("stopped")


if __name__ == "__main__":
    from limelight.gui.app import main

    sys.exit(main(sys.argv[1:]))
