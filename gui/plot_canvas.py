"""The canvas of the window's small matplotlib plots: quick to update, and drawn only while seen."""
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

__all__ = ["PlotCanvas"]


class PlotCanvas(FigureCanvasQTAgg):
    """A matplotlib canvas whose changing artists are redrawn over a cached image of the rest.

    A full draw of even a small figure takes the GUI thread 15-25 ms, most of it laying out text.
    Subclasses make the artists that change with each explanation ``animated`` and list them in
    `animated_artists`; `refresh` redraws only those over the axes, ticks and titles (matplotlib's
    blitting), and `redraw` draws everything, for when the axes themselves change. A hidden canvas
    draws when it is shown: the window builds its plots hidden when a model loads.
    """

    def __init__(self, figure):
        super().__init__(figure)
        self._background = None
        # A draw asked for while hidden, made when shown; a canvas never drawn needs one.
        self._draw_when_shown = True
        self.mpl_connect("draw_event", self._on_draw)

    def animated_artists(self) -> list:
        """The artists that change, drawn in this order over the cached background."""
        raise NotImplementedError

    def refresh(self) -> None:
        """Show what the animated artists now hold."""
        if self._background is None:
            self.draw_idle()
            return
        self.restore_region(self._background)
        self._draw_animated()
        self.blit(self.figure.bbox)

    def redraw(self) -> None:
        """Draw the whole figure again, for a change of axes, ticks or titles."""
        self._background = None
        self.draw_idle()

    def draw_idle(self):
        if self.isVisible():
            super().draw_idle()
        else:
            self._draw_when_shown = True

    def showEvent(self, event):
        super().showEvent(event)
        # Refreshed while hidden, the image is already current: shown again, it needs no draw.
        if self._draw_when_shown:
            self._draw_when_shown = False
            super().draw_idle()

    def _on_draw(self, _event):
        self._background = self.copy_from_bbox(self.figure.bbox)
        self._draw_animated()

    def _draw_animated(self):
        for artist in self.animated_artists():
            if artist.get_visible():
                self.figure.draw_artist(artist)
