"""Asking once how a user's model scales its input: each mode's top classes for the current photo, side by side."""
import shutil
from pathlib import Path

from limelight.core.images import load_image
from limelight.core.models import PREPROCESSING_MODES, load_model

from .conftest import DEMO, JOB_TIMEOUT_MS, MODEL_TIMEOUT_MS


def test_a_model_that_does_not_say_its_scaling_is_asked_about_with_each_modes_top_classes(
        qtbot, make_window, shapes, model_files, tmp_path):
    model_path = str(tmp_path / "user.keras")
    shutil.copy(model_files["safe"], model_path)
    photo = shapes[0][0]
    window = make_window(images=[photo], model=model_path)
    qtbot.waitUntil(lambda: window.preprocessing_dialog is not None and window.preprocessing_dialog.isVisible(),
                    timeout=JOB_TIMEOUT_MS)
    dialog = window.preprocessing_dialog
    assert list(dialog.buttons) == list(PREPROCESSING_MODES) and dialog.chosen() == "unit"
    model = load_model(model_path)
    for mode in ("unit", "caffe"):
        top = model.top_classes(load_image(photo), 3, preprocessing=mode)
        assert dialog.predictions[mode].text() == "<br>".join(f"{name} {p:.1%}" for _, name, p in top)
    dialog.buttons["symmetric"].setChecked(True)
    with qtbot.waitSignal(window.sig_model_loaded, timeout=MODEL_TIMEOUT_MS) as loaded:
        dialog.accept()
    assert loaded.args[0].preprocessing == "symmetric" and not loaded.args[0].preprocessing_guessed
    assert Path(model_path + ".limelight.json").is_file()


def test_the_question_is_asked_once_per_model_a_session(qtbot, make_window, shapes, model_files, tmp_path):
    model_path = str(tmp_path / "user.keras")
    shutil.copy(model_files["safe"], model_path)
    window = make_window(images=[shapes[0][0]], model=model_path)
    qtbot.waitUntil(lambda: window.preprocessing_dialog is not None and window.preprocessing_dialog.isVisible(),
                    timeout=JOB_TIMEOUT_MS)
    window.preprocessing_dialog.reject()
    for source in (DEMO, model_path):
        with qtbot.waitSignal(window.sig_model_loaded, timeout=MODEL_TIMEOUT_MS):
            window.load_model(source)
    assert window.model_picker.model_info().preprocessing_guessed
    assert window.controller.live_jobs("preprocessing") == []
    assert not window.preprocessing_dialog.isVisible()
