"""A small plot of an explanation's deletion and insertion curves beside their random-order baselines."""
import numpy as np
from matplotlib.figure import Figure

from limelight.gui.plot_canvas import PlotCanvas

__all__ = ["FaithfulnessPlot"]

DELETION_COLOUR = "#d9412b"
INSERTION_COLOUR = "#3cb043"

_TIP = ("<b>Deletion</b>: the class probability as the superpixels are hidden, the most important "
        "first; a faithful explanation makes it fall fast (small area).<br>"
        "<b>Insertion</b>: the probability as they are shown on a blank image in the same order; it "
        "should rise fast (large area).<br>"
        "<b>Dashed</b>: the same with superpixels in random order, the baseline to beat.")


class FaithfulnessPlot(PlotCanvas):
    """Deletion (left) and insertion (right) curves of one class, each over its random baseline."""

    def __init__(self, parent=None):
        # Fixed margins, as the weight histogram has: small enough for a 1366x768 screen's side panel.
        self._figure = Figure(figsize=(3, 1.15), dpi=100)
        self._figure.subplots_adjust(left=0.1, right=0.98, bottom=0.2, top=0.82, wspace=0.12)
        super().__init__(self._figure)
        self.setParent(parent)
        self._deletion, self._insertion = self._figure.subplots(1, 2, sharey=True)
        self._faithfulness = None
        self._note = ""
        self.setMinimumHeight(95)
        self.setMaximumHeight(125)
        self.setToolTip(_TIP)
        # The axes are styled once; a new class only moves the lines and refills the area under
        # them (animated artists, drawn over the cached axes), a few milliseconds of the GUI thread.
        text = self.palette().color(self.foregroundRole()).name()
        face = self.palette().color(self.backgroundRole()).name()
        self._figure.set_facecolor(face)
        self._panels = []
        for axes, title, colour in ((self._deletion, "Deletion", DELETION_COLOUR),
                                    (self._insertion, "Insertion", INSERTION_COLOUR)):
            axes.set_facecolor(face)
            for spine in ("top", "right"):
                axes.spines[spine].set_visible(False)
            for spine in ("bottom", "left"):
                axes.spines[spine].set_color(text)
            axes.tick_params(colors=text, labelsize=7, length=2, pad=1)
            axes.set_xlim(0, 1)
            axes.set_ylim(0, 1.02)
            axes.set_xticks([0, 1], ["0", "all"])
            # Inside the axes' width, so neighbouring panels' labels never touch or clip.
            for label, align in zip(axes.get_xticklabels(), ("left", "right")):
                label.set_horizontalalignment(align)
            axes.set_yticks([0, 1])
            axes.set_title(title, fontsize=8, color=text, pad=2)
            baseline, = axes.plot([], [], color=text, alpha=0.55, linestyle="--", linewidth=1, gid="random",
                                  animated=True)
            curve, = axes.plot([], [], color=colour, linewidth=1.6, gid="curve", animated=True)
            self._panels.append({"axes": axes, "colour": colour, "baseline": baseline, "curve": curve,
                                 "fill": None})
        # Why there are no curves, said over the empty axes, on the panel's colour where it crosses the insertion axis.
        self._note_text = self._insertion.text(-0.06, 0.5, "", transform=self._insertion.transAxes, ha="center",
                                               va="center", color=text, fontsize=8, alpha=0.7, animated=True,
                                               bbox={"facecolor": face, "edgecolor": "none", "pad": 2})
        self._draw()

    def set_faithfulness(self, faithfulness, note="") -> None:
        """Plot a `limelight.core.scores.Faithfulness`, or with None, empty axes that say `note`."""
        self._faithfulness = faithfulness
        self._note = note
        self._draw()

    def note(self) -> str:
        """What the empty axes say; "" while curves are drawn."""
        return self._note_text.get_text() if self._note_text.get_visible() else ""

    def plotted(self) -> dict:
        """Return the curves drawn, by name, as (fractions, probabilities) arrays; {} when empty."""
        curves = {}
        for panel, prefix in zip(self._panels, ("deletion", "insertion")):
            for line, name in ((panel["curve"], prefix), (panel["baseline"], f"{prefix}_random")):
                if len(line.get_xdata()):
                    curves[name] = (np.asarray(line.get_xdata()), np.asarray(line.get_ydata()))
        return curves

    def _draw(self) -> None:
        f = self._faithfulness
        curves = (None, None) if f is None else ((f.deletion, f.random[::-1]), (f.insertion, f.random))
        for panel, pair in zip(self._panels, curves):
            if panel["fill"] is not None:
                panel["fill"].remove()
                panel["fill"] = None
            if pair is None:
                panel["curve"].set_data([], [])
                panel["baseline"].set_data([], [])
                continue
            curve, baseline = pair
            panel["baseline"].set_data(f.fractions, baseline)
            panel["curve"].set_data(f.fractions, curve)
            panel["fill"] = panel["axes"].fill_between(f.fractions, curve, color=panel["colour"], alpha=0.18,
                                                       linewidth=0, animated=True)
        self._note_text.set_text(self._note)
        self._note_text.set_visible(f is None)
        self.refresh()

    def animated_artists(self):
        artists = [self._note_text]
        for panel in self._panels:
            artists += [a for a in (panel["fill"], panel["baseline"], panel["curve"]) if a is not None]
        return artists


def _preview():
    """Show the plot alone with made-up curves."""
    import sys

    from PySide6.QtWidgets import QApplication

    from limelight.core.scores import Faithfulness

    app = QApplication.instance() or QApplication(sys.argv)
    fractions = np.linspace(0, 1, 21)
    plot = FaithfulnessPlot()
    plot.setWindowTitle("Faithfulness")
    plot.set_faithfulness(Faithfulness(fractions=fractions, deletion=0.9 * np.exp(-6 * fractions),
                                       insertion=0.9 * (1 - np.exp(-5 * fractions)),
                                       random=0.9 * fractions ** 1.5))
    plot.resize(300, 115)
    plot.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(_preview())
