"""The background worker: one QObject on one QThread runs every TensorFlow job, and its controller."""
import dataclasses
import gc
import logging
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThread, QThreadPool, QTimer, Signal, Slot

from limelight.core import pipeline
from limelight.core.errors import Cancelled, LimelightError, UntrustedModelError
from limelight.core.pipeline import (BUILTIN_PREFIX, ExplainRequest, ModelInfo, PredictionCaches, model_info,
                                     open_report)

log = logging.getLogger(__name__)

#: The `model` of an ExplainResult read from a saved report: this prefix and the report's path.
REPORT_PREFIX = "report:"
#: Most progress updates a second sent to the window: more only costs repaints.
PROGRESS_RATE = 20
#: Models kept loaded at once (the current one and what Compare uses).
MAX_LOADED_MODELS = 3
#: How many of the top classes LIME explains besides the target: they come from the same samples for free.
LIME_TOP_CLASSES = 5
#: Stack of the worker thread: the platform default (512 kB on macOS) is too small for TensorFlow.
WORKER_STACK_BYTES = 64 * 2**20
#: Colour of superpixel borders in the preview.
PREVIEW_COLOUR = (255, 221, 0)
#: Add samples continues a LIME run with this many times its samples, rounded up to a hundred.
ADD_SAMPLES_FACTOR = 1.5


# --- Jobs: what the window asks for ---------------------------------------------------------

@dataclass(frozen=True)
class LoadModel:
    """Load a model: ``builtin:<name>`` or a path, with the user's trust and feeding choices.

    A file that would run code loads only when `trust` is set (the --trust-model flag) or its
    content's SHA-256 is among `trusted_hashes`; otherwise the answer is a TrustRequired.
    """

    source: str
    trust: bool = False
    preprocessing: str | None = None
    labels_path: str | None = None
    resize: str | None = None
    trusted_hashes: frozenset = frozenset()


@dataclass(frozen=True, eq=False)
class Predict:
    """The top `k` classes of one photo."""

    model: str
    path: str
    image: np.ndarray
    k: int = 5


@dataclass(frozen=True, eq=False)
class ComparePreprocessing:
    """The top classes of one photo under every preprocessing mode, to ask which one a model takes."""

    model: str
    path: str
    image: np.ndarray
    k: int = 3


@dataclass(frozen=True, eq=False)
class SegmentPreview:
    """The superpixels LIME would use, drawn on the part of the photo the model sees."""

    model: str
    path: str
    image: np.ndarray
    method: str
    params: tuple = ()


@dataclass(frozen=True, eq=False)
class Explain:
    """Explain one photo with the method and parameters of `request`."""

    model: str
    path: str
    image: np.ndarray
    request: ExplainRequest
    target: int | None = None


@dataclass(frozen=True, eq=False)
class Continue:
    """Go on from a LIME explanation (an ExplainResult) with its samples: more of them, or another class.

    Samples the worker has predicted before cost nothing: adding samples sends only the new ones
    to the model, and another class with as many samples only its faithfulness curves.
    """

    model: str
    image: np.ndarray
    result: Any
    target: int
    num_samples: int


@dataclass(frozen=True)
class OpenReport:
    """Read a saved JSON report and the photo it explains, without a model."""

    path: str


@dataclass(frozen=True, eq=False)
class ExplainAll:
    """Explain every photo in `paths` for its top class and write annotated images and reports."""

    model: str
    paths: tuple
    request: Any
    style: Any
    folder: str
    overwrite: bool = False


@dataclass(frozen=True)
class Versions:
    """The library versions and compute device, for Help > About."""


# --- Results: what the worker answers -------------------------------------------------------

@dataclass(frozen=True)
class TrustRequired:
    """The model file would run code; the user must say they trust this content (`sha256`)."""

    source: str
    reason: str
    sha256: str


@dataclass(frozen=True)
class Predictions:
    model: str
    path: str
    top: tuple


@dataclass(frozen=True)
class PreprocessingChoices:
    """Each preprocessing mode with the photo's top classes under it: ((mode, top), ...)."""

    model: str
    path: str
    current: str
    choices: tuple


@dataclass(frozen=True, eq=False)
class SegmentPreviewResult:
    model: str
    path: str
    method: str
    params: tuple
    rendered: np.ndarray
    count: int


@dataclass(frozen=True, eq=False)
class ExplainResult:
    """An explanation and the part of the photo it covers (`frame`, original resolution)."""

    model: str
    path: str
    request: Any
    target: int
    frame: np.ndarray
    explanation: Any
    seconds: float


@dataclass(frozen=True)
class BatchResult:
    written: tuple
    failures: tuple
    cancelled: bool = False


@dataclass(frozen=True)
class JobResult:
    """A job's answer, tagged with the request id the controller gave the job."""

    request_id: int
    job: Any
    value: Any


# --- The worker -----------------------------------------------------------------------------

class Worker(QObject):
    """Runs jobs one at a time on its own thread; TensorFlow is imported here, never on the GUI thread."""

    sig_started = Signal(int)
    """A job with this request id started."""
    sig_progress = Signal(int, int, int)
    """Request id, work done and total of the running job, at most PROGRESS_RATE times a second."""
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

        if isinstance(job, LoadModel):
            return self._load(job, cancelled)
        if isinstance(job, Versions):
            return _versions()
        if isinstance(job, Predict):
            top = self._model(job.model).top_classes(job.image, job.k)
            return Predictions(job.model, job.path, tuple(top))
        if isinstance(job, ComparePreprocessing):
            from limelight.core.models import PREPROCESSING_MODES

            model = self._model(job.model)
            choices = tuple((mode, tuple(model.top_classes(job.image, job.k, preprocessing=mode)))
                            for mode in PREPROCESSING_MODES)
            return PreprocessingChoices(job.model, job.path, model.preprocessing, choices)
        if isinstance(job, SegmentPreview):
            return self._segment_preview(job)
        if isinstance(job, Explain):
            return self._explain(job, cancelled)
        if isinstance(job, Continue):
            return self._continue(job, cancelled)
        if isinstance(job, OpenReport):
            return open_report(job.path)
        if isinstance(job, ExplainAll):
            return self._explain_all(job, cancelled)
        raise TypeError(f"unknown job {job!r}")

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

    # --- Explanations ----------------------------------------------------------------------

    def _segment_preview(self, job: SegmentPreview) -> SegmentPreviewResult:
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

    def _continue(self, job: Continue, cancelled) -> ExplainResult:
        from limelight.core.lime import explain_lime
        from limelight.core.scores import add_faithfulness

        started = time.perf_counter()
        model = self._model(job.model)
        shown, request = job.result.explanation, job.result.request
        prepared = model.prepare(job.image)
        cache = self._caches.get(model, prepared, shown.segments, request.segmentation,
                                 request.segmentation_params, request.hide)
        same_samples = job.num_samples == shown.num_samples
        if same_samples and job.target in shown.labels:
            explanation = add_faithfulness(shown, cache, [job.target], cancelled=cancelled)
        else:
            labels = [*shown.labels, *([] if job.target in shown.labels else [job.target])]
            explanation = explain_lime(
                prepared, model.predict, segments=shown.segments, labels=labels,
                num_samples=job.num_samples, batch_size=request.batch_size, hide=request.hide,
                kernel_width=shown.params["kernel_width"], random_state=shown.params["seed"],
                segmentation=shown.params.get("segmentation"), faithfulness=[job.target], cache=cache,
                progress=self._progress, cancelled=cancelled)
            if same_samples:
                # The same samples give the other classes the same weights, so their curves still hold.
                explanation = dataclasses.replace(
                    explanation, faithfulness={**shown.faithfulness, **explanation.faithfulness})
        return ExplainResult(job.model, job.result.path, request, job.target, job.result.frame, explanation,
                             time.perf_counter() - started)

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


def more_samples(num_samples: int) -> int:
    """The sample count Add samples continues a LIME run with: half as many again, in hundreds."""
    return -(-int(num_samples * ADD_SAMPLES_FACTOR) // 100) * 100


def _warm_up(model, cancelled) -> None:
    """Do once, while the model loads, what would otherwise make the first explanation slow.

    Traces the model's forward and Grad-CAM graphs (seconds on a large model), and imports the
    libraries LIME and the overlays use (seconds more). Imported here, they neither hold up the
    window's start nor hold the interpreter during the first run while the window draws progress.
    """
    from limelight.core.cam import explain_cam

    grey = np.full((*model.input_size, 3), 128, np.uint8)
    model.predict(grey[None])
    try:
        explain_cam(grey, model, cancelled=cancelled)
    except LimelightError:
        pass  # No feature map to explain: LIME still works, and says so if asked.
    # The histogram and plots (importing makes no Qt object), the overlays, the superpixels, LIME's fit.
    import matplotlib.backends.backend_qtagg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import scipy.ndimage  # noqa: F401
    from skimage.color import label2rgb  # noqa: F401
    from skimage.filters import gaussian  # noqa: F401
    from skimage.segmentation import find_boundaries, quickshift  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.metrics  # noqa: F401


def _versions() -> dict:
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
            ExplainAll: "The batch export", SegmentPreview: "The superpixel preview"}.get(
        type(job), "The job")
    return f"{what} failed: {text}"


# --- The controller -------------------------------------------------------------------------

@dataclass
class _Live:
    job: Any
    channel: str | None
    token: threading.Event = field(default_factory=threading.Event)


_CONTROLLERS = weakref.WeakSet()


class _GuiThreadGarbageCollector:
    """Runs Python's cyclic garbage collector on the GUI thread only, while worker threads live.

    The collector otherwise runs in whichever thread happens to allocate, and a cycle holding a
    Qt object then destroys it in the worker thread: Keras deserialising a model triggered one
    and crashed the process. Collections follow Python's own thresholds, a generation at a time.
    """

    holders: set = set()
    timer: QTimer | None = None

    @classmethod
    def hold(cls, holder) -> None:
        if not cls.holders:
            gc.disable()
            cls.timer = QTimer(QCoreApplication.instance())
            cls.timer.setInterval(100)
            cls.timer.timeout.connect(cls.collect)
            cls.timer.start()
        cls.holders.add(id(holder))

    @classmethod
    def release(cls, holder) -> None:
        cls.holders.discard(id(holder))
        if not cls.holders and cls.timer is not None:
            cls.timer.stop()
            cls.timer.deleteLater()
            cls.timer = None
            gc.enable()

    @staticmethod
    def collect() -> None:
        counts, thresholds = gc.get_count(), gc.get_threshold()
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)
                return


class _WorkerThread(QThread):
    """A QThread whose event loop runs inside a Python frame.

    Without it, each queued slot call creates and destroys a Python thread state, so
    TensorFlow's per-thread state (graph stacks in threading.local) vanishes between jobs
    and graph tracing crashes.
    """

    def run(self) -> None:
        self.exec()


def running_controllers() -> list:
    """Controllers whose thread still runs (the test suite's leak check uses this)."""
    return [c for c in list(_CONTROLLERS) if c.thread_running()]


class WorkerController(QObject):
    """Owns the worker and its thread; hands out request ids and drops answers nobody waits for.

    Jobs submitted on the same `channel` replace each other: submitting one cancels the
    job still running or waiting on that channel, and any answer it still gives is dropped.
    """

    sig_started = Signal(int, object)
    """A job started: request id and the job."""
    sig_progress = Signal(int, int, int)
    """Request id, work done and total."""
    sig_result = Signal(int, object, object)
    """Request id, the job and its result value."""
    sig_failed = Signal(int, object, str)
    """Request id, the job and a one-line message."""
    sig_cancelled = Signal(int, object)
    """Request id and the job that stopped because it was cancelled."""
    sig_finished = Signal(int, object)
    """Request id and the job that ended, whatever the outcome."""
    sig_busy_changed = Signal(bool)
    """Whether any job is running or waiting."""
    _sig_run = Signal(int, object, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._ids = count(1)
        self._live: dict[int, _Live] = {}
        self._running: int | None = None
        self._thread = _WorkerThread()
        self._thread.setObjectName("limelight-worker")
        # TensorFlow's graph tracing recurses deeply; macOS' 512 kB default thread stack is too small.
        self._thread.setStackSize(WORKER_STACK_BYTES)
        self._worker = Worker()
        self._worker.moveToThread(self._thread)
        self._sig_run.connect(self._worker.run_job)
        self._worker.sig_started.connect(self._on_started)
        self._worker.sig_progress.connect(self._on_progress)
        self._worker.sig_result.connect(self._on_result)
        self._worker.sig_failed.connect(self._on_failed)
        self._worker.sig_cancelled.connect(self._on_cancelled)
        self._worker.sig_finished.connect(self._on_finished)
        self._thread.finished.connect(self._worker.deleteLater)
        _GuiThreadGarbageCollector.hold(self)
        self._thread.start()
        _CONTROLLERS.add(self)

    # --- Asking ----------------------------------------------------------------------------

    def submit(self, job, *, channel: str | None = None) -> int:
        """Queue `job` for the worker and return its request id."""
        if not self._thread.isRunning():
            raise RuntimeError("the worker has been shut down")
        if channel is not None:
            self.cancel_channel(channel)
        request_id = next(self._ids)
        live = _Live(job, channel)
        was_busy = self.busy
        self._live[request_id] = live
        self._sig_run.emit(request_id, job, live.token)
        if not was_busy:
            self.sig_busy_changed.emit(True)
        return request_id

    def cancel(self, request_id: int) -> None:
        """Stop a job cooperatively; its answer, if any still comes, is dropped."""
        live = self._live.pop(request_id, None)
        if live is not None:
            live.token.set()
            if request_id == self._running:
                # The window hears about the cancellation now; the worker stops at its next check.
                self.sig_cancelled.emit(request_id, live.job)
            self._check_idle()

    def cancel_channel(self, channel: str) -> None:
        for request_id in [i for i, live in self._live.items() if live.channel == channel]:
            self.cancel(request_id)

    def cancel_all(self) -> None:
        for request_id in list(self._live):
            self.cancel(request_id)

    def is_live(self, request_id: int) -> bool:
        """Whether the job is still running or waiting and its answer is wanted."""
        return request_id in self._live

    def live_jobs(self, channel: str | None = None) -> list[int]:
        return [i for i, live in self._live.items() if channel is None or live.channel == channel]

    @property
    def busy(self) -> bool:
        return bool(self._live)

    def thread_running(self) -> bool:
        try:
            return self._thread.isRunning()
        except RuntimeError:  # The C++ thread object is already gone.
            return False

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel everything, stop the thread and wait for it at most `timeout_ms`.

        Returns whether the thread stopped. A job that cannot be interrupted (a model
        still loading) may outlast the wait; the thread is then left to finish on its own
        rather than terminated, which could corrupt TensorFlow's state.
        """
        self.cancel_all()
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        if stopped:
            _GuiThreadGarbageCollector.release(self)
        else:
            # Still running Python: the collector stays on the GUI thread.
            log.warning("the worker did not stop within %d ms", timeout_ms)
            _ORPHANS.append((self._thread, self._worker))
        return stopped

    # --- Hearing back ----------------------------------------------------------------------

    @Slot(int)
    def _on_started(self, request_id: int) -> None:
        self._running = request_id
        if request_id in self._live:
            self.sig_started.emit(request_id, self._live[request_id].job)

    @Slot(int, int, int)
    def _on_progress(self, request_id: int, done: int, total: int) -> None:
        if request_id in self._live:
            self.sig_progress.emit(request_id, done, total)

    @Slot(object)
    def _on_result(self, result: JobResult) -> None:
        if result.request_id in self._live:
            self.sig_result.emit(result.request_id, result.job, result.value)

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        live = self._live.get(request_id)
        if live is not None:
            self.sig_failed.emit(request_id, live.job, message)

    @Slot(int)
    def _on_cancelled(self, request_id: int) -> None:
        live = self._live.get(request_id)
        if live is not None:
            self.sig_cancelled.emit(request_id, live.job)

    @Slot(int)
    def _on_finished(self, request_id: int) -> None:
        if self._running == request_id:
            self._running = None
        live = self._live.pop(request_id, None)
        if live is not None:
            self.sig_finished.emit(request_id, live.job)
        self._check_idle()

    def _check_idle(self) -> None:
        if not self._live:
            self.sig_busy_changed.emit(False)


# Threads that outlived a bounded wait at shutdown are kept referenced, never destroyed running.
_ORPHANS: list = []


def wait_for_orphans(timeout_ms: int = 60_000) -> bool:
    """Before the process exits, let threads that outlived their shutdown wait finish their job.

    Destroying a running QThread aborts the process; an uninterruptible job (a model that
    is still loading) ends on its own soon enough.
    """
    done = all(thread.wait(timeout_ms) for thread, _ in _ORPHANS)
    _ORPHANS.clear()
    return done


# --- Small jobs off the GUI thread that need no TensorFlow ------------------------------------

class _TaskSignals(QObject):
    sig_done = Signal(object, object)
    """The task's key and its return value."""
    sig_failed = Signal(object, str)
    """The task's key and a one-line message."""


class _Task(QRunnable):
    def __init__(self, key, function, args, signals):
        super().__init__()
        self._key, self._function, self._args, self._signals = key, function, args, signals

    def run(self) -> None:
        try:
            value = self._function(*self._args)
        except LimelightError as error:
            self._signals.sig_failed.emit(self._key, str(error))
        except Exception as error:  # A background task must never take the app down.
            log.exception("background task failed")
            self._signals.sig_failed.emit(self._key, f"{type(error).__name__}: {error}")
        else:
            self._signals.sig_done.emit(self._key, value)


class BackgroundTasks(QObject):
    """Runs short numpy/Pillow tasks (image decoding, thumbnails) on Qt's thread pool.

    They never wait behind a long explanation in the worker's queue, and never touch
    TensorFlow, so they are safe to run beside it.
    """

    sig_done = Signal(object, object)
    """The key given to `start` and the function's return value."""
    sig_failed = Signal(object, str)
    """The key given to `start` and a one-line message."""

    def __init__(self, parent=None, *, max_threads: int = 2):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._signals = _TaskSignals()
        # Queued: the signals object lives on this thread, tasks emit from pool threads.
        self._signals.sig_done.connect(self.sig_done)
        self._signals.sig_failed.connect(self.sig_failed)

    def start(self, key, function, *args) -> None:
        self._pool.start(_Task(key, function, args, self._signals))

    def clear(self) -> None:
        """Drop the tasks that have not started yet."""
        self._pool.clear()

    def wait(self, timeout_ms: int = 5000) -> bool:
        """Drop waiting tasks and wait for the running ones."""
        self._pool.clear()
        return self._pool.waitForDone(timeout_ms)

    def active(self) -> int:
        return self._pool.activeThreadCount()
