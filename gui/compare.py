"""The Compare dialog: a grid of explanations of the same image, one method or model a pane, ranked by faithfulness."""
import dataclasses
import functools
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QGridLayout, QHBoxLayout,
                               QLabel, QPushButton, QVBoxLayout)

from limelight.core.methods import METHOD_TITLES
from limelight.core.overlay import DISPLAYS, natural_display
from limelight.gui.image_view import ImageView
from limelight.gui.model_picker import builtin_sources
from limelight.gui.worker import Explain, ExplainResult, LoadModel


#: Panes in a row of the grid; more methods wrap onto the next row.
COLUMNS = 3


def faithfulness_margin(result) -> float | None:
    """How far an explanation beats a random order: insertion AUC less deletion AUC, None when not measured."""
    curves = result.explanation.faithfulness.get(result.target)
    return None if curves is None else curves.insertion_auc - curves.deletion_auc


class CompareDialog(QDialog):
    """Explanations of the same image side by side in a grid, one method (and model) a pane, ranked by faithfulness.

    Every pane measures its deletion and insertion curves over the window's superpixels, so the
    panes can be ranked by how far their insertion AUC exceeds their deletion AUC.
    """

    def __init__(self, window):
        super().__init__(window)
        self.setWindowTitle("Compare Explanations")
        self._window = window
        self._controller = window.controller
        self._panes = []
        self._jobs: dict[int, int] = {}
        self._grid = QGridLayout()
        for method in ("gradcam", "lime"):
            self.add_pane(method)
        self.run_button = QPushButton("Explain All", self)
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Explain the current image in every pane with its own model and method, "
                                   "and the window's other parameters")
        self.run_button.clicked.connect(self.run)
        self.add_button = QPushButton("Add Method", self)
        self.add_button.setToolTip("Add a pane with a method not shown yet, and explain it")
        self.add_button.clicked.connect(self._on_add)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.run_button)
        bottom.addWidget(self.add_button)
        bottom.addWidget(self.status, 1)
        bottom.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addLayout(self._grid, 1)
        layout.addLayout(bottom)
        self._controller.sig_result.connect(self._on_result)
        self._controller.sig_failed.connect(self._on_failed)
        self._controller.sig_cancelled.connect(self._on_cancelled)
        self.refresh_models()
        self.resize(900, 560)

    def add_pane(self, method: str) -> int:
        """Add a pane that explains with `method`, at the end of the grid; return its index."""
        index = len(self._panes)
        model_combo = QComboBox(self)
        model_combo.setToolTip("The model this pane explains")
        method_combo = QComboBox(self)
        for key, title in METHOD_TITLES.items():
            method_combo.addItem(title, key)
        method_combo.setCurrentIndex(method_combo.findData(method))
        method_combo.setToolTip("The explanation method this pane uses; the superpixel methods, Score-CAM and "
                                "the noisy gradient methods take longer than Grad-CAM. Changing it explains "
                                "this pane again")
        display_combo = QComboBox(self)
        for display in DISPLAYS:
            display_combo.addItem(display.capitalize(), display)
        display_combo.setCurrentIndex(display_combo.findData(natural_display(method)))
        display_combo.setToolTip("How this pane is drawn; each method starts in the display it reads "
                                 "best in: outlines for LIME and KernelSHAP, a heatmap for the maps. The "
                                 "other overlay settings are the window's")
        view = ImageView(self)
        view.setMinimumSize(240, 200)
        view.sig_zoom_changed.connect(functools.partial(self._on_zoom_changed, index))
        caption = QLabel("—", self)
        caption.setWordWrap(True)
        caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        row = QHBoxLayout()
        row.addWidget(model_combo, 2)
        row.addWidget(method_combo, 1)
        row.addWidget(display_combo, 1)
        top, column = 3 * (index // COLUMNS), index % COLUMNS
        self._grid.addLayout(row, top, column)
        self._grid.addWidget(view, top + 1, column)
        self._grid.addWidget(caption, top + 2, column)
        self._grid.setRowStretch(top + 1, 1)
        self._panes.append({"model": model_combo, "method": method_combo, "display": display_combo,
                            "view": view, "caption": caption, "result": None})
        method_combo.activated.connect(functools.partial(self._on_method_chosen, index))
        display_combo.activated.connect(functools.partial(self._on_display_chosen, index))
        return index

    @Slot()
    def _on_add(self) -> None:
        shown = {pane["method"].currentData() for pane in self._panes}
        method = next((key for key in METHOD_TITLES if key not in shown), "gradcam")
        index = self.add_pane(method)
        self.refresh_models()
        if self._window.current_image() is not None:
            self._run_pane(index)

    def refresh_models(self) -> None:
        sources = [(s, t) for s, t in builtin_sources()]
        current = self._window.model_source()
        for path in self._window.settings.recent_models():
            sources.append((path, Path(path).name))
        if current and current not in [s for s, _ in sources]:
            sources.insert(0, (current, Path(current).name))
        for pane in self._panes:
            combo = pane["model"]
            chosen = combo.currentData() or current
            combo.clear()
            for source, title in sources:
                combo.addItem(title, source)
            combo.setCurrentIndex(max(0, combo.findData(chosen)))

    @Slot()
    def run(self) -> None:
        """Explain the current image in every pane."""
        if self._window.current_image() is None:
            self.status.setText("Open an image first.")
            return
        self.refresh_models()
        for index in range(len(self._panes)):
            self._run_pane(index)
        self.status.setText("Explaining…")

    def _run_pane(self, index: int) -> None:
        image, path = self._window.current_image(), self._window.current_path()
        pane = self._panes[index]
        for job_id in [job for job, pane_index in self._jobs.items() if pane_index == index]:
            self._controller.cancel(job_id)
            del self._jobs[job_id]
        source = pane["model"].currentData()
        # Every pane measures its curves, so that the panes can be ranked by faithfulness.
        request = dataclasses.replace(self._window.parameter_panel.request(), method=pane["method"].currentData(),
                                      faithfulness=True)
        pane["view"].set_image(image)
        pane["caption"].setText("Working…")
        pane["result"] = None
        if source != self._window.model_source():
            # Trust is by content, as in the window: a file changed since it was trusted
            # fails to load here with a message rather than running unasked.
            trusted = frozenset(self._window.settings.trusted_hashes())
            self._controller.submit(LoadModel(source, trusted_hashes=trusted), channel=f"compare-load-{index}")
        job_id = self._controller.submit(Explain(source, path, image, request), channel=f"compare-{index}")
        self._jobs[job_id] = index

    def pane_style(self, index: int):
        """The style side `index` is drawn with: the window's, in this side's own display."""
        display = self._panes[index]["display"].currentData()
        return dataclasses.replace(self._window.overlay_controls.style(), display=display)

    def restyle(self) -> None:
        """Draw every explanation again with the window's overlay style, each in its own display."""
        for index in range(len(self._panes)):
            self._draw(index)

    def _draw(self, index: int) -> None:
        pane = self._panes[index]
        result = pane["result"]
        if result is not None:
            self._window.draw_result(pane["view"], self._window.current_image_for(result), result,
                                     self.pane_style(index))

    def _on_method_chosen(self, index: int, _combo_index: int) -> None:
        # A side's old explanation would be drawn as the new method's: explain it again instead.
        pane = self._panes[index]
        pane["display"].setCurrentIndex(pane["display"].findData(natural_display(pane["method"].currentData())))
        shown = pane["result"] is not None or index in self._jobs.values()
        if shown and self._window.current_image() is not None:
            self._run_pane(index)

    def _on_display_chosen(self, index: int, _combo_index: int) -> None:
        self._draw(index)

    def _on_zoom_changed(self, column: int, _zoom: float) -> None:
        if self._panes[column]["view"].overlay_outdated():
            self._draw(column)

    @Slot(int, object, object)
    def _on_result(self, request_id: int, job, value) -> None:
        index = self._jobs.pop(request_id, None)
        if index is None or not isinstance(value, ExplainResult):
            return
        pane = self._panes[index]
        pane["result"] = value
        pane["view"].set_image(self._window.current_image_for(value))
        self._draw(index)
        self._rank()

    def _rank(self) -> None:
        """Caption every pane with its rank by faithfulness (insertion AUC less deletion AUC) among the panes shown."""
        shown = [pane for pane in self._panes if pane["result"] is not None]
        margins = {id(pane): faithfulness_margin(pane["result"]) for pane in shown}
        ranked = sorted((pane for pane in shown if margins[id(pane)] is not None), key=lambda p: -margins[id(p)])
        for pane in shown:
            result = pane["result"]
            curves = result.explanation.faithfulness.get(result.target)
            text = self._window.describe_result(result)
            if curves is not None:
                place = ranked.index(pane) + 1
                text = (f"#{place} of {len(ranked)} by faithfulness: deletion AUC {curves.deletion_auc:.2f}, "
                        f"insertion AUC {curves.insertion_auc:.2f}\n{text}")
            pane["caption"].setText(text)
        if not self._jobs:
            self.status.setText("Ranked by faithfulness: " + ", ".join(
                METHOD_TITLES[pane["method"].currentData()] for pane in ranked) if ranked else "")

    @Slot(int, object, str)
    def _on_failed(self, request_id: int, job, message: str) -> None:
        index = self._jobs.pop(request_id, None)
        if index is not None:
            self._panes[index]["caption"].setText(message)
            self.status.setText("")

    @Slot(int, object)
    def _on_cancelled(self, request_id: int, job) -> None:
        index = self._jobs.pop(request_id, None)
        if index is not None:
            self._panes[index]["caption"].setText("Cancelled.")

    def done(self, code: int) -> None:
        for request_id in list(self._jobs):
            self._controller.cancel(request_id)
        self._jobs.clear()
        super().done(code)
