"""The worker's controller: it owns the one worker thread, hands out job handles and calls each submitter back."""
import gc
import logging
import threading
import weakref
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

from limelight.gui.worker import JobResult, Worker

log = logging.getLogger(__name__)

#: Stack of the worker thread: the platform default (512 kB on macOS) is too small for TensorFlow.
WORKER_STACK_BYTES = 64 * 2**20


@dataclass
class _Live:
    """A job submitted and not yet ended, with the callbacks of whoever submitted it."""

    job: Any
    channel: str | None
    on_result: Callable | None = None
    on_failed: Callable | None = None
    on_progress: Callable | None = None
    on_cancelled: Callable | None = None
    on_finished: Callable | None = None
    on_partial: Callable | None = None
    token: threading.Event = field(default_factory=threading.Event)


class JobHandle:
    """A submitted job, as its submitter holds it: cancel it, or ask whether it still runs or waits."""

    def __init__(self, controller: "WorkerController", request_id: int):
        self._controller = controller
        self.request_id = request_id

    def cancel(self) -> None:
        """Stop the job cooperatively; none of its callbacks is called after this."""
        self._controller.cancel(self.request_id)

    def is_live(self) -> bool:
        """Whether the job is still running or waiting and its answer is wanted."""
        return self._controller.is_live(self.request_id)


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


def settle_garbage() -> None:
    """Collect everything now, then leave the survivors out of later collections (`gc.freeze`).

    TensorFlow and a loaded model make hundreds of thousands of long-lived objects, and one full
    collection of them holds the GUI thread for a quarter of a second. Settled when a model has
    loaded, the full collections that run while the window explains scan only what was made since.
    Unfrozen first, so that the models the worker has let go of are collected.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


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
    """Owns the worker and its thread; each answer goes to the callbacks of whoever submitted the job.

    Jobs submitted on the same `channel` replace each other: submitting one cancels the
    job still running or waiting on that channel, and any answer it still gives is dropped.
    The signals below let an observer (a status bar, a test) follow every job; answers
    themselves are never broadcast.
    """

    sig_started = Signal(int, object)
    """A job started: request id and the job."""
    sig_progress = Signal(int, int, int)
    """Request id, work done and total."""
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
        self._worker.sig_partial.connect(self._on_partial)
        self._worker.sig_result.connect(self._on_result)
        self._worker.sig_failed.connect(self._on_failed)
        self._worker.sig_cancelled.connect(self._on_cancelled)
        self._worker.sig_finished.connect(self._on_finished)
        self._thread.finished.connect(self._worker.deleteLater)
        _GuiThreadGarbageCollector.hold(self)
        self._thread.start()
        _CONTROLLERS.add(self)

    # --- Asking ----------------------------------------------------------------------------

    def submit(self, job, *, channel: str | None = None, on_result: Callable | None = None,
               on_failed: Callable | None = None, on_progress: Callable | None = None,
               on_cancelled: Callable | None = None, on_finished: Callable | None = None,
               on_partial: Callable | None = None) -> JobHandle:
        """Queue `job` for the worker; its answer goes to the callbacks given here, on the GUI thread.

        Parameters
        ----------
        job : a job dataclass
            What to run.
        channel : str, optional
            Cancel the job still running or waiting on this channel first.
        on_result : callable, optional
            ``on_result(value)`` with the job's answer.
        on_failed : callable, optional
            ``on_failed(message)`` with a one-line message for the user.
        on_progress : callable, optional
            ``on_progress(done, total)``, at most PROGRESS_RATE times a second.
        on_cancelled : callable, optional
            ``on_cancelled()`` when the job stops because it was cancelled while running.
        on_finished : callable, optional
            ``on_finished()`` when the job ends, whatever the outcome, unless cancelled first.
        on_partial : callable, optional
            ``on_partial(part)`` with each part of the answer the job tells as it goes (a sanity step).

        Returns
        -------
        JobHandle
            Cancels the job; after that none of its callbacks is called.
        """
        if not self._thread.isRunning():
            raise RuntimeError("the worker has been shut down")
        if channel is not None:
            self.cancel_channel(channel)
        request_id = next(self._ids)
        live = _Live(job, channel, on_result, on_failed, on_progress, on_cancelled, on_finished, on_partial)
        was_busy = self.busy
        self._live[request_id] = live
        self._sig_run.emit(request_id, job, live.token)
        if not was_busy:
            self.sig_busy_changed.emit(True)
        return JobHandle(self, request_id)

    def cancel(self, request_id: int) -> None:
        """Stop a job cooperatively; its answer, if any still comes, is dropped."""
        live = self._live.pop(request_id, None)
        if live is not None:
            live.token.set()
            if request_id == self._running:
                # The submitter hears about the cancellation now; the worker stops at its next check.
                _call(live.on_cancelled)
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
        live = self._live.get(request_id)
        if live is not None:
            _call(live.on_progress, done, total)
            self.sig_progress.emit(request_id, done, total)

    @Slot(int, object)
    def _on_partial(self, request_id: int, part) -> None:
        live = self._live.get(request_id)
        if live is not None:
            _call(live.on_partial, part)

    @Slot(object)
    def _on_result(self, result: JobResult) -> None:
        live = self._live.get(result.request_id)
        if live is not None:
            _call(live.on_result, result.value)

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        live = self._live.get(request_id)
        if live is not None:
            _call(live.on_failed, message)

    @Slot(int)
    def _on_cancelled(self, request_id: int) -> None:
        live = self._live.get(request_id)
        if live is not None:
            _call(live.on_cancelled)
            self.sig_cancelled.emit(request_id, live.job)

    @Slot(int)
    def _on_finished(self, request_id: int) -> None:
        if self._running == request_id:
            self._running = None
        live = self._live.pop(request_id, None)
        if live is not None:
            _call(live.on_finished)
            self.sig_finished.emit(request_id, live.job)
        self._check_idle()

    def _check_idle(self) -> None:
        if not self._live:
            self.sig_busy_changed.emit(False)


def _call(callback, *args) -> None:
    if callback is not None:
        callback(*args)


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
