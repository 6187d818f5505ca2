"""Trust scores in the window: stability and faithfulness shown, Add samples, no wasted model calls, reports reopened."""
import json
import shutil

import numpy as np
import pytest

from limelight.core.models import ClassifierModel
from limelight.core.images import place_in_photo
from limelight.core.pipeline import ExplainRequest
from limelight.gui.parameter_panel import ParameterPanel
from limelight.gui.jobs import more_samples

from .conftest import JOB_TIMEOUT_MS
from .test_app import explain, shown_pixels

# 16 superpixels on the demo model's 64x64 input: enough for a top 5 and 16-step curves, and the
# first shape's top 5 is stable after about 1,200 samples.
SLIC = dict(segmentation="slic", segmentation_params=(("n_segments", 16), ("compactness", 10.0), ("sigma", 0.0)))


@pytest.fixture
def model_rows(monkeypatch):
    """Count the images each call of any model's predict gets, from the worker thread."""
    calls = []
    predict = ClassifierModel.predict

    def counting(self, batch):
        calls.append(len(batch))
        return predict(self, batch)

    monkeypatch.setattr(ClassifierModel, "predict", counting)
    return calls


def wait_idle(qtbot, window):
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=JOB_TIMEOUT_MS)


def lime(qtbot, window, **changes):
    return explain(qtbot, window, "lime", batch_size=50, seed=2, **{**SLIC, **changes})


def auc_text(f):
    """The info panel's faithfulness rows as plain text: deletion and insertion AUC over the random order's."""
    return f"AUC\n{f.deletion_auc:.2f}\n{f.insertion_auc:.2f}\nRandom\n{f.random_auc:.2f}\n{f.random_auc:.2f}"


def test_auto_samples_is_the_default_and_the_info_shows_the_shown_labels_scores(qtbot, make_window, shapes):
    assert ExplainRequest().num_samples == "auto"
    window = make_window(images=[shapes[0][0]])
    assert window.parameter_panel.request().num_samples == "auto"
    result = lime(qtbot, window)
    wait_idle(qtbot, window)
    explanation, label = result.explanation, result.target
    stability, curves = explanation.stability[label], explanation.faithfulness[label]
    assert explanation.params["auto"] == {"target_stability": 0.9, "max_samples": 4000, "stopped":
                                          f"stable: tie-aware agreement {stability.value:.2f} reached 0.9 at "
                                          f"{explanation.num_samples} samples"}
    text = window.predictions_panel.info_text()
    assert f"Samples\n{explanation.num_samples:,} (auto)" in text
    assert f"Stability\n{stability.value:.2f} {stability.word}" in text
    assert auc_text(curves) in text
    plotted = window.predictions_panel.faithfulness_plot.plotted()
    np.testing.assert_allclose(plotted["deletion"][1], curves.deletion)
    np.testing.assert_allclose(plotted["insertion"][1], curves.insertion)
    np.testing.assert_allclose(plotted["insertion_random"][1], curves.random)
    np.testing.assert_allclose(plotted["deletion_random"][1], curves.random[::-1])
    # Stable: nothing to do, so no hint and no button.
    panel = window.predictions_panel
    assert stability.word == "stable" and panel.hint.text() == ""
    assert not panel.hint_row.isVisibleTo(panel) and window.commands.add_samples.isEnabled()


def test_the_plots_are_built_when_the_model_loads_and_an_explanation_fills_them(qtbot, make_window, shapes):
    from limelight.gui.predictions_panel import MEASURING

    window = make_window(images=[shapes[0][0]])
    panel, histogram = window.predictions_panel, window.overlay_controls.histogram
    # The histogram waits, empty; the faithfulness plot, hidden, leaves the predictions their room.
    assert histogram.isVisibleTo(window.overlay_controls) and histogram.values() is None
    assert not panel.faithfulness_plot.isVisibleTo(panel)
    lime(qtbot, window)
    wait_idle(qtbot, window)
    assert panel.faithfulness_plot.isVisibleTo(panel) and panel.faithfulness_plot.note() == ""
    assert set(panel.faithfulness_plot.plotted()) == {
        "deletion", "deletion_random", "insertion", "insertion_random"}
    assert histogram.values() is not None
    panel.set_info({"method": "LIME", "faithfulness": MEASURING})
    assert panel.faithfulness_plot.note() == "Measuring…" and panel.faithfulness_plot.plotted() == {}


def test_an_unstable_explanation_says_so_and_add_samples_sends_only_the_new_samples(
        qtbot, make_window, shapes, model_rows):
    window = make_window(images=[shapes[1][0]])
    result = lime(qtbot, window, num_samples=60)
    wait_idle(qtbot, window)
    first = result.explanation
    assert first.stability[result.target].word != "stable"
    panel = window.predictions_panel
    assert first.stability[result.target].hint == "add samples" and panel.hint.text() == "To make it stable:"
    assert panel.add_samples_button.isVisibleTo(panel) and window.commands.add_samples.isEnabled()
    before = sum(model_rows)
    with qtbot.waitSignal(window.sig_explanation_shown, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.add_samples_button.click()
    more = blocker.args[0].explanation
    sent = sum(model_rows) - before
    assert more.num_samples == more_samples(60) == 100
    # The run goes on: the first samples are the same ones, and only the new ones (plus the
    # target's new faithfulness curves, at most 2 x 20 images) went to the model.
    np.testing.assert_array_equal(more.masks[:60], first.masks)
    new_masks = {row.tobytes() for row in more.masks[60:]} - {row.tobytes() for row in first.masks}
    assert len(new_masks) <= sent <= len(new_masks) + 40
    assert f"Samples\n{more.num_samples:,}" in panel.info_text()
    assert more.stability[result.target].num_samples == 100


def test_another_class_costs_no_new_sample_predictions(qtbot, make_window, shapes, model_rows):
    window = make_window(images=[shapes[2][0]])
    result = lime(qtbot, window, num_samples=200)
    wait_idle(qtbot, window)
    explanation = result.explanation
    other = explanation.labels[1]
    assert other not in explanation.faithfulness
    before = sum(model_rows)
    # A class of the run shows at once; only its faithfulness curves are measured, in the background.
    with qtbot.waitSignal(window.sig_explanation_shown, timeout=1000):
        window.predictions_panel.sig_target_chosen.emit(other)
    assert "measuring…" in window.predictions_panel.info_text()
    with qtbot.waitSignal(window.sig_explanation_shown, timeout=JOB_TIMEOUT_MS) as blocker:
        pass
    shown = blocker.args[0]
    assert shown.target == other and other in shown.explanation.faithfulness
    assert sum(model_rows) - before <= 2 * 19
    np.testing.assert_array_equal(shown.explanation.weights[other], explanation.weights[other])
    assert auc_text(shown.explanation.faithfulness[other]) in window.predictions_panel.info_text()
    # A class the run did not explain: the same samples, from the cache, and its curves.
    unexplained = next(i for i in range(7) if i not in explanation.labels)
    before = sum(model_rows)
    with qtbot.waitSignal(window.sig_explanation_shown, timeout=JOB_TIMEOUT_MS) as blocker:
        window.predictions_panel.sig_target_chosen.emit(unexplained)
    wait_idle(qtbot, window)
    grown = blocker.args[0].explanation
    assert blocker.args[0].target == unexplained and unexplained in grown.faithfulness
    assert grown.num_samples == explanation.num_samples and sum(model_rows) - before <= 2 * 19
    np.testing.assert_allclose(grown.weights[explanation.labels[0]], explanation.weights[explanation.labels[0]],
                               atol=1e-9)


def test_cam_faithfulness_is_optional(qtbot, make_window, shapes):
    assert not ExplainRequest(method="gradcam").measures_faithfulness
    window = make_window(images=[shapes[0][0]])
    plain = explain(qtbot, window, "gradcam")
    panel = window.predictions_panel
    assert "Faithfulness\nnot measured" in panel.info_text()
    assert panel.faithfulness_plot is None or not panel.faithfulness_plot.isVisibleTo(panel)
    assert not panel.add_samples_button.isVisibleTo(panel)
    assert dict(plain.explanation.faithfulness) == {}
    measured = explain(qtbot, window, "gradcam", faithfulness=True)
    curves = measured.explanation.faithfulness[measured.target]
    assert auc_text(curves) in panel.info_text()
    assert panel.faithfulness_plot.isVisibleTo(panel)


def test_open_report_shows_the_saved_overlay_and_scores_without_the_model(
        qtbot, make_window, shapes, tmp_path, model_rows):
    from limelight.core.overlay import OverlayStyle, render

    window = make_window(images=[shapes[0][0], shapes[1][0]])
    result = lime(qtbot, window)
    wait_idle(qtbot, window)
    assert window.files.export_report(tmp_path / "saved.json")
    style = window.overlay_controls.style()
    # The report, its arrays and the photo move to another folder together.
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("saved.json", "saved.npz"):
        shutil.move(tmp_path / name, moved / name)
    photo = moved / "shape0.png"
    shutil.move(shapes[0][0], photo)
    with qtbot.waitSignal(window.sig_image_shown, timeout=5000):
        window.browser.select_path(shapes[1][0])
    wait_idle(qtbot, window)
    window.overlay_controls.set_style(OverlayStyle(display="heatmap"))
    before = sum(model_rows)
    with qtbot.waitSignal(window.sig_explanation_shown, timeout=JOB_TIMEOUT_MS) as blocker:
        window.files.open_report(moved / "saved.json")
    opened = blocker.args[0]
    assert sum(model_rows) == before, "opening a report called the model"
    assert window.session.current_path() == str(photo.resolve()) and opened.target == result.target
    assert window.overlay_controls.style() == style
    # The demo model stretches the photo, so the explanation covers all of it.
    fresh = render(window.session.current_image(), result.explanation, result.target, style)
    np.testing.assert_array_equal(shown_pixels(window), place_in_photo(window.session.current_image(), fresh))
    stability, curves = result.explanation.stability[result.target], result.explanation.faithfulness[result.target]
    text = window.predictions_panel.info_text()
    assert "Report\nsaved.json" in text
    assert f"Stability\n{stability.value:.2f} {stability.word}" in text
    assert auc_text(curves) in text
    assert not window.commands.add_samples.isEnabled()
    # Its other classes show from the report too, with no job for the worker.
    other = result.explanation.labels[1]
    with qtbot.assertNotEmitted(window.controller.sig_started):
        with qtbot.waitSignal(window.sig_explanation_shown, timeout=1000) as blocker:
            window.predictions_panel.sig_target_chosen.emit(other)
    assert blocker.args[0].target == other


@pytest.mark.parametrize("damage, reason", [
    ("garbage", "is not valid JSON"),
    ("no_photo", "the photo it explains (shape0.png) is missing"),
])
def test_a_broken_report_gives_a_message_and_keeps_what_is_shown(qtbot, make_window, shapes, tmp_path,
                                                                  damage, reason):
    window = make_window(images=[shapes[0][0]])
    result = explain(qtbot, window, "gradcam")
    wait_idle(qtbot, window)
    report = tmp_path / "report.json"
    if damage == "garbage":
        report.write_text("{ not json")
    else:
        assert window.files.export_report(report)
        shapes_folder = tmp_path / "shapes"
        shutil.move(shapes_folder, tmp_path / "elsewhere")
        assert json.loads(report.read_text())["image"]["name"] == "shape0.png"
    pixels = shown_pixels(window)
    with qtbot.waitSignal(window.sig_message, timeout=JOB_TIMEOUT_MS) as blocker:
        window.files.open_report(report)
    message = blocker.args[0]
    assert message.startswith(str(report)) and reason in message and "\n" not in message
    assert window.message_bar.text() == message
    assert window.session.shown_result() is result and window.session.current_path() == shapes[0][0]
    np.testing.assert_array_equal(shown_pixels(window), pixels)


def test_the_samples_choice_persists(qtbot, make_window, shapes, settings):
    window = make_window(images=[shapes[0][0]])
    panel = window.parameter_panel
    panel.auto_samples.setChecked(False)
    panel.samples.setValue(700)
    window.close()
    panel = make_window(images=[shapes[0][0]]).parameter_panel
    assert panel.request().num_samples == 700 and panel.samples_stack.currentWidget() is panel.samples
    panel.auto_samples.setChecked(True)
    assert panel.samples_stack.currentWidget() is panel.samples_auto_note
    assert "auto samples" in panel.sampling_box.header.text()
    panel.window().close()
    assert settings.last_request()["num_samples"] == "auto"
    assert make_window(images=[shapes[0][0]]).parameter_panel.request().num_samples == "auto"


def test_auto_progress_counts_towards_a_cap_it_may_not_reach(qtbot):
    panel = ParameterPanel()
    qtbot.addWidget(panel)
    panel.set_running(True, auto=True)
    panel.set_progress(300, 4000)
    assert panel.progress.format() == "300 of at most 4,000"
    assert panel.eta.text().startswith("Stops once stable; at most")
    panel.set_progress(625, 625)
    assert panel.progress.format() == "625 / 625" and panel.eta.text().startswith("Finishing")
    panel.set_running(True)
    panel.set_progress(300, 1000)
    assert panel.progress.format() == "300 / 1,000" and panel.eta.text().startswith("About")


def test_at_the_sample_cap_the_hint_asks_for_other_superpixels_instead(qtbot):
    from limelight.core.scores import MAX_SAMPLES, Stability
    from limelight.gui.predictions_panel import PredictionsPanel

    panel = PredictionsPanel()
    qtbot.addWidget(panel)
    panel.set_info({"label": "circle", "stability": Stability(0.55, 5, MAX_SAMPLES), "add_samples": True})
    assert panel.hint.text() == "To make it stable, use fewer, larger superpixels."
    assert not panel.add_samples_button.isVisibleTo(panel)
    assert "Stability\n0.55 unstable" in panel.info_text()


def test_an_explanation_over_too_few_superpixels_is_flagged_not_called_stable(qtbot):
    from limelight.core.scores import Stability
    from limelight.gui.predictions_panel import PredictionsPanel

    panel = PredictionsPanel()
    qtbot.addWidget(panel)
    # Two superpixels: the top 5 are both of them in every rerun, so the value is 1.00.
    panel.set_info({"label": "sneaker", "stability": Stability(1.0, 5, 300, num_segments=2), "add_samples": True})
    text = panel.info_text()
    assert "too few superpixels (only 2; use more, smaller superpixels)" in text
    assert "1.00" not in text and "stable" not in text.replace("superpixels", "")
    assert panel.hint.text() == "To make it stable, use more, smaller superpixels."
    assert not panel.add_samples_button.isVisibleTo(panel)


def test_noise_and_copies_show_only_for_the_noisy_maps_and_reach_the_request_and_the_info(qtbot, make_window,
                                                                                        shapes, settings):
    window = make_window(images=[shapes[0][0]])
    panel = window.parameter_panel
    for method, shown in (("lime", False), ("gradcam", False), ("integrated-gradients", False),
                          ("smoothgrad", True), ("vargrad", True)):
        panel.set_request(ExplainRequest(method=method))
        assert panel.noise.isVisibleTo(panel) == shown and panel.copies.isVisibleTo(panel) == shown, method
    # The defaults are the paper's, and LIME's own samples stay as they were.
    assert (panel.noise.value(), panel.copies.value()) == (0.15, 50) and panel.request().num_samples == 50
    panel.noise.setValue(0.3)
    panel.copies.setValue(20)
    assert (panel.request().noise, panel.request().num_samples) == (0.3, 20)
    with qtbot.waitSignal(window.sig_explanation_shown, timeout=JOB_TIMEOUT_MS) as blocker:
        panel.sig_explain_requested.emit()
    explanation = blocker.args[0].explanation
    assert (explanation.params["noise"], explanation.params["num_samples"]) == (0.3, 20)
    stability = explanation.stability[explanation.target]
    text = window.predictions_panel.info_text()
    assert f"Stability\n{stability.value:.2f} {stability.word}" in text
    assert "Noisy copies\n20" in text and "Noise\n30% of the range" in text
    if stability.word != "stable":
        assert window.predictions_panel.hint.text() == "To make it stable, add noisy copies."
    plain = explain(qtbot, window, "gradients")
    assert plain.explanation.stability == {}
    assert "Stability\nn/a, deterministic" in window.predictions_panel.info_text()
    window.close()
    assert (settings.last_request()["noise"], make_window(images=None).parameter_panel.noise.value()) == (0.3, 0.3)
