"""The background worker: one QObject on one thread runs every TensorFlow job, one at a time."""
import dataclasses
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from limelight.core import pipeline
from limelight.core.errors import Cancelled, LimelightError, UntrustedModelError
from limelight.core.pipeline import BUILTIN_PREFIX, ModelInfo, PredictionCaches, model_info, open_report
from limelight.gui.jobs import (BatchResult, CheckSanity, ComparePreprocessing, Continue, EvaluateDataset, Explain,
                                ExplainAll, ExplainResult, ExplainSelection, ExplainWhy, LoadModel, OpenReport, Predict,
                                Predictions, PreprocessingChoices, SegmentPreview, SegmentPreviewResult, TrustRequired,
                                Versions, WhyResult)

log = logging.getLogger(__name__)

#: Most progress updates a second sent to the window: more only costs repaints.
PROGRESS_RATE = 20
#: Models kept loaded at once (the current one and what Compare uses).
MAX_LOADED_MODELS = 3
#: How many of the top classes LIME explains besides the target: they come from the same samples for free.
LIME_TOP_CLASSES = 5
#: Colour of superpixel borders in the preview.
PREVIEW_COLOUR = (255, 221, 0)


@dataclass(frozen=True)
class JobResult:
    """A job's answer, tagged with the request id the controller gave the job."""

    request_id: int
    job: Any
    value: Any


class Worker(QObject):
    """Runs jobs one at a time on its own thread; TensorFlow is imported here, never on the GUI thread."""

    sig_started = Signal(int)
    """A job with this request id started."""
    sig_progress = Signal(int, int, int)
    """Request id, work done and total of the running job, at most PROGRESS_RATE times a second."""
    sig_partial = Signal(int, object)
    """Request id and a part of the running job's answer as it comes (a sanity check's step)."""
    sig_result = Signal(object)
    """A JobResult."""
    sig_failed = Signal(int, str)
    """The job with this request id failed; a one-line message for the user."""
    sig_cancelled = Signal(int)
    """The job with this request id stopped because it was cancelled."""
    sig_finished = Signal(int)
    """The job with this request id ended, whatever the outcome."""

    def __init__(self):
        super().__init__()
        self._models: OrderedDict = OrderedDict()
        self._caches = PredictionCaches()
        self._last_progress = 0.0
        self._request_id = 0
        # Each job type and the method that runs it: handler(job, cancelled) -> result.
        self._handlers = {LoadModel: self._load, Versions: self._versions, Predict: self._predict,
                          ComparePreprocessing: self._compare_preprocessing, SegmentPreview: self._segment_preview,
                          Explain: self._explain, Continue: self._continue, OpenReport: self._open_report,
                          ExplainAll: self._explain_all, CheckSanity: self._check_sanity,
                          EvaluateDataset: self._evaluate_dataset, ExplainWhy: self._explain_why,
                          ExplainSelection: self._explain_selection}

    @Slot(int, object, object)
    def run_job(self, request_id: int, job, token: threading.Event) -> None:
        """Run one job; every outcome is a signal, nothing escapes to Qt."""
        if token.is_set():
            # Superseded while it waited in the queue: skip it without a word.
            return
        self.sig_started.emit(request_id)
        self._request_id = request_id
        self._last_progress = 0.0
        try:
            value = self._dispatch(job, token)
        except Cancelled:
            self.sig_cancelled.emit(request_id)
        except LimelightError as error:
            self.sig_failed.emit(request_id, str(error))
        except Exception as error:  # A model can fail in any way (out of memory, bad graph...).
            log.exception("job %s failed", type(job).__name__)
            self.sig_failed.emit(request_id, _unexpected_message(job, error))
        else:
            self.sig_result.emit(JobResult(request_id, job, value))
        finally:
            self.sig_finished.emit(request_id)

    def _dispatch(self, job, token):
        def cancelled() -> bool:
            return token.is_set()

        try:
            handler = self._handlers[type(job)]
        except KeyError:
            raise TypeError(f"unknown job {job!r}") from None
        return handler(job, cancelled)

    def _progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_progress >= 1.0 / PROGRESS_RATE:
            self._last_progress = now
            self.sig_progress.emit(self._request_id, int(done), int(total))

    # --- Models ----------------------------------------------------------------------------

    def _load(self, job: LoadModel, cancelled) -> ModelInfo | TrustRequired:
        from limelight.core.models import import_tensorflow

        started = time.perf_counter()
        import_tensorflow()
        digest = None
        if job.source.startswith(BUILTIN_PREFIX):
            from limelight.core.zoo import load_builtin

            model = load_builtin(job.source[len(BUILTIN_PREFIX):])
        else:
            from limelight.core.models import content_sha256, load_model

            options = dict(preprocessing=job.preprocessing, labels_path=job.labels_path,
                           resize=job.resize)
            try:
                # Untrusted first, always: a file that needs no trust never runs unsafe.
                model = load_model(job.source, **options)
            except UntrustedModelError as error:
                # Hashed here, not on the GUI thread, and just before the load it vouches for.
                digest = content_sha256(job.source)
                if not (job.trust or digest in job.trusted_hashes):
                    return TrustRequired(job.source, error.reason, digest)
                model = load_model(job.source, trust=True, **options)
        if cancelled():
            raise Cancelled()  # another model was asked for: skip the warm-up
        _warm_up(model, cancelled)
        self._models.pop(job.source, None)
        self._models[job.source] = model
        while len(self._models) > MAX_LOADED_MODELS:
            self._models.popitem(last=False)
        return dataclasses.replace(model_info(model, sha256=digest), seconds=time.perf_counter() - started)

    def _model(self, source: str):
        try:
            model = self._models[source]
        except KeyError:
            raise LimelightError(f"the model {Path(source).name} is not loaded; "
                                 "choose it in the model picker first") from None
        self._models.move_to_end(source)
        return model

    @staticmethod
    def _versions(job: Versions, cancelled) -> dict:
        return _library_versions()

    # --- Predictions and explanations -------------------------------------------------------

    def _predict(self, job: Predict, cancelled) -> Predictions:
        return Predictions(job.model, job.path, tuple(self._model(job.model).top_classes(job.image, job.k)))

    def _compare_preprocessing(self, job: ComparePreprocessing, cancelled) -> PreprocessingChoices:
        from limelight.core.models import PREPROCESSING_MODES

        model = self._model(job.model)
        choices = tuple((mode, tuple(model.top_classes(job.image, job.k, preprocessing=mode)))
                        for mode in PREPROCESSING_MODES)
        return PreprocessingChoices(job.model, job.path, model.preprocessing, choices)

    @staticmethod
    def _open_report(job: OpenReport, cancelled):
        return open_report(job.path)

    def _segment_preview(self, job: SegmentPreview, cancelled) -> SegmentPreviewResult:
        from limelight.core.segmentation import segment, segment_boundaries, upscale_segments

        model = self._model(job.model)
        frame = model.frame(job.image)
        segments = segment(model.prepare(job.image), method=job.method, **dict(job.params))
        borders = segment_boundaries(upscale_segments(segments, frame.shape[:2]), mode="inner")
        rendered = np.array(frame, copy=True)
        rendered[borders] = PREVIEW_COLOUR
        return SegmentPreviewResult(job.model, job.path, job.method, job.params, rendered,
                                    int(segments.max()) + 1)

    def _explain(self, job: Explain, cancelled) -> ExplainResult:
        started = time.perf_counter()
        model = self._model(job.model)
        explanations = pipeline.explain(job.image, model, job.request, target=job.target,
                                        also_top_classes=LIME_TOP_CLASSES, caches=self._caches,
                                        progress=self._progress, cancelled=cancelled)
        target, explanation = next(iter(explanations.items()))
        return ExplainResult(job.model, job.path, job.request, target, model.frame(job.image),
                             explanation, time.perf_counter() - started)

    def _check_sanity(self, job: CheckSanity, cancelled):
        result = job.result
        return pipeline.check_sanity(job.image, self._model(job.model), result.explanation, result.request,
                                     target=result.target, random_state=0, caches=self._caches,
                                     progress=self._progress, cancelled=cancelled,
                                     step=lambda *step: self.sig_partial.emit(self._request_id, step))

    def _continue(self, job: Continue, cancelled) -> ExplainResult:
        started = time.perf_counter()
        explanation = pipeline.extend(job.image, self._model(job.model), job.result.explanation, job.result.request,
                                      target=job.target, num_samples=job.num_samples, caches=self._caches,
                                      progress=self._progress, cancelled=cancelled)
        return ExplainResult(job.model, job.result.path, job.result.request, job.target, job.result.frame,
                             explanation, time.perf_counter() - started)

    def _evaluate_dataset(self, job: EvaluateDataset, cancelled):
        from limelight.core.dataset import PredictionStore, evaluate

        return evaluate(self._model(job.model), job.dataset, mapping=job.mapping, store=PredictionStore.default(),
                        progress=self._progress, cancelled=cancelled)

    def _explain_all(self, job: ExplainAll, cancelled) -> BatchResult:
        from limelight.core.images import load_image

        model = self._model(job.model)
        info = model_info(model)
        written, failures = [], []
        written_for = {}  # each file written in this batch -> the photo it was written for
        total = len(job.paths)
        steps = 1000  # progress units per image, so a LIME run inside moves the bar smoothly
        for done, path in enumerate(job.paths):
            if cancelled():
                return BatchResult(tuple(written), tuple(failures), cancelled=True)

            def progress(part, whole, done=done):
                self._progress(done * steps + int(steps * part / max(whole, 1)), total * steps)

            progress(0, 1)
            try:
                image = load_image(path)
                explanations = pipeline.explain(image, model, job.request, progress=progress, cancelled=cancelled)
                target, explanation = next(iter(explanations.items()))
                written.extend(str(file) for file in pipeline.export(
                    image, explanation, info, target=target, photo_path=path, folder=job.folder, style=job.style,
                    force=job.overwrite, written_for=written_for))
            except Cancelled:
                return BatchResult(tuple(written), tuple(failures), cancelled=True)
            except LimelightError as error:
                failures.append(str(error))
        self._progress(total * steps, total * steps)
        return BatchResult(tuple(written), tuple(failures))


    def _explain_why(self, job: ExplainWhy, cancelled) -> WhyResult:
        from limelight.core.images import load_image
        from limelight.core.selection import image_request, image_targets

        started = time.perf_counter()
        model = self._model(job.model)
        path = job.evaluation.paths[job.position]
        photo = load_image(path)
        request = image_request(job.request, job.evaluation, job.position)
        explanations = pipeline.explain(photo, model, request, target=image_targets(job.evaluation, job.position),
                                        caches=self._caches, progress=self._progress, cancelled=cancelled)
        frame, seconds = model.frame(photo), time.perf_counter() - started
        return WhyResult(photo, tuple(ExplainResult(job.model, str(path), request, target, frame, explanation, seconds)
                                      for target, explanation in explanations.items()))

    def _explain_selection(self, job: ExplainSelection, cancelled):
        from limelight.core.selection import SaveOptions, explain_selection

        return explain_selection(self._model(job.model), job.evaluation, job.positions, job.request,
                                 folder=job.folder, options=SaveOptions(job.style, force=job.overwrite),
                                 progress=self._progress, cancelled=cancelled)


def _warm_up(model, cancelled) -> None:
    """Do once, while the model loads, what would otherwise make the first explanation slow.

    Traces the model's forward and Grad-CAM graphs (seconds on a large model), and imports the
    libraries the methods and the overlays use (seconds more). Imported here, they neither hold up the
    window's start nor hold the interpreter during the first run while the window draws progress.
    """
    from limelight.core.cam import explain_cam

    grey = np.full((*model.input_size, 3), 128, np.uint8)
    model.predict(grey[None])
    try:
        explain_cam(grey, model, cancelled=cancelled)
    except LimelightError:
        pass  # No feature map to explain: LIME still works, and says so if asked.
    # The histogram and plots (importing makes no Qt object), the overlays, LIME's fit, the methods.
    # Loading an extension module holds the interpreter lock, which would stall the window mid-run.
    import matplotlib.backends.backend_qtagg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import scipy.ndimage  # noqa: F401
    from skimage.color import label2rgb  # noqa: F401
    from skimage.filters import gaussian  # noqa: F401
    from skimage.segmentation import find_boundaries  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.metrics  # noqa: F401

    import limelight.core.gradients  # noqa: F401
    import limelight.core.perturbation  # noqa: F401
    from limelight.core.segmentation import SEGMENTATION_DEFAULTS, segment

    # Each superpixel algorithm, once: skimage imports some of what they use only when first called.
    tiny = np.full((16, 16, 3), 128, np.uint8)
    for method in SEGMENTATION_DEFAULTS:
        segment(tiny, method=method)


def _library_versions() -> dict:
    """The TensorFlow and Keras versions and the compute device, for Help > About."""
    from limelight.core.models import import_tensorflow

    tf = import_tensorflow()
    import keras

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = []
        for gpu in gpus:
            try:
                names.append(tf.config.experimental.get_device_details(gpu).get("device_name")
                             or gpu.name)
            except (ValueError, RuntimeError):
                names.append(gpu.name)
        device = "GPU: " + ", ".join(names)
    else:
        device = "CPU (no GPU found)"
    return {"tensorflow": tf.__version__, "keras": keras.__version__, "device": device}


def _unexpected_message(job, error: BaseException) -> str:
    text = " ".join(str(error).split())[:200] or type(error).__name__
    if isinstance(error, MemoryError) or "ResourceExhausted" in type(error).__name__ or (
            "out of memory" in text.lower()):
        return ("The model ran out of memory; lower the batch size or the number of samples "
                "and try again.")
    what = {LoadModel: "Loading the model", Predict: "Predicting", Explain: "Explaining",
            ExplainAll: "The batch export", SegmentPreview: "The superpixel preview",
            EvaluateDataset: "Evaluating the dataset", ExplainWhy: "Explaining why and why not",
            ExplainSelection: "The batch export"}.get(
        type(job), "The job")
    return f"{what} failed: {text}"
