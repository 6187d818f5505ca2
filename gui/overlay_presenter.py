"""What the window's image view draws: the session's shown explanation, its superpixel preview, or nothing."""
import dataclasses

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QLabel

from limelight.core.errors import LimelightError
from limelight.core.images import place_in_photo
from limelight.core.methods import METHOD_TITLES, SUPERPIXEL_METHODS
from limelight.gui.jobs import REPORT_PREFIX
from limelight.gui.window_state import style_fields


class OverlayPresenter(QObject):
    """Draws the session's shown explanation in a view with the overlay controls' style.

    A result made with another method than the one the parameter panel now has is out of date:
    it keeps the display it was drawn with, and `note` (a label to place above the view) says so.

    Parameters
    ----------
    session : Session
    view : ImageView
    controls : OverlayControls
    panel : ParameterPanel
    painter : OverlayPainter
    settings : Settings
        Where the last style is remembered.
    parent : QWidget
        Parent of `note`.
    """

    sig_error = Signal(str, str)
    """Drawing failed: a one-line message and its cause, "explain"."""

    def __init__(self, session, view, controls, panel, painter, settings, parent):
        super().__init__(parent)
        self._session, self._view, self._controls, self._panel = session, view, controls, panel
        self._painter, self._settings = painter, settings
        # The method of the result drawn last, and the display an out-of-date result keeps: the
        # one it was drawn with when the method changed. None while the shown result is current.
        self._shown_method: str | None = None
        self._stale_display: str | None = None
        self.note = QLabel(parent)
        self.note.setObjectName("staleNote")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("#staleNote { background: #fff4d6; color: #5c4300; border: 1px solid "
                                "#f0d58a; border-radius: 4px; padding: 3px 8px; }")
        self.note.hide()
        session.sig_result_shown.connect(self._on_result_shown)
        session.sig_preview_shown.connect(self._on_preview_shown)
        panel.sig_method_changed.connect(self._on_method_changed)
        panel.sig_preview_toggled.connect(self._on_preview_toggled)
        controls.sig_style_changed.connect(self._on_style_changed)
        view.sig_zoom_changed.connect(self._on_zoom_changed)

    def shown_style(self):
        """The style the shown explanation is drawn with.

        The overlay controls' style, except for a result made with another method than the one the
        panel now has: it keeps the display it was drawn with until a new result replaces it.
        """
        from limelight.core.overlay import natural_display

        style = self._controls.style()
        result = self._session.shown_result()
        if result is None or not self.is_stale(result):
            return style
        display = self._stale_display or natural_display(result.request.method)
        return dataclasses.replace(style, display=display)

    def is_stale(self, result) -> bool:
        """Whether `result` was made with another method than the panel's (a report never is)."""
        return not result.model.startswith(REPORT_PREFIX) and result.request.method != self._panel.request().method

    def use_natural_display(self, method: str) -> None:
        """Set the controls to the display `method` reads best in (the user can pick another after)."""
        from limelight.core.overlay import natural_display

        style = self._controls.style()
        if style.display != natural_display(method):
            self._controls.set_style(dataclasses.replace(style, display=natural_display(method)))
            self._settings.set_last_style(style_fields(self._controls.style()))

    def render(self) -> None:
        """Draw the shown explanation with the current style (no recomputation)."""
        result, image = self._session.shown_result(), self._session.current_image()
        if result is None or image is None:
            return
        try:
            self._painter.draw(self._view, image, result, self.shown_style())
        except LimelightError as error:
            self.sig_error.emit(str(error), "explain")

    @Slot(object)
    def _on_result_shown(self, result) -> None:
        from limelight.core.overlay import weight_scale

        method = result.request.method if result is not None else None
        if method != self._shown_method:
            self._stale_display = None
        self._shown_method = method
        self._update_note()
        if result is None:
            self._view.set_overlay(None)
            self._controls.set_weights(None)
            return
        low, _ = weight_scale(result.explanation, result.target)
        self._controls.set_weights(np.asarray(result.explanation.weight_map(result.target)), signed=low < 0)
        if not self._session.preview_on():
            self.render()

    def _update_note(self) -> None:
        result = self._session.shown_result()
        stale = result is not None and self.is_stale(result)
        if stale:
            made = METHOD_TITLES[result.request.method]
            wanted = METHOD_TITLES[self._panel.request().method]
            self.note.setText(f"Out of date: made with {made}, drawn as it was. Press Explain to see {wanted}.")
        self.note.setVisible(stale)
        self._controls.set_shown_display(self.shown_style().display if stale else None)

    @Slot(str)
    def _on_method_changed(self, method: str) -> None:
        before = self.shown_style().display
        self._controls.set_superpixel_method(method in SUPERPIXEL_METHODS)
        self.use_natural_display(method)
        # The shown result keeps the display it was made with; the controls now set up the next one.
        shown = self._session.shown_result()
        self._stale_display = before if shown is not None and self.is_stale(shown) else None
        self._update_note()
        if shown is not None and not self._session.preview_on():
            self.render()

    @Slot(object)
    def _on_style_changed(self, style) -> None:
        self._settings.set_last_style(style_fields(style))
        self._update_note()
        if self._session.shown_result() is not None and not self._session.preview_on():
            self.render()

    @Slot(float)
    def _on_zoom_changed(self, _zoom: float) -> None:
        # A new overlay only when the zoom crosses a step of the overlay scale, not at every wheel step.
        if (self._session.shown_result() is not None and not self._session.preview_on()
                and self._view.overlay_outdated()):
            self.render()

    @Slot(bool)
    def _on_preview_toggled(self, on: bool) -> None:
        self._session.set_preview(on)
        if not on:
            if self._session.shown_result() is not None:
                self.render()
            else:
                self._view.set_overlay(None)

    @Slot(object)
    def _on_preview_shown(self, preview) -> None:
        self._view.set_overlay(place_in_photo(self._session.current_image(), preview.rendered))

