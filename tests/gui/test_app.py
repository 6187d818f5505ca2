"""The desktop app as a user drives it: open, load models, explain, tune, save, cancel and close."""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QElapsedTimer, QMimeData, QPointF, QTimer, QUrl, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox

from limelight.gui import trust_dialog
from limelight.gui.main_window import sample_images
from limelight.gui.session import DEFAULT_SOURCE
from limelight.gui.controller import WorkerController
from limelight.gui.jobs import Predict

from .conftest import DEMO, JOB_TIMEOUT_MS, MODEL_TIMEOUT_MS


def qimage_array(image) -> np.ndarray:
    """A QImage as an (rows, cols, 3) uint8 array."""
    from PySide6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    return data.reshape(height, image.bytesPerLine())[:, :width * 3].reshape(height, width, 3).copy()


def drop(window, paths):
    """Drag files onto the window and drop them, as a file manager does."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    point = QPointF(window.width() / 2, window.height() / 2)
    # Qt's QDragEnterEvent takes a QPoint (PySide6 6.12 also accepts a QPointF); QDropEvent a QPointF.
    enter = QDragEnterEvent(point.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, event)
    return event


def set_method(window, method, **changes):
    panel = window.parameter_panel
    panel.set_request(dataclasses.replace(panel.request(), method=method, **changes))


def explain(qtbot, window, method="gradcam", **changes):
    """Click Explain with `method` and wait until the explanation is on screen."""
    set_method(window, method, **changes)
    with qtbot.waitSignal(window.sig_explanation_shown, timeout=JOB_TIMEOUT_MS) as blocker:
        window.parameter_panel.sig_explain_requested.emit()
    return blocker.args[0]


def shown_pixels(window) -> np.ndarray:
    return qimage_array(window.image_view.current_pixmap_image())


# --- Start-up ------------------------------------------------------------------------------

def test_first_start_selects_the_builtin_model_and_the_first_sample(qtbot, make_window):
    window = make_window(model=None, wait=False)
    # The window is up before the model: loading runs in the worker with a busy indicator.
    assert window.model_picker.is_busy()
    assert window.model_picker.current_source() in ("", DEFAULT_SOURCE)
    assert window.browser.paths() == [str(Path(p).resolve()) for p in sample_images()]
    assert Path(window.browser.current_path()).name == "chelsea.jpg"
    with qtbot.waitSignal(window.sig_predictions_shown, timeout=MODEL_TIMEOUT_MS,
                          check_params_cb=lambda p: p.model == DEFAULT_SOURCE) as blocker:
        pass
    assert not window.model_picker.is_busy()
    assert window.session.model_source() == DEFAULT_SOURCE
    assert blocker.args[0].top[0][1] == "Egyptian cat"
    # One click on Explain gives a first explanation.
    result = explain(qtbot, window, "gradcam")
    assert result.target == 285 and result.explanation.kind == "cam"
    assert shown_pixels(window).shape == (300, 451, 3)


def test_command_line_arguments_open_images_and_model(tmp_path):
    from limelight.gui.app import build_parser

    args = build_parser().parse_args(["a.jpg", "b.png", "--model", "m.keras", "--trust-model"])
    assert args.images == ["a.jpg", "b.png"] and args.model == "m.keras" and args.trust_model


# --- Opening images ------------------------------------------------------------------------

def test_each_method_family_starts_in_its_own_display(qtbot, make_window):
    window = make_window()
    combo = window.parameter_panel.method_combo
    for method, display in [("lime", "outline"), ("gradcam", "heatmap"), ("lime", "outline")]:
        combo.setCurrentIndex(combo.findData(method))
        combo.activated.emit(combo.currentIndex())
        assert window.overlay_controls.style().display == display
        # "Top features" counts superpixels: only LIME has them.
        assert window.overlay_controls.top_k.isEnabled() == (method == "lime")


def test_open_images_by_dialog_adds_them_and_remembers_the_folder(qtbot, make_window, shapes,
                                                                  settings, monkeypatch):
    window = make_window(images=[shapes[0][0]])
    chosen = [shapes[1][0], shapes[2][0]]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames",
                        staticmethod(lambda *args, **kwargs: (chosen, "")))
    window.commands.open_images.trigger()
    assert window.browser.paths() == [shapes[0][0], *chosen]
    assert settings.last_folder("images") == str(Path(chosen[0]).parent)
    # The first new image is selected, shown at its own size, and predicted.
    with qtbot.waitSignal(window.sig_predictions_shown, timeout=JOB_TIMEOUT_MS):
        pass
    assert window.session.current_path() == chosen[0]
    assert window.session.current_image().shape == (128, 128, 3)


def test_drop_files_and_folders_anywhere_on_the_window(qtbot, make_window, shapes, tmp_path):
    window = make_window(images=[shapes[0][0]])
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    nested = tmp_path / "more" / "deeper"
    nested.mkdir(parents=True)
    Image.new("RGB", (40, 30), "red").save(nested / "red.png")
    drop(window, [shapes[1][0], tmp_path / "more", notes])
    qtbot.waitUntil(lambda: window.browser.count() == 3, timeout=5000)
    assert window.browser.paths()[1:] == [shapes[1][0], str((nested / "red.png").resolve())]
    assert "neither an image nor a model" in window.message_bar.text()


def test_showing_a_photo_keeps_a_message_about_dropped_files_and_clears_one_about_the_last_photo(
        qtbot, make_window, shapes, tmp_path):
    window = make_window(images=[shapes[0][0], shapes[1][0]])
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    window.files.open_paths([notes])
    # A photo that finishes loading after the drop (as on a busy machine) leaves its message alone.
    with qtbot.waitSignal(window.sig_image_shown, timeout=5000):
        window.browser.select_path(shapes[1][0])
    assert "neither an image nor a model" in window.message_bar.text()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with qtbot.waitSignal(window.sig_message, timeout=5000):
        window.files.open_paths([broken])
    assert window.message_bar.text().startswith(str(broken))
    # Another photo on screen: the message about the broken one no longer applies.
    with qtbot.waitSignal(window.sig_image_shown, timeout=5000):
        window.browser.select_path(shapes[0][0])
    assert window.message_bar.text() == ""


def test_a_broken_image_gives_a_message_and_keeps_the_window_working(qtbot, make_window, shapes,
                                                                     tmp_path):
    window = make_window(images=[shapes[0][0]])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 this is not a jpeg")
    with qtbot.waitSignal(window.sig_message, timeout=5000) as blocker:
        window.files.open_paths([broken])
    assert blocker.args[0].startswith(str(broken)) and "Traceback" not in blocker.args[0]
    assert window.session.current_image() is None
    with qtbot.waitSignal(window.sig_image_shown, timeout=5000):
        window.browser.select_path(shapes[0][0])
    assert window.session.current_image().shape == (128, 128, 3)


# --- Models --------------------------------------------------------------------------------

def test_dropping_a_lambda_model_asks_for_trust_and_refusing_keeps_the_old_model(
        qtbot, make_window, shapes, model_files, monkeypatch):
    window = make_window(images=[shapes[0][0]])
    asked = []

    def refuse(dialog):
        asked.append((dialog.path.name, dialog.reason_label.text()))
        return QDialog.DialogCode.Rejected

    monkeypatch.setattr(trust_dialog.TrustDialog, "exec", refuse)
    drop(window, [model_files["lambda"]])
    qtbot.waitUntil(lambda: bool(asked), timeout=MODEL_TIMEOUT_MS)
    assert asked[0][0] == "with_lambda.keras" and "Lambda" in asked[0][1]
    qtbot.waitUntil(lambda: not window.model_picker.is_busy(), timeout=5000)
    assert window.session.model_source() == DEMO
    assert window.model_picker.current_source() == DEMO


def test_a_model_is_traced_while_loading_shows_so_the_first_explain_waits_for_nothing(
        qtbot, make_window, shapes, monkeypatch):
    import limelight.gui.worker as worker

    events, warm_up = [], worker._warm_up
    monkeypatch.setattr(worker, "_warm_up", lambda *args: (events.append("traced"), warm_up(*args)))
    window = make_window(images=[shapes[0][0]], wait=False)
    window.sig_model_loaded.connect(lambda info: events.append(("loaded", window.model_picker.is_busy())))
    qtbot.waitUntil(lambda: len(events) == 2, timeout=MODEL_TIMEOUT_MS)
    # The picker says "Loading" through the trace, and the time reported includes it.
    assert events == ["traced", ("loaded", False)]
    message = window.statusBar().currentMessage()
    assert message.startswith("Loaded ") and message.endswith(", ready to explain.")
    assert window.session.model_info().seconds > 0


def test_trusting_a_lambda_model_loads_it(qtbot, make_window, shapes, model_files, monkeypatch):
    window = make_window(images=[shapes[0][0]])
    monkeypatch.setattr(trust_dialog.TrustDialog, "exec", lambda dialog: QDialog.DialogCode.Accepted)
    with qtbot.waitSignal(window.sig_model_loaded, timeout=MODEL_TIMEOUT_MS) as blocker:
        drop(window, [model_files["lambda"]])
    info = blocker.args[0]
    assert info.source == model_files["lambda"] and info.trusted and info.num_classes == 3
    assert window.model_picker.current_source() == model_files["lambda"]


def test_a_broken_model_file_gives_a_message_and_keeps_the_old_model(qtbot, make_window, shapes,
                                                                     model_files):
    window = make_window(images=[shapes[0][0]])
    with qtbot.waitSignal(window.sig_message, timeout=MODEL_TIMEOUT_MS) as blocker:
        window.load_model(model_files["broken"])
    assert blocker.args[0].startswith(model_files["broken"]) and "zip" in blocker.args[0]
    assert window.session.model_source() == DEMO
    assert not window.model_picker.is_busy()


def test_a_user_model_shows_its_feeding_and_the_sidecar_keeps_the_choice(qtbot, make_window,
                                                                         shapes, model_files):
    window = make_window(images=[shapes[0][0]], model=model_files["safe"])
    picker = window.model_picker
    assert picker.model_info().preprocessing_guessed
    assert not picker.preprocessing_combo.isHidden()
    index = picker.preprocessing_combo.findData("symmetric")
    with qtbot.waitSignal(window.sig_model_loaded, timeout=MODEL_TIMEOUT_MS) as blocker:
        picker.preprocessing_combo.setCurrentIndex(index)
        picker.preprocessing_combo.activated.emit(index)
    assert blocker.args[0].preprocessing == "symmetric"
    assert not blocker.args[0].preprocessing_guessed
    assert Path(model_files["safe"] + ".limelight.json").is_file()
    assert model_files["safe"] in window.settings.recent_models()


# --- Explaining ----------------------------------------------------------------------------

def test_explain_with_lime_shows_superpixels_over_the_photo(qtbot, make_window, shapes):
    path, label, mask = shapes[0]
    window = make_window(images=[path])
    # The circle is predicted at 0.999, so each superpixel moves the probability by about 0.001:
    # 200 samples leave that in the noise; 1000 rank the object first for seeds 0 to 5.
    result = explain(qtbot, window, "lime", num_samples=1000, batch_size=50, seed=3,
                     segmentation="slic", segmentation_params=(("n_segments", 20),
                                                               ("compactness", 10.0),
                                                               ("sigma", 0.0)))
    explanation = result.explanation
    assert explanation.kind == "lime" and explanation.masks.shape[0] == 1000
    assert result.target == explanation.labels[0] == label
    # The superpixel LIME weighs highest covers part of the object.
    best = explanation.top_segments(label, 1)[0]
    assert np.any(mask[explanation.segments == best])
    photo = window.session.current_image()
    shown = shown_pixels(window)
    assert shown.shape == photo.shape
    assert np.any(shown != photo)
    info = window.session.explanation_info(result)
    assert info["samples"] == 1000 and info["seed"] == 3 and -1.0 <= info["fit"] <= 1.0


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_explain_with_gradcam_points_inside_the_object(qtbot, make_window, shapes, index):
    from scipy.ndimage import binary_dilation

    path, label, mask = shapes[index]
    window = make_window(images=[path])
    result = explain(qtbot, window, "gradcam")
    assert result.explanation.kind == "cam" and result.target == label
    weights = np.asarray(result.explanation.weight_map(result.target))
    assert weights.shape == (64, 64)
    # The pointing game with the 4-pixel tolerance the core tests use.
    peak = np.unravel_index(np.argmax(weights), weights.shape)
    assert binary_dilation(mask, iterations=4)[peak]


def test_choosing_another_class_redraws_lime_without_running_again(qtbot, make_window, shapes):
    window = make_window(images=[shapes[0][0]])
    result = explain(qtbot, window, "lime", num_samples=60, batch_size=30, seed=1)
    other = result.explanation.labels[1]
    with qtbot.assertNotEmitted(window.controller.sig_started):
        with qtbot.waitSignal(window.sig_explanation_shown, timeout=1000) as blocker:
            window.predictions_panel.sig_target_chosen.emit(other)
    assert blocker.args[0].target == other
    assert blocker.args[0].explanation is result.explanation


def test_overlay_controls_change_the_rendered_pixels(qtbot, make_window, shapes):
    window = make_window(images=[shapes[2][0]])
    explain(qtbot, window, "gradcam")
    controls = window.overlay_controls
    photo = window.session.current_image().astype(int)

    def changed():
        """Pixels that differ from the photo in the view now."""
        return np.abs(shown_pixels(window).astype(int) - photo).sum(axis=2) > 0

    controls.display.setCurrentIndex(controls.display.findData("block"))
    controls.alpha.setValue(50)
    controls.threshold.setValue(5)
    low = changed()
    controls.threshold.setValue(80)
    high = changed()
    # A higher threshold shows fewer regions, so block mode fades more of the photo.
    assert high.sum() > low.sum()
    controls.display.setCurrentIndex(controls.display.findData("heatmap"))
    controls.threshold.setValue(0)
    controls.alpha.setValue(60)
    heat = shown_pixels(window)
    controls.alpha.setValue(0)
    assert changed().sum() < (np.abs(heat.astype(int) - photo).sum(axis=2) > 0).sum()
    # The style is remembered for the next start.
    assert window.settings.last_style()["display"] == "heatmap"


def test_going_back_to_an_image_shows_its_last_explanation_at_once(qtbot, make_window, shapes):
    window = make_window(images=[shapes[0][0], shapes[1][0]])
    first = explain(qtbot, window, "gradcam")
    with qtbot.waitSignal(window.sig_image_shown, timeout=5000):
        window.browser.select_path(shapes[1][0])
    assert window.session.shown_result() is None
    with qtbot.waitSignal(window.sig_explanation_shown, timeout=1000) as blocker:
        window.browser.select_path(shapes[0][0])
    assert blocker.args[0] is first


def test_cancel_mid_run_stops_and_the_worker_stays_usable(qtbot, make_window, shapes):
    window = make_window(images=[shapes[0][0]])
    set_method(window, "lime", num_samples=200_000, batch_size=100, seed=0)
    with qtbot.waitSignal(window.controller.sig_progress, timeout=JOB_TIMEOUT_MS):
        window.parameter_panel.sig_explain_requested.emit()
    with qtbot.waitSignal(window.controller.sig_cancelled, timeout=5000):
        window.parameter_panel.sig_cancel_requested.emit()
    assert window.session.shown_result() is None
    # The next run starts once the worker has noticed the cancellation at its next batch.
    result = explain(qtbot, window, "gradcam")
    assert result.explanation.kind == "cam"


def test_a_new_run_cancels_the_old_one(qtbot, make_window, shapes):
    window = make_window(images=[shapes[0][0]])
    set_method(window, "lime", num_samples=200_000, batch_size=100, seed=0)
    with qtbot.waitSignal(window.controller.sig_progress, timeout=JOB_TIMEOUT_MS):
        window.parameter_panel.sig_explain_requested.emit()
    cancelled = []
    window.controller.sig_cancelled.connect(lambda request_id, job: cancelled.append(job))
    result = explain(qtbot, window, "gradcam")
    assert result.explanation.kind == "cam"
    assert [job.request.method for job in cancelled] == ["lime"]
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=5000)


def test_close_mid_run_stops_the_worker_cleanly(qtbot, make_window, shapes, capfd):
    window = make_window(images=[shapes[0][0]])
    set_method(window, "lime", num_samples=200_000, batch_size=100, seed=0)
    with qtbot.waitSignal(window.controller.sig_progress, timeout=JOB_TIMEOUT_MS):
        window.parameter_panel.sig_explain_requested.emit()
    window.close()
    assert not window.controller.thread_running()
    assert "QThread" not in capfd.readouterr().err


def runnable_but_waiting_ms() -> dict:
    """How long each Python thread has waited, runnable, for a CPU, by native id (Linux's schedstat).

    On a busy machine the scheduler alone can keep the GUI thread off the CPU, or the worker while
    it holds the interpreter lock, for hundreds of milliseconds; that is the machine, not the window
    stalling, so the check below leaves it out. Elsewhere this is empty and the gaps are wall time.
    """
    import threading

    waits = {}
    for thread in threading.enumerate():
        try:
            with open(f"/proc/self/task/{thread.native_id}/schedstat") as stats:
                waits[thread.native_id] = int(stats.read().split()[1]) / 1e6
        except (OSError, IndexError, ValueError, TypeError):
            pass
    return waits


def explain_ticking(qtbot, window):
    """Click Explain and tick every 10 ms until the result is shown and painted.

    Returns the gaps between ticks (ms) that the app caused, and how many of them came before the
    result was shown: those are the run's, the rest are showing it (histogram and plots included).
    """
    import threading

    gaps, clock = [], QElapsedTimer()
    waited = [runnable_but_waiting_ms()]
    timer = QTimer()
    timer.setInterval(10)

    def tick():
        # The gap the app caused: blocked by its own work or the worker holding the interpreter,
        # not waiting for the machine's other processes (this thread's wait, and the longest of
        # another Python thread's, which may have held the interpreter lock meanwhile).
        waited.append(runnable_but_waiting_ms())
        before, now = waited[-2], waited[-1]
        deltas = {tid: now[tid] - before.get(tid, now[tid]) for tid in now}
        gui = deltas.pop(threading.get_native_id(), 0.0)
        gaps.append(clock.restart() - gui - max(deltas.values(), default=0.0))

    timer.timeout.connect(tick)
    with qtbot.waitSignal(window.sig_explanation_shown, timeout=JOB_TIMEOUT_MS):
        window.parameter_panel.sig_explain_requested.emit()
        clock.start()
        timer.start()
    shown = len(gaps)
    qtbot.waitUntil(lambda: len(gaps) >= shown + 5, timeout=JOB_TIMEOUT_MS)
    timer.stop()
    return gaps, shown


def test_the_gui_thread_keeps_ticking_while_lime_runs_and_while_its_result_is_shown(qtbot, make_window, shapes):
    window = make_window(images=[shapes[0][0]])
    # 49 grid cells: no sample repeats, so all 1500 go to the model and the run lasts many ticks.
    set_method(window, "lime", num_samples=1500, batch_size=50, seed=0, segmentation="grid",
               segmentation_params=(("n_segments", 49),))
    gaps, shown = explain_ticking(qtbot, window)
    assert shown > 5
    running = gaps[1:shown]
    assert max(running) <= 100, f"the GUI thread stalled for {max(running)} ms while LIME ran"
    # The first result draws the plots' axes and text once; showing each later one redraws their bars
    # and curves over them.
    set_method(window, "lime", num_samples=1500, batch_size=50, seed=1, segmentation="grid",
               segmentation_params=(("n_segments", 49),))
    gaps, shown = explain_ticking(qtbot, window)
    showing = gaps[shown:]
    assert max(showing) <= 100, f"showing a result stalled the GUI thread for {max(showing)} ms"


def test_a_full_garbage_collection_after_a_model_loads_takes_the_gui_thread_little_time(make_window, shapes):
    import gc
    import time

    # The window collects garbage on the GUI thread; a full collection of everything TensorFlow and the
    # model made took it a quarter of a second, every dozen seconds or so of a long run.
    make_window(images=[shapes[0][0]])
    started = time.thread_time()
    gc.collect()
    assert time.thread_time() - started < 0.05


# --- Worker --------------------------------------------------------------------------------

def test_the_worker_drops_answers_nobody_waits_for(qtbot, shapes):
    controller = WorkerController()
    try:
        results = []
        image = np.zeros((64, 64, 3), np.uint8)
        from limelight.gui.jobs import LoadModel

        with qtbot.waitSignal(controller.sig_busy_changed, timeout=MODEL_TIMEOUT_MS,
                              check_params_cb=lambda busy: not busy):
            controller.submit(LoadModel(DEMO))
            for path in ("a", "b"):
                controller.submit(Predict(DEMO, path, image), channel="predict",
                                  on_result=lambda value: results.append(value.path))
        assert results == ["b"]
    finally:
        controller.shutdown()


def test_a_model_failure_mid_run_is_reported_and_the_window_recovers(qtbot, make_window, shapes,
                                                                     monkeypatch):
    from limelight.core import pipeline

    window = make_window(images=[shapes[0][0]])

    def out_of_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(pipeline, "explain", out_of_memory)
    set_method(window, "gradcam")
    with qtbot.waitSignal(window.sig_message, timeout=JOB_TIMEOUT_MS) as blocker:
        window.parameter_panel.sig_explain_requested.emit()
    assert "out of memory" in blocker.args[0]
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=5000)
    monkeypatch.undo()
    assert explain(qtbot, window, "gradcam").explanation.kind == "cam"


# --- Saving --------------------------------------------------------------------------------

def test_save_annotated_at_photo_size_and_never_overwrite_without_asking(
        qtbot, make_window, shapes, tmp_path, monkeypatch, settings):
    window = make_window(images=[shapes[0][0]])
    explain(qtbot, window, "gradcam")
    target = tmp_path / "out" / "annotated.png"
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args, **kwargs: (str(target), "")))
    window.commands.save.trigger()
    with Image.open(target) as saved:
        assert saved.size == (128, 128)
        first = np.asarray(saved.convert("RGB"))
    assert np.any(first != window.session.current_image())
    assert settings.last_folder("save") == str(target.parent)

    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *args, **kwargs: asked.append(args[2]) or QMessageBox.StandardButton.Cancel))
    target.write_bytes(b"keep me")
    window.commands.save.trigger()
    assert len(asked) == 1 and str(target) in asked[0]
    assert target.read_bytes() == b"keep me"
    monkeypatch.setattr(QMessageBox, "question",
                        staticmethod(lambda *args, **kwargs: QMessageBox.StandardButton.Yes))
    window.commands.save.trigger()
    with Image.open(target) as saved:
        assert saved.size == (128, 128)


def test_export_report_writes_json_arrays_and_figure(qtbot, make_window, shapes, tmp_path,
                                                     monkeypatch):
    from limelight.core.report import load_report

    window = make_window(images=[shapes[0][0]])
    result = explain(qtbot, window, "gradcam")
    target = tmp_path / "report.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *args, **kwargs: (str(target), "")))
    window.commands.export.trigger()
    assert (tmp_path / "report_figure.png").is_file() and (tmp_path / "report.npz").is_file()
    explanation, info = load_report(target)
    np.testing.assert_allclose(explanation.weight_map(result.target),
                               result.explanation.weight_map(result.target))
    assert info["image"]["name"] == "shape0.png"


def test_explain_all_and_export_is_one_job_that_asks_once_before_replacing(
        qtbot, make_window, shapes, tmp_path, monkeypatch):
    window = make_window(images=[p for p, *_ in shapes[:3]])
    set_method(window, "gradcam")
    out = tmp_path / "export"
    out.mkdir()
    with qtbot.waitSignal(window.controller.sig_finished, timeout=JOB_TIMEOUT_MS,
                          check_params_cb=lambda i, job: type(job).__name__ == "ExplainAll"):
        window.files.explain_all(out)
    images = sorted(p.name for p in out.glob("shape*_*.png") if not p.name.endswith("_figure.png"))
    assert len(images) == 3 and len(list(out.glob("*.json"))) == 3
    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *args, **kwargs: asked.append(1) or QMessageBox.StandardButton.Cancel))
    assert window.files.explain_all(out) is None
    assert asked == [1]


def test_explain_all_never_lets_two_photos_of_one_name_overwrite_each_other(
        qtbot, make_window, shapes, tmp_path, monkeypatch):
    import shutil

    photos = []
    for folder in ("a", "b"):  # the same scene twice, so the same class and the same file names
        (tmp_path / folder).mkdir()
        photos.append(shutil.copy(shapes[0][0], tmp_path / folder / "cat.png"))
    window = make_window(images=photos)
    set_method(window, "gradcam")
    out = tmp_path / "export"
    out.mkdir()
    (out / "cat_anything.png").write_bytes(b"")  # so the window asks before replacing, and the user says yes
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *args, **kwargs: QMessageBox.StandardButton.Yes))
    with qtbot.waitSignal(window.controller.sig_finished, timeout=JOB_TIMEOUT_MS,
                          check_params_cb=lambda i, job: type(job).__name__ == "ExplainAll"):
        window.files.explain_all(out)
    reports = [json.loads(p.read_text()) for p in out.glob("cat_*.json")]
    # The first photo's results stay; the second is refused in one line, not written over them.
    assert [r["image"]["path"] for r in reports] == [str(photos[0])] * len(reports) and reports
    qtbot.waitUntil(lambda: "earlier in this run" in window.message_bar.text(), timeout=JOB_TIMEOUT_MS)


def test_copy_puts_the_shown_image_on_the_clipboard(qtbot, make_window, shapes):
    window = make_window(images=[shapes[0][0]])
    explain(qtbot, window, "gradcam")
    window.commands.copy.trigger()
    copied = QApplication.clipboard().image()
    assert (copied.width(), copied.height()) == (128, 128)


# --- Compare, About, settings --------------------------------------------------------------

def test_compare_shows_two_methods_side_by_side(qtbot, make_window, shapes):
    window = make_window(images=[shapes[0][0]])
    window.show_compare()
    dialog = window.compare
    qtbot.waitUntil(lambda: all(p["result"] is not None for p in dialog._panes),
                    timeout=JOB_TIMEOUT_MS)
    kinds = [p["result"].explanation.kind for p in dialog._panes]
    assert kinds == ["cam", "lime"]
    dialog.close()


def test_about_names_the_library_versions_without_importing_tensorflow_here(
        qtbot, make_window, shapes, monkeypatch):
    window = make_window(images=[shapes[0][0]])
    qtbot.waitUntil(lambda: window.session.versions() is not None, timeout=JOB_TIMEOUT_MS)
    shown = []
    monkeypatch.setattr(QMessageBox, "about", staticmethod(lambda parent, title, text: shown.append(text)))
    window.commands.about.trigger()
    import keras
    import tensorflow as tf

    text = shown[0]
    assert tf.__version__ in text and keras.__version__ in text
    assert "CPU" in text or "GPU" in text


def test_settings_remember_layout_images_parameters_and_view(qtbot, make_window, shapes, settings):
    window = make_window(images=[shapes[0][0], shapes[1][0]])
    set_method(window, "lime", num_samples=321, seed=9)
    window.set_view_mode("split")
    window.predictions_dock.hide()
    window.close()

    again = make_window(images=None)
    assert again.browser.paths() == [shapes[0][0], shapes[1][0]]
    request = again.parameter_panel.request()
    assert (request.method, request.num_samples, request.seed) == ("lime", 321, 9)
    assert again.image_view.view_mode() == "split"
    assert again.predictions_dock.isHidden()
    assert again.session.model_source() == DEMO


# --- Parts: browser, settings --------------------------------------------------------------

def test_browser_makes_thumbnails_off_the_gui_thread_and_navigates_by_keyboard(qtbot, shapes,
                                                                             monkeypatch):
    import threading

    from PySide6.QtTest import QTest

    import limelight.gui.image_browser as image_browser

    threads = []
    original = image_browser.make_thumbnail

    def recording(*args):
        threads.append(threading.current_thread() is threading.main_thread())
        return original(*args)

    monkeypatch.setattr(image_browser, "make_thumbnail", recording)
    browser = image_browser.ImageBrowser()
    qtbot.addWidget(browser)
    selected = []
    browser.sig_image_selected.connect(selected.append)
    added, skipped = browser.add_paths([p for p, *_ in shapes[:3]] + [shapes[0][0], "notes.txt"])
    assert (added, skipped) == (3, 1)
    qtbot.waitUntil(lambda: len(threads) == 3, timeout=5000)
    assert threads == [False, False, False]
    assert selected[-1] == shapes[0][0]
    browser.list.setFocus()
    QTest.keyClick(browser.list, Qt.Key.Key_Down)
    assert selected[-1] == shapes[1][0]
    QTest.keyClick(browser.list, Qt.Key.Key_End)
    assert selected[-1] == shapes[2][0]
    browser.list.setCurrentRow(1)
    browser.remove_selected()
    assert browser.paths() == [shapes[0][0], shapes[2][0]]
    assert selected[-1] == shapes[2][0]
    assert browser.shutdown()


def test_settings_read_typed_values_and_survive_damaged_ones(tmp_path, model_files):
    from limelight.gui.settings import MAX_RECENT_MODELS, Settings

    path = tmp_path / "damaged.ini"
    path.write_text("[models]\nrecent=[not json\n[explain]\nrequest=42\n[folders]\n"
                    "images=/no/such/folder\n[view]\nmode=sideways\n")
    settings = Settings(path)
    assert settings.recent_models() == []
    assert settings.last_request() == {}
    assert settings.last_folder("images") == str(Path.home())
    assert settings.view_mode() == "explained"
    assert settings.geometry() is None

    for index in range(MAX_RECENT_MODELS + 2):
        copy = tmp_path / f"model{index}.keras"
        copy.write_bytes(b"")
        settings.add_recent_model(copy)
    (tmp_path / f"model{MAX_RECENT_MODELS + 1}.keras").unlink()
    recent = settings.recent_models()
    assert recent[0] == str(tmp_path / f"model{MAX_RECENT_MODELS}.keras")
    assert len(recent) == MAX_RECENT_MODELS - 1
    settings.set_last_folder("models", model_files["safe"])
    settings.sync()
    assert Settings(path).last_folder("models") == str(Path(model_files["safe"]).parent)


def test_compare_with_another_model_leaves_the_window_model_alone(qtbot, make_window, shapes,
                                                                 monkeypatch):
    from limelight.gui.compare import CompareDialog

    window = make_window(images=[shapes[0][0]])
    dialog = CompareDialog(window.session, window.painter, request=window.parameter_panel.request,
                           style=window.overlay_controls.style, parent=window)
    qtbot.addWidget(dialog)
    left = dialog._panes[0]["model"]
    left.setCurrentIndex(left.findData(DEFAULT_SOURCE))
    with qtbot.assertNotEmitted(window.sig_model_loaded, wait=100):
        dialog.run()
        qtbot.waitUntil(lambda: all(p["result"] is not None for p in dialog._panes),
                        timeout=JOB_TIMEOUT_MS)
    assert [p["result"].model for p in dialog._panes] == [DEFAULT_SOURCE, DEMO]
    assert window.session.model_source() == DEMO


def test_searching_another_class_explains_it_with_gradcam(qtbot, make_window, shapes):
    from limelight.core.demo import CLASS_NAMES

    path, label, _ = shapes[0]
    window = make_window(images=[path])
    explain(qtbot, window, "gradcam")
    other = (label + 1) % len(CLASS_NAMES)
    panel = window.predictions_panel
    with qtbot.waitSignal(window.sig_explanation_shown, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.search.setText(CLASS_NAMES[other])
        panel.search.returnPressed.emit()
    assert blocker.args[0].target == other == window.session.target()
    assert window.session.explanation_info(blocker.args[0])["label"] == CLASS_NAMES[other]


def test_superpixel_preview_draws_borders_before_any_run(qtbot, make_window, shapes):
    window = make_window(images=[shapes[0][0]])
    set_method(window, "lime", segmentation="grid",
               segmentation_params=(("n_segments", 16),))
    photo = window.session.current_image()
    window.parameter_panel.preview.setChecked(True)
    qtbot.waitUntil(lambda: window.session.preview() is not None, timeout=JOB_TIMEOUT_MS)
    assert window.session.preview().count == 16 and window.session.shown_result() is None
    borders = np.any(shown_pixels(window) != photo, axis=2)
    # A 4x4 grid on a 128-pixel photo: borders run along rows and columns 32, 64 and 96.
    assert borders[:, 31:33].all() or borders[:, 32:34].all()
    assert not borders[8:24, 8:24].any()  # inside the first cell
    window.parameter_panel.preview.setChecked(False)
    assert np.array_equal(shown_pixels(window), photo)


def test_explain_pressed_while_the_selected_photo_loads_explains_that_photo(qtbot, make_window, shapes):
    first, second = shapes[0][0], shapes[1][0]
    window = make_window(images=[first, second])
    assert window.session.current_path() == first
    # Explain at once: the loader's answer comes through the event loop, so the photo is still loading.
    window.browser.select_path(second)
    with qtbot.waitSignal(window.sig_explanation_shown, timeout=JOB_TIMEOUT_MS) as blocker:
        window.explain()
    result = blocker.args[0]
    assert result.path == second == window.session.current_path()
    np.testing.assert_array_equal(result.frame, window.session.current_image())
