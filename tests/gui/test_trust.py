"""Trusting a model file: asked plainly, remembered by the file's content hash and never by its path."""
import dataclasses
import hashlib
import json
import shutil

import pytest
from PySide6.QtWidgets import QDialog

from limelight.gui import trust_dialog
from limelight.gui.settings import Settings

from .conftest import DEMO, JOB_TIMEOUT_MS, MODEL_TIMEOUT_MS


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_lambda_model(path, scale: float):
    """A small classifier with a Lambda layer; another `scale` gives other file content."""
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Lambda(eval(f"lambda t: t * {scale}"))(inputs)  # noqa: S307
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)).save(path)
    return path


@pytest.fixture
def answers(monkeypatch):
    """Answer the trust question with the next queued answer; record what was asked."""
    asked, queue = [], []

    def answer(dialog):
        asked.append({"file": dialog.path.name, "headline": dialog.headline.text(),
                      "reason": dialog.reason_label.text(), "memory": dialog.memory_label.text()})
        return QDialog.DialogCode.Accepted if queue.pop(0) else QDialog.DialogCode.Rejected

    monkeypatch.setattr(trust_dialog.TrustDialog, "exec", answer)
    return asked, queue


def load(qtbot, window, path):
    with qtbot.waitSignal(window.sig_model_loaded, timeout=MODEL_TIMEOUT_MS) as blocker:
        window.load_model(str(path))
    return blocker.args[0]


def test_trust_is_remembered_by_content_so_renamed_and_copied_files_are_not_asked_again(
        qtbot, make_window, shapes, tmp_path, answers, settings):
    asked, queue = answers
    original = save_lambda_model(tmp_path / "net.keras", 2.0)
    window = make_window(images=[shapes[0][0]])
    queue.append(True)
    info = load(qtbot, window, original)
    assert len(asked) == 1 and asked[0]["file"] == "net.keras" and "Lambda" in asked[0]["reason"]
    assert info.trusted and info.sha256 == sha256(original)
    assert settings.trusted_hashes() == {sha256(original)}
    # The same bytes under another name, in another folder: trusted without a question.
    (tmp_path / "elsewhere").mkdir()
    copy = shutil.copy(original, tmp_path / "elsewhere" / "copy.keras")
    renamed = original.rename(tmp_path / "renamed.keras")
    for path in (copy, renamed):
        assert load(qtbot, window, path).trusted
    assert len(asked) == 1
    # Trust survives a restart: it is in the settings file.
    assert Settings(settings.file_name).trusted_hashes() == {sha256(renamed)}


def test_a_file_changed_at_a_trusted_path_is_asked_about_again(qtbot, make_window, shapes, tmp_path,
                                                               answers, settings):
    asked, queue = answers
    path = save_lambda_model(tmp_path / "net.keras", 2.0)
    window = make_window(images=[shapes[0][0]])
    queue.append(True)
    load(qtbot, window, path)
    first = sha256(path)
    assert window.settings.trusted_hashes() == {first}
    save_lambda_model(path, 3.0)  # someone replaces the file in place
    assert sha256(path) not in window.settings.trusted_hashes()
    queue.append(False)
    loaded = []
    window.sig_model_loaded.connect(loaded.append)
    window.load_model(str(path))
    qtbot.waitUntil(lambda: len(asked) == 2, timeout=MODEL_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=5000)
    assert loaded == [] and not window.model_picker.is_busy()
    # Refused: the trusted load stays, nothing new is remembered.
    assert window.session.model_source() == str(path) and window.session.model_info().sha256 == first
    assert settings.trusted_hashes() == {first}


def test_changing_the_feeding_of_a_changed_file_asks_again(qtbot, make_window, shapes, tmp_path,
                                                           answers):
    asked, queue = answers
    path = save_lambda_model(tmp_path / "net.keras", 2.0)
    window = make_window(images=[shapes[0][0]])
    queue.append(True)
    load(qtbot, window, path)
    save_lambda_model(path, 3.0)
    queue.append(False)
    # The picker reloads the model to apply another preprocessing: the new content is asked about.
    picker = window.model_picker
    index = picker.preprocessing_combo.findData("symmetric")
    picker.preprocessing_combo.setCurrentIndex(index)
    picker.preprocessing_combo.activated.emit(index)
    qtbot.waitUntil(lambda: len(asked) == 2, timeout=MODEL_TIMEOUT_MS)


def test_a_file_trusted_on_the_command_line_is_remembered(qtbot, make_window, shapes, tmp_path,
                                                          answers, settings):
    asked, _ = answers
    path = save_lambda_model(tmp_path / "net.keras", 2.0)
    window = make_window(images=[shapes[0][0]], model=str(path), trust_model=True)
    assert window.session.model_info().trusted and not asked
    assert settings.trusted_hashes() == {sha256(path)}


def test_a_trusted_model_from_last_time_loads_at_start_up_without_a_question(
        qtbot, make_window, shapes, tmp_path, answers, settings):
    asked, queue = answers
    path = save_lambda_model(tmp_path / "net.keras", 2.0)
    queue.append(True)
    first = make_window(images=[shapes[0][0]])
    load(qtbot, first, path)
    first.close()
    again = make_window(images=[shapes[0][0]], model=None)
    assert again.session.model_source() == str(path) and again.session.model_info().trusted
    assert len(asked) == 1


def test_a_saved_model_folder_is_asked_about_once(qtbot, make_window, shapes, tmp_path, answers):
    import keras

    asked, queue = answers
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    folder = tmp_path / "exported"
    keras.Model(inputs, outputs).export(str(folder), verbose=False)
    window = make_window(images=[shapes[0][0]])
    queue.append(True)
    with qtbot.waitSignal(window.sig_model_loaded, timeout=MODEL_TIMEOUT_MS) as blocker:
        window.files.open_paths([folder])
    assert len(asked) == 1 and "SavedModel" in asked[0]["reason"]
    assert asked[0]["headline"].startswith("<b>Loading this folder can run any code")
    assert blocker.args[0].trusted
    copy = shutil.copytree(folder, tmp_path / "copied")
    assert load(qtbot, window, copy).trusted and len(asked) == 1


def test_the_question_names_the_risk_plainly_and_defaults_to_cancel(qtbot, tmp_path):
    path = tmp_path / "download.keras"
    path.write_bytes(b"x")
    dialog = trust_dialog.TrustDialog(path, "model config contains a Lambda layer, which runs code "
                                            "when loaded; load it only if you trust its source "
                                            "(--trust-model)", sha256="ab" * 32)
    qtbot.addWidget(dialog)
    assert ("Loading this file can run any code on your computer with your permissions"
            in dialog.headline.text())
    assert dialog.reason_label.text() == ("Why: Model config contains a Lambda layer, which runs "
                                          "code when loaded.")
    assert "abababababab" in dialog.memory_label.text()
    assert dialog.cancel_button.isDefault() and not dialog.trust_button.isDefault()


def test_damaged_trust_entries_are_ignored(tmp_path):
    path = tmp_path / "settings.ini"
    Settings(path).set_value("trust/sha256", json.dumps(["not a hash", 42, "c" * 64]))
    assert Settings(path).trusted_hashes() == {"c" * 64}
    Settings(path).set_value("trust/sha256", "{damaged")
    assert Settings(path).trusted_hashes() == set()
    with pytest.raises(ValueError):
        Settings(path).trust_hash("/home/me/model.keras")


def test_the_builtin_model_needs_no_trust(qtbot, make_window, shapes, answers, settings):
    asked, _ = answers
    window = make_window(images=[shapes[0][0]])
    assert window.session.model_source() == DEMO and not window.session.model_info().trusted and not asked
    assert settings.trusted_hashes() == set()


def test_compare_loads_files_trusted_by_content_and_refuses_the_rest_without_asking(
        qtbot, make_window, shapes, tmp_path, answers, settings):
    from limelight.gui.compare import CompareDialog

    asked, _ = answers
    trusted = save_lambda_model(tmp_path / "trusted.keras", 2.0)
    untrusted = save_lambda_model(tmp_path / "untrusted.keras", 3.0)
    # Trusted in an earlier session: only its hash is known, and it was never loaded here.
    settings.trust_hash(sha256(trusted))
    settings.add_recent_model(str(trusted))
    settings.add_recent_model(str(untrusted))
    window = make_window(images=[shapes[0][0]])
    panel = window.parameter_panel
    # A grid, because the 32x32 input is too small for quickshift to find superpixels.
    panel.set_request(dataclasses.replace(panel.request(), method="lime", segmentation="grid",
                                          segmentation_params=(("n_segments", 16),),
                                          num_samples=50))
    dialog = CompareDialog(window.session, window.painter, request=window.parameter_panel.request,
                           style=window.overlay_controls.style, parent=window)
    qtbot.addWidget(dialog)
    for pane, path in zip(dialog._panes, (trusted, untrusted)):
        pane["method"].setCurrentIndex(pane["method"].findData("lime"))
        pane["model"].setCurrentIndex(pane["model"].findData(str(path)))
    dialog.run()
    qtbot.waitUntil(lambda: not dialog._jobs, timeout=JOB_TIMEOUT_MS)
    left, right = dialog._panes
    assert left["result"] is not None and left["result"].model == str(trusted)
    assert right["result"] is None and "untrusted.keras" in right["caption"].text()
    assert asked == []  # Compare never asks: it runs only what the user trusted before
