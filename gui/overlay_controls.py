"""The overlay controls: how an explanation is drawn, with a histogram of its weights under the threshold."""
import dataclasses

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QCheckBox, QColorDialog, QComboBox, QFormLayout, QHBoxLayout, QLabel,
                               QPushButton, QSlider, QSpinBox, QStackedWidget, QVBoxLayout, QWidget)

from limelight.core.overlay import DISPLAYS, OverlayStyle

__all__ = ["OverlayControls", "COLORMAPS"]

#: Colormaps offered for the heatmap, after "Automatic"; the diverging ones suit LIME's signed weights.
COLORMAPS = ("RdYlGn", "PiYG", "RdBu_r", "coolwarm", "jet", "viridis", "inferno", "magma")
_DISPLAY_TIPS = {
    "outline": "Outline the chosen regions and tint them lightly",
    "block": "Show only the chosen regions and fade the rest",
    "heatmap": "Colour every region by its weight",
}
class _ColourButton(QPushButton):
    """A button that shows a colour swatch and picks a new colour with QColorDialog."""

    sig_colour_changed = Signal(object)
    """A new colour was picked: a tuple of 3 int from 0 to 255."""

    def __init__(self, text, parent=None):
        super().__init__(text, parent)
        self._colour = (0, 0, 0)
        self.clicked.connect(self._pick)

    def colour(self):
        return self._colour

    def set_colour(self, colour):
        self._colour = tuple(int(c) for c in colour)
        pixmap = QPixmap(14, 14)
        pixmap.fill(QColor(*self._colour))
        self.setIcon(QIcon(pixmap))

    @Slot()
    def _pick(self):
        chosen = QColorDialog.getColor(QColor(*self._colour), self, self.toolTip() or "Pick a Colour")
        if chosen.isValid():
            self.set_colour((chosen.red(), chosen.green(), chosen.blue()))
            self.sig_colour_changed.emit(self._colour)


class OverlayControls(QWidget):
    """Every option of `OverlayStyle` as a control; each change emits the new style at once."""

    sig_style_changed = Signal(object)
    """The overlay style changed (also while a slider is dragged): an OverlayStyle."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._style = OverlayStyle()
        self._updating = False

        self.display = QComboBox(self)
        for display in DISPLAYS:
            self.display.addItem(display.capitalize(), display)
            self.display.setItemData(self.display.count() - 1, _DISPLAY_TIPS.get(display, ""),
                                     Qt.ItemDataRole.ToolTipRole)
        self.display.setToolTip("How the explanation is drawn: outlines, only the chosen regions, or a "
                                "heatmap of every region")

        self.threshold = _slider(self, "Hide regions whose weight is at most this share of the strongest "
                                       "weight; 0 shows every region with a weight")
        self.threshold_value = _value_label(self)
        # The histogram (matplotlib, half a second to import) is built with the first weights to
        # show, so the window opens without it; until then this empty box holds its place.
        self.histogram = None
        self._histogram_box = QWidget(self)
        QVBoxLayout(self._histogram_box).setContentsMargins(0, 0, 0, 0)

        self.top_k = QSpinBox(self)
        self.top_k.setRange(0, 500)
        self.top_k.setSpecialValueText("All over the threshold")
        self.top_k.setToolTip("Show at most this many superpixels, the strongest first (LIME only); "
                              "0 uses the threshold alone")

        self.alpha = _slider(self, "Opacity of the tint over the shown regions")
        self.alpha_value = _value_label(self)

        self.show_negative = QCheckBox("Show negative evidence", self)
        self.show_negative.setToolTip("Also show regions that speak against the class, in the negative "
                                      "colour")
        self.hide_rest = QCheckBox("Fade the rest of the image", self)
        self.hide_rest.setToolTip("Fade everything not shown, so the chosen regions stand out")

        self.positive_button = _ColourButton("Supports", self)
        self.positive_button.setToolTip("Colour of regions that support the class")
        self.negative_button = _ColourButton("Opposes", self)
        self.negative_button.setToolTip("Colour of regions that speak against the class")

        self.colormap = QComboBox(self)
        self.colormap.addItem("Automatic", None)
        for name in COLORMAPS:
            self.colormap.addItem(name, name)
        self.colormap.setToolTip("Heatmap colours; Automatic uses red-yellow-green for LIME and jet for "
                                 "Grad-CAM; PiYG and RdBu_r read better with red-green colour blindness")

        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.threshold, 1)
        threshold_row.addWidget(self.threshold_value)
        alpha_row = QHBoxLayout()
        alpha_row.addWidget(self.alpha, 1)
        alpha_row.addWidget(self.alpha_value)
        buttons = QWidget(self)
        colours = QHBoxLayout(buttons)
        colours.setContentsMargins(0, 0, 0, 0)
        colours.addWidget(self.positive_button)
        colours.addWidget(self.negative_button)
        # Outlines and blocks use the two colours, the heatmap a colormap: one row shows whichever
        # applies, which keeps the panel short enough for a 768-px screen.
        self.colour_stack = QStackedWidget(self)
        self.colour_stack.addWidget(buttons)
        self.colour_stack.addWidget(self.colormap)
        self.colour_label = QLabel("Colours:", self)
        form = QFormLayout()
        form.addRow("&Display:", self.display)
        form.addRow(_buddy_label("&Threshold:", self.threshold), threshold_row)
        form.addRow(self._histogram_box)
        form.addRow("Top &features:", self.top_k)
        form.addRow(_buddy_label("&Opacity:", self.alpha), alpha_row)
        form.addRow(self.colour_label, self.colour_stack)
        form.addRow(self.show_negative)
        form.addRow(self.hide_rest)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)

        self._superpixels = True
        # The display of the explanation shown, when it differs from the controls' (see set_shown_display).
        self._shown_display = None
        self._tips = {widget: widget.toolTip() for widget in (self.top_k, self.show_negative, self.negative_button,
                                                               self.alpha, self.hide_rest)}
        self.set_style(self._style)
        for signal in (self.display.currentIndexChanged, self.threshold.valueChanged, self.top_k.valueChanged,
                       self.alpha.valueChanged, self.show_negative.toggled, self.hide_rest.toggled,
                       self.colormap.currentIndexChanged, self.positive_button.sig_colour_changed,
                       self.negative_button.sig_colour_changed):
            signal.connect(self._changed)

    def style(self) -> OverlayStyle:
        """Return the style the controls show."""
        return self._style

    def set_style(self, style: OverlayStyle) -> None:
        """Show `style` in the controls, without emitting `sig_style_changed`."""
        self._style = style
        self._updating = True
        try:
            self.display.setCurrentIndex(max(0, self.display.findData(style.display)))
            self.threshold.setValue(round(style.threshold * 100))
            self.top_k.setValue(style.num_features or 0)
            self.alpha.setValue(round(style.alpha * 100))
            self.show_negative.setChecked(style.show_negative)
            self.hide_rest.setChecked(style.hide_rest)
            self.positive_button.set_colour(style.positive_colour)
            self.negative_button.set_colour(style.negative_colour)
            if style.colormap is not None and self.colormap.findData(style.colormap) < 0:
                self.colormap.addItem(style.colormap, style.colormap)
            self.colormap.setCurrentIndex(max(0, self.colormap.findData(style.colormap)))
        finally:
            self._updating = False
        self._update_labels()

    def set_weights(self, weights, *, signed=None) -> None:
        """Draw the histogram of an explanation's weight map (ndarray of shape (rows, cols)), or clear it.

        `signed` says whether its heatmap is zero-centred (see `limelight.core.overlay.weight_scale`).
        """
        if weights is not None:
            self.build_histogram()
        if self.histogram is not None:
            self.histogram.set_weights(weights, signed=signed)
        self._update_enabled()

    def build_histogram(self) -> None:
        """Make the histogram, which says "No explanation yet" until it has weights to show.

        Its matplotlib canvas takes tens of milliseconds to build and draw: the window builds it when
        a model has loaded, so that showing the first explanation does not hold up the GUI thread.
        """
        if self.histogram is None:
            from limelight.gui.weight_histogram import WeightHistogram

            self.histogram = WeightHistogram(self._histogram_box)
            self._histogram_box.layout().addWidget(self.histogram)
            self.histogram.show()
            self._update_labels()  # its display, colours and threshold

    def set_shown_display(self, display) -> None:
        """Colour the histogram for the display the shown explanation keeps (an out-of-date result's),
        or, with None, for the controls' own."""
        self._shown_display = display
        self._update_labels()

    def set_superpixel_method(self, superpixels: bool) -> None:
        """Enable the controls that only superpixel explanations (LIME) use."""
        self._superpixels = bool(superpixels)
        self._update_enabled()

    @Slot()
    def _changed(self):
        if self._updating:
            return
        # Keep the fields without a control (block colour, fade) as they were set.
        self._style = dataclasses.replace(
            self._style, display=self.display.currentData(), threshold=self.threshold.value() / 100,
            num_features=self.top_k.value() or None, alpha=self.alpha.value() / 100,
            show_negative=self.show_negative.isChecked(), hide_rest=self.hide_rest.isChecked(),
            positive_colour=self.positive_button.colour(), negative_colour=self.negative_button.colour(),
            colormap=self.colormap.currentData())
        self._update_labels()
        self.sig_style_changed.emit(self._style)

    def _update_labels(self):
        style = self._style
        self.threshold_value.setText(f"{style.threshold:.0%}")
        self.alpha_value.setText(f"{style.alpha:.0%}")
        # The colormap only matters for the heatmap; the colours for the other displays.
        heatmap = style.display == "heatmap"
        self.colour_stack.setCurrentWidget(self.colormap if heatmap else self.colour_stack.widget(0))
        self.colour_label.setText("Color&map:" if heatmap else "Colours:")
        self.colour_label.setBuddy(self.colormap if heatmap else None)
        if self.histogram is not None:
            self.histogram.set_style(dataclasses.replace(style, display=self._shown_display or style.display))
            self.histogram.set_threshold(style.threshold, style.show_negative)
        self._update_enabled()

    def _update_enabled(self):
        """Disable each option that would change no pixel of what is shown, and say why in its tooltip."""
        style, values = self._style, self.histogram.values() if self.histogram is not None else None
        negatives = values is None or bool((values < 0).any())
        reasons = {
            self.top_k: None if self._superpixels else "Off: this method's map has no superpixels to count",
            self.show_negative: None if negatives else (
                "Off: this explanation has no negative weights (a CAM keeps them only with \"Show negative "
                "evidence\" in the Explanation panel)"),
            self.negative_button: None if style.show_negative else "Off: turn on \"Show negative evidence\" first",
            self.alpha: None if style.display != "block" or style.show_negative else (
                "Off: Block shows the chosen regions as they are; the opacity only tints negative evidence"),
            self.hide_rest: None if style.display != "block" else "Off: Block always fades the rest",
        }
        for widget, reason in reasons.items():
            widget.setEnabled(reason is None)
            tip = self._tips[widget]
            widget.setToolTip(tip if reason is None else f"{tip}.\n{reason}.")


def _slider(parent, tip):
    slider = QSlider(Qt.Orientation.Horizontal, parent)
    slider.setRange(0, 100)
    slider.setSingleStep(1)
    slider.setPageStep(10)
    slider.setToolTip(tip)
    return slider


def _buddy_label(text, buddy):
    # A form row whose field is a layout gets no buddy from QFormLayout, so its mnemonic would show as "&".
    label = QLabel(text, buddy.parentWidget())
    label.setBuddy(buddy)
    return label


def _value_label(parent):
    label = QLabel(parent)
    # Wide enough for "100%" so the slider does not jump while the number changes.
    label.setMinimumWidth(label.fontMetrics().horizontalAdvance("100%") + 4)
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return label


def _preview():
    """Show the controls alone, with the weights of a made-up LIME explanation."""
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv)
    controls = OverlayControls()
    controls.setWindowTitle("Overlay")
    rng = np.random.default_rng(0)
    segments = rng.integers(0, 60, (64, 64))
    controls.set_weights(rng.normal(0, 0.1, 60)[segments])
    controls.sig_style_changed.connect(print)
    controls.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(_preview())
