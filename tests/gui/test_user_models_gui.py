"""The app on models users bring: a multi-label model's own probabilities, a binary model's two classes, both explained."""
import numpy as np
from PIL import Image

from limelight.core.models import ModelSettings, load_model, write_sidecar
from tests.user_models import bright_square_detector, colour_detectors

from .conftest import MODEL_TIMEOUT_MS
from .test_app import explain


def test_a_multi_label_model_shows_its_independent_probabilities_and_is_explained(qtbot, make_window, tmp_path):
    path = tmp_path / "colours.keras"
    colour_detectors().save(path)
    write_sidecar(path, ModelSettings(preprocessing="unit"))  # known, so the app does not ask
    # Texture, so that hiding a superpixel (by its mean colour) changes it.
    image = np.random.default_rng(0).integers(100, 156, (32, 32, 3), dtype=np.uint8)
    image[2:14, 2:14] = (255, 0, 0)
    image[18:30, 18:30] = (0, 0, 255)
    Image.fromarray(image).save(tmp_path / "red.png")
    window = make_window(images=[str(tmp_path / "red.png")], wait=False)
    with qtbot.waitSignal(window.sig_predictions_shown, timeout=MODEL_TIMEOUT_MS,
                          check_params_cb=lambda p: p.model == str(path)) as shown:
        window.load_model(str(path))
    expected = load_model(path).predict(image[None])[0]
    assert expected.sum() > 1.2  # both colours are there: independent, no softmax made them sum to 1
    assert {index: p for index, _, p in shown.args[0].top} == {i: float(p) for i, p in enumerate(expected)}
    for method in ("gradcam", "lime"):
        assert explain(qtbot, window, method, num_samples=200).explanation is not None


def test_a_binary_model_is_explained_for_its_positive_class(qtbot, make_window, tmp_path):
    path = tmp_path / "bright.keras"
    bright_square_detector().save(path)
    write_sidecar(path, ModelSettings(preprocessing="unit"))
    image = np.full((32, 32, 3), 20, np.uint8)
    image[8:20, 8:20] = 255
    Image.fromarray(image).save(tmp_path / "bright.png")
    window = make_window(images=[str(tmp_path / "bright.png")], model=str(path))
    assert window.model_info().class_names == ("negative", "positive")
    result = explain(qtbot, window, "gradcam")
    assert result.target == 1
    heatmap = result.explanation.input_heatmap
    assert heatmap[8:20, 8:20].mean() > 5 * heatmap[20:, 20:].mean()
