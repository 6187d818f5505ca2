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
from limelight.gui.controller import JobHandle
from limelight.gui.jobs import Explain, LoadModel


#: Panes in a row of the grid; more methods wrap onto the next row.
COLUMNS = 3


def faithfulness_margin(result) -> float | None:
    """How far an explanation beats a random order: insertion AUC less deletion AUC, None when not measured."""
    curves = result.explanation.faithfulness.get(result.target)
    return None if curves is None else curves.insertion_auc - curves.deletion_auc


def model_choices(session) -> list[tuple[str, str]]:
    """(source, title) of the models to choose from: the built-in ones, the recent ones and the current one."""
    sources = list(builtin_sources())
    current = session.model_source()
    for path in session.settings.recent_models():
        sources.append((path, Path(path).name))
    if current and current not in [s for s, _ in sources]:
        sources.insert(0, (current, Path(current).name))
    return sources


class CompareDialog(QDialog):
    """Explanations of the same image side by side in a grid, one method (and model) a pane, ranked by faithfulness.

    Every pane measures its deletion and insertion curves over the window's superpixels, so the
    panes can be ranked by how far their insertion AUC exceeds their deletion AUC.

    Parameters
    ----------
    session : Session
        Whose current photo every pane explains, on whose worker.
    painter : OverlayPainter
        Draws each pane's explanation.
    request : callable
        ``request()`` returns the ExplainRequest whose parameters every pane uses, each with its own method.
    style : callable
        ``style()`` returns the OverlayStyle every pane is drawn with, each in its own display.
    parent : QWidget, optional
    """

    def __init__(self, session, painter, *, request, style, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Compare Explanations")
        self._session = session
        self._painter = painter
        self._request = request
        self._style = style
        self._panes = []
        # The handle of the explanation each pane waits for.
        self._jobs: dict[int, JobHandle] = {}
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
        session.sig_model_loaded.connect(self.refresh_models)
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
        if self._session.current_image() is not None:
            self._run_pane(index)

    @Slot()
    def refresh_models(self) -> None:
        """Offer the built-in models, the recent ones and the current one in every pane."""
        sources = model_choices(self._session)
        current = self._session.model_source()
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
        if self._session.current_image() is None:
            self.status.setText("Open an image first.")
            return
        self.refresh_models()
        for index in range(len(self._panes)):
            self._run_pane(index)
        self.status.setText("Explaining…")

    def _run_pane(self, index: int) -> None:
        session = self._session
        image, path = session.current_image(), session.current_path()
        pane = self._panes[index]
        if index in self._jobs:
            self._jobs.pop(index).cancel()
        source = pane["model"].currentData()
        # Every pane measures its curves, so that the panes can be ranked by faithfulness.
        request = dataclasses.replace(self._request(), method=pane["method"].currentData(), faithfulness=True)
        pane["view"].set_image(image)
        pane["caption"].setText("Working…")
        pane["result"] = None
        controller = session.controller
        if source != session.model_source():
            # Trust is by content, as in the window: a file changed since it was trusted
            # fails to load here with a message rather than running unasked.
            trusted = frozenset(session.settings.trusted_hashes())
            controller.submit(LoadModel(source, trusted_hashes=trusted), channel=f"compare-load-{index}")
        self._jobs[index] = controller.submit(
            Explain(source, path, image, request), channel=f"compare-{index}",
            on_result=functools.partial(self._on_result, index), on_failed=functools.partial(self._on_failed, index),
            on_cancelled=functools.partial(self._on_cancelled, index))

    def pane_style(self, index: int):
        """The style side `index` is drawn with: the window's, in this side's own display."""
        display = self._panes[index]["display"].currentData()
        return dataclasses.replace(self._style(), display=display)

    def restyle(self) -> None:
        """Draw every explanation again with the window's overlay style, each in its own display."""
        for index in range(len(self._panes)):
            self._draw(index)

    def _draw(self, index: int) -> None:
        pane = self._panes[index]
        result = pane["result"]
        if result is not None:
            self._painter.draw(pane["view"], self._session.current_image_for(result), result, self.pane_style(index))

    def _on_method_chosen(self, index: int, _combo_index: int) -> None:
        # A side's old explanation would be drawn as the new method's: explain it again instead.
        pane = self._panes[index]
        pane["display"].setCurrentIndex(pane["display"].findData(natural_display(pane["method"].currentData())))
        shown = pane["result"] is not None or index in self._jobs
        if shown and self._session.current_image() is not None:
            self._run_pane(index)

    def _on_display_chosen(self, index: int, _combo_index: int) -> None:
        self._draw(index)

    def _on_zoom_changed(self, column: int, _zoom: float) -> None:
        if self._panes[column]["view"].overlay_outdated():
            self._draw(column)

    def _on_result(self, index: int, result) -> None:
        self._jobs.pop(index, None)
        pane = self._panes[index]
        pane["result"] = result
        pane["view"].set_image(self._session.current_image_for(result))
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
            text = self._session.describe_result(result)
            if curves is not None:
                place = ranked.index(pane) + 1
                text = (f"#{place} of {len(ranked)} by faithfulness: deletion AUC {curves.deletion_auc:.2f}, "
                        f"insertion AUC {curves.insertion_auc:.2f}\n{text}")
            pane["caption"].setText(text)
        if not self._jobs:
            self.status.setText("Ranked by faithfulness: " + ", ".join(
                METHOD_TITLES[pane["method"].currentData()] for pane in ranked) if ranked else "")

    def _on_failed(self, index: int, message: str) -> None:
        self._jobs.pop(index, None)
        self._panes[index]["caption"].setText(message)
        self.status.setText("")

    def _on_cancelled(self, index: int) -> None:
        self._jobs.pop(index, None)
        self._panes[index]["caption"].setText("Cancelled.")

    def done(self, code: int) -> None:
        jobs, self._jobs = self._jobs, {}
        for handle in jobs.values():
            handle.cancel()
        super().done(code)
