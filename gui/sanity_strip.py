"""The sanity check in the info panel: Check sanity, its progress, the verdict and the strip of randomised maps."""
import html

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

__all__ = ["SanityStrip"]

# Side of each map in the strip, in pixels.
THUMBNAIL = 40
# Maps per row: five fit the narrowest info panel (the left dock at 1366x768); more steps wrap.
MAPS_PER_ROW = 5
# Readable on light and dark palettes alike, as the panel's other verdicts.
_WORD_COLOURS = {"passes": "#2e9d3a", "fails": "#d9412b"}


class SanityStrip(QWidget):
    """Offers the sanity check of the shown explanation, shows its progress, then its verdict and maps.

    The owner connects `sig_check_requested` and `sig_cancel_requested` to the worker and calls
    `set_running`, `set_progress`, `add_step` (the strip fills as layers are randomised),
    `set_result`, `set_failed` and `clear` with what comes back.
    """

    sig_check_requested = Signal()
    """Check sanity was clicked."""
    sig_cancel_requested = Signal()
    """Cancel was clicked while the check runs."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.button = QPushButton("Check sanity", self)
        self.button.clicked.connect(self._on_clicked)
        self.verdict = QLabel(self)
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        self.progress = QProgressBar(self)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.maps = QWidget(self)
        self._grid = QGridLayout(self.maps)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(2)
        self._grid.setVerticalSpacing(0)

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.verdict, 1)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.maps, 0, Qt.AlignmentFlag.AlignLeft)
        self._running = False
        self._signed = False  # the running check's maps: signed, as its original is
        self.clear()

    @property
    def running(self) -> bool:
        """True between `set_running` and the check's end."""
        return self._running

    def clear(self, cost: str = "") -> None:
        """Forget the last result; offer the check, saying what it costs (empty: nothing to check)."""
        self._set_running(False)
        self._clear_maps()
        self.verdict.setText("")
        self.button.setEnabled(bool(cost))
        self.button.setToolTip(
            f"Randomise the model's layers from the top, step by step, and see whether the map changes: "
            f"{cost}. The loaded model is not changed." if cost else "Explain the image first")
        self.setVisible(bool(cost))

    @Slot(object, str)
    def show_check(self, sanity, cost: str) -> None:
        """Show an explanation's check (a Sanity, or None when it has none) and offer to check it at `cost`
        ("": it cannot be checked, e.g. a report's explanation without its model)."""
        self.clear(cost)
        if sanity is not None:
            self.setVisible(True)
            self.set_result(sanity)

    @Slot(str)
    def set_running(self, cost: str) -> None:
        """The check started; it costs `cost` (a sentence from `limelight.core.sanity.describe_cost`)."""
        self._clear_maps()
        self.setVisible(True)
        self.verdict.setText(f"<span style='color: gray'>Checking sanity: {html.escape(cost)}…</span>")
        self.progress.setRange(0, 0)
        self._set_running(True)

    @Slot(int, int)
    def set_progress(self, done: int, total: int) -> None:
        """Move the bar: `done` of `total` units."""
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, total))

    @Slot(int, str, object, float)
    def add_step(self, randomised: int, layer: str, picture, spearman: float) -> None:
        """Show the next map of the running check: `randomised` layers re-drawn down to `layer` (0: the original)."""
        if not self._running:
            return
        if randomised == 0:
            self._clear_maps()
            self._signed = bool((np.asarray(picture) < 0).any())
        where = f" (down to {layer})" if layer else ""
        layers = "1 layer" if randomised == 1 else f"{randomised} layers"
        self._add_thumbnail(picture, self._signed, "original" if randomised == 0 else f"{spearman:.2f}",
                            f"{layers} randomised{where}; Spearman {spearman:.2f}")
        self.maps.setVisible(True)

    def set_result(self, sanity) -> None:
        """Show a `Sanity`: its verdict, the numbers behind it and the map at each step."""
        self._set_running(False)
        self.button.setText("Check again")
        colour = _WORD_COLOURS[sanity.word]
        self.verdict.setText(
            f"<b>sanity: <span style='color: {colour}'>{sanity.word}</span></b> "
            f"<span style='color: gray'>(Spearman {sanity.similarity:.2f} once {sanity.pass_share:.0%} of "
            f"{sanity.total_layers} layers are randomised; below {sanity.pass_below:g} passes. Another class: "
            f"{sanity.random_class_spearman:.2f})</span>")
        self.verdict.setToolTip(
            "The map of each step compared with the original (Spearman rank correlation, SSIM):<br>"
            + "<br>".join(f"{count} of {sanity.total_layers} layers randomised"
                          + (f" (down to {html.escape(layer)})" if layer else "")
                          + f": {rho:.2f}, {similarity:.2f}"
                          for count, layer, rho, similarity in zip(sanity.randomised, sanity.layers,
                                                                   sanity.spearman, sanity.ssim)))
        self._clear_maps()
        signed = bool((sanity.maps < 0).any())
        for picture, count, rho in zip(sanity.maps, sanity.randomised, sanity.spearman):
            self._add_thumbnail(picture, signed, "original" if count == 0 else f"{rho:.2f}",
                                f"{count} of {sanity.total_layers} layers randomised; Spearman {rho:.2f}")
        self.maps.setVisible(True)

    def step_captions(self) -> list[str]:
        """The captions under the maps shown, in order ("original", then each step's Spearman)."""
        return [self._grid.itemAtPosition(2 * row + 1, column).widget().text()
                for row, column in (divmod(step, MAPS_PER_ROW) for step in range(self._grid.count() // 2))]

    def _add_thumbnail(self, picture, signed: bool, caption_text: str, tip: str) -> None:
        step = self._grid.count() // 2
        thumbnail = QLabel(self.maps)
        thumbnail.setPixmap(QPixmap.fromImage(_thumbnail(picture, signed)))
        thumbnail.setToolTip(tip)
        caption = QLabel(caption_text, self.maps)
        caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        caption.setStyleSheet("color: gray; font-size: 9px;")
        row, column = divmod(step, MAPS_PER_ROW)
        self._grid.addWidget(thumbnail, 2 * row, column)
        self._grid.addWidget(caption, 2 * row + 1, column)

    @Slot(str)
    def set_failed(self, message: str) -> None:
        """The check could not run: say why in one line."""
        self._set_running(False)
        self.verdict.setText(f"<span style='color: {_WORD_COLOURS['fails']}'>Sanity check failed: "
                             f"{html.escape(message)}</span>")

    @Slot()
    def set_cancelled(self) -> None:
        """The check was cancelled: offer it again."""
        self._set_running(False)
        self.verdict.setText("<span style='color: gray'>Sanity check cancelled.</span>")

    def _set_running(self, running: bool) -> None:
        self._running = running
        self.progress.setVisible(running)
        self.button.setText("Cancel" if running else "Check sanity")
        if running:
            self.button.setEnabled(True)

    def _clear_maps(self) -> None:
        while self._grid.count():
            self._grid.takeAt(0).widget().deleteLater()
        self.maps.setVisible(False)

    @Slot()
    def _on_clicked(self) -> None:
        (self.sig_cancel_requested if self._running else self.sig_check_requested).emit()


def _thumbnail(picture: np.ndarray, signed: bool) -> QImage:
    """One map as a THUMBNAIL-sized image in the heatmap's colours, scaled to its own largest weight."""
    from limelight.core.overlay import ONE_SIGN_COLORMAP, SIGNED_COLORMAP, HeatmapScale

    picture = np.asarray(picture, dtype=np.float32)
    largest = float(np.max(np.abs(picture))) or 1.0
    low = -largest if signed else 0.0
    scale = HeatmapScale(SIGNED_COLORMAP if signed else ONE_SIGN_COLORMAP, low, largest)
    colours = scale.colours()
    index = np.clip((picture - low) / (largest - low) * (len(colours) - 1), 0, len(colours) - 1).astype(np.intp)
    rgb = np.ascontiguousarray(colours[index])
    image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888).copy()
    return image.scaled(THUMBNAIL, THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation)


def _preview():
    """Show the strip with a made-up result: python -m limelight.gui.sanity_strip."""
    import sys

    from PySide6.QtWidgets import QApplication

    from limelight.core.sanity import Sanity

    app = QApplication.instance() or QApplication(sys.argv)
    rows, cols = np.mgrid[0:64, 0:64]
    blob = np.exp(-((rows - 30) ** 2 + (cols - 36) ** 2) / 200.0)
    noise = np.random.default_rng(0).random((8, 64, 64))
    maps = [blob, *(blob * (1 - share) + noise[i] * share for i, share in enumerate(np.linspace(0.2, 1, 8)))]
    strip = SanityStrip()
    strip.set_result(Sanity(method="gradcam", target=0, total_layers=8, randomised=range(9),
                            layers=["", "predictions", "last_conv", "bn2", "conv2", "bn1", "conv1", "bn", "conv"],
                            spearman=[1.0, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.0],
                            ssim=[1.0, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.1, 0.0], maps=maps, random_class=3,
                            random_class_spearman=-0.6, random_class_ssim=0.2, random_class_map=noise[0], seed=0))
    strip.show()
    app.exec()


if __name__ == "__main__":
    _preview()
