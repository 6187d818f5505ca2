"""Check sanity in the window: in the background with progress and Cancel, the verdict and strip, saved and reopened."""
from PySide6.QtCore import Qt

from limelight.gui.sanity_strip import _WORD_COLOURS as _COLOURS
from tests.gui.conftest import JOB_TIMEOUT_MS
from tests.gui.test_app import explain


def test_check_sanity_runs_in_the_background_shows_the_verdict_and_survives_a_report(
        qtbot, make_window, shapes, tmp_path):
    window = make_window(images=[shapes[0][0]])
    explain(qtbot, window, "gradcam")
    strip = window.predictions_panel.sanity_strip
    assert not strip.isHidden() and strip.button.isEnabled()
    assert "up to 9 Grad-CAM runs" in strip.button.toolTip()
    qtbot.mouseClick(strip.button, Qt.MouseButton.LeftButton)
    assert strip.running and strip.button.text() == "Cancel"
    qtbot.waitUntil(lambda: not strip.running, timeout=JOB_TIMEOUT_MS)
    sanity = window.sanity.result_for(window.session.shown_result())
    assert sanity is not None and f"sanity: <span style='color: {_COLOURS[sanity.word]}'>{sanity.word}</span>" \
        in strip.verdict.text()
    assert strip._grid.count() == 2 * len(sanity.maps) == 18

    # Save Report keeps it; opening the report shows it again, with no check offered (no model for it).
    path = tmp_path / "report.json"
    assert window.files.export_report(path)
    with qtbot.waitSignal(window.sig_explanation_shown, timeout=JOB_TIMEOUT_MS):
        window.files.open_report(path)
    qtbot.waitUntil(lambda: strip._grid.count() == 18, timeout=JOB_TIMEOUT_MS)
    assert sanity.word in strip.verdict.text() and not strip.button.isEnabled()


def test_cancel_stops_the_check_and_offers_it_again(qtbot, make_window, shapes):
    window = make_window(images=[shapes[1][0]])
    explain(qtbot, window, "lime", num_samples=300, seed=0)
    strip = window.predictions_panel.sanity_strip
    assert "LIME runs of 300 samples" in strip.button.toolTip()
    qtbot.mouseClick(strip.button, Qt.MouseButton.LeftButton)
    assert strip.running
    qtbot.mouseClick(strip.button, Qt.MouseButton.LeftButton)
    assert not strip.running and "cancelled" in strip.verdict.text() and strip.button.text() == "Check sanity"
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=JOB_TIMEOUT_MS)
    assert window.sanity.result_for(window.session.shown_result()) is None


def test_the_strip_fills_map_by_map_as_layers_are_randomised(qtbot, make_window, shapes):
    window = make_window(images=[shapes[0][0]])
    explain(qtbot, window, "gradcam")
    strip = window.predictions_panel.sanity_strip
    seen = []  # at each step: the maps shown, their captions, and whether the check still runs

    def on_step(randomised, layer, picture, spearman):
        seen.append((strip._grid.count() // 2, strip.step_captions()[-1], strip.running, randomised))

    window.sanity.sig_step.connect(on_step)
    qtbot.mouseClick(strip.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not strip.running, timeout=JOB_TIMEOUT_MS)
    sanity = window.sanity.result_for(window.session.shown_result())
    assert [shown for shown, *_ in seen] == list(range(1, len(sanity.maps) + 1))
    assert all(running for *_, running, _ in seen)
    assert [caption for _, caption, *_ in seen] == ["original", *(f"{rho:.2f}" for rho in sanity.spearman[1:])]
    assert tuple(randomised for *_, randomised in seen) == sanity.randomised
    assert strip.step_captions() == [caption for _, caption, *_ in seen]


def test_limes_random_class_run_costs_the_windows_model_no_call(qtbot, make_window, shapes, monkeypatch):
    from limelight.core.models import ClassifierModel

    calls = []  # (which model object, images) per predict call, from the worker thread
    predict = ClassifierModel.predict

    def counting(self, batch):
        calls.append((id(self), len(batch)))
        return predict(self, batch)

    monkeypatch.setattr(ClassifierModel, "predict", counting)
    window = make_window(images=[shapes[1][0]])
    result = explain(qtbot, window, "lime", num_samples=200, seed=0)
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=JOB_TIMEOUT_MS)
    users = {model for model, _ in calls}
    calls.clear()
    strip = window.predictions_panel.sanity_strip
    qtbot.mouseClick(strip.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not strip.running, timeout=JOB_TIMEOUT_MS)
    assert window.sanity.result_for(window.session.shown_result()).random_class != result.target
    # The randomised copies predict every sample again; the loaded model predicts none: its
    # random-class run finds every sample's probabilities in the window's cache.
    assert [rows for model, rows in calls if model in users] == []
    assert sum(rows for model, rows in calls if model not in users) >= 8 * 200
