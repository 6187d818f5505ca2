"""The model picker: built-in and recent models, what the loaded one is, and how to feed a user's model."""
import sys
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QProgressBar, QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from limelight.core.labels import LABEL_FILE_TYPES
from limelight.core.models import (PREPROCESSING_MODES, RESIZE_MODES, ModelSettings,
                                   write_sidecar)
from limelight.core.zoo import BUILTIN_MODELS, weights_available
from limelight.core.pipeline import BUILTIN_PREFIX, ModelInfo

OPEN_MODEL = "open:"
SOURCE_ROLE = Qt.ItemDataRole.UserRole
RESIZE_TITLES = {"stretch": "Stretch to fit", "crop": "Centre crop"}


def builtin_sources() -> list[tuple[str, str]]:
    """(source, title) of the built-in models whose weights are on this computer."""
    return [(BUILTIN_PREFIX + name, spec.title) for name, spec in BUILTIN_MODELS.items()
            if weights_available(name)]


def describe_parameters(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f} M"
    if count >= 1_000:
        return f"{count / 1_000:.0f} k"
    return str(count)


class ModelPicker(QWidget):
    """Choose the model to explain, see what it is, and set how a user model is fed.

    The picker only asks; the window loads models in the worker and reports back
    with `set_model_info`, `set_busy` and `set_current_source`.
    """

    sig_model_requested = Signal(str, bool)
    """Load this model: ``builtin:<name>`` or a path, and whether the user already trusts it."""
    sig_open_model_requested = Signal()
    """The user chose "Open model…": the window shows a file dialog."""
    sig_message = Signal(str)
    """A one-line message for the status bar (e.g. a sidecar that could not be written)."""

    def __init__(self, parent=None, *, settings=None):
        super().__init__(parent)
        self._settings = settings
        self._info: ModelInfo | None = None
        self._current = ""
        self._pending = ""
        self._recent: list[str] = []

        self.combo = QComboBox(self)
        self.combo.setToolTip("The classifier to explain: a built-in model, a model file used "
                              "before, or open a .keras/.h5 file or SavedModel folder")
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(18)
        self.combo.activated.connect(self._on_activated)
        self.combo.setAccessibleName("Model")

        self.busy_bar = QProgressBar(self)
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumHeight(6)
        self.busy_label = QLabel(self)
        self.busy_label.setStyleSheet("color: palette(mid);")

        self.name_label = QLabel("—", self)
        self.name_label.setWordWrap(True)
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.input_label = QLabel("—", self)
        self.classes_label = QLabel("—", self)
        self.classes_label.setWordWrap(True)
        self.parameters_label = QLabel("—", self)
        self.runtime_label = QLabel("—", self)
        self.runtime_label.setWordWrap(True)
        self.runtime_label.setToolTip("What runs the model's forward passes for LIME and Score-CAM")

        self.preprocessing_combo = QComboBox(self)
        for mode, meaning in PREPROCESSING_MODES.items():
            self.preprocessing_combo.addItem(mode, mode)
            self.preprocessing_combo.setItemData(self.preprocessing_combo.count() - 1, meaning,
                                                 Qt.ItemDataRole.ToolTipRole)
        self.preprocessing_combo.setToolTip(
            "How pixels are scaled before the model sees them; it must match how the model was "
            "trained. Saved next to the model file, so you choose it once.")
        self.preprocessing_combo.activated.connect(self._on_feeding_changed)
        self.preprocessing_note = QLabel(self)
        self.preprocessing_note.setWordWrap(True)
        self.preprocessing_note.setStyleSheet("color: palette(mid);")

        self.resize_combo = QComboBox(self)
        for mode in RESIZE_MODES:
            self.resize_combo.addItem(RESIZE_TITLES.get(mode, mode), mode)
        self.resize_combo.setToolTip("How a photo is fitted to the model's input: stretched "
                                     "whole, or its centre cropped to the model's shape")
        self.resize_combo.activated.connect(self._on_feeding_changed)

        self.labels_label = QLabel("—", self)
        self.labels_label.setWordWrap(True)
        self.labels_button = QPushButton("Choose…", self)
        self.labels_button.setToolTip("Choose a file with one class name per output "
                                      "(.txt one per line, .json or .csv)")
        self.labels_button.clicked.connect(self._choose_labels)
        labels_row = QHBoxLayout()
        labels_row.setContentsMargins(0, 0, 0, 0)
        labels_row.addWidget(self.labels_label, 1)
        labels_row.addWidget(self.labels_button)

        self.form = QFormLayout()
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.addRow("Name:", self.name_label)
        self.form.addRow("Input:", self.input_label)
        self.form.addRow("Classes:", self.classes_label)
        self.form.addRow("Parameters:", self.parameters_label)
        self.form.addRow("Runtime:", self.runtime_label)
        first_user_row = self.form.rowCount()
        self.form.addRow("Preprocessing:", self.preprocessing_combo)
        self.form.addRow("", self.preprocessing_note)
        self.form.addRow("Fit:", self.resize_combo)
        self.form.addRow("Labels:", labels_row)
        # Built-in models are fed correctly already; only a user's model shows these rows.
        self._user_rows = list(range(first_user_row, self.form.rowCount()))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.combo)
        layout.addWidget(self.busy_bar)
        layout.addWidget(self.busy_label)
        layout.addLayout(self.form)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        self._rebuild_combo()
        self.set_busy(None)
        self.set_model_info(None)

    # --- What the window tells the picker --------------------------------------------------

    def set_recent(self, paths) -> None:
        """The model files used before, most recent first."""
        self._recent = [str(p) for p in paths]
        self._rebuild_combo()

    def set_current_source(self, source: str) -> None:
        """Show `source` as the chosen model (after a load, or to undo a refused choice)."""
        self._current = source
        self._pending = ""
        if source and not source.startswith(BUILTIN_PREFIX) and source not in self._recent:
            self._recent.insert(0, source)
        self._rebuild_combo()

    def set_pending_source(self, source: str) -> None:
        """Show `source` in the combobox while it loads; `set_current_source` settles it."""
        self._pending = source
        self._rebuild_combo()

    def current_source(self) -> str:
        return self._current

    def set_busy(self, text: str | None) -> None:
        """Show the busy indicator with `text` (e.g. "Loading EfficientNet-Lite0…"), or hide it."""
        busy = text is not None
        self.busy_bar.setVisible(busy)
        self.busy_label.setVisible(busy)
        self.busy_label.setText(text or "")
        self.combo.setEnabled(not busy)
        for widget in (self.preprocessing_combo, self.resize_combo, self.labels_button):
            widget.setEnabled(not busy)

    def is_busy(self) -> bool:
        return not self.busy_bar.isHidden()

    def set_model_info(self, info: ModelInfo | None) -> None:
        """Show what the loaded model is; None while nothing is loaded."""
        self._info = info
        if info is None:
            for label in (self.name_label, self.input_label, self.classes_label,
                          self.parameters_label, self.runtime_label):
                label.setText("—")
            self._show_user_rows(False)
            return
        rows, cols = info.input_size
        colour = "RGB" if info.channels == 3 else "gray"
        self.name_label.setText(info.name)
        self.input_label.setText(f"{cols} × {rows} {colour}")
        names = ", ".join(info.class_names[:3]) + (", …" if info.num_classes > 3 else "")
        self.classes_label.setText(f"{info.num_classes} ({names})")
        self.classes_label.setToolTip("\n".join(info.class_names[:40]))
        self.parameters_label.setText(describe_parameters(info.parameter_count))
        self.runtime_label.setText(info.runtime)
        self._show_user_rows(not info.builtin)
        if not info.builtin:
            self.preprocessing_combo.setCurrentIndex(
                max(0, self.preprocessing_combo.findData(info.preprocessing)))
            self.preprocessing_note.setText(
                "Guessed: no settings saved for this model yet; check it matches its training."
                if info.preprocessing_guessed else PREPROCESSING_MODES[info.preprocessing])
            self.preprocessing_note.setStyleSheet(
                "color: #b35c00;" if info.preprocessing_guessed else "color: palette(mid);")
            self.resize_combo.setCurrentIndex(max(0, self.resize_combo.findData(info.resize)))
            if info.labels_path:
                self.labels_label.setText(Path(info.labels_path).name)
                self.labels_label.setToolTip(info.labels_path)
            else:
                self.labels_label.setText("ImageNet (assumed)" if info.labels_assumed
                                          else "class numbers only")
                self.labels_label.setToolTip("No labels file chosen for this model")

    def model_info(self) -> ModelInfo | None:
        return self._info

    # --- The user's choices ----------------------------------------------------------------

    @Slot(int)
    def _on_activated(self, index: int) -> None:
        source = self.combo.itemData(index, SOURCE_ROLE)
        if source == OPEN_MODEL:
            self._select(self._current)
            self.sig_open_model_requested.emit()
        elif source and source != self._current:
            self.sig_model_requested.emit(source, False)

    @Slot()
    def _on_feeding_changed(self) -> None:
        info = self._info
        if info is None or info.builtin:
            return
        settings = ModelSettings(preprocessing=self.preprocessing_combo.currentData(),
                                 resize=self.resize_combo.currentData(),
                                 labels_path=info.labels_path)
        if (settings.preprocessing, settings.resize) == (info.preprocessing, info.resize) and (
                not info.preprocessing_guessed):
            return
        self._save_and_reload(settings)

    def choose_preprocessing(self, mode: str) -> None:
        """Feed the current user model with `mode` from now on: saved beside it, then reloaded."""
        info = self._info
        if info is None or info.builtin:
            return
        self._save_and_reload(ModelSettings(preprocessing=mode, resize=info.resize,
                                            labels_path=info.labels_path))

    @Slot()
    def _choose_labels(self) -> None:
        info = self._info
        if info is None or info.builtin:
            return
        start = (self._settings.last_folder("labels") if self._settings
                 else str(Path(info.source).parent))
        patterns = " ".join(f"*{suffix}" for suffix in LABEL_FILE_TYPES)
        path, _ = QFileDialog.getOpenFileName(self, "Choose Labels File", start,
                                              f"Class names ({patterns});;All files (*)")
        if not path:
            return
        if self._settings:
            self._settings.set_last_folder("labels", path)
        self._save_and_reload(ModelSettings(preprocessing=info.preprocessing, resize=info.resize,
                                            labels_path=path))

    def _save_and_reload(self, settings: ModelSettings) -> None:
        info = self._info
        try:
            write_sidecar(info.source, settings)
        except OSError as error:
            self.sig_message.emit(f"{info.source}: cannot save the model's settings "
                                  f"({error.strerror or error}); check the folder is writable.")
            self.set_model_info(info)
            return
        # Reloading re-reads the sidecar, so the worker and the file agree on one truth.
        self.sig_model_requested.emit(info.source, info.trusted)

    # --- Inside ----------------------------------------------------------------------------

    def _show_user_rows(self, visible: bool) -> None:
        for row in self._user_rows:
            self.form.setRowVisible(row, visible)

    def _rebuild_combo(self) -> None:
        self.combo.blockSignals(True)
        self.combo.clear()
        for source, title in builtin_sources():
            self.combo.addItem(title, source)
        for source in (self._current, self._pending):
            if source.startswith(BUILTIN_PREFIX) and self.combo.findData(source) < 0:
                self.combo.addItem(source[len(BUILTIN_PREFIX):], source)
        recent = list(self._recent)
        if self._pending and not self._pending.startswith(BUILTIN_PREFIX) and (
                self._pending not in recent):
            recent.insert(0, self._pending)
        if recent:
            self.combo.insertSeparator(self.combo.count())
            for path in recent:
                self.combo.addItem(Path(path).name, path)
                self.combo.setItemData(self.combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        self.combo.insertSeparator(self.combo.count())
        self.combo.addItem("Open model…", OPEN_MODEL)
        self.combo.setItemData(self.combo.count() - 1,
                               "Open a .keras or .h5 file, or a SavedModel folder",
                               Qt.ItemDataRole.ToolTipRole)
        self.combo.blockSignals(False)
        self._select(self._pending or self._current)

    def _select(self, source: str) -> None:
        self.combo.blockSignals(True)
        index = self.combo.findData(source) if source else -1
        self.combo.setCurrentIndex(index if index >= 0 else -1)
        if index < 0:
            self.combo.setPlaceholderText("Choose a model")
        self.combo.blockSignals(False)


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    picker = ModelPicker()
    picker.sig_model_requested.connect(lambda source, trust: print("load", source, trust))
    picker.set_current_source(BUILTIN_PREFIX + "efficientnet_lite0")
    picker.set_busy("Loading EfficientNet-Lite0…")
    picker.resize(320, 260)
    picker.show()
    sys.exit(app.exec())
