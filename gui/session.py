"""What the user is looking at, without widgets: the photo, model, target and shown explanation."""
import dataclasses
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from limelight.core.images import load_image
from limelight.core.methods import METHOD_TITLES, SUPERPIXEL_METHODS
from limelight.core.pipeline import BUILTIN_PREFIX, ExplainRequest, ModelInfo, OpenedReport
from limelight.gui.predictions_panel import MEASURING
from limelight.gui.settings import Settings
from limelight.gui.background_tasks import BackgroundTasks
from limelight.gui.controller import JobHandle, WorkerController, settle_garbage
from limelight.gui.jobs import (REPORT_PREFIX, ComparePreprocessing, Continue, EvaluateDataset, Explain, ExplainAll,
                                ExplainResult,
                                LoadModel, OpenReport, Predict, Predictions, SegmentPreview, SegmentPreviewResult,
                                TrustRequired, Versions, more_samples)

DEFAULT_SOURCE = BUILTIN_PREFIX + "efficientnet_lite0"
#: Decoded photos kept in memory, so going back to an image shows it at once.
IMAGE_CACHE_BYTES = 400 * 2**20
#: Explanations kept, per (image, model, parameters).
EXPLANATION_CACHE_SIZE = 64


def describe_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def model_title(source: str) -> str:
    """A model's short name: a built-in model's title, or a file's name."""
    if source.startswith(BUILTIN_PREFIX):
        from limelight.core.zoo import BUILTIN_MODELS

        spec = BUILTIN_MODELS.get(source[len(BUILTIN_PREFIX):])
        return spec.title.split(" (")[0] if spec else source[len(BUILTIN_PREFIX):]
    return Path(source).name


class Session(QObject):
    """The state of one window, and the jobs that change it; views listen to its signals.

    It owns the current photo, the class explained (the target), the explanation shown, the
    caches of photos, predictions and explanations, the model and whether it was trusted, and
    the runs that explain, continue and preview. It never touches a widget: the window, its
    panels and Compare listen to its ``sig_*`` signals and call its methods.

    Parameters
    ----------
    settings : Settings
        Where trusted model hashes are remembered.
    request : callable
        ``request()`` returns the ExplainRequest to explain with now (the parameter panel's).
    parent : QObject, optional
    """

    sig_image_loading = Signal(str)
    """A photo is selected and is being decoded: its path."""
    sig_image_shown = Signal(str, object)
    """The current photo: its path and pixels, or "" and None when no photo is selected."""
    sig_image_failed = Signal(str, str)
    """A photo could not be decoded: its path and a one-line message."""
    sig_model_loading = Signal(str)
    """A model is loading: its source; "" once the load has ended, whatever the outcome."""
    sig_model_loaded = Signal(object)
    """A model finished loading and is now current: its ModelInfo."""
    sig_trust_required = Signal(object)
    """A model would run code: a TrustRequired; call `trust_and_load` if the user agrees."""
    sig_predictions_shown = Signal(object)
    """The top classes of the current photo: a Predictions, or None while they are asked for."""
    sig_target_changed = Signal(int)
    """The class explained and shown is now this index."""
    sig_result_shown = Signal(object)
    """The explanation to show: an ExplainResult, or None when none applies."""
    sig_info_changed = Signal()
    """What `explanation_info` says about the shown result changed (a measurement ended)."""
    sig_preview_shown = Signal(object)
    """The superpixel preview of the current photo: a SegmentPreviewResult."""
    sig_running_changed = Signal(bool, bool)
    """An explanation or batch run started (True) or ended (False); whether it samples "auto"."""
    sig_progress = Signal(int, int)
    """Work done and total of the running explanation or batch run."""
    sig_report_opened = Signal(object)
    """A saved report was read (an OpenedReport); its photo is current, its result shown next."""
    sig_preprocessing_choices = Signal(object)
    """The current model's top classes under each preprocessing mode: a PreprocessingChoices."""
    sig_batch_done = Signal(object)
    """A batch export ended: a BatchResult."""
    sig_evaluation_changed = Signal(object)
    """The model's evaluation on the dataset opened: an Evaluation (limelight.core.dataset)."""
    sig_error = Signal(str, str)
    """Something failed: a one-line message and its cause (one of MessageBar.CAUSES)."""
    sig_errors_cleared = Signal(object)
    """Messages with these causes (a tuple) no longer apply."""
    sig_status = Signal(str, int)
    """A passing notice for the status bar, and how many milliseconds it stays (0: until replaced)."""

    def __init__(self, settings: Settings, *, request: Callable, parent=None):
        super().__init__(parent)
        self.settings = settings
        self._request = request
        self.controller = WorkerController(self)
        self._loader = BackgroundTasks(self, max_threads=1)
        self._loader.sig_done.connect(self._on_image_loaded)
        self._loader.sig_failed.connect(self._on_image_failed)

        # The worker owns the model objects; the session only knows their ModelInfo.
        self._model: ModelInfo | None = None
        self._loading: tuple[str, bool] | None = None
        self._startup_load = True
        # User models whose preprocessing was asked about; each is asked once.
        self._asked_preprocessing = set()
        self._path = ""
        self._image: np.ndarray | None = None
        self._image_loading: str | None = None  # the selected photo, while it loads
        self._explain_when_loaded = False  # Explain was asked for while it loads
        self._images: OrderedDict[str, np.ndarray] = OrderedDict()
        self._predictions: dict[tuple[str, str], tuple] = {}
        self._target: int | None = None
        self._explanations: OrderedDict[tuple, ExplainResult] = OrderedDict()
        self._last_key: dict[tuple[str, str], tuple] = {}
        self._shown: ExplainResult | None = None
        self._preview: SegmentPreviewResult | None = None
        self._preview_wanted = False
        # The explanation or batch run (one at a time: they share the "explain" channel).
        self._run: JobHandle | None = None
        # Faithfulness of a class shown from an earlier LIME run: its job, and (explanation, class).
        self._scores: JobHandle | None = None
        self._measuring: tuple | None = None
        # Class names of the report whose explanation is shown.
        self._report_names: dict[int, str] = {}
        self._versions: dict | None = None
        # The labelled folder opened with File > Open Dataset, and the last evaluation of it.
        self._dataset = None
        self._evaluation = None
        self._closing = False

    # --- What is shown -----------------------------------------------------------------------

    def model_info(self) -> ModelInfo | None:
        return self._model

    def model_source(self) -> str:
        """The source of the model that is loaded now ("" before the first load)."""
        return self._model.source if self._model else ""

    def _source(self) -> str:
        """The model jobs go to: the current one, or the one loading before the first is ready."""
        return self.model_source() or (self._loading[0] if self._loading else "")

    def current_path(self) -> str:
        return self._path

    def current_image(self) -> np.ndarray | None:
        return self._image

    def current_image_for(self, result: ExplainResult) -> np.ndarray:
        """The whole photo a result belongs to (its frame when the photo is no longer cached)."""
        image = self._images.get(result.path)
        return image if image is not None else result.frame

    def target(self) -> int | None:
        return self._target

    def shown_result(self) -> ExplainResult | None:
        """The explanation on screen, if any."""
        return self._shown

    def preview(self) -> SegmentPreviewResult | None:
        """The superpixel preview shown, if any."""
        return self._preview

    def preview_on(self) -> bool:
        """Whether the superpixel preview is wanted instead of the explanation."""
        return self._preview_wanted

    def is_running(self) -> bool:
        """Whether an explanation or batch run is under way."""
        return self._run is not None

    def versions(self) -> dict | None:
        """The library versions and compute device, once the worker has said them."""
        return self._versions

    def class_name(self, index: int) -> str:
        names = self._model.class_names if self._model else ()
        return names[index] if 0 <= index < len(names) else f"class {index}"

    def is_live(self, result: ExplainResult | None) -> bool:
        """Whether `result` explains the current image with the current model (not a report)."""
        return (result is not None and self._image is not None and result.path == self._path
                and result.model == self.model_source())

    def can_add_samples(self, result: ExplainResult | None) -> bool:
        return self.is_live(result) and result.explanation.method == "lime"

    # --- Photos ------------------------------------------------------------------------------

    @Slot(str)
    def select_image(self, path: str) -> None:
        """Make `path` the current photo ("" for none), decoding it off the GUI thread if needed."""
        self._path = path
        self._target = None
        self._shown = None
        self._preview = None
        self._image_loading = None
        self._explain_when_loaded = False
        # Until the new photo is loaded there is no current photo: the view keeps the last one on
        # screen, but nothing may explain or draw over it in the new photo's name.
        self._image = None
        self.sig_result_shown.emit(None)
        if not path:
            self.sig_image_shown.emit("", None)
            return
        image = self._images.get(path)
        if image is not None:
            self._images.move_to_end(path)
            self._show_image(path, image)
        else:
            self._image_loading = path
            self.sig_image_loading.emit(path)
            self._loader.start(path, load_image, path)

    @Slot(object, object)
    def _on_image_loaded(self, path, image) -> None:
        image.flags.writeable = False
        self._images[path] = image
        while sum(a.nbytes for a in self._images.values()) > IMAGE_CACHE_BYTES and len(self._images) > 1:
            self._images.popitem(last=False)
        if path == self._path:
            self._image_loading = None
            self._show_image(path, image)
            if self._explain_when_loaded:
                self._explain_when_loaded = False
                self.explain()

    @Slot(object, str)
    def _on_image_failed(self, path, message: str) -> None:
        if path == self._path:
            self._image_loading = None
            self._explain_when_loaded = False
        self.sig_image_failed.emit(path, message)

    def _show_image(self, path: str, image: np.ndarray) -> None:
        self._image = image
        self.sig_image_shown.emit(path, image)
        self._refresh_for_image()

    def _refresh_for_image(self) -> None:
        """Show what is known about the current image under the current model, asking for the rest."""
        source = self._source()
        if self._image is None or not source:
            return
        key = (source, self._path)
        if key in self._predictions:
            self._show_predictions(Predictions(source, self._path, self._predictions[key]))
        else:
            self.sig_predictions_shown.emit(None)
            path = self._path
            self._submit(Predict(source, path, self._image), channel="predict", on_result=self._on_predictions,
                         on_failed=lambda message: self._error_if_current(path, message, "photo"))
        last = self._last_key.get(key)
        result = self._explanations.get(last) if last else None
        if result is not None:
            self._target = result.target
            self.show_result(result)
        else:
            self.sig_result_shown.emit(None)
        if self._preview_wanted:
            self.request_preview()
        self._ask_preprocessing_once()

    def _error_if_current(self, path: str, message: str, cause: str) -> None:
        if path == self._path:
            self.sig_error.emit(message, cause)

    def _on_predictions(self, predictions: Predictions) -> None:
        self._predictions[(predictions.model, predictions.path)] = predictions.top
        if predictions.path == self._path and predictions.model in (self.model_source(),
                                                                    (self._loading or ("",))[0]):
            self._show_predictions(predictions)

    def _show_predictions(self, predictions: Predictions) -> None:
        self.sig_predictions_shown.emit(predictions)

    def _ask_preprocessing_once(self) -> None:
        """Ask how a user's model scales its input, once per model a session, when nothing says so."""
        info = self._model
        if (info is None or info.builtin or not info.preprocessing_guessed or self._image is None
                or info.source in self._asked_preprocessing):
            return
        self._asked_preprocessing.add(info.source)
        self._submit(ComparePreprocessing(info.source, self._path, self._image), channel="preprocessing",
                     on_result=self._on_preprocessing_choices)

    def _on_preprocessing_choices(self, choices) -> None:
        if self._model is not None and self._model.source == choices.model and not self._closing:
            self.sig_preprocessing_choices.emit(choices)

    def open_report(self, path) -> None:
        """Show a saved report's explanation and scores again, over its photo; no model needed."""
        self._submit(OpenReport(str(path)), channel="report", on_result=self._on_report_opened,
                     on_failed=lambda message: self.sig_error.emit(message, "report"))
        self.sig_status.emit(f"Opening {Path(path).name}…", 0)

    def _on_report_opened(self, opened: OpenedReport) -> None:
        explanation, info = opened.explanation, opened.info
        path = str(Path(info["image"]["path"]).resolve())
        method = explanation.method
        result = ExplainResult(REPORT_PREFIX + opened.path, path, ExplainRequest(method=method), opened.target,
                               opened.frame, explanation, float(explanation.timings.get("total", 0.0)))
        self._report_names = {int(e["index"]): str(e["name"]) for e in _report_entries(info)
                               if e.get("name") is not None}
        image = opened.image
        image.flags.writeable = False
        self._images[path] = image
        self._stop_measuring()
        self._path, self._image, self._target, self._shown, self._preview = path, image, opened.target, None, None
        self.sig_report_opened.emit(opened)
        self.show_result(result)
        model = (info.get("model") or {}).get("name", "an unknown model")
        self.sig_status.emit(f"Opened {Path(opened.path).name}: {METHOD_TITLES.get(method, method)} of "
                             f"{model}.", 8000)

    def report_predictions(self, opened: OpenedReport) -> list[tuple[int, str, float]]:
        """The classes a report lists: (index, name, probability)."""
        return [(int(e["index"]), self._report_names.get(int(e["index"]), f"class {e['index']}"),
                 float(e.get("probability") or 0.0)) for e in _report_entries(opened.info)]

    # --- Models ------------------------------------------------------------------------------

    def load_model(self, source: str, trust: bool = False) -> None:
        """Load a model in the worker; the current one stays until the new one is ready.

        A file that would run code loads if the user trusted its content before (by SHA-256),
        or with `trust` (the --trust-model flag); otherwise `sig_trust_required` asks.
        """
        if self._loading and self._loading[0] == source and not trust:
            return
        self._loading = (source, trust)
        self.sig_model_loading.emit(source)
        self._submit(LoadModel(source, trust=trust, trusted_hashes=frozenset(self.settings.trusted_hashes())),
                     channel="model", on_result=self._on_model_answer,
                     on_failed=lambda message: self._on_model_failed(source, message))

    def startup_source(self, model: str | None) -> str:
        """The model to load at start-up.

        `model` if given (a path, ``builtin:<name>`` or a built-in model's name), else the one used
        last if it is still there, else the default.
        """
        last = self.settings.last_model()
        if model:
            source = model
        elif last.startswith(BUILTIN_PREFIX) or (last and Path(last).exists()):
            source = last
        else:
            source = DEFAULT_SOURCE
        if not source.startswith(BUILTIN_PREFIX) and not Path(source).exists():
            # `--model efficientnet_lite0`: a built-in model by name, as the CLI accepts.
            from limelight.core.zoo import BUILTIN_MODELS

            if source in BUILTIN_MODELS:
                source = BUILTIN_PREFIX + source
        return source

    def trust_and_load(self, trust: TrustRequired) -> None:
        """The user trusts this content: remember its hash and load the model."""
        self.settings.trust_hash(trust.sha256)
        self.load_model(trust.source)

    def _on_model_answer(self, value) -> None:
        if isinstance(value, TrustRequired):
            self._on_trust_required(value)
        elif self._loading is None or self._loading[0] == value.source:
            self._on_model_loaded(value)

    def _on_model_loaded(self, info: ModelInfo) -> None:
        self._loading = None
        self._startup_load = False
        changed = self._model is None or self._model.source != info.source or self._model != info
        self._model = info
        if info.sha256:
            self.settings.trust_hash(info.sha256)
        self.sig_model_loading.emit("")
        self.sig_errors_cleared.emit(("model",))
        if changed:
            # Other preprocessing or labels give other predictions: forget this model's answers.
            self._predictions = {k: v for k, v in self._predictions.items() if k[0] != info.source}
            for key in [k for k in self._explanations if k[1] == info.source]:
                del self._explanations[key]
        self._target = None
        self._shown = None
        self.sig_result_shown.emit(None)
        self._refresh_for_image()
        if self._versions is None:
            self.ask_versions()
        settle_garbage()
        self.sig_model_loaded.emit(info)

    def _on_model_failed(self, source: str, message: str) -> None:
        self._loading = None
        self.sig_model_loading.emit("")
        if self._startup_load and source != DEFAULT_SOURCE:
            # The model used last time is gone or broken: start with the built-in one instead.
            self._startup_load = False
            self.sig_error.emit(f"{message} Loaded the built-in model instead.", "model")
            self.load_model(DEFAULT_SOURCE)
            return
        self._startup_load = False
        kept = f" Kept {self._model.name}." if self._model else ""
        self.sig_error.emit(message + kept, "model")

    def _on_trust_required(self, trust: TrustRequired) -> None:
        self._loading = None
        self.sig_model_loading.emit("")
        if self._startup_load and self._model is None and trust.source != DEFAULT_SOURCE:
            # Never ask at start-up about a file from last time: start with the built-in model.
            self._startup_load = False
            self.sig_status.emit(f"{Path(trust.source).name} needs your trust to load; "
                                 "open it again to choose.", 8000)
            self.load_model(DEFAULT_SOURCE)
            return
        self.sig_trust_required.emit(trust)

    def ask_versions(self) -> None:
        self._submit(Versions(), channel="versions", on_result=self._set_versions,
                     on_failed=lambda message: self._set_versions({"error": message}))

    def _set_versions(self, versions: dict) -> None:
        self._versions = versions

    # --- Targets -----------------------------------------------------------------------------

    @Slot(int)
    def choose_target(self, index: int) -> None:
        """Make class `index` the one explained and shown."""
        self._target = int(index)
        self.sig_target_changed.emit(self._target)
        shown = self._shown
        if shown is not None and self._target in shown.explanation.labels:
            self.show_result(dataclasses.replace(shown, target=self._target))
            return
        cached = self._cached_result(self._target)
        if cached is not None:
            self.show_result(cached)
            return
        if shown is not None and shown.request.method in ("gradcam", "gradcam++", "hirescam", "layercam", "gradients"):
            # A gradient map costs one pass: explain the new class at once.
            self.explain()
            return
        if shown is not None and shown.explanation.method == "lime" and self.is_live(shown):
            # The samples are cached: the new class costs only its faithfulness curves.
            self._continue(shown, self._target, shown.explanation.num_samples)
            return
        if shown is not None:
            self._shown = None
            self.sig_result_shown.emit(None)
        name = self.class_name(self._target)
        self.sig_status.emit(f"Click Explain to see why the model might say “{name}”.", 6000)

    def _cache_key(self, model, path, request, target) -> tuple:
        # LIME, KernelSHAP and RISE explain several classes in one run, so their key leaves the class out.
        return (path, model, request.key(), None if request.method in SUPERPIXEL_METHODS else target)

    def _cached_result(self, target: int) -> ExplainResult | None:
        key = self._cache_key(self.model_source(), self._path, self._request(), target)
        result = self._explanations.get(key)
        if result is not None and target in result.explanation.labels:
            return dataclasses.replace(result, target=target)
        return None

    # --- Explaining --------------------------------------------------------------------------

    @Slot()
    def explain(self) -> None:
        """Explain the current photo for the target with the current request."""
        if self._image is None and self._image_loading == self._path:
            self._explain_when_loaded = True
            self.sig_status.emit(f"Explaining {Path(self._path).name} once it has loaded…", 0)
            return
        if self._image is None:
            self.sig_error.emit("Open an image first (File > Open Images…).", "explain")
            return
        source = self._source()
        if not source:
            self.sig_error.emit("Choose a model first.", "explain")
            return
        request = self._request()
        self.sig_errors_cleared.emit(("explain",))
        self._stop_measuring()
        self._start_run(Explain(source, self._path, self._image, request, self._target),
                        on_result=self._on_explained, auto=request.is_auto())
        method = METHOD_TITLES.get(request.method, request.method)
        waiting = " (after the model loads)" if self._loading else ""
        self.sig_status.emit(f"Explaining {Path(self._path).name} with {method}{waiting}…", 0)

    @Slot()
    def cancel(self) -> None:
        """Stop the running explanation or batch export."""
        if self._run is None:
            return
        self._run.cancel()
        # A job cancelled before it started never reports back, so stop showing it here.
        self._run = None
        self.sig_running_changed.emit(False, False)
        self.sig_status.emit("Cancelled.", 4000)

    @Slot()
    def add_samples(self) -> None:
        """Continue the shown LIME explanation with more samples; only the new ones go to the model."""
        result = self._shown
        if self._run is not None:
            return
        if not self.can_add_samples(result):
            self.sig_error.emit("Explain the image with LIME first; samples can be added to an explanation "
                                "of the current image and model, not to one opened from a report.", "explain")
            return
        more = more_samples(result.explanation.num_samples)
        self._continue(result, result.target, more)
        self.sig_status.emit(f"Adding samples: {result.explanation.num_samples:,} → {more:,}…", 0)

    def _continue(self, result: ExplainResult, target: int, num_samples: int) -> None:
        """Run on from `result` with its samples, for `target` and `num_samples` in all."""
        self._stop_measuring()
        self.sig_errors_cleared.emit(("explain",))
        self._start_run(Continue(result.model, self._image, result, target, num_samples),
                        on_result=self._on_explained)

    def explain_all(self, paths, request, style, folder, *, overwrite: bool) -> JobHandle | None:
        """Explain every photo in `paths` for its top class and save the results in `folder`.

        Returns the run's handle (None once the session is shutting down).
        """
        self._start_run(ExplainAll(self._model.source, tuple(paths), request, style, str(folder),
                                   overwrite=overwrite), on_result=self.sig_batch_done.emit)
        self.sig_status.emit(f"Explaining {len(paths)} images into {folder}…", 0)
        return self._run

    def _start_run(self, job, *, on_result, on_failed=None, auto: bool = False) -> None:
        self._run = self._submit(job, channel="explain", on_result=on_result,
                                 on_failed=on_failed or (lambda message: self.sig_error.emit(message, "explain")),
                                 on_progress=self.sig_progress.emit, on_cancelled=self._on_run_cancelled,
                                 on_finished=self._on_run_finished)
        if self._run is not None:
            self.sig_running_changed.emit(True, auto)

    def _on_run_cancelled(self) -> None:
        self.sig_running_changed.emit(False, False)
        self.sig_status.emit("Cancelled.", 4000)

    def _on_run_finished(self) -> None:
        self._run = None
        self.sig_running_changed.emit(False, False)

    def _on_explained(self, result: ExplainResult) -> None:
        key = self._cache_key(result.model, result.path, result.request, result.target)
        self._explanations[key] = result
        self._explanations.move_to_end(key)
        while len(self._explanations) > EXPLANATION_CACHE_SIZE:
            self._explanations.popitem(last=False)
        self._last_key[(result.model, result.path)] = key
        seconds = describe_seconds(result.seconds)
        if result.path == self._path and result.model == self.model_source():
            self._target = result.target
            self.sig_target_changed.emit(result.target)
            self.show_result(result)
            self.sig_status.emit(f"Explained “{self.class_name(result.target)}” in {seconds}.", 6000)
        else:
            self.sig_status.emit(f"Explanation of {Path(result.path).name} is ready ({seconds}).", 6000)

    def show_result(self, result: ExplainResult) -> None:
        """Make `result` the shown explanation, measuring its class's faithfulness if it is missing."""
        self._shown = result
        self._measure_faithfulness(result)
        self.sig_result_shown.emit(result)

    def _measure_faithfulness(self, result: ExplainResult) -> None:
        """Measure the shown class's faithfulness in the background if its LIME run did not."""
        explanation, label = result.explanation, result.target
        if (explanation.kind != "lime" or label in explanation.faithfulness or not self.is_live(result)
                or self._measuring == (explanation, label)):
            return
        self._measuring = (explanation, label)
        job = Continue(result.model, self._image, result, label, explanation.num_samples)
        self._scores = self._submit(job, channel="scores", on_result=lambda value: self._on_scores(job, value),
                                    on_failed=lambda message: self.sig_error.emit(message, "explain"),
                                    on_finished=self._on_scores_finished)

    def _stop_measuring(self) -> None:
        if self._scores is not None:
            self._scores.cancel()
        self._scores = self._measuring = None

    def _on_scores(self, job: Continue, result: ExplainResult) -> None:
        """A class's faithfulness arrived: keep it, and show it if its explanation is still shown."""
        key = self._cache_key(result.model, result.path, result.request, result.target)
        if self._explanations.get(key) is not None and self._explanations[key].explanation is job.result.explanation:
            self._explanations[key] = result
        shown = self._shown
        if shown is not None and shown.explanation is job.result.explanation:
            self.show_result(dataclasses.replace(result, target=shown.target))

    def _on_scores_finished(self) -> None:
        self._scores = self._measuring = None
        if self._shown is not None:  # "measuring…" ends, whatever the outcome
            self.sig_info_changed.emit()

    def explanation_info(self, result: ExplainResult) -> dict:
        """What the info block shows about an explanation."""
        explanation, label = result.explanation, result.target
        report = result.model.startswith(REPORT_PREFIX)
        name = self._report_names.get(label) if report else None
        info = {"method": METHOD_TITLES.get(result.request.method, result.request.method),
                "label": name or self.class_name(label), "index": label, "time": result.seconds}
        if report:
            info["report"] = Path(result.model[len(REPORT_PREFIX):]).name
        faithfulness = explanation.faithfulness.get(label)
        if faithfulness is None and self._measuring == (explanation, label):
            faithfulness = MEASURING
        if explanation.kind == "lime":
            info.update(probability=explanation.probabilities.get(label),
                        fit=explanation.scores.get(label),
                        local_prediction=explanation.local_predictions.get(label),
                        samples=int(explanation.params.get("num_samples", len(explanation.masks))),
                        auto="auto" in explanation.params,
                        seed=explanation.params.get("seed"),
                        superpixels=int(explanation.num_segments),
                        stability=explanation.stability.get(label),
                        tie=_tie(explanation, label),
                        auto_stop=_auto_stop(explanation, label),
                        add_samples=self.can_add_samples(result))
        elif explanation.kind == "gradient":
            params = explanation.params
            info.update(probability=explanation.probability, layer=explanation.layer,
                        class_score=explanation.class_score, stability=explanation.stability.get(label),
                        stability_note=explanation.stability_note or None)
            if "noise" in params:
                info.update(copies=params["num_samples"], noise=params["noise"], seed=params.get("seed"))
        else:
            info.update(probability=explanation.probability, layer=explanation.layer,
                        class_score=explanation.class_score)
        info["faithfulness"] = faithfulness
        return info

    def describe_result(self, result: ExplainResult) -> str:
        """One line about a result: model, method, class, probability and time."""
        info = self.explanation_info(result)
        return (f"{model_title(result.model)} · {info['method']}: “{info['label']}” "
                f"{info['probability']:.0%} · {describe_seconds(result.seconds)}")

    # --- Datasets ----------------------------------------------------------------------------

    @property
    def dataset(self):
        """The labelled folder `evaluation` measured (a core Dataset), or None."""
        return self._dataset

    @property
    def evaluation(self):
        """The current model's evaluation on the dataset (a core Evaluation), or None before the first."""
        return self._evaluation

    def evaluate_dataset(self, dataset, mapping) -> None:
        """Predict every image of `dataset` in the background and measure the model with `mapping`.

        It runs as the window's one run: Cancel stops it, and predictions made so far are kept
        in the prediction store, so the next run starts from them.
        """
        source = self._source()
        if not source:
            self.sig_error.emit("Choose a model first.", "dataset")
            return
        if self._model is not None and tuple(mapping.label_names) != tuple(self._model.class_names):
            self.sig_error.emit(f"The class mapping was made for another model's classes; open {dataset.root.name} "
                                "again (File > Open Dataset…) to map its folders to this model's.", "dataset")
            return
        self.sig_errors_cleared.emit(("dataset",))
        self._start_run(EvaluateDataset(source, dataset, mapping),
                        on_result=lambda evaluation: self._on_evaluated(dataset, evaluation),
                        on_failed=lambda message: self.sig_error.emit(message, "dataset"))
        self.sig_status.emit(f"Evaluating {model_title(source)} on {len(dataset):,} images of "
                             f"{dataset.root.name}…", 0)

    def _on_evaluated(self, dataset, evaluation) -> None:
        self._dataset, self._evaluation = dataset, evaluation
        self.sig_evaluation_changed.emit(evaluation)
        unreadable = f"; {len(evaluation.failures)} unreadable" if evaluation.failures else ""
        self.sig_status.emit(f"Accuracy {evaluation.accuracy:.1%} on {len(evaluation.paths):,} images"
                             f"{unreadable}.", 8000)

    # --- Superpixel preview ------------------------------------------------------------------

    def set_preview(self, on: bool) -> None:
        """Show the superpixels LIME would use instead of the explanation, or stop showing them."""
        self._preview_wanted = on
        if on:
            self.request_preview()
        else:
            self.controller.cancel_channel("preview")
            self.sig_errors_cleared.emit(("preview",))
            self._preview = None

    def request_preview(self) -> None:
        """Segment the current photo with the current request's settings, if the preview is on."""
        source = self._source()
        if self._image is None or not source or not self._preview_wanted:
            return
        request, path = self._request(), self._path
        self._submit(SegmentPreview(source, path, self._image, request.segmentation,
                                    tuple(request.segmentation_params)),
                     channel="preview", on_result=self._on_preview,
                     on_failed=lambda message: self._error_if_current(path, message, "preview"))

    def _on_preview(self, result: SegmentPreviewResult) -> None:
        if result.path != self._path or not self._preview_wanted:
            return
        self._preview = result
        self.sig_errors_cleared.emit(("preview",))
        self.sig_preview_shown.emit(result)
        self.sig_status.emit(f"{result.count} superpixels with {result.method}.", 4000)

    # --- Jobs --------------------------------------------------------------------------------

    def _submit(self, job, *, channel: str, **callbacks) -> JobHandle | None:
        if self._closing:
            # Late answers (a photo decoded as the window closes) ask the stopped worker nothing.
            return None
        return self.controller.submit(job, channel=channel, **callbacks)

    def shutdown(self, timeout_ms: int) -> None:
        """Cancel everything and stop the worker within `timeout_ms`; never terminate TensorFlow."""
        self._closing = True
        self.controller.shutdown(timeout_ms)
        self._loader.wait()


def _report_entries(info: dict) -> list[dict]:
    """The classes a report's JSON lists, skipping entries without an index."""
    return [entry for entry in info.get("labels", ()) if isinstance(entry, dict) and "index" in entry]


def _tie(explanation, label):
    """"5th place: a tie between 3 superpixels", or None when the last place shown is not shared."""
    from limelight.core.scores import describe_tie

    stability = explanation.stability.get(label)
    if stability is None:
        return None
    return describe_tie(explanation.weights[label], stability.k, tie_delta=stability.tie_delta) or None


def _auto_stop(explanation, label):
    """Why samples="auto" stopped short of a stable explanation, or None."""
    stability = explanation.stability.get(label)
    if stability is None or stability.word == "stable":
        return None
    return (explanation.params.get("auto") or {}).get("stopped")
