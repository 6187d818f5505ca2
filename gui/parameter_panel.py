"""The explanation parameters: method, its settings, the Explain button and the run's progress."""
import time

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QHBoxLayout,
                               QLabel, QProgressBar, QPushButton, QSizePolicy, QSpinBox,
                               QStackedWidget, QToolButton, QVBoxLayout, QWidget)

from limelight.core.lime import HIDE_MODES
from limelight.core.methods import BASELINES, GRADIENT_METHODS, METHOD_TITLES, NOISY_METHODS, SUPERPIXEL_METHODS
from limelight.core.pipeline import MIN_SAMPLES, SAMPLED_DEFAULTS, ExplainRequest
from limelight.core.scores import MAX_SAMPLES, STABLE, TOP_K
from limelight.core.segmentation import SEGMENTATION_DEFAULTS
from limelight.gui.run_status import duration_text

__all__ = ["ParameterPanel"]

_MAX_SEED = 2**31 - 1

_METHOD_TIPS = {
    "lime": "LIME: hides random sets of superpixels, watches the prediction change and fits a linear "
            "model; works with any classifier, takes seconds",
    "gradcam": "Grad-CAM: weighs a convolutional layer's feature maps by the class gradient; instant",
    "gradcam++": "Grad-CAM++: like Grad-CAM with higher-order weights, better when the class appears "
                 "several times; instant",
    "scorecam": "Score-CAM: weighs each feature map by the score of the image masked with it; no "
                "gradients, one batch of predictions per layer channel",
    "hirescam": "HiResCAM: multiplies each activation by its own gradient, so the map shows exactly "
                "which places raise the score when the network ends in pooling and one dense layer; instant",
    "layercam": "Layer-CAM: like HiResCAM with positive gradients only; stays sharp on earlier, finer "
                "layers; instant",
    "kernelshap": "KernelSHAP: LIME with the Shapley kernel; superpixel weights that add up to the "
                  "probability's change from the fully hidden image; takes seconds",
    "rise": "RISE: the mean probability of random masks that show each superpixel; uses LIME's masks, "
            "so after LIME with the same seed it costs no model calls",
    "gradients": "Gradients: how strongly each pixel's change moves the score; one pass, noisy",
    "smoothgrad": "SmoothGrad: gradients averaged over noisy copies of the image, much less noisy; "
                  "about 50 passes",
    "smoothgrad-squared": "SmoothGrad²: the mean squared gradient over noisy copies; about 50 passes",
    "vargrad": "VarGrad: the variance of the gradient over noisy copies; about 50 passes",
    "integrated-gradients": "Integrated Gradients: gradients along the path from a baseline image (black, "
                            "blurred or the hide colour) to the photo; the pixels add up to the score's "
                            "change; 33 to 1025 passes",
}
_AUTO_TIP = (f"Sample in rounds and stop once the {TOP_K} strongest superpixels are stable (a rerun with "
             f"another seed would pick the same ones, Jaccard {STABLE}), at most {MAX_SAMPLES:,} samples")
_SEGMENTATION_TITLES = {"quickshift": "Quickshift", "slic": "SLIC", "felzenszwalb": "Felzenszwalb",
                        "grid": "Grid"}
_SEGMENTATION_TIPS = {
    "quickshift": "Quickshift: irregular superpixels that follow colour edges (the lime package's default)",
    "slic": "SLIC: compact superpixels of similar size, a chosen number of them",
    "felzenszwalb": "Felzenszwalb: graph-based regions; larger scale makes fewer, bigger regions",
    "grid": "Grid: square cells that ignore the image content, a quick and neutral baseline",
}
# (title, tooltip, minimum, maximum, step) per segmentation parameter.
_PARAM_SPECS = {
    "kernel_size": ("Kernel size", "Width of the Gaussian used to smooth the density; larger makes "
                    "fewer, bigger superpixels", 1, 50, 1),
    "max_dist": ("Max distance", "Cut-off for the distance between points in a superpixel; larger "
                 "makes bigger superpixels", 1.0, 10_000.0, 10.0),
    "ratio": ("Colour ratio", "Balance between colour (1) and position (0) when grouping pixels",
              0.0, 1.0, 0.05),
    "random_seed": ("Tie-break seed", "Seed quickshift uses to break ties, so the superpixels repeat",
                    0, _MAX_SEED, 1),
    "n_segments": ("Superpixels", "About how many superpixels to make", 2, 10_000, 5),
    "compactness": ("Compactness", "Higher makes squarer superpixels, lower follows colour more",
                    0.01, 1000.0, 1.0),
    "sigma": ("Smoothing", "Width of the Gaussian blur applied before segmenting (0 = none)",
              0.0, 50.0, 0.1),
    "scale": ("Scale", "Higher makes fewer, larger regions", 1.0, 100_000.0, 10.0),
    "min_size": ("Minimum size", "Smallest region, in pixels; smaller ones are merged", 1, 100_000, 5),
}
_BASELINE_TITLES = {"black": "Black", "blur": "Blurred photo", "white": "White", "grey": "Grey"}
_HIDE_TITLES = {"mean": "Superpixel mean colour", "blur": "Blurred", "black": "Black", "white": "White",
                "grey": "Grey"}


class ParameterPanel(QWidget):
    """The method and its parameters, with Explain, Cancel and a progress bar with time left."""

    sig_explain_requested = Signal()
    """Explain was clicked (or Ctrl+E or Enter pressed)."""

    sig_cancel_requested = Signal()
    """Cancel was clicked (or Esc pressed) while running."""

    sig_preview_toggled = Signal(bool)
    """The superpixel preview was switched on or off."""

    sig_segmentation_changed = Signal()
    """The superpixel algorithm or one of its parameters changed, so a preview is out of date."""
    sig_method_changed = Signal(str)
    """The user picked another method (not emitted by set_request)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._running = False
        self._auto_run = False
        self._started = None
        self._updating = False

        # --- Method ------------------------------------------------------------------------------
        self.method_combo = QComboBox(self)
        for key, title in METHOD_TITLES.items():
            self.method_combo.addItem(title, key)
            self.method_combo.setItemData(self.method_combo.count() - 1, _METHOD_TIPS[key],
                                          Qt.ItemDataRole.ToolTipRole)
        self.method_combo.setToolTip("How to explain the prediction; hover an entry for details")
        self.batch_size = _spin(self, 1, 4096, 8, "How many images go to the model at once: larger is "
                                "faster until memory runs short")
        self.method_note = QLabel(self)
        self.method_note.setWordWrap(True)
        self.method_note.setStyleSheet("color: palette(placeholder-text);")
        top = self._top_form = QFormLayout()
        top.addRow("&Method:", self.method_combo)
        top.addRow(self.method_note)
        top.addRow("&Batch size:", self.batch_size)

        # --- LIME: superpixels -------------------------------------------------------------------
        self.superpixels_box = _Section("Superpixels", self)
        self.segmentation_combo = QComboBox(self)
        for key in SEGMENTATION_DEFAULTS:
            self.segmentation_combo.addItem(_SEGMENTATION_TITLES.get(key, key), key)
            self.segmentation_combo.setItemData(self.segmentation_combo.count() - 1,
                                                _SEGMENTATION_TIPS.get(key, ""), Qt.ItemDataRole.ToolTipRole)
        self.segmentation_combo.setToolTip("How the image is cut into the regions LIME hides and weighs")
        self.segmentation_stack = QStackedWidget(self)
        self._param_editors = {}
        for key, defaults in SEGMENTATION_DEFAULTS.items():
            page = QWidget(self.segmentation_stack)
            form = QFormLayout(page)
            form.setContentsMargins(0, 0, 0, 0)
            editors = {}
            for name, default in defaults.items():
                editor = _param_editor(page, name, default)
                editor.valueChanged.connect(self._on_segmentation_edited)
                form.addRow(_PARAM_SPECS.get(name, (name.replace("_", " ").capitalize(),))[0] + ":", editor)
                editors[name] = editor
            self._param_editors[key] = editors
            self.segmentation_stack.addWidget(page)
        self.preview = QCheckBox("Preview superpixels", self)
        self.preview.setToolTip("Draw the superpixels on the image, to tune them before explaining")
        form = QFormLayout(self.superpixels_box.body)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("&Algorithm:", self.segmentation_combo)
        form.addRow(self.segmentation_stack)
        form.addRow(self.preview)

        # --- LIME: sampling ----------------------------------------------------------------------
        self.sampling_box = _Section("Sampling", self, expanded=False)
        self.samples = _spin(self, MIN_SAMPLES, 1_000_000, 100, "How many perturbed images the model sees: "
                             "more gives steadier weights and takes longer")
        self.samples_auto_note = QLabel(f"until stable, at most {MAX_SAMPLES:,}", self)
        self.samples_auto_note.setStyleSheet("color: palette(placeholder-text);")
        self.samples_auto_note.setToolTip(_AUTO_TIP)
        # One place in the row for either the fixed count or what Auto does, so the row keeps its height.
        self.samples_stack = QStackedWidget(self)
        self.samples_stack.addWidget(self.samples)
        self.samples_stack.addWidget(self.samples_auto_note)
        self.samples_stack.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.auto_samples = QCheckBox("Auto", self)
        self.auto_samples.setToolTip(_AUTO_TIP + "; uncheck to set a fixed number")
        self.auto_samples.toggled.connect(lambda on: self.samples_stack.setCurrentIndex(int(on)))
        self.hide_combo = QComboBox(self)
        for mode in HIDE_MODES:
            self.hide_combo.addItem(_HIDE_TITLES.get(mode, mode.capitalize()), mode)
        self.hide_combo.setToolTip("What a hidden superpixel is replaced with")
        self.kernel_width = QDoubleSpinBox(self)
        self.kernel_width.setRange(0.01, 100.0)
        self.kernel_width.setDecimals(3)
        self.kernel_width.setSingleStep(0.05)
        self.kernel_width.setToolTip("Width of the proximity kernel: smaller trusts only samples close to "
                                     "the original image")
        self.seed = _spin(self, 0, _MAX_SEED, 1, "Random seed: the same seed gives the same explanation")
        self.random_seed = QCheckBox("Random", self)
        self.random_seed.setToolTip("Draw a new seed each run, to see how much the explanation varies")
        self.random_seed.toggled.connect(lambda on: self.seed.setEnabled(not on))
        for signal in (self.samples.valueChanged, self.auto_samples.toggled, self.hide_combo.currentIndexChanged,
                       self.kernel_width.valueChanged, self.seed.valueChanged, self.random_seed.toggled):
            signal.connect(self._update_sampling_summary)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.random_seed)
        samples_row = QHBoxLayout()
        samples_row.addWidget(self.samples_stack, 1)
        samples_row.addWidget(self.auto_samples)
        form = QFormLayout(self.sampling_box.body)
        form.setContentsMargins(0, 0, 0, 0)
        samples_label = QLabel("&Samples:", self)
        samples_label.setBuddy(self.samples)
        form.addRow(samples_label, samples_row)
        form.addRow("&Hide with:", self.hide_combo)
        form.addRow("&Kernel width:", self.kernel_width)
        seed_label = QLabel("S&eed:", self)
        seed_label.setBuddy(self.seed)
        form.addRow(seed_label, seed_row)

        # --- CAM ---------------------------------------------------------------------------------
        self.cam_box = _Section("Class Activation Map", self)
        self.layer_combo = QComboBox(self)
        self.layer_combo.setToolTip("The convolutional layer whose feature maps are weighed; Auto takes "
                                    "the last one, deeper layers are coarser and more semantic")
        self.layer_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(12)
        self.set_layers([])
        self.use_logits = QCheckBox("Explain the score before softmax", self)
        self.use_logits.setToolTip("Use the logit rather than the probability, so other classes do not "
                                   "leak into the map")
        self.show_negative = QCheckBox("Show negative evidence", self)
        self.show_negative.setToolTip("Keep the regions that lower the score (no ReLU on the map)")
        self.cam_faithfulness = QCheckBox("Measure faithfulness", self)
        self.cam_faithfulness.setToolTip("Also hide and show superpixels in the order of the map and watch "
                                         "the probability (deletion and insertion curves); about 100 extra "
                                         "model calls per image, so Grad-CAM takes about a second longer. "
                                         "LIME always measures it.")
        self.baseline_combo = QComboBox(self)
        for baseline in BASELINES:
            self.baseline_combo.addItem(_BASELINE_TITLES[baseline], baseline)
        self.baseline_combo.setToolTip("The image Integrated Gradients starts from: the attributions add up to "
                                       "the score's change from it to the photo")
        self.noise = QDoubleSpinBox(self)
        self.noise.setRange(0.0, 1.0)
        self.noise.setDecimals(2)
        self.noise.setSingleStep(0.05)
        self.noise.setToolTip("The noise added to each copy: its standard deviation as a share of the input's "
                              "range. The SmoothGrad paper finds 0.1 to 0.2 best; 0 gives the plain gradients")
        self.copies = _spin(self, MIN_SAMPLES, 100_000, 10, "How many noisy copies are averaged: more gives a "
                            "steadier map (see its stability) and takes longer, one pass per copy")
        self.copies.setValue(SAMPLED_DEFAULTS["smoothgrad"])
        noise_row = QHBoxLayout()
        noise_row.addWidget(self.noise, 1)
        noise_row.addWidget(QLabel("Copies:", self))
        noise_row.addWidget(self.copies, 1)
        self._noise_row = QWidget(self)
        self._noise_row.setLayout(noise_row)
        noise_row.setContentsMargins(0, 0, 0, 0)
        form = self._map_form = QFormLayout(self.cam_box.body)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("&Layer:", self.layer_combo)
        form.addRow("Base&line:", self.baseline_combo)
        noise_label = QLabel("&Noise:", self)
        noise_label.setBuddy(self.noise)
        form.addRow(noise_label, self._noise_row)
        form.addRow(self.use_logits)
        form.addRow(self.show_negative)
        form.addRow(self.cam_faithfulness)

        # --- Run ---------------------------------------------------------------------------------
        self.explain_button = QPushButton("Explain", self)
        self.explain_button.setDefault(True)
        self.explain_button.setShortcut(QKeySequence("Ctrl+E"))
        self.explain_button.setToolTip("Explain the selected class of the current image (Ctrl+E)")
        self.explain_button.setMinimumHeight(self.explain_button.sizeHint().height() + 6)
        self.explain_button.clicked.connect(self._on_explain)
        self.progress = QProgressBar(self)
        self.progress.setTextVisible(True)
        self.eta = QLabel(self)
        self.eta.setStyleSheet("color: palette(placeholder-text);")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop the explanation (Esc)")
        self.cancel_button.clicked.connect(self.sig_cancel_requested)
        # Enter anywhere in the panel explains; Esc cancels. Both only act when their button can.
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            QShortcut(QKeySequence(key), self, self._on_explain,
                      context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self._on_escape,
                                 context=Qt.ShortcutContext.WindowShortcut)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.superpixels_box)
        layout.addWidget(self.sampling_box)
        layout.addWidget(self.cam_box)
        layout.addWidget(self.explain_button)
        layout.addLayout(progress_row)
        layout.addWidget(self.eta)
        layout.addStretch(1)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        for signal in (self.method_combo.currentIndexChanged, self.segmentation_combo.currentIndexChanged):
            signal.connect(self._on_choice_changed)
        self.method_combo.activated.connect(self._on_method_activated)
        self.preview.toggled.connect(self._on_preview_toggled)
        self.set_request(ExplainRequest())
        self.set_running(False)

    # --- The request -----------------------------------------------------------------------------

    def request(self) -> ExplainRequest:
        """Return the parameters shown, as an `ExplainRequest`."""
        segmentation = self.segmentation_combo.currentData()
        params = tuple((name, editor.value()) for name, editor in self._param_editors[segmentation].items())
        method = self.method_combo.currentData()
        samples = "auto" if self.auto_samples.isChecked() else self.samples.value()
        return ExplainRequest(
            method=method, segmentation=segmentation, segmentation_params=params,
            num_samples=self.copies.value() if method in NOISY_METHODS else samples,
            batch_size=self.batch_size.value(),
            hide=self.hide_combo.currentData(), kernel_width=round(self.kernel_width.value(), 6),
            seed=None if self.random_seed.isChecked() else self.seed.value(),
            layer=self.layer_combo.currentData(), use_logits=self.use_logits.isChecked(),
            relu=not self.show_negative.isChecked(), baseline=self.baseline_combo.currentData(),
            noise=round(self.noise.value(), 6),
            # LIME, KernelSHAP and RISE always measure faithfulness (their default); the maps when asked.
            faithfulness=(None if self.method_combo.currentData() in SUPERPIXEL_METHODS
                          else self.cam_faithfulness.isChecked()))

    def set_request(self, request: ExplainRequest) -> None:
        """Show the parameters of `request`, without emitting change signals."""
        self._updating = True
        try:
            _select(self.method_combo, request.method)
            _select(self.segmentation_combo, request.segmentation)
            editors = self._param_editors[request.segmentation]
            for name, value in request.segmentation_params:
                if name in editors:
                    editors[name].setValue(value)
            if request.method in NOISY_METHODS:
                self.copies.setValue(SAMPLED_DEFAULTS[request.method] if request.num_samples == "auto"
                                     else request.num_samples)
            else:
                self.auto_samples.setChecked(request.num_samples == "auto")
                if request.num_samples != "auto":
                    self.samples.setValue(request.num_samples)
            self.noise.setValue(request.noise)
            self.batch_size.setValue(request.batch_size)
            if self.hide_combo.findData(request.hide) < 0:
                self.hide_combo.addItem(str(request.hide), request.hide)
            _select(self.hide_combo, request.hide)
            self.kernel_width.setValue(request.kernel_width)
            self.random_seed.setChecked(request.seed is None)
            if request.seed is not None:
                self.seed.setValue(request.seed)
            if request.layer is not None and self.layer_combo.findData(request.layer) < 0:
                self.layer_combo.addItem(request.layer, request.layer)
            _select(self.layer_combo, request.layer)
            self.use_logits.setChecked(request.use_logits)
            self.show_negative.setChecked(not request.relu)
            if isinstance(request.baseline, str):
                _select(self.baseline_combo, request.baseline)
            if request.method not in SUPERPIXEL_METHODS:
                self.cam_faithfulness.setChecked(request.measures_faithfulness)
        finally:
            self._updating = False
        self._update_sections()

    def set_layers(self, names) -> None:
        """Offer these layers for CAM, after "Auto"; keep the chosen one if the new model has it."""
        chosen = self.layer_combo.currentData()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItem("Auto (last convolutional layer)", None)
        for name in names:
            self.layer_combo.addItem(name, name)
        self.layer_combo.setCurrentIndex(max(0, self.layer_combo.findData(chosen)))
        self.layer_combo.blockSignals(False)

    def is_lime(self) -> bool:
        """Return whether LIME is chosen."""
        return self.method_combo.currentData() == "lime"

    # --- Running ---------------------------------------------------------------------------------

    def set_running(self, running: bool, *, auto: bool = False) -> None:
        """Show the progress bar and Cancel while an explanation runs, and Explain otherwise.

        With `auto` the run stops when the explanation is stable, so the total that progress
        reports is only the most it may take.
        """
        self._running = bool(running)
        self._auto_run = bool(running and auto)
        self._started = time.monotonic() if running else None
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.progress.setValue(0)
        self.eta.setText("Starting…" if running else "")
        for widget in (self.progress, self.cancel_button, self.eta):
            widget.setVisible(self._running)
        self.explain_button.setEnabled(not self._running)
        # An idle Esc shortcut would still swallow the key for every other widget of the window.
        self._escape.setEnabled(self._running)

    def set_progress(self, done: int, total: int) -> None:
        """Show `done` of `total` steps and an estimate of the time left."""
        total = max(int(total), 1)
        done = min(max(int(done), 0), total)
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        open_ended = self._auto_run and done < total
        self.progress.setFormat(f"{done:,} of at most {total:,}" if open_ended else f"{done:,} / {total:,}")
        self.eta.setText(self._eta_text(done, total))

    def _eta_text(self, done, total):
        if self._started is None or done == 0:
            return "Estimating time left…"
        elapsed = time.monotonic() - self._started
        if done >= total:
            return f"Finishing… ({duration_text(elapsed)} so far)"
        left = duration_text(elapsed / done * (total - done))
        return f"Stops once stable; at most {left} left" if self._auto_run else f"About {left} left"

    # --- Reactions -------------------------------------------------------------------------------

    @Slot()
    def _on_explain(self):
        if not self._running and self.explain_button.isEnabled():
            self.sig_explain_requested.emit()

    @Slot()
    def _on_escape(self):
        if self._running:
            self.sig_cancel_requested.emit()

    @Slot()
    def _on_choice_changed(self):
        if self._updating:
            return
        self._update_sections()
        if self.sender() is self.segmentation_combo:
            self.sig_segmentation_changed.emit()

    @Slot()
    def _on_segmentation_edited(self):
        if not self._updating:
            self.sig_segmentation_changed.emit()

    @Slot(int)
    def _on_method_activated(self, _index):
        self.sig_method_changed.emit(self.method_combo.currentData())

    @Slot()
    def _update_sampling_summary(self):
        seed = "random seed" if self.random_seed.isChecked() else f"seed {self.seed.value()}"
        samples = "auto samples" if self.auto_samples.isChecked() else f"{self.samples.value():,} samples"
        self.sampling_box.set_summary(f"{samples}, {seed}")

    @Slot(bool)
    def _on_preview_toggled(self, on):
        self.sig_preview_toggled.emit(on)

    def _update_sections(self):
        method = self.method_combo.currentData()
        lime = method in SUPERPIXEL_METHODS
        current = self.segmentation_combo.currentIndex()
        self.segmentation_stack.setCurrentIndex(current)
        # A stack is as tall as its tallest page; ignoring the hidden pages fits it to the shown one.
        for index in range(self.segmentation_stack.count()):
            policy = QSizePolicy.Policy.Preferred if index == current else QSizePolicy.Policy.Ignored
            self.segmentation_stack.widget(index).setSizePolicy(policy, policy)
        self.segmentation_stack.adjustSize()
        self.superpixels_box.setVisible(lime)
        self.sampling_box.setVisible(lime)
        self.cam_box.setVisible(not lime)
        gradient = method in GRADIENT_METHODS
        self.cam_box.set_title("Gradient map" if gradient else "Class Activation Map")
        self._map_form.setRowVisible(self.layer_combo, not gradient)
        self._map_form.setRowVisible(self.show_negative, not gradient)
        self._map_form.setRowVisible(self.baseline_combo, method == "integrated-gradients")
        self._map_form.setRowVisible(self._noise_row, method in NOISY_METHODS)
        self.sampling_box.body.layout().setRowVisible(self.kernel_width, method == "lime")
        # Grad-CAM and its kin take one forward and backward pass: no batches to size.
        self._top_form.setRowVisible(self.batch_size, lime or method == "scorecam")
        self._update_sampling_summary()
        self.method_note.setText(_METHOD_TIPS[method].split(": ", 1)[1].capitalize() + ".")
        if not lime and self.preview.isChecked():
            # CAM has no superpixels: a preview left on would hide its map.
            self.preview.setChecked(False)


class _Section(QWidget):
    """A titled block whose body folds away; while folded, the title summarises what is inside."""

    def __init__(self, title, parent=None, *, expanded=True):
        super().__init__(parent)
        self._title = title
        self._summary = ""
        self._expanded = bool(expanded)
        # Not checkable: a checked tool button is drawn pressed, which reads as a different kind of control.
        self.header = QToolButton(self)
        self.header.setAutoRaise(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.header.setToolTip(f"Show or hide the {title.lower()} settings")
        font = self.header.font()
        font.setBold(True)
        self.header.setFont(font)
        self.body = QFrame(self)
        self.body.setFrameShape(QFrame.Shape.NoFrame)
        # Indented under the arrow, so the rows read as belonging to the title.
        self.body.setContentsMargins(16, 0, 0, 4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(self.body)
        self.header.clicked.connect(self._on_clicked)
        self._apply()

    def is_expanded(self):
        return self._expanded

    def set_expanded(self, expanded):
        self._expanded = bool(expanded)
        self._apply()

    def set_summary(self, text):
        self._summary = text
        self._apply()

    def set_title(self, title):
        self._title = title
        self.header.setToolTip(f"Show or hide the {title.lower()} settings")
        self._apply()

    @Slot()
    def _on_clicked(self):
        self.set_expanded(not self._expanded)

    def _apply(self):
        self.header.setArrowType(Qt.ArrowType.DownArrow if self._expanded else Qt.ArrowType.RightArrow)
        self.body.setVisible(self._expanded)
        folded = not self._expanded and self._summary
        self.header.setText(f"{self._title}: {self._summary}" if folded else self._title)


def _spin(parent, minimum, maximum, step, tip):
    spin = QSpinBox(parent)
    spin.setRange(minimum, maximum)
    spin.setSingleStep(step)
    spin.setGroupSeparatorShown(True)
    spin.setToolTip(tip)
    return spin


def _param_editor(parent, name, default):
    title, tip, minimum, maximum, step = _PARAM_SPECS.get(
        name, (name, f"The {name.replace('_', ' ')} parameter", 0, 1_000_000, 1))
    if isinstance(default, int) and not isinstance(default, bool):
        editor = _spin(parent, int(minimum), int(maximum), int(step) or 1, tip)
    else:
        editor = QDoubleSpinBox(parent)
        editor.setRange(minimum, maximum)
        editor.setDecimals(3)
        editor.setSingleStep(step)
        editor.setToolTip(tip)
    editor.setValue(default)
    return editor


def _select(combo, data):
    combo.setCurrentIndex(max(0, combo.findData(data)))


def _preview():
    """Show the panel alone; Explain fakes a run with progress."""
    import sys

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv)
    panel = ParameterPanel()
    panel.setWindowTitle("Parameters")
    panel.set_layers(["block_5", "top_conv"])
    timer = QTimer(panel, interval=50)
    state = {"done": 0}

    def tick():
        state["done"] += 10
        panel.set_progress(state["done"], 1000)
        if state["done"] >= 1000:
            timer.stop()
            panel.set_running(False)

    def start():
        state["done"] = 0
        panel.set_running(True)
        timer.start()

    def stop():
        timer.stop()
        panel.set_running(False)

    timer.timeout.connect(tick)
    panel.sig_explain_requested.connect(start)
    panel.sig_cancel_requested.connect(stop)
    panel.sig_explain_requested.connect(lambda: print(panel.request()))
    panel.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(_preview())
