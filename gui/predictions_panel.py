"""The predictions panel: the top classes with probability bars, a class search and the explanation's facts and scores."""
import html

from PySide6.QtCore import QRectF, QSize, QStringListModel, Qt, Signal, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QCompleter, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QPushButton, QStyle, QStyledItemDelegate, QVBoxLayout, QWidget)

from limelight.core.scores import TOO_FEW_SUPERPIXELS, fit_word
from limelight.gui.sanity_strip import SanityStrip

__all__ = ["PredictionsPanel", "MEASURING"]

_INDEX = Qt.ItemDataRole.UserRole
_PROBABILITY = Qt.ItemDataRole.UserRole + 1
_BAR = QColor(76, 175, 80)
#: The "faithfulness" value of an info dict whose curves are being measured.
MEASURING = "measuring"
# Readable on light and dark palettes alike.
_WORD_COLOURS = {"stable": "#2e9d3a", "borderline": "#c77c00", "unstable": "#d9412b",
                 TOO_FEW_SUPERPIXELS: "#d9412b", "good": "#2e9d3a", "weak": "#d9412b"}


class _BarDelegate(QStyledItemDelegate):
    """Draws a prediction as its class name and percentage over a thin probability bar."""

    def sizeHint(self, option, index):
        metrics = option.fontMetrics
        return QSize(120, metrics.height() + 14)

    def paint(self, painter, option, index):
        style = option.widget.style() if option.widget else None
        painter.save()
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget)
        rect = option.rect.adjusted(6, 2, -6, -3)
        selected = option.state & QStyle.StateFlag.State_Selected
        colour = option.palette.color(QPalette.ColorRole.HighlightedText if selected
                                      else QPalette.ColorRole.Text)
        probability = float(index.data(_PROBABILITY) or 0.0)
        percent = f"{probability:.1%}"
        metrics = option.fontMetrics
        percent_width = metrics.horizontalAdvance("100.0%") + 4
        text_rect = rect.adjusted(0, 0, -percent_width, -6)
        name = metrics.elidedText(index.data(Qt.ItemDataRole.DisplayRole), Qt.TextElideMode.ElideRight,
                                  text_rect.width())
        painter.setPen(colour)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)
        painter.drawText(rect.adjusted(0, 0, 0, -6), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                         percent)
        track = QRectF(rect.left(), rect.bottom() - 4, rect.width(), 4)
        painter.setRenderHint(painter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        faint = QColor(colour)
        faint.setAlpha(40)
        painter.setBrush(faint)
        painter.drawRoundedRect(track, 2, 2)
        painter.setBrush(_BAR)
        painter.drawRoundedRect(QRectF(track.left(), track.top(), max(track.width() * probability, 2),
                                       track.height()), 2, 2)
        painter.restore()


class PredictionsPanel(QWidget):
    """The model's top classes; clicking one or searching any class picks the class to explain."""

    sig_target_chosen = Signal(int)
    """A class index was chosen as the explanation's target."""
    sig_add_samples_requested = Signal()
    """Add samples was clicked: continue the shown LIME run with more samples."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._names = []
        self._lookup = {}
        self._target = None

        self.list = QListWidget(self)
        self.list.setItemDelegate(_BarDelegate(self.list))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setToolTip("The model's most likely classes; click one to explain it")
        self.list.setUniformItemSizes(True)
        self.list.itemClicked.connect(self._on_item_chosen)
        self.list.itemActivated.connect(self._on_item_chosen)
        self.empty = QLabel("No predictions yet", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: palette(placeholder-text);")

        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Explain another class…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Type a class name (or its index) and press Enter to explain that class, "
                               "e.g. the true class the model missed")
        self._completer_model = QStringListModel(self)
        self.completer = QCompleter(self._completer_model, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer.setMaxVisibleItems(12)
        self.search.setCompleter(self.completer)
        self.completer.activated[str].connect(self._on_search)
        self.search.returnPressed.connect(self._on_return)
        self.search_note = QLabel(self)
        self.search_note.setStyleSheet("color: palette(placeholder-text);")
        self.search_note.hide()

        # The class and how far to trust its explanation first, then how it was made, which a
        # small screen may scroll away.
        self.info, self.facts = _info_label(self), _info_label(self)
        metrics = self.fontMetrics()
        self._label_widths = [max(metrics.horizontalAdvance(label) for label in labels) + 8
                              for labels in (_SCORE_LABELS, _INFO_LABELS.values())]

        # What would make an unstable explanation stable, and the button that does the likelier fix.
        self.hint = QLabel(self)
        self.hint.setWordWrap(True)
        self.add_samples_button = QPushButton("Add samples", self)
        self.add_samples_button.setToolTip("Continue this LIME run with half as many samples again; only the "
                                           "new samples go to the model")
        self.add_samples_button.clicked.connect(self.sig_add_samples_requested)
        self.hint_row = QWidget(self)
        hint_layout = QHBoxLayout(self.hint_row)
        hint_layout.setContentsMargins(0, 0, 0, 0)
        hint_layout.addWidget(self.hint, 1)
        hint_layout.addWidget(self.add_samples_button, 0, Qt.AlignmentFlag.AlignTop)
        # The plot (matplotlib, half a second to import) is built when there are curves to show,
        # so the window opens without it; until then this empty box holds its place.
        self.faithfulness_plot = None
        self._plot_box = QWidget(self)
        QVBoxLayout(self._plot_box).setContentsMargins(0, 0, 0, 0)

        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(self.empty)
        layout.addWidget(self.search)
        layout.addWidget(self.search_note)
        layout.addWidget(self.info)
        layout.addWidget(self.hint_row)
        layout.addWidget(self._plot_box)
        self.sanity_strip = SanityStrip(self)
        layout.addWidget(self.sanity_strip)
        layout.addWidget(self.facts)
        # Spare height goes below the facts, so they sit right under the list instead of at the bottom.
        layout.addStretch(1)
        self.set_predictions([])
        self.set_info(None)

    # --- Predictions -----------------------------------------------------------------------------

    def set_predictions(self, predictions) -> None:
        """Show the top classes, a list of (index, name, probability), most likely first; [] clears."""
        self.list.clear()
        for index, name, probability in predictions:
            item = QListWidgetItem(str(name))
            item.setData(_INDEX, int(index))
            item.setData(_PROBABILITY, float(probability))
            item.setToolTip(f"{name} (class {index}): {probability:.2%}. Click to explain this class.")
            self.list.addItem(item)
        empty = self.list.count() == 0
        self.empty.setVisible(empty)
        self.list.setVisible(not empty)
        # Tall enough for every row without a scroll bar, since the dock has room for five or so.
        rows = max(self.list.count(), 1)
        height = rows * self.list.sizeHintForRow(0) + 2 * self.list.frameWidth() + 2 if not empty else 0
        self.list.setMinimumHeight(min(height, 260))
        self.list.setMaximumHeight(max(height, 60))
        if self._target is not None:
            self.set_target(self._target)

    def set_class_names(self, names) -> None:
        """Offer these class names (index = position) in the search box."""
        self._names = [str(name) for name in names]
        counts = {}
        for name in self._names:
            counts[name.casefold()] = counts.get(name.casefold(), 0) + 1
        entries, self._lookup = [], {}
        for index, name in enumerate(self._names):
            # ImageNet has a few names twice ("crane", "maillot"): the index tells them apart.
            entry = name if counts[name.casefold()] == 1 else f"{name} (class {index})"
            entries.append(entry)
            self._lookup[entry.casefold()] = index
        self._completer_model.setStringList(entries)
        self.search.setEnabled(bool(entries))

    @Slot(int)
    def set_target(self, index) -> None:
        """Highlight class `index` if it is listed (None: nothing)."""
        self._target = None if index is None else int(index)
        self.list.blockSignals(True)
        self.list.clearSelection()
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(_INDEX) == self._target:
                self.list.setCurrentItem(item)
                item.setSelected(True)
        self.list.blockSignals(False)

    def target(self):
        """Return the highlighted class index, or None."""
        return self._target

    def find_class(self, text):
        """Return the class index that `text` names (an entry, a name, or an index), or None."""
        text = text.strip()
        if not text:
            return None
        if text.isdigit() and int(text) < len(self._names):
            return int(text)
        key = text.casefold()
        if key in self._lookup:
            return self._lookup[key]
        matches = [index for entry, index in self._lookup.items() if key in entry]
        return matches[0] if len(matches) == 1 else None

    @Slot(QListWidgetItem)
    def _on_item_chosen(self, item):
        index = item.data(_INDEX)
        self._target = index
        self.sig_target_chosen.emit(index)

    @Slot(str)
    def _on_search(self, text):
        index = self.find_class(text)
        if index is None:
            self.search_note.setText(f"No single class matches “{text.strip()}”; pick one from the list.")
            self.search_note.show()
            return
        self.search_note.hide()
        self.search.setText(self._names[index])
        self.set_target(index)
        self.sig_target_chosen.emit(index)

    @Slot()
    def _on_return(self):
        # The completer's popup handles Enter itself when open; this is for typed text.
        if not self.completer.popup().isVisible():
            self._on_search(self.search.text())

    # --- Explanation info ------------------------------------------------------------------------

    def build_faithfulness_plot(self) -> None:
        """Make the faithfulness plot, hidden until an explanation has curves to show.

        Its matplotlib canvas takes tens of milliseconds to build: the window builds it when a model
        has loaded, so that showing the first explanation does not hold up the GUI thread. Hidden,
        it leaves the predictions their room on a small screen.
        """
        if self.faithfulness_plot is None:
            from limelight.gui.faithfulness_plot import FaithfulnessPlot

            self.faithfulness_plot = FaithfulnessPlot(self._plot_box)
            self.faithfulness_plot.hide()
            self._plot_box.layout().addWidget(self.faithfulness_plot)

    def set_info(self, info) -> None:
        """Show facts about the explanation shown (a dict, see the keys below), or clear them with None.

        Known keys: method, label, index, probability, fit, local_prediction, samples, auto (the
        samples were chosen automatically), superpixels, seed (LIME), layer, class_score (CAM), time,
        report (the file it was opened from), stability (a `Stability`), faithfulness (a
        `Faithfulness`, `MEASURING` or None) and add_samples (offer Add samples); others are shown
        as they are.
        """
        stability = (info or {}).get("stability")
        faithfulness = (info or {}).get("faithfulness")
        hint = stability.hint if stability is not None else ""
        if "copies" in (info or {}):
            # A noisy gradient map's samples are its noisy copies, set in the Gradient map section.
            hint = hint.replace("samples", "noisy copies")
        # The button is the fix the hint names; the other fix is a change of superpixels.
        offer = hint == "add samples" and bool((info or {}).get("add_samples"))
        self.hint.setText("To make it stable:" if offer else f"To make it stable, {hint}." if hint else "")
        self.add_samples_button.setVisible(offer)
        self.hint_row.setVisible(bool(self.hint.text()) or self.add_samples_button.isVisible())
        measured = faithfulness not in (None, MEASURING)
        # A CAM without faithfulness has no curves to show; LIME's are on their way.
        wanted = bool(info) and (measured or faithfulness == MEASURING)
        if wanted:
            self.build_faithfulness_plot()
        if self.faithfulness_plot is not None:
            note = "Measuring…" if faithfulness == MEASURING else ""
            self.faithfulness_plot.set_faithfulness(faithfulness if measured else None, note=note)
            self.faithfulness_plot.setVisible(wanted)
        self.facts.setVisible(bool(info))
        if not info:
            self.info.setText("<span style='color: palette(placeholder-text)'>Explain the image to see how "
                              "the explanation was made.</span>")
            self.facts.clear()
            return
        rows = []
        title = info.get("label")
        if title is not None:
            index = info.get("index")
            # A class without a name is "class 6" already: name it once.
            named = index is not None and str(title) != f"class {index}"
            suffix = f" <span style='color: gray'>(class {index})</span>" if named else ""
            rows.append(f"<tr><td colspan=3><b>{html.escape(str(title))}</b>{suffix}</td></tr>")
        rows += _score_rows(stability, info.get("fit"), faithfulness, "faithfulness" in info,
                            info.get("stability_note"))
        facts = []
        # Known facts in a fixed order, whatever order the dict has; unknown ones after them.
        keys = [key for key in _INFO_LABELS if key in info]
        keys += [key for key in info if key not in _INFO_LABELS and key not in _NOT_ROWS]
        for key in keys:
            value = info[key]
            label, text = _describe(key, value)
            if key == "samples" and info.get("auto") and text is not None:
                text += " (auto)"
            if text is not None:
                facts.append(_row(label, html.escape(text)))
        # Each table's labels as wide as its longest, so its values line up.
        scores_width, facts_width = (f"<tr><td width={width}></td><td></td></tr>" for width in self._label_widths)
        self.info.setText("<table cellspacing=1>" + scores_width + "".join(rows) + "</table>")
        self.facts.setText("<table cellspacing=1>" + facts_width + "".join(facts) + "</table>")

    def info_text(self) -> str:
        """Return the info block as plain text (for tests and copying)."""
        from PySide6.QtGui import QTextDocument

        document = QTextDocument()
        document.setHtml(self.info.text() + self.facts.text())
        return document.toPlainText()


_INFO_TIP = ("<b>Probability</b>: the model's confidence in the class for this image.<br>"
             "<b>Fit (R²)</b>: how well LIME's linear model imitates the classifier on the perturbed "
             "samples (1 is perfect); a low fit means the weights deserve less trust, so try more samples "
             "or other superpixels.<br>"
             "<b>Fit's estimate</b>: the linear model's estimate of the probability for the whole image; "
             "close to the probability when the fit is good. A linear model can leave 0-100 %: it is then "
             "clipped and flagged, a sign of a poor fit.<br>"
             "<b>Seed</b>: run again with this seed to get the same explanation.<br>"
             "<b>Layer</b> and <b>Class score</b>: the layer the activation map comes from, and the class score "
             "(logit or probability) it explains.<br>"
             "<b>Stability</b>: how much the top 5 superpixels would overlap with a rerun's under another seed "
             "(Jaccard index, estimated from the samples already drawn): stable from 0.9, borderline from "
             "0.7, unstable below.<br>"
             "<b>Deletion</b> and <b>Insertion AUC</b>: the area under the probability as superpixels are "
             "hidden (or shown) in the explanation's order; lower deletion and higher insertion than a random "
             "order mean the explanation points at what the model uses.")
# A label never wraps ("\u00a0" is a space that does not break): the label column stays one line.
_INFO_LABELS = {"report": "Report", "method": "Method", "probability": "Probability",
                "local_prediction": "Fit's\u00a0estimate", "samples": "Samples", "superpixels": "Superpixels",
                "copies": "Noisy\u00a0copies", "noise": "Noise", "seed": "Seed", "layer": "Layer",
                "class_score": "Class\u00a0score", "time": "Time"}
_SCORE_LABELS = ("Stability", "Fit (R²)", "AUC", "Random")
# Keys set_info reads for something other than a row of its own.
_NOT_ROWS = ("label", "index", "auto", "stability", "stability_note", "fit", "faithfulness", "add_samples")


def _info_label(parent):
    label = QLabel(parent)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    label.setToolTip(_INFO_TIP)
    return label


def _row(label, *cells, span=1):
    cells = "".join(f"<td colspan={span}>{cell}</td>" if span > 1 else f"<td style='padding-right: 10px'>{cell}</td>"
                    for cell in cells)
    return f"<tr><td style='color: gray; padding-right: 8px'>{label}</td>{cells}</tr>"


def _score_rows(stability, fit, faithfulness, faithfulness_known, stability_note=None):
    """Stability (or why it does not apply) and LIME's fit, then the deletion and insertion AUC over the random
    order's, in columns like the plot's."""
    rows = []
    if stability_note:
        rows.append(_row("Stability", f"<span style='color: gray'>{html.escape(stability_note)}</span>", span=2))
    if stability is not None:
        colour = _WORD_COLOURS[stability.word]
        text = f"{stability.value:.2f} <b style='color: {colour}'>{stability.word}</b>"
        if stability.word == TOO_FEW_SUPERPIXELS:
            # Too few superpixels repeat whatever the weights: no value to show, only the warning.
            text = (f"<b style='color: {colour}'>{stability.word}</b> (only {stability.num_segments}; "
                    f"{stability.hint})")
        rows.append(_row("Stability", text, span=2))
    if fit is not None:
        word = fit_word(fit)
        rows.append(_row("Fit (R²)", f"{fit:.2f} <b style='color: {_WORD_COLOURS[word]}'>{word}</b>", span=2))
    if faithfulness == MEASURING:
        rows.append(_row("Faithfulness", "<i>measuring…</i>", span=2))
    elif faithfulness is not None:
        random = faithfulness.random_auc
        deletion, insertion = faithfulness.deletion_auc, faithfulness.insertion_auc
        # Green where the explanation's order beats a random one: deletion lower, insertion higher.
        cells = [f"<span style='color: {_WORD_COLOURS['stable' if better else 'unstable']}'>{auc:.2f}</span>"
                 for auc, better in ((deletion, deletion < random), (insertion, insertion > random))]
        rows.append("<tr><td></td><td style='color: gray; padding-right: 10px'>Deletion</td>"
                    "<td style='color: gray'>Insertion</td></tr>")
        rows.append(_row("AUC", *cells))
        rows.append(_row("Random", f"{random:.2f}", f"{random:.2f}"))
    elif faithfulness_known:
        rows.append(_row("Faithfulness", "<span style='color: gray'>not measured</span>", span=2))
    return rows


def _describe(key, value):
    label = _INFO_LABELS.get(key, key.replace("_", " ").capitalize())
    if key == "seed":
        return label, "random" if value is None else str(value)
    if value is None:
        return label, None
    if key == "probability":
        return label, f"{value:.1%}"
    if key == "local_prediction":
        clipped = min(max(value, 0.0), 1.0)
        # Kept short for a narrow panel; the tooltip says why an estimate is clipped.
        return label, f"{value:.1%}" if clipped == value else f"{clipped:.0%} (clipped)"
    if key == "time":
        return label, f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"
    if key == "noise":
        return label, f"{value * 100:g}% of the range"
    if key in ("samples", "superpixels", "copies") and isinstance(value, (int, float)):
        return label, f"{int(value):,}"
    if isinstance(value, float):
        return label, f"{value:.3f}"
    return label, str(value)


def _preview():
    """Show the panel alone with ImageNet names and made-up predictions."""
    import sys

    import numpy as np
    from PySide6.QtWidgets import QApplication

    from limelight.core.labels import imagenet_labels
    from limelight.core.scores import Faithfulness, Stability

    app = QApplication.instance() or QApplication(sys.argv)
    panel = PredictionsPanel()
    panel.setWindowTitle("Predictions")
    panel.set_class_names(imagenet_labels().names)
    panel.set_predictions([(967, "espresso", 0.62), (504, "coffee mug", 0.21), (968, "cup", 0.08),
                           (925, "consomme", 0.03), (441, "beer glass", 0.01)])
    panel.set_target(967)
    fractions = np.linspace(0, 1, 21)
    panel.set_info({"method": "LIME", "label": "espresso", "index": 967, "probability": 0.62, "fit": 0.71,
                    "local_prediction": 0.58, "samples": 625, "auto": True, "superpixels": 48, "seed": 0,
                    "time": 4.2, "stability": Stability(0.78, 5, 625), "add_samples": True,
                    "faithfulness": Faithfulness(fractions, 0.62 * np.exp(-6 * fractions),
                                                 0.62 * (1 - np.exp(-5 * fractions)), 0.62 * fractions ** 1.5)})
    panel.sig_target_chosen.connect(print)
    panel.sig_add_samples_requested.connect(lambda: print("add samples"))
    panel.resize(320, 520)
    panel.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(_preview())
