"""The main window between runs: its geometry, layout, parameters, overlay style and view mode, saved and restored."""
import dataclasses

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

from limelight.core.errors import LimelightError
from limelight.core.pipeline import ExplainRequest
from limelight.core.methods import SUPERPIXEL_METHODS


def restore_window(window: QMainWindow) -> None:
    """Put the window, its docks, parameters, overlay style and view mode back as they were at the last close."""
    settings = window.settings
    window.model_picker.set_recent(settings.recent_models())
    geometry = settings.geometry()
    if geometry is None or not window.restoreGeometry(geometry):
        screen = QApplication.primaryScreen()
        available = screen.availableGeometry() if screen else None
        if available is not None:
            window.resize(min(1440, available.width() - 40), min(900, available.height() - 60))
        else:
            window.resize(1280, 800)
    state = settings.window_state()
    if state is None or not window.restoreState(state):
        # Sized once the window has its real size: dock sizes are shared out from it.
        QTimer.singleShot(0, lambda: default_dock_sizes(window))
    request = request_from_fields(settings.last_request())
    if request is None:
        # Grad-CAM answers in well under a second: the first click on Explain shows something
        # at once, and LIME is one choice away in the parameter panel.
        request = dataclasses.replace(window.parameter_panel.request(), method="gradcam")
    window.parameter_panel.set_request(request)
    style = style_from_fields(settings.last_style())
    if style is not None:
        window.overlay_controls.set_style(style)
    else:
        window.overlay.use_natural_display(request.method)
    window.overlay_controls.set_superpixel_method(request.method in SUPERPIXEL_METHODS)
    window.set_view_mode(settings.view_mode())


def save_window(window: QMainWindow) -> None:
    """Remember the window's geometry, layout, images, parameters and overlay style for the next run."""
    settings = window.settings
    settings.set_geometry(window.saveGeometry())
    settings.set_window_state(window.saveState())
    settings.set_last_images(window.browser.paths())
    settings.set_last_request(request_fields(window.parameter_panel.request()))
    settings.set_last_style(style_fields(window.overlay_controls.style()))
    settings.sync()


def default_dock_sizes(window: QMainWindow) -> None:
    """Give the image most of the width, and the Explain button a place in view."""
    window.resizeDocks([window.browser_dock, window.model_dock], [250, 340], Qt.Orientation.Horizontal)
    height = window.height()
    # Room for the four sample thumbnails (and the dock's title); the rest for the predictions.
    title = window.browser_dock.widget().geometry().top()
    images = title + window.browser.height_for_rows(min(4, max(1, window.browser.count())))
    window.resizeDocks([window.browser_dock, window.predictions_dock], [images, max(300, height - images)],
                       Qt.Orientation.Vertical)
    model = window.model_picker.sizeHint().height() + 30
    parameters = max(260, min(560, (height - model) * 11 // 20))
    window.resizeDocks([window.model_dock, window.parameters_dock, window.overlay_dock],
                       [model, parameters, max(200, height - model - parameters)], Qt.Orientation.Vertical)


def request_fields(request: ExplainRequest) -> dict:
    """An ExplainRequest as the dict the settings keep."""
    fields = dataclasses.asdict(request)
    fields["segmentation_params"] = [list(item) for item in request.segmentation_params]
    return fields


def request_from_fields(fields: dict) -> ExplainRequest | None:
    """The ExplainRequest the settings kept, or None when there is none or it no longer reads."""
    if not fields:
        return None
    try:
        fields = dict(fields)
        fields["segmentation_params"] = tuple(tuple(item) for item in fields.get("segmentation_params", ()))
        return ExplainRequest(**fields)
    except (TypeError, ValueError, LimelightError):
        # A settings file from another version: start from the panel's defaults.
        return None


def style_fields(style) -> dict:
    """An OverlayStyle as the dict the settings keep."""
    return dataclasses.asdict(style)


def style_from_fields(fields: dict):
    """The OverlayStyle the settings kept, or None when there is none or it no longer reads."""
    from limelight.core.overlay import OverlayStyle

    if not fields:
        return None
    try:
        return OverlayStyle(**fields)
    except (TypeError, ValueError, LimelightError):
        return None
