"""Datasets in the window as a user works them: Open Dataset, the class mapping, the Dataset panel, exports."""
import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from limelight.core.dataset import MATCH_RULES
from tests.labelled_folders import fashion_folder, shape_scenes

from .conftest import JOB_TIMEOUT_MS, MODEL_TIMEOUT_MS


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Predictions are kept in a temporary store, never the user's."""
    monkeypatch.setenv("LIMELIGHT_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """The demo model's shape scenes, hard ones included: 6 class folders of 4 images."""
    return shape_scenes(tmp_path_factory.mktemp("scenes"), per_class=2, hard_per_class=2)


def open_dataset(qtbot, window, folder):
    """File > Open Dataset… on `folder`; returns the class mapping dialog once it is up."""
    window.datasets.mapping_dialog = None
    window.datasets.open_dataset(folder)
    qtbot.waitUntil(lambda: window.datasets.mapping_dialog is not None and window.datasets.mapping_dialog.isVisible(),
                    timeout=JOB_TIMEOUT_MS)
    return window.datasets.mapping_dialog


def press_evaluate(qtbot, window, dialog):
    """Press the dialog's Evaluate and wait for the Dataset panel to show the evaluation."""
    with qtbot.waitSignal(window.session.sig_evaluation_changed, timeout=JOB_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(dialog.evaluate_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def evaluate(qtbot, window, folder):
    return press_evaluate(qtbot, window, open_dataset(qtbot, window, folder))


def click_cell(qtbot, table, row, column):
    index = table.model().index(row, column)
    table.scrollTo(index)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualRect(index).center())


def wrong_rows(panel) -> list[list[str]]:
    model = panel.wrong.model()
    return [[model.index(r, c).data() for c in range(model.columnCount())] for r in range(model.rowCount())]


def shown_counts(panel) -> np.ndarray:
    table = panel.matrix
    return np.array([[int(table.item(r, c).text().replace(",", "")) for c in range(table.columnCount())]
                     for r in range(table.rowCount())])


def folder_counts(panel, evaluation) -> np.ndarray:
    """The matrix's counts from each file's folder and its predicted class's name, in the panel's order."""
    rows = [panel.matrix.verticalHeaderItem(r).text() for r in range(panel.matrix.rowCount())]
    columns = [panel.matrix.horizontalHeaderItem(c).text() for c in range(panel.matrix.columnCount())]
    counts = np.zeros((len(rows), len(columns)), int)
    for path, predicted in zip(evaluation.paths, evaluation.predicted):
        counts[rows.index(Path(path).parent.name), columns.index(evaluation.label_names[predicted])] += 1
    return counts


def test_open_dataset_shows_accuracy_the_matrix_and_a_cell_fills_the_browser(qtbot, make_window, scenes):
    window = make_window()
    dialog = open_dataset(qtbot, window, scenes)
    assert [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())] == sorted(
        p.name for p in scenes.iterdir())
    assert {dialog.table.item(r, 2).text() for r in range(dialog.table.rowCount())} == {MATCH_RULES["name"]}
    evaluation = press_evaluate(qtbot, window, dialog)
    panel = window.datasets.panel
    assert window.datasets.dock.isVisible() and window.session.evaluation is evaluation
    correct = sum(Path(p).parent.name == evaluation.label_names[i]
                  for p, i in zip(evaluation.paths, evaluation.predicted))
    assert f"Accuracy {correct / 24:.1%}" in panel.summary.text() and "24 images" in panel.summary.text()
    assert (shown_counts(panel) == folder_counts(panel, evaluation)).all()
    assert 0 < correct < 24, "the hard scenes give wrong predictions"

    # The wrong predictions, the most confident first.
    confidences = [float(row[3].rstrip("%")) for row in wrong_rows(panel)]
    assert len(confidences) == 24 - correct and confidences == sorted(confidences, reverse=True)

    # Click the off-diagonal cell with the most images: exactly its files go to the browser.
    counts = shown_counts(panel)
    off = counts * (1 - np.eye(*counts.shape, dtype=int))
    row, column = np.unravel_index(off.argmax(), off.shape)
    true_name = panel.matrix.verticalHeaderItem(row).text()
    predicted_name = panel.matrix.horizontalHeaderItem(column).text()
    click_cell(qtbot, panel.matrix, row, column)
    expected = sorted(str(Path(p).resolve()) for p, i in zip(evaluation.paths, evaluation.predicted)
                      if Path(p).parent.name == true_name and evaluation.label_names[i] == predicted_name)
    assert sorted(window.browser.paths()) == expected and len(expected) == counts[row, column]

    # Row-normalised: each row's fractions of its images.
    panel.normalized.setChecked(True)
    fractions = float(panel.matrix.item(row, column).text())
    assert fractions == pytest.approx(counts[row, column] / counts[row].sum(), abs=0.005)


def test_a_wrong_prediction_opens_its_photo_and_asks_why_explain_and_compare(qtbot, make_window, scenes):
    window = make_window()
    evaluation = evaluate(qtbot, window, scenes)
    panel = window.datasets.panel
    first = evaluation.wrong()[0]
    names = evaluation.label_names
    path = Path(evaluation.paths[first])
    assert wrong_rows(panel)[0][:3] == [f"{path.parent.name}/{path.name}", path.parent.name,
                                        names[evaluation.probabilities[first].argmax()]]
    with qtbot.waitSignal(window.session.sig_image_shown, timeout=JOB_TIMEOUT_MS):
        click_cell(qtbot, panel.wrong, 0, 0)
    assert window.session.current_path() == str(Path(evaluation.paths[first]).resolve())
    with qtbot.waitSignal(panel.sig_why_requested, timeout=1000) as why:
        qtbot.mouseClick(panel.why_button, Qt.MouseButton.LeftButton)
    assert why.args == [first]
    with qtbot.waitSignal(panel.sig_explain_requested, timeout=1000) as explain:
        qtbot.mouseClick(panel.explain_wrong_button, Qt.MouseButton.LeftButton)
    assert list(explain.args[0]) == list(evaluation.wrong())
    click_cell(qtbot, panel.matrix, 0, 0)
    with qtbot.waitSignal(panel.sig_explain_requested, timeout=1000) as cell:
        qtbot.mouseClick(panel.explain_cell_button, Qt.MouseButton.LeftButton)
    assert sorted(str(Path(evaluation.paths[i]).resolve()) for i in cell.args[0]) == sorted(window.browser.paths())
    with qtbot.waitSignal(panel.sig_compare_requested, timeout=1000):
        qtbot.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)


def test_fixing_the_mapping_in_the_dialog_changes_the_evaluation(qtbot, make_window, scenes):
    window = make_window()
    first = evaluate(qtbot, window, scenes)
    # Say the circle folder holds squares: its images now count as wrong where they were right.
    qtbot.mouseClick(window.datasets.panel.mapping_button, Qt.MouseButton.LeftButton)
    dialog = window.datasets.mapping_dialog
    qtbot.waitUntil(dialog.isVisible)
    row = dialog.table.findItems("circle", Qt.MatchFlag.MatchExactly)[0].row()
    dialog.combos[row].setCurrentIndex(first.label_names.index("square"))
    assert dialog.table.item(row, 2).text() == MATCH_RULES["set by hand"]
    second = press_evaluate(qtbot, window, dialog)
    assert second.mapping.class_of("circle") == first.label_names.index("square")
    assert second.mapping.rules[row] == "set by hand"
    circles = [i for i, p in enumerate(second.paths) if Path(p).parent.name == "circle"]
    expected = (first.correct.sum() - first.correct[circles].sum()
                + (first.predicted[circles] == first.label_names.index("square")).sum())
    assert f"Accuracy {expected / 24:.1%}" in window.datasets.panel.summary.text()
    assert window.datasets.panel.matrix.verticalHeaderItem(0).text() != "circle"


def test_folders_that_name_no_class_are_said_once_and_chosen_by_hand(qtbot, make_window, scenes, tmp_path):
    root = shutil.copytree(scenes, tmp_path / "scenes")
    for extra in ("mystery", "unknown"):
        shutil.copytree(root / "circle", root / extra)
    window = make_window()
    dialog = open_dataset(qtbot, window, root)
    assert "2 of 8 class folders name none of the model's 7 classes" in dialog.note.text()
    assert not dialog.evaluate_button.isEnabled()
    rows = {dialog.table.item(r, 0).text(): r for r in range(dialog.table.rowCount())}
    for extra in ("mystery", "unknown"):
        assert dialog.table.item(rows[extra], 2).text().startswith("not matched")
        dialog.combos[rows[extra]].setCurrentIndex(0)
    assert dialog.evaluate_button.isEnabled()
    evaluation = press_evaluate(qtbot, window, dialog)
    assert len(evaluation.paths) == 32 and evaluation.mapping.class_of("mystery") == 0


def test_an_unreadable_image_is_named_in_one_message_and_the_rest_evaluated(qtbot, make_window, scenes, tmp_path):
    root = shutil.copytree(scenes, tmp_path / "scenes")
    (root / "ring" / "broken.png").write_bytes(b"not a png")
    window = make_window()
    with qtbot.waitSignal(window.sig_message, timeout=JOB_TIMEOUT_MS) as message:
        evaluation = evaluate(qtbot, window, root)
    assert message.args[0].startswith(f"{root / 'ring' / 'broken.png'}: ")
    assert len(evaluation.paths) == 24 and "1 unreadable" in window.datasets.panel.summary.text()


def test_a_mapping_made_for_another_model_is_refused_with_one_message(qtbot, make_window, scenes):
    from limelight.core.dataset import match_classes, scan_dataset

    window = make_window()
    dataset = scan_dataset(scenes)
    other = match_classes(dataset.folders, (*dataset.folders, "no object", "another"))
    with qtbot.waitSignal(window.sig_message, timeout=1000) as message:
        window.session.evaluate_dataset(dataset, other)
    assert "made for another model's classes" in message.args[0] and not window.session.is_running()


def test_a_folder_without_class_folders_is_one_message_and_no_dialog(qtbot, make_window, tmp_path):
    (tmp_path / "flat").mkdir()
    window = make_window()
    with qtbot.waitSignal(window.sig_message, timeout=JOB_TIMEOUT_MS) as message:
        window.datasets.open_dataset(tmp_path / "flat")
    assert message.args[0].startswith(f"{tmp_path / 'flat'}: has no class folders")
    assert window.message_bar.isVisible() and window.datasets.mapping_dialog is None


def test_a_fashion_mnist_folder_matched_by_sorted_order_says_so_before_evaluating(qtbot, make_window, tmp_path):
    from tests.user_models import fashion_mnist

    fashion_mnist().save(tmp_path / "fashion.keras")
    folder = fashion_folder(tmp_path / "fashion", per_class=2)
    window = make_window()
    with qtbot.waitSignal(window.sig_model_loaded, timeout=MODEL_TIMEOUT_MS):
        window.load_model(str(tmp_path / "fashion.keras"))
    dialog = open_dataset(qtbot, window, folder)
    assert "matched by sorted order" in dialog.note.text()
    assert dialog.table.item(0, 0).text() == "Ankle boot" and dialog.combos[0].currentIndex() == 0
    assert dialog.table.item(0, 2).text() == MATCH_RULES["sorted order"]
    evaluation = press_evaluate(qtbot, window, dialog)
    assert len(evaluation.paths) == 20 and window.datasets.panel.matrix.rowCount() == 10


def test_export_writes_the_csv_and_png_and_asks_before_overwriting(qtbot, make_window, scenes, tmp_path,
                                                                    monkeypatch):
    window = make_window()
    evaluation = evaluate(qtbot, window, scenes)
    csv_path, png_path = tmp_path / "out" / "predictions.csv", tmp_path / "out" / "confusion.png"
    csv_path.parent.mkdir()
    assert window.datasets.export_predictions(csv_path) and window.datasets.export_confusion(png_path)
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 24 and sum(r["correct"] == "True" for r in rows) == evaluation.correct.sum()
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    asked = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(
        lambda *args, **kwargs: asked.append(args[2]) or QMessageBox.StandardButton.Cancel))
    csv_path.write_text("keep me")
    assert not window.datasets.export_predictions(csv_path)
    assert csv_path.read_text() == "keep me" and str(csv_path) in asked[0]
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *args, **kwargs: QMessageBox.StandardButton.Yes))
    assert window.datasets.export_predictions(csv_path) and csv_path.read_text().startswith("path,true")


@pytest.fixture(scope="module")
def many_scenes(tmp_path_factory):
    """Enough images that an evaluation is still running when the test cancels it."""
    return shape_scenes(tmp_path_factory.mktemp("many"), per_class=120, hard_per_class=20)


def test_cancel_mid_evaluation_leaves_the_window_usable(qtbot, make_window, many_scenes, scenes):
    window = make_window()
    dialog = open_dataset(qtbot, window, many_scenes)
    with qtbot.waitSignal(window.controller.sig_progress, timeout=JOB_TIMEOUT_MS):
        qtbot.mouseClick(dialog.evaluate_button, Qt.MouseButton.LeftButton)
    assert window.run_status.isVisible() and window.commands.cancel.isVisible()
    with qtbot.waitSignal(window.controller.sig_cancelled, timeout=5000):
        window.commands.cancel.trigger()
    assert not window.run_status.isVisible() and window.parameter_panel.explain_button.isEnabled()
    assert window.session.evaluation is None
    evaluation = evaluate(qtbot, window, scenes)
    assert len(evaluation.paths) == 24 and window.datasets.panel.matrix.rowCount() == 6


def test_close_mid_evaluation_stops_the_worker_cleanly(qtbot, make_window, many_scenes, capfd):
    window = make_window()
    dialog = open_dataset(qtbot, window, many_scenes)
    with qtbot.waitSignal(window.controller.sig_progress, timeout=JOB_TIMEOUT_MS):
        qtbot.mouseClick(dialog.evaluate_button, Qt.MouseButton.LeftButton)
    window.close()
    assert not window.controller.thread_running()
    assert "QThread" not in capfd.readouterr().err
