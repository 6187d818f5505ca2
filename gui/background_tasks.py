"""Short jobs that need no TensorFlow (decoding photos, thumbnails) on Qt's thread pool, beside the worker."""
import logging

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from limelight.core.errors import LimelightError

log = logging.getLogger(__name__)


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
