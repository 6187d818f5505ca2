"""Rough handling and faults: fast clicks, switching mid-run, closing mid-load, failing models, full disks, damaged settings."""
import dataclasses
import errno
import threading
import time

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from limelight.gui.settings import DAMAGED_SUFFIX, Settings

from .conftest import DEMO, JOB_TIMEOUT_MS, MODEL_TIMEOUT_MS
from .test_app import explain, set_method, shown_pixels

# Long enough that a run is always still going when the next click comes.
ENDLESS_LIME = dict(num_samples=200_000, batch_size=100, seed=0)


@pytest.fixture
def shown_on_screen():
    """Record, for every explanation a window shows, whether it belongs to what is on screen."""
    def watch(window):
        seen = []
        window.sig_explanation_shown.connect(lambda result: seen.append(
            (result.path == window.session.current_path(), result.model == window.session.model_source())))
        return seen

    return watch


def wait_idle(qtbot, window):
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=JOB_TIMEOUT_MS)


def is_running(window) -> bool:
    return window.commands.cancel.isVisible() or window.parameter_panel.cancel_button.isVisibleTo(
        window.parameter_panel)


# --- Fast and rough clicking ---------------------------------------------------------------------

def test_200_rapid_explain_cancel_alternations(qtbot, make_window, shapes, shown_on_screen):
    window = make_window(images=[shapes[0][0]])
    seen = shown_on_screen(window)
    set_method(window, "lime", **ENDLESS_LIME)
    panel = window.parameter_panel
    for _ in range(200):
        panel.sig_explain_requested.emit()
        QApplication.processEvents()
        panel.sig_cancel_requested.emit()
    assert not is_running(window), "the window still shows a run after the last Cancel"
    wait_idle(qtbot, window)
    assert window.session.shown_result() is None and seen == []
    # The worker is not wedged: the next run gives the explanation of the image on screen.
    result = explain(qtbot, window, "gradcam")
    assert result.path == window.session.current_path() and seen == [(True, True)]
    # The run's end arrives just after its result.
    qtbot.waitUntil(lambda: not is_running(window), timeout=5000)


def test_cancelling_a_run_that_waits_behind_another_job(qtbot, make_window, shapes):
    window = make_window(images=[shapes[0][0]])
    set_method(window, "lime", **ENDLESS_LIME)
    # A model load is still queued in the worker, so this explanation has not started yet.
    window.load_model(DEMO, True)
    window.parameter_panel.sig_explain_requested.emit()
    assert is_running(window)
    window.parameter_panel.sig_cancel_requested.emit()
    assert not is_running(window)
    wait_idle(qtbot, window)
    assert window.session.shown_result() is None


def test_switching_images_mid_run_never_shows_the_other_images_result(qtbot, make_window, shapes,
                                                                      shown_on_screen):
    window = make_window(images=[shapes[0][0], shapes[1][0]])
    seen = shown_on_screen(window)
    set_method(window, "lime", num_samples=1000, batch_size=50, seed=0)
    with qtbot.waitSignal(window.controller.sig_progress, timeout=JOB_TIMEOUT_MS):
        window.parameter_panel.sig_explain_requested.emit()
    with qtbot.waitSignal(window.sig_image_shown, timeout=5000):
        window.browser.select_path(shapes[1][0])
    wait_idle(qtbot, window)
    assert window.session.shown_result() is None and seen == []
    assert np.array_equal(shown_pixels(window), window.session.current_image())
    # Back on the first image, its finished explanation is there at once.
    with qtbot.waitSignal(window.sig_explanation_shown, timeout=5000) as blocker:
        window.browser.select_path(shapes[0][0])
    assert blocker.args[0].path == shapes[0][0] and seen == [(True, True)]


def test_switching_the_model_mid_run_never_shows_the_old_models_result(
        qtbot, make_window, shapes, model_files, shown_on_screen):
    window = make_window(images=[shapes[0][0]])
    seen = shown_on_screen(window)
    set_method(window, "lime", num_samples=1000, batch_size=50, seed=0)
    with qtbot.waitSignal(window.controller.sig_progress, timeout=JOB_TIMEOUT_MS):
        window.parameter_panel.sig_explain_requested.emit()
    with qtbot.waitSignal(window.sig_model_loaded, timeout=MODEL_TIMEOUT_MS):
        window.load_model(model_files["safe"])
    wait_idle(qtbot, window)
    assert window.session.model_source() == model_files["safe"]
    assert all(path and model for path, model in seen)
    assert window.session.shown_result() is None
    assert np.array_equal(shown_pixels(window), window.session.current_image())


def test_switching_image_and_model_back_and_forth_while_explaining(qtbot, make_window, shapes,
                                                                  model_files, shown_on_screen):
    window = make_window(images=[p for p, *_ in shapes[:3]])
    seen = shown_on_screen(window)
    set_method(window, "gradcam")
    models = [model_files["safe"], DEMO]
    for step in range(12):
        window.browser.select_path(shapes[step % 3][0])
        window.parameter_panel.sig_explain_requested.emit()
        if step % 4 == 3:
            window.load_model(models[step // 4 % 2])
        QApplication.processEvents()
    wait_idle(qtbot, window)
    assert all(path and model for path, model in seen), seen
    result = explain(qtbot, window, "gradcam")
    assert (result.path, result.model) == (window.session.current_path(), window.session.model_source())


@pytest.fixture
def slow_builtin_load(monkeypatch):
    """Make loading a built-in model take `seconds` in the worker; returns an Event set at its start."""
    import limelight.core.zoo as zoo

    started = threading.Event()
    original = zoo.load_builtin

    def slow(seconds):
        def load(*args, **kwargs):
            started.set()
            time.sleep(seconds)  # a big model loading: the worker is busy, uninterruptibly
            return original(*args, **kwargs)

        monkeypatch.setattr(zoo, "load_builtin", load)
        return started

    return slow


def test_closing_during_a_model_load(qtbot, make_window, shapes, slow_builtin_load):
    started = slow_builtin_load(0.5)
    window = make_window(images=[shapes[0][0]], wait=False)
    loaded = []
    window.sig_model_loaded.connect(loaded.append)
    qtbot.waitUntil(started.is_set, timeout=MODEL_TIMEOUT_MS)
    window.close()
    assert not window.controller.thread_running()
    QApplication.processEvents()
    assert loaded == []


def test_closing_during_a_load_that_outlasts_the_shutdown_wait(qtbot, make_window, shapes,
                                                               slow_builtin_load, monkeypatch):
    import limelight.gui.main_window as main_window
    from limelight.gui.controller import wait_for_orphans

    monkeypatch.setattr(main_window, "SHUTDOWN_WAIT_MS", 20)
    started = slow_builtin_load(1.0)
    window = make_window(images=[shapes[0][0]], wait=False)
    qtbot.waitUntil(started.is_set, timeout=MODEL_TIMEOUT_MS)
    window.close()
    # The load goes on in its thread, which is kept, never destroyed running, until it ends.
    assert window.controller.thread_running()
    assert wait_for_orphans(30_000)
    QApplication.processEvents()
    assert not window.controller.thread_running()


# --- A model that fails --------------------------------------------------------------------------

def failing_predict(monkeypatch, error, *, after_batches):
    """Make the model's predict raise `error` on multi-image batches after `after_batches` of them.

    Single photos (the window's own Predict and warm-up jobs, which may run before or after the
    patch) pass untouched, so the failure always lands inside the explanation's sampling.
    """
    from limelight.core.models import ClassifierModel

    original, calls = ClassifierModel.predict, []

    def predict(self, batch, **options):
        if len(batch) > 1:
            calls.append(len(batch))
            if len(calls) > after_batches:
                raise error
        return original(self, batch, **options)

    monkeypatch.setattr(ClassifierModel, "predict", predict)
    return calls


def resource_exhausted():
    import tensorflow as tf

    return tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor of shape "
                                                        "[100,64,64,32]")


@pytest.mark.parametrize("error, shown", [
    (lambda: RuntimeError("the graph hit a NaN"), "Explaining failed: the graph hit a NaN"),
    (lambda: MemoryError(), "ran out of memory"),
    (resource_exhausted, "ran out of memory")])
def test_the_model_failing_mid_explanation_is_reported_and_the_next_run_works(
        qtbot, make_window, shapes, monkeypatch, error, shown):
    window = make_window(images=[shapes[0][0]])
    calls = failing_predict(monkeypatch, error(), after_batches=3)
    # 49 grid cells give 2**49 masks: no sample repeats, so every batch reaches the model.
    set_method(window, "lime", num_samples=500, batch_size=50, seed=0, segmentation="grid",
               segmentation_params=(("n_segments", 49),))
    with qtbot.waitSignal(window.sig_message, timeout=JOB_TIMEOUT_MS) as blocker:
        window.parameter_panel.sig_explain_requested.emit()
    assert calls == [50] * 4  # it failed part way through, after real batches
    assert shown in blocker.args[0] and shown in window.message_bar.text()
    assert "Traceback" not in blocker.args[0]
    wait_idle(qtbot, window)
    assert not is_running(window) and window.session.shown_result() is None
    monkeypatch.undo()
    result = explain(qtbot, window, "lime", num_samples=100, batch_size=50, seed=0)
    assert result.explanation.kind == "lime" and not window.message_bar.isVisible()


# --- A full disk --------------------------------------------------------------------------------

def disk_full(*args, **kwargs):
    stream = args[1] if len(args) > 1 else kwargs.get("fp") or kwargs.get("fname")
    stream.write(b"\0" * 1000)  # part of the file made it to disk before the space ran out
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def explained(qtbot, make_window, shapes, tmp_path):
    window = make_window(images=[shapes[0][0]])
    explain(qtbot, window, "gradcam")
    out = tmp_path / "out"
    out.mkdir()
    return window, out


def test_disk_full_while_saving_an_image_leaves_no_partial_file(explained, monkeypatch):
    from PIL import Image

    window, out = explained
    monkeypatch.setattr(Image.Image, "save", disk_full)
    assert not window.files.save_annotated(out / "annotated.png")
    assert "No space left on device" in window.message_bar.text()
    assert "free disk space" in window.message_bar.text()
    assert list(out.iterdir()) == []


def test_disk_full_while_exporting_leaves_none_of_the_report(explained, monkeypatch):
    from matplotlib.figure import Figure

    window, out = explained
    # The JSON and its arrays are written; the figure, last, fails.
    monkeypatch.setattr(Figure, "savefig", disk_full)
    assert not window.files.export_report(out / "report.json")
    assert "No space left on device" in window.message_bar.text()
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    assert window.files.export_report(out / "report.json")
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.npz",
                                                     "report_figure.png"]


def test_permission_denied_while_saving(explained, monkeypatch):
    import limelight.core.report as report

    window, out = explained

    def denied(path, mode="r", *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(report, "open", denied, raising=False)
    assert not window.files.save_annotated(out / "annotated.png")
    assert "Permission denied" in window.message_bar.text()
    assert "choose another output folder" in window.message_bar.text()
    assert list(out.iterdir()) == []


# --- Damaged settings ---------------------------------------------------------------------------

def test_a_corrupt_settings_file_falls_back_to_defaults(qtbot, make_window, shapes, tmp_path,
                                                       caplog):
    path = tmp_path / "corrupt.ini"
    garbage = bytes(range(256)) * 8
    path.write_bytes(garbage)
    with caplog.at_level("WARNING", logger="limelight.gui.settings"):
        settings = Settings(path)
    assert any("is damaged; starting from the defaults" in r.getMessage() for r in caplog.records)
    # Nothing is lost: the damaged file is kept beside the fresh one.
    assert (tmp_path / f"corrupt.ini{DAMAGED_SUFFIX}").read_bytes() == garbage
    window = make_window(images=[shapes[0][0]], settings_=settings)
    assert window.session.model_source() == DEMO
    assert window.parameter_panel.request().method == "gradcam"
    window.close()
    assert Settings(path).last_model() == DEMO


def test_damaged_values_in_a_readable_settings_file_read_as_defaults(qtbot, make_window, shapes,
                                                                     tmp_path, caplog):
    path = tmp_path / "odd.ini"
    path.write_bytes(b"[window]\ngeometry=@Rect(1 2 3 4)\nstate=a, b, c\n"
                     b"[folders]\nimages=@ByteArray(\\xff\\xfe)\n"
                     b"[models]\nrecent=1, 2\nlast=@Size(3 4)\n"
                     b"[view]\nmode=@ByteArray(\\xff)\n"
                     b"[explain]\nrequest=@Invalid()\n[overlay]\nstyle={\"display\": 7}\n")
    with caplog.at_level("WARNING", logger="limelight.gui.settings"):
        window = make_window(images=[shapes[0][0]], settings_=Settings(path))
    assert window.session.model_source() == DEMO and window.image_view.view_mode() == "explained"
    assert any("ignoring the damaged setting" in r.getMessage() for r in caplog.records)
    result = explain(qtbot, window, "gradcam")
    assert dataclasses.asdict(window.overlay_controls.style())["display"] in (
        "heatmap", "outline", "block") and result.explanation.kind == "cam"


def test_garbage_cycles_die_on_the_gui_thread_while_a_worker_lives(qtbot, make_window, shapes):
    # A cycle holding a Qt object, collected in the worker thread, once crashed the process.
    import gc
    import threading

    window = make_window(images=[shapes[0][0]])
    assert not gc.isenabled()
    died_on_gui_thread = []

    class Cycle:
        def __del__(self):
            died_on_gui_thread.append(threading.current_thread() is threading.main_thread())

    cycle = Cycle()
    cycle.itself = cycle
    del cycle
    # Live objects past the youngest generation's threshold: freed at once, they would not count, and
    # an idle worker allocates nothing that would.
    churn = [[] for _ in range(5 * gc.get_threshold()[0])]
    qtbot.waitUntil(lambda: bool(died_on_gui_thread), timeout=5000)
    del churn
    assert died_on_gui_thread == [True]
    # A stopped worker hands collection back (other tests' orphaned workers may still hold it).
    from limelight.gui.controller import _GuiThreadGarbageCollector

    controller = window.controller
    window.close()
    assert id(controller) not in _GuiThreadGarbageCollector.holders
