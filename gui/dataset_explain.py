"""Explaining a dataset's images in the window: why and why not side by side, and a selection saved as one batch."""
import glob
import time
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QGridLayout, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QVBoxLayout, QWidget)

from limelight.core.methods import METHOD_TITLES
from limelight.gui.controller import JobHandle
from limelight.gui.image_view import ImageView
from limelight.gui.jobs import ExplainSelection, ExplainWhy
from limelight.gui.run_status import duration_text


def time_left_text(started: float, done: int, total: int) -> str:
    """'About 12 s left' from the time since `started` (time.monotonic) and the work done so far."""
    if done <= 0:
        return "Estimating time left…"
    return f"About {duration_text((time.monotonic() - started) / done * max(total - done, 0))} left"


class RunProgress(QWidget):
    """A progress bar, the time left and Cancel, for one background job; hidden while none runs."""

    sig_cancel_requested = Signal()
    """The user pressed Cancel."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.progress = QProgressBar(self)
        self.eta = QLabel(self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.sig_cancel_requested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.progress, 1)
        layout.addWidget(self.eta)
        layout.addWidget(self.cancel_button)
        self._started = time.monotonic()
        self.hide()

    def start(self) -> None:
        """Show the bar, busy until the first progress report."""
        self._started = time.monotonic()
        self.progress.setRange(0, 0)
        self.eta.setText("Estimating time left…")
        self.show()

    @Slot(int, int)
    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.eta.setText(time_left_text(self._started, done, total))


class WhyDialog(QDialog):
    """Why the model predicted a class, and why not the true one, side by side with the window's method.

    The left pane explains the predicted class, the right one the true class: its evidence, which
    the model found weaker. Both come from one background job (for LIME, one run).

    Parameters
    ----------
    session : Session
        Whose model and worker explain.
    painter : OverlayPainter
    request, style : callable
        ``request()`` the window's ExplainRequest, ``style()`` its OverlayStyle.
    parent : QWidget, optional
    """

    sig_shown = Signal(object)
    """Both panes are drawn: a WhyResult."""

    def __init__(self, session, painter, *, request, style, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Why and Why Not")
        self._session, self._painter, self._request, self._style = session, painter, request, style
        self._job: JobHandle | None = None
        self._shown = None
        self.title = QLabel(self)
        self.title.setWordWrap(True)
        grid = QGridLayout()
        self.views, self.captions = [], []
        for column in range(2):
            view = ImageView(self)
            view.setMinimumSize(240, 220)
            caption = QLabel("—", self)
            caption.setWordWrap(True)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(view, 0, column)
            grid.addWidget(caption, 1, column)
            self.views.append(view)
            self.captions.append(caption)
        grid.setRowStretch(0, 1)
        self.run_progress = RunProgress(self)
        self.run_progress.sig_cancel_requested.connect(self.cancel)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(grid, 1)
        layout.addWidget(self.run_progress)
        layout.addWidget(buttons)
        self.resize(820, 520)

    def explain(self, evaluation, position: int) -> None:
        """Explain image `position` of `evaluation` (a core Evaluation) for its predicted and true class."""
        self.cancel()
        path = Path(evaluation.paths[position])
        names = evaluation.label_names
        predicted, true = int(evaluation.predicted[position]), int(evaluation.true[position])
        probabilities = evaluation.probabilities[position]
        verdict = "wrong" if predicted != true else "right"
        self.title.setText(f"{path.parent.name}/{path.name}: predicted “{names[predicted]}” "
                           f"{probabilities[predicted]:.0%}, true class “{names[true]}” "
                           f"{probabilities[true]:.0%} ({verdict})")
        self.captions[0].setText(f"Why “{names[predicted]}” ({probabilities[predicted]:.0%}): working…")
        self.captions[1].setText(f"Why not “{names[true]}” ({probabilities[true]:.0%}): working…"
                                 if predicted != true else "The prediction is right: nothing to set against it.")
        self._shown = None
        self.run_progress.start()
        self._job = self._session.controller.submit(
            ExplainWhy(self._session.model_source(), evaluation, position, self._request()), channel="why",
            on_result=lambda result: self._on_result(result, evaluation, position),
            on_failed=self._on_failed, on_progress=self.run_progress.set_progress,
            on_cancelled=lambda: self._on_stopped("Cancelled."), on_finished=self.run_progress.hide)
        self.show()
        self.raise_()

    @Slot()
    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._on_stopped("Cancelled.")

    def _on_stopped(self, message: str) -> None:
        self._job = None
        self.run_progress.hide()
        if self._shown is None:
            for caption in self.captions:
                caption.setText(caption.text().replace("working…", message.lower().rstrip(".")))

    def _on_failed(self, message: str) -> None:
        self._job = None
        self.run_progress.hide()
        self.captions[0].setText(message)

    def _on_result(self, why, evaluation, position: int) -> None:
        self._job = None
        self._shown = why
        names, probabilities = evaluation.label_names, evaluation.probabilities[position]
        for index, (view, caption) in enumerate(zip(self.views, self.captions)):
            if index >= len(why.results):
                view.set_image(why.photo)
                continue
            result = why.results[index]
            view.set_image(why.photo)
            self._painter.draw(view, why.photo, result, self._style())
            what = "Why" if index == 0 else "Why not"
            caption.setText(f"{what} “{names[result.target]}” ({probabilities[result.target]:.0%}) · "
                            f"{METHOD_TITLES[result.request.method]}")
        self.sig_shown.emit(why)

    def restyle(self) -> None:
        """Draw both panes again with the window's overlay style."""
        if self._shown is not None:
            for view, result in zip(self.views, self._shown.results):
                self._painter.draw(view, self._shown.photo, result, self._style())

    def done(self, code: int) -> None:
        self.cancel()
        super().done(code)


class SelectionBatch(QObject):
    """Explains a selection of a dataset's images as one cancellable batch, saved as the command line saves it.

    Parameters
    ----------
    session : Session
        Whose model and worker explain.
    progress : RunProgress
        Where the batch shows its progress, time left and Cancel.
    """

    sig_done = Signal(object)
    """The batch ended (finished or cancelled): a SelectionExplained."""
    sig_failed = Signal(str)
    """The batch could not run: a one-line message."""
    sig_cancelled = Signal(str)
    """The user cancelled: the folder, whose index lists the images finished."""

    def __init__(self, session, progress: RunProgress, parent=None):
        super().__init__(parent)
        self._session = session
        self._progress = progress
        self._progress.sig_cancel_requested.connect(self.cancel)
        self._job: JobHandle | None = None
        self._folder = ""

    def start(self, evaluation, positions, request, style, folder, *, overwrite: bool) -> None:
        """Explain images `positions` of `evaluation` into `folder` (their class folders and the index CSV)."""
        self.cancel()
        self._folder = str(folder)
        self._progress.start()
        self._job = self._session.controller.submit(
            ExplainSelection(self._session.model_source(), evaluation, tuple(int(p) for p in positions), request,
                             style, str(folder), overwrite=overwrite),
            channel="selection", on_result=self._on_done, on_failed=self._on_failed,
            on_progress=self._progress.set_progress, on_finished=self._progress.hide)

    def is_running(self) -> bool:
        return self._job is not None

    @Slot()
    def cancel(self) -> None:
        """Stop between two images; what was written stays, listed in the index."""
        if self._job is not None:
            # The worker stops after the image under way and writes the index of what it finished.
            self._job.cancel()
            self._job = None
            self._progress.hide()
            self.sig_cancelled.emit(self._folder)

    def _on_done(self, result) -> None:
        self._job = None
        self.sig_done.emit(result)

    def _on_failed(self, message: str) -> None:
        self._job = None
        self.sig_failed.emit(message)


def existing_outputs(evaluation, positions, folder) -> list:
    """Files a batch into `folder` would replace: the index and each image's earlier explanations."""
    from limelight.core.selection import INDEX_FILE

    folder = Path(folder)
    found = [folder / INDEX_FILE] if (folder / INDEX_FILE).exists() else []
    for position in positions:
        path = Path(evaluation.paths[position])
        found += sorted(p for p in (folder / path.parent.name).glob(f"{glob.escape(path.stem)}_*")
                        if p.suffix.lower() in (".png", ".json", ".npz"))
    return found


class DatasetExplanations(QObject):
    """The Dataset panel's explaining side: why and why not, a selection saved as one batch, Compare Models.

    Parameters
    ----------
    window : MainWindow
        Whose session, Dataset panel (``window.datasets.panel``), method, overlay style, file
        dialogs and status bar are used.
    """

    def __init__(self, window):
        super().__init__(window)
        self._window = window
        self._session = window.session
        self.why_dialog: WhyDialog | None = None
        self.compare_dialog = None
        self.batch_progress = RunProgress(window)
        self.batch_progress.progress.setMaximumWidth(180)
        self.batch_progress.setToolTip("Explaining the dataset's images into a folder")
        window.statusBar().addPermanentWidget(self.batch_progress)
        self.batch = SelectionBatch(self._session, self.batch_progress, self)
        self.batch.sig_done.connect(self._on_batch_done)
        self.batch.sig_failed.connect(lambda message: window.show_error(message, "explain"))
        self.batch.sig_cancelled.connect(lambda folder: window.statusBar().showMessage(
            f"Cancelled; {folder}/explained.csv lists the images finished.", 8000))
        panel = window.datasets.panel
        panel.sig_why_requested.connect(self.why)
        panel.sig_explain_requested.connect(self.explain_dialog)
        panel.sig_compare_requested.connect(self.compare)
        window.overlay_controls.sig_style_changed.connect(self._restyle)

    @Slot(int)
    def why(self, position: int) -> None:
        """Show why image `position` of the evaluation was predicted as it was, and why not its true class."""
        if self.why_dialog is None:
            self.why_dialog = WhyDialog(self._session, self._window.painter,
                                        request=self._window.parameter_panel.request,
                                        style=self._window.overlay_controls.style, parent=self._window)
        self.why_dialog.explain(self._session.evaluation, position)

    @Slot(object)
    def explain_dialog(self, positions) -> None:
        """Ask for a folder, then explain images `positions` of the evaluation into it."""
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(self._window, "Save Explanations To",
                                                  self._window.settings.last_folder("export"))
        if folder:
            self.explain(positions, folder)

    def explain(self, positions, folder) -> bool:
        """Explain images `positions` into `folder` as one batch, asking once before replacing files."""
        evaluation = self._session.evaluation
        if evaluation is None or not len(positions):
            self._window.show_error("Choose images of an evaluated dataset to explain.", "explain")
            return False
        existing = existing_outputs(evaluation, positions, folder)
        if existing and not self._window.files.confirm_overwrite(existing):
            return False
        self._window.settings.set_last_folder("export", folder)
        self.batch.start(evaluation, positions, self._window.parameter_panel.request(),
                         self._window.overlay_controls.style(), folder, overwrite=bool(existing))
        self._window.statusBar().showMessage(f"Explaining {len(positions):,} images into {folder}…", 0)
        return True

    def _on_batch_done(self, result) -> None:
        failed = f"; {len(result.failures)} failed" if result.failures else ""
        self._window.statusBar().showMessage(
            f"Explained {len(result.images):,} images{failed}; the index is {result.index}.", 0)
        if result.failures:
            path, message = result.failures[0]
            more = f" (and {len(result.failures) - 1} more)" if len(result.failures) > 1 else ""
            self._window.show_error(f"{message}{more}", "explain")

    @Slot()
    def compare(self) -> None:
        """Open Compare Models on the evaluated dataset."""
        from limelight.gui.compare_models import CompareModelsDialog

        if self.compare_dialog is None:
            self.compare_dialog = CompareModelsDialog(self._session, parent=self._window)
            self.compare_dialog.sig_photo_requested.connect(self._window.datasets.panel.sig_photo_chosen)
        self.compare_dialog.refresh()
        self.compare_dialog.show()
        self.compare_dialog.raise_()

    def close_dialogs(self) -> None:
        """Close Why and Why Not and Compare Models with the window (their runs are cancelled as they close)."""
        for dialog in (self.why_dialog, self.compare_dialog):
            if dialog is not None:
                dialog.close()

    def _restyle(self, _style) -> None:
        if self.why_dialog is not None and self.why_dialog.isVisible():
            self.why_dialog.restyle()
