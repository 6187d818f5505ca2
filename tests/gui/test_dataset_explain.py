"""A dataset's images explained in the window: why and why not side by side, and a selection saved as one batch."""
import csv

import pytest

from limelight.core.overlay import OverlayStyle
from limelight.core.pipeline import ExplainRequest
from tests.gui.conftest import JOB_TIMEOUT_MS


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    from limelight.core.dataset import evaluate, scan_dataset
    from limelight.core.zoo import load_builtin
    from tests.labelled_folders import shape_scenes

    folder = shape_scenes(tmp_path_factory.mktemp("shapes"), per_class=1, hard_per_class=2)
    return evaluate(load_builtin("demo_shapes"), scan_dataset(folder))


def _gradcam():
    return ExplainRequest(method="gradcam")


def _heatmap():
    return OverlayStyle(display="heatmap")


def test_why_and_why_not_shows_the_predicted_and_the_true_class_side_by_side(qtbot, make_window, evaluation):
    from limelight.gui.dataset_explain import WhyDialog

    window = make_window()
    dialog = WhyDialog(window.session, window.painter, request=_gradcam, style=_heatmap, parent=window)
    position = int(evaluation.wrong()[0])
    names, probabilities = evaluation.label_names, evaluation.probabilities[position]
    predicted, true = int(evaluation.predicted[position]), int(evaluation.true[position])
    with qtbot.waitSignal(dialog.sig_shown, timeout=JOB_TIMEOUT_MS) as shown:
        dialog.explain(evaluation, position)
        assert dialog.run_progress.isVisible()
    assert [r.target for r in shown.args[0].results] == [predicted, true]
    assert dialog.captions[0].text().startswith(f"Why “{names[predicted]}” ({probabilities[predicted]:.0%})")
    assert dialog.captions[1].text().startswith(f"Why not “{names[true]}” ({probabilities[true]:.0%})")
    assert all(view.has_overlay() for view in dialog.views)
    assert f"predicted “{names[predicted]}”" in dialog.title.text()
    assert not dialog.run_progress.isVisible()
    dialog.close()


def test_explaining_the_wrong_predictions_writes_the_command_lines_files_and_index(
        qtbot, make_window, evaluation, tmp_path, monkeypatch):
    from limelight.core.cli import main
    from limelight.gui.dataset_explain import RunProgress, SelectionBatch

    window = make_window()
    progress = RunProgress(window)
    batch = SelectionBatch(window.session, progress, parent=window)
    wrong = evaluation.wrong()
    with qtbot.waitSignal(batch.sig_done, timeout=JOB_TIMEOUT_MS) as done:
        batch.start(evaluation, wrong, _gradcam(), _heatmap(), tmp_path / "window", overwrite=False)
    result = done.args[0]
    assert not result.cancelled and not result.failures and len(result.images) == len(wrong)
    with open(tmp_path / "window" / "explained.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["path"] for row in rows[::2]] == [str(evaluation.paths[p]) for p in wrong]
    assert {row["why"] for row in rows} == {"predicted", "true"}

    monkeypatch.setenv("LIMELIGHT_CACHE_DIR", str(tmp_path / "cache"))
    folder = evaluation.paths[0].parent.parent
    assert main(["explain", str(folder), "--only", "wrong", "--model", "demo_shapes", "--method", "gradcam",
                 "--out", str(tmp_path / "cli")]) == 0
    written = sorted(p.relative_to(tmp_path / "window") for p in (tmp_path / "window").rglob("*"))
    assert written == sorted(p.relative_to(tmp_path / "cli") for p in (tmp_path / "cli").rglob("*"))


def test_cancel_stops_the_batch_and_says_so(qtbot, make_window, evaluation, tmp_path):
    from limelight.gui.dataset_explain import RunProgress, SelectionBatch

    window = make_window()
    progress = RunProgress(window)
    batch = SelectionBatch(window.session, progress, parent=window)
    everything = range(len(evaluation.paths))
    batch.start(evaluation, everything, ExplainRequest(method="lime", num_samples=400), _heatmap(),
                tmp_path / "out", overwrite=False)
    qtbot.waitUntil(lambda: progress.progress.maximum() == len(evaluation.paths), timeout=JOB_TIMEOUT_MS)
    with qtbot.waitSignal(batch.sig_cancelled, timeout=JOB_TIMEOUT_MS) as cancelled:
        progress.cancel_button.click()
    assert cancelled.args == [str(tmp_path / "out")] and not batch.is_running() and not progress.isVisible()


def _evaluated_window(qtbot, make_window, evaluation):
    """A window whose session has evaluated the test's dataset with the demo model."""
    from limelight.core.dataset import scan_dataset

    window = make_window()
    dataset = scan_dataset(evaluation.paths[0].parent.parent)
    with qtbot.waitSignal(window.session.sig_evaluation_changed, timeout=JOB_TIMEOUT_MS):
        window.session.evaluate_dataset(dataset, evaluation.mapping)
    return window


def test_the_dataset_panels_why_button_opens_both_panes(qtbot, make_window, evaluation):
    window = _evaluated_window(qtbot, make_window, evaluation)
    explanations = window.dataset_explanations
    position = int(window.session.evaluation.wrong()[0])
    names = evaluation.label_names
    window.datasets.panel.sig_why_requested.emit(position)
    dialog = explanations.why_dialog
    with qtbot.waitSignal(dialog.sig_shown, timeout=JOB_TIMEOUT_MS):
        pass
    assert dialog.isVisible()
    assert f"“{names[evaluation.predicted[position]]}”" in dialog.captions[0].text()
    assert dialog.captions[1].text().startswith(f"Why not “{names[evaluation.true[position]]}”")
    dialog.close()


def test_compare_models_shows_both_matrices_and_the_images_they_disagree_on(
        qtbot, make_window, evaluation, tmp_path):
    import keras

    from limelight.core.dataset import disagreements, evaluate, scan_dataset
    from limelight.core.models import ModelSettings, load_model, write_sidecar
    from limelight.core.zoo import load_builtin

    demo = load_builtin("demo_shapes")
    other = keras.models.clone_model(demo.keras_model)
    weights = demo.keras_model.get_weights()
    for last in weights[-2:]:  # the classifier's kernel and bias: classes 0 and 1 swapped
        last[..., [0, 1]] = last[..., [1, 0]]
    other.set_weights(weights)
    path = tmp_path / "other.keras"
    other.save(path)
    (tmp_path / "other.txt").write_text("\n".join(demo.labels.names))
    write_sidecar(path, ModelSettings("unit", labels_path=str(tmp_path / "other.txt")))
    expected = disagreements(evaluation, evaluate(load_model(path), scan_dataset(evaluation.paths[0].parent.parent),
                                                  mapping=evaluation.mapping))

    window = _evaluated_window(qtbot, make_window, evaluation)
    window.datasets.panel.sig_compare_requested.emit()
    dialog = window.dataset_explanations.compare_dialog
    assert dialog.isVisible() and dialog.matrices[0].rowCount() == len(evaluation.classes)
    dialog.choose_model(str(path))
    with qtbot.waitSignal(dialog.sig_compared, timeout=JOB_TIMEOUT_MS):
        dialog.compare_button.click()
    assert dialog.titles[1].text().startswith("other: accuracy")
    assert dialog.matrices[1].item(0, 0) is not None
    assert dialog.disagreements.rowCount() == len(expected) > 0
    assert dialog.summary.text().startswith(f"The two models disagree on {len(expected)} of")
    first = evaluation.paths[expected[0]]
    assert dialog.disagreements.item(0, 0).text() == f"{first.parent.name}/{first.name}"
    dialog.disagreements.cellClicked.emit(0, 0)
    qtbot.waitUntil(lambda: window.session.current_path() == str(first), timeout=JOB_TIMEOUT_MS)
    dialog.close()


def test_closing_the_window_closes_why_and_compare_models_and_cancels_their_runs(qtbot, make_window, evaluation):
    window = _evaluated_window(qtbot, make_window, evaluation)
    explanations = window.dataset_explanations
    window.datasets.panel.sig_why_requested.emit(int(window.session.evaluation.wrong()[0]))
    window.datasets.panel.sig_compare_requested.emit()
    why, compare = explanations.why_dialog, explanations.compare_dialog
    assert why.isVisible() and compare.isVisible()
    window.close()  # while Why and Why Not is still explaining
    assert not why.isVisible() and not compare.isVisible()
