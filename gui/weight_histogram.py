"""The overlay panel's histogram of an explanation's weights, with the threshold; drawn with matplotlib."""
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from limelight.core.overlay import HeatmapScale, OverlayStyle, colormap_name
from limelight.gui.plot_canvas import PlotCanvas

__all__ = ["WeightHistogram"]

# A histogram of at most this many values stays quick to redraw while the slider moves.
_MAX_HISTOGRAM_VALUES = 20_000
_HISTOGRAM_BINS = 41


class WeightHistogram(PlotCanvas):
    """A small histogram of an explanation's weights (as fractions of the largest) with the threshold.

    For a heatmap it is also the heatmap's legend: bars and a strip under them in the colormap's colours.
    """

    def __init__(self, parent=None):
        # Fixed margins: a layout engine would re-run on every redraw, which a threshold drag triggers.
        self._figure = Figure(figsize=(3, 1.15), dpi=100)
        self._figure.subplots_adjust(left=0.04, right=0.96, bottom=0.24, top=0.84)
        super().__init__(self._figure)
        self.setParent(parent)
        self._axes = self._figure.add_subplot()
        self._values = None
        self._style = OverlayStyle()
        self._signed = False
        self._per_region = False
        self._threshold = 0.2
        self._show_negative = False
        self._colours = ("#3cb043", "#d9412b")
        # The heatmap's colormap name while the display is a heatmap, else None.
        self._colormap = None
        self._lines = []
        self._shade = None
        self.setMinimumHeight(95)
        self.setMaximumHeight(115)
        self.setToolTip("How the explanation's weights are spread, as a share of the strongest; regions "
                        "beyond the dashed line(s) are shown, the greyed-out ones are not")
        # The axes and their artists are made once. A new explanation, style or threshold changes the
        # animated artists (bars, count, threshold), drawn over the cached rest: a few milliseconds.
        text = self.palette().color(self.foregroundRole()).name()
        face = self.palette().color(self.backgroundRole()).name()
        axes = self._axes
        self._figure.set_facecolor(face)
        axes.set_facecolor(face)
        for spine in ("top", "right", "left"):
            axes.spines[spine].set_visible(False)
        axes.spines["bottom"].set_color(text)
        axes.tick_params(colors=text, labelsize=8, length=2, pad=1)
        axes.set_yticks([])
        self._empty = axes.text(0.5, 0.5, "No explanation yet", transform=axes.transAxes, ha="center",
                                va="center", color=text, fontsize=8, alpha=0.7)
        self._count_title = axes.set_title("", fontsize=8, color=text, loc="right", pad=2, animated=True)
        self._unit_title = axes.set_title("", fontsize=8, color=text, loc="left", pad=2)
        # The heatmap's colour strip under the bars, shown only for a heatmap.
        self._strip = axes.imshow(np.zeros((1, 256, 3), np.uint8), aspect="auto", interpolation="bilinear",
                                  visible=False)
        # The bars, as one collection of rectangles: updated in place, quicker to draw than patches.
        self._bars = axes.add_collection(PolyCollection([], alpha=0.85, linewidths=0, animated=True))
        # What the cached background shows: the x scale ("signed", "unsigned" or "none") and colormap.
        self._drawn_axes = None
        self._draw_histogram()

    def values(self):
        """Return the normalised weights drawn, in -1..1, or None."""
        return self._values

    def threshold_lines(self):
        """Return the x positions of the threshold markers."""
        return [line.get_xdata()[0] for line in self._lines]

    def hidden_band(self):
        """Return the (left, right) range of weights greyed out as not shown, or None."""
        if self._shade is None:
            return None
        left = float(self._shade.get_x())
        return left, left + float(self._shade.get_width())

    def bar_colours(self):
        """Return the RGB colours of the bars drawn, left to right: ndarray of shape (n, 3), uint8."""
        if not self._bars.get_visible():
            return np.zeros((0, 3), np.uint8)
        return np.rint(self._bars.get_facecolor()[:, :3] * 255).astype(np.uint8)

    def set_style(self, style):
        """Colour the bars as `style` draws the weights: its two colours, or its heatmap's colormap."""
        colours = tuple("#%02x%02x%02x" % tuple(int(c) for c in rgb)
                        for rgb in (style.positive_colour, style.negative_colour))
        colormap = colormap_name(style, signed=self._signed) if style.display == "heatmap" else None
        self._style = style
        if (colours, colormap) != (self._colours, self._colormap):
            self._colours, self._colormap = colours, colormap
            self._draw_histogram()

    def set_weights(self, weights, *, signed=None):
        """Show a weight map's spread; `signed` says whether it is drawn on a zero-centred scale
        (LIME always is; by default, whether any weight is negative)."""
        if weights is None:
            self._values = None
        else:
            weights = np.asarray(weights, dtype=np.float32).ravel()
            weights = weights[np.isfinite(weights)]
            peak = float(np.abs(weights).max()) if weights.size else 0.0
            if peak == 0:
                self._values = None
            else:
                # Superpixel maps repeat one weight over many pixels: a region counts once.
                unique = np.unique(weights)
                values = unique if unique.size <= _MAX_HISTOGRAM_VALUES // 10 else weights
                if values.size > _MAX_HISTOGRAM_VALUES:
                    values = values[:: values.size // _MAX_HISTOGRAM_VALUES + 1]
                self._values = values / peak
                self._per_region = values is unique
        self._signed = bool(signed) if signed is not None else (
            self._values is not None and bool((self._values < 0).any()))
        if self._colormap is not None:
            self._colormap = colormap_name(self._style, signed=self._signed)
        self._draw_histogram()

    def set_threshold(self, threshold, show_negative):
        self._threshold = float(threshold)
        self._show_negative = bool(show_negative)
        self._draw_lines()
        self.refresh()

    def animated_artists(self):
        return [self._bars, *([self._shade] if self._shade is not None else []), *self._lines, self._count_title]

    def _draw_histogram(self):
        axes = self._axes
        values = self._values
        signed = values is not None and self._signed
        x_scale = "none" if values is None else "signed" if signed else "unsigned"
        axes_changed = (x_scale, self._colormap) != self._drawn_axes
        if axes_changed:
            self._drawn_axes = x_scale, self._colormap
            axes.set_xlim(-1.02 if signed else -0.02, 1.02)
            axes.set_xticks([] if values is None else [-1, 0, 1] if signed else [0, 0.5, 1])
            self._empty.set_visible(values is None)
            self._unit_title.set_text("" if values is None else "weight / strongest")
            self._strip.set_visible(False)
        self._bars.set_visible(values is not None)
        if values is None:
            self._count_title.set_text("")
        else:
            bins = np.linspace(-1 if signed else 0, 1, _HISTOGRAM_BINS if signed else _HISTOGRAM_BINS // 2 + 1)
            counts, edges = np.histogram(values, bins=bins)
            centres = (edges[:-1] + edges[1:]) / 2
            top = max(counts.max(), 1) * 1.08
            if self._colormap is None:
                colours = np.where(centres >= 0, *self._colours)
                axes.set_ylim(0, top)
            else:
                # The heatmap's legend: each bar in the colour its weight gets, over a colour strip.
                scale = HeatmapScale(self._colormap, -1.0 if signed else 0.0, 1.0)
                lut = scale.colours()
                position = (centres + 1) / 2 if signed else centres
                colours = lut[np.clip(np.rint(position * 255), 0, 255).astype(int)] / 255
                # A strip under the bars, a fixed share of the axes' height whatever the counts.
                strip = top * 0.14
                self._strip.set_data(lut[None])
                self._strip.set_extent((scale.low, scale.high, -strip, 0))
                self._strip.set_visible(True)
                axes.set_ylim(-strip, top)
            half = np.diff(edges) * 0.45
            left, right = centres - half, centres + half
            zero = np.zeros_like(centres)
            self._bars.set_verts(np.stack([np.stack([left, zero], 1), np.stack([left, counts], 1),
                                           np.stack([right, counts], 1), np.stack([right, zero], 1)], 1))
            self._bars.set_facecolor(colours)
            unit = "superpixels" if self._per_region else "pixels"
            self._count_title.set_text(f"{values.size:,} {unit}")
        self._draw_lines()
        if axes_changed:
            self.redraw()
        else:
            self.refresh()

    def _draw_lines(self):
        for artist in [*self._lines, self._shade]:
            if artist is not None:
                artist.remove()
        self._lines = []
        self._shade = None
        if self._values is None:
            return
        signed = bool((self._values < 0).any())
        positions = [self._threshold]
        if self._show_negative and signed:
            positions.append(-self._threshold)
        # Grey out the weights that are not drawn: the band under the threshold, and every
        # negative weight unless negative evidence is shown.
        left = -self._threshold if self._show_negative else self._axes.get_xlim()[0]
        face = self.palette().color(self.backgroundRole()).name()
        self._shade = self._axes.axvspan(left, self._threshold, color=face, alpha=0.7, linewidth=0,
                                         animated=True)
        for x in positions:
            self._lines.append(self._axes.axvline(x, color="#f0a030", linestyle="--", linewidth=1.2,
                                                  animated=True))
