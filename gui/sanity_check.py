"""The sanity check of the shown explanation: run in the background on request, and kept per explanation and class."""
from collections import OrderedDict

from PySide6.QtCore import QObject, Signal, Slot

from limelight.core.sanity import describe_cost
from limelight.gui.jobs import REPORT_PREFIX, CheckSanity

__all__ = ["SanityChecks", "MAX_RESULTS"]

#: Sanity results kept, one per model, photo, request and class: the explanations looked at lately.
MAX_RESULTS = 32


class SanityChecks(QObject):
    """Checks the session's shown explanation when asked, in the worker, and remembers each result.

    A view shows what its signals say and asks with `check` and `cancel`. A report's explanation
    shows the check saved with it and cannot be checked again (its model is not loaded).

    Parameters
    ----------
    session : Session
        Whose shown explanation is checked, and whose worker runs the check.
    parent : QObject, optional
    """

    sig_shown = Signal(object, str)
    """The shown explanation's sanity (a Sanity, or None) and what checking it costs ("": it cannot be checked)."""
    sig_started = Signal(str)
    """A check started; what it costs."""
    sig_progress = Signal(int, int)
    """Work done and total of the running check."""
    sig_step = Signal(int, str, object, float)
    """A step of the running check: layers randomised, the lowest one, its map and its Spearman to the original."""
    sig_failed = Signal(str)
    """The check failed: a one-line message."""
    sig_cancelled = Signal()
    """The check was cancelled."""

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self._session = session
        self._results: OrderedDict = OrderedDict()
        self._job = None  # the running check's handle
        self._job_key = None  # and what it checks
        self._opened = None  # the report opened last, whose saved check its result shows
        session.sig_result_shown.connect(self._on_result_shown)
        session.sig_report_opened.connect(self._on_report_opened)
        session.sig_running_changed.connect(self._on_running_changed)

    def show_in(self, strip) -> None:
        """Take requests from `strip` (a SanityStrip) and show it every check's state."""
        strip.sig_check_requested.connect(self.check)
        strip.sig_cancel_requested.connect(self.cancel)
        self.sig_shown.connect(strip.show_check)
        self.sig_started.connect(strip.set_running)
        self.sig_progress.connect(strip.set_progress)
        self.sig_step.connect(strip.add_step)
        self.sig_failed.connect(strip.set_failed)
        self.sig_cancelled.connect(strip.set_cancelled)

    def result_for(self, result):
        """The sanity check of an ExplainResult's explanation and class, or None when it was not checked."""
        return None if result is None else self._results.get(_key(result))

    @property
    def running(self) -> bool:
        """Whether a check is under way."""
        return self._job is not None

    @Slot()
    def check(self) -> None:
        """Check the shown explanation's method for its class, in the background."""
        result = self._session.shown_result()
        if result is None or not self._session.is_live(result) or self._job is not None:
            return
        key, cost = _key(result), describe_cost(result.explanation)
        job = CheckSanity(result.model, self._session.current_image_for(result), result)
        self._job_key = key
        self._job = self._session.controller.submit(
            job, channel="sanity", on_result=lambda sanity: self._on_checked(key, sanity),
            on_failed=self._on_failed, on_progress=self.sig_progress.emit, on_cancelled=self._on_cancelled,
            on_partial=lambda step: self.sig_step.emit(*step))
        self.sig_started.emit(cost)

    @Slot()
    def cancel(self) -> None:
        """Stop the running check, if any."""
        if self._job is not None:
            self._job.cancel()  # none of its callbacks comes after this
            self._job = self._job_key = None
            self.sig_cancelled.emit()

    def _on_checked(self, key, sanity) -> None:
        self._job = self._job_key = None
        self._remember(key, sanity)
        shown = self._session.shown_result()
        if shown is not None and _key(shown) == key:
            self.sig_shown.emit(sanity, describe_cost(shown.explanation))

    def _on_failed(self, message: str) -> None:
        self._job = self._job_key = None
        self.sig_failed.emit(message)

    def _on_cancelled(self) -> None:
        self._job = self._job_key = None
        self.sig_cancelled.emit()

    def _remember(self, key, sanity) -> None:
        self._results[key] = sanity
        self._results.move_to_end(key)
        while len(self._results) > MAX_RESULTS:
            self._results.popitem(last=False)

    @Slot(object)
    def _on_report_opened(self, opened) -> None:
        self._opened = opened

    @Slot(object)
    def _on_result_shown(self, result) -> None:
        # A check of another explanation would only hold up the worker; the same one shown again
        # (its faithfulness arrived) goes on.
        if result is None or _key(result) != self._job_key:
            self.cancel()
        if result is None:
            self.sig_shown.emit(None, "")
            return
        opened = self._opened
        if (opened is not None and result.model == REPORT_PREFIX + opened.path and _key(result) not in self._results
                and getattr(opened.info.get("sanity"), "target", None) == result.target):
            self._remember(_key(result), opened.info["sanity"])
        live = self._session.is_live(result)
        self.sig_shown.emit(self.result_for(result), describe_cost(result.explanation) if live else "")

    @Slot(bool, bool)
    def _on_running_changed(self, running: bool, auto: bool) -> None:
        # A new explanation goes first: the worker runs one job at a time.
        if running:
            self.cancel()


def _key(result) -> tuple:
    """What identifies an explanation's check: its model, photo, request and class."""
    return result.model, result.path, result.request.key(), int(result.target)
