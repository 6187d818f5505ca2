"""Models as users bring them: each predicts, explains with LIME and every CAM in the core and the CLI, or is refused in one line."""
import json

import keras
import tensorflow as tf
import numpy as np
import pytest
from PIL import Image

from limelight.core.cam import CAM_METHODS, explain_cam
from limelight.core.cli import main
from limelight.core.images import load_image
from limelight.core.lime import explain_lime
from limelight.core.models import load_model
from limelight.core.runtime import PROBE_TOLERANCE
from limelight.core.segmentation import segment, segment_count
from limelight.resources import resource_path
from tests.user_models import EXPLAINED, save_all

CHELSEA = str(resource_path("samples", "chelsea.jpg"))
# Keras applications: Score-CAM costs one pass per channel (1024 to 1280), so they get Grad-CAM and
# Grad-CAM++ here; Score-CAM on a nested application is in test_cam.
APPLICATIONS = ("transfer_mobilenet", "transfer_efficientnet", "resnet50")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return save_all(tmp_path_factory.mktemp("user_models"))


@pytest.fixture(scope="module")
def photo():
    return load_image(CHELSEA)


def square_image(colour, top_left, *, size=32, side=12, background=(20, 20, 20)):
    """A flat image with one square of `colour`; returns it and the square's mask."""
    image = np.full((size, size, 3), background, np.uint8)
    mask = np.zeros((size, size), bool)
    row, col = top_left
    mask[row:row + side, col:col + side] = True
    image[mask] = colour
    return image, mask


@pytest.mark.parametrize("name", sorted(EXPLAINED) + ["fashion_mnist.h5", "binary.h5", "pytorch_names.h5"])
def test_every_user_model_predicts_and_explains_with_lime_and_each_cam(saved, photo, name):
    model = load_model(saved[name])
    image = model.prepare(photo)
    probabilities = model.predict(image[None])[0]
    assert probabilities.shape == (model.num_classes,) and model.num_classes == len(model.labels.names)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    if not model.independent:
        assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    segments = segment(image)
    assert segment_count(segments) >= 15
    lime = explain_lime(image, model.predict, segments=segments, labels=[0], num_samples=150, faithfulness=False)
    assert np.all(np.isfinite(lime.weights[0]))
    for method in CAM_METHODS[:2] if name in APPLICATIONS else CAM_METHODS:
        explanation = explain_cam(image, model, method=method, target=model.num_classes - 1)
        assert explanation.input_heatmap.shape == model.input_size
        assert np.all(np.isfinite(explanation.input_heatmap)) and explanation.input_heatmap.min() >= 0


def test_a_model_converted_from_pytorch_is_explained_by_every_cam_in_the_cli(saved, tmp_path, capsys):
    # Layer names such as "_conv_stem" were refused as TensorFlow name scopes ("not a valid root scope name").
    for method in CAM_METHODS:
        assert main(["explain", CHELSEA, "--model", saved["pytorch_names"], "--method", method,
                     "--out", str(tmp_path)]) == 0, capsys.readouterr().err
    assert len(list(tmp_path.glob("*.png"))) == 3
    assert main(["layers", "--model", saved["pytorch_names.h5"]]) == 0
    assert "_conv_stem" in capsys.readouterr().out


# --- Binary and multi-label heads -----------------------------------------------------------

def test_a_single_sigmoid_is_two_classes_named_negative_and_positive(saved):
    model = load_model(saved["binary"])
    assert model.head == "binary" and model.num_classes == 2
    assert model.labels.names == ("negative", "positive")
    bright, _ = square_image((255, 255, 255), (4, 4))
    p = float(model.keras_model(model.preprocess(bright[None]))[0, 0])
    # (predict may run on LiteRT, which agrees with Keras within PROBE_TOLERANCE.)
    np.testing.assert_allclose(model.predict(bright[None])[0], [1 - p, p], atol=PROBE_TOLERANCE)
    assert p > 0.9 and model.predict(np.zeros((1, 32, 32, 3), np.uint8))[0, 1] < 0.5


def test_a_binary_models_labels_come_from_its_labels_file(saved, tmp_path):
    labels = tmp_path / "names.txt"
    labels.write_text("healthy\nmelanoma\n")
    assert load_model(saved["binary"], labels_path=labels).labels.names == ("healthy", "melanoma")


def test_the_positive_class_of_a_binary_model_is_explained_where_the_bright_square_is(saved):
    model = load_model(saved["binary"])
    image, square = square_image((255, 255, 255), (16, 8), side=16)
    for method in CAM_METHODS:
        positive = explain_cam(image, model, method=method, target=1)
        heatmap = positive.input_heatmap
        assert heatmap[square].mean() > 5 * heatmap[~square].mean(), method
    # The negative class's score is -z: its gradients are the positive's negated, so its map is empty.
    assert explain_cam(image, model, target=0).heatmap.max() == 0
    segments = segment(image, method="grid", n_segments=16)
    lime = explain_lime(image, model.predict, segments=segments, labels=[1], num_samples=300, hide="black",
                        random_state=0, faithfulness=False)
    # The square is 4 of the 16 cells; the model looks at its brightest patch, so any of them will do.
    assert square[segments == lime.top_segments(1, 1)[0]].all()


def test_a_multi_label_model_gives_independent_probabilities_explained_per_output(saved):
    model = load_model(saved["multilabel"])
    assert model.head == "multilabel" and model.independent
    image, red = square_image((255, 0, 0), (2, 2), background=(128, 128, 128))
    image[18:30, 18:30] = (0, 0, 255)
    blue = np.zeros_like(red)
    blue[18:30, 18:30] = True
    probabilities = model.predict(image[None])[0]
    # The sigmoid outputs as they are: no softmax across them.
    np.testing.assert_allclose(probabilities, model.keras_model(model.preprocess(image[None]))[0], rtol=1e-6)
    assert probabilities.min() > 0.5 and probabilities.sum() > 1.2
    for label, where in ((0, red), (1, blue)):
        for method in CAM_METHODS:
            heatmap = explain_cam(image, model, method=method, target=label).input_heatmap
            assert heatmap[where].mean() > 5 * heatmap[~where].mean(), (label, method)


def test_the_cli_prints_a_multi_label_models_own_probabilities(saved, tmp_path, capsys):
    image, _ = square_image((255, 0, 0), (2, 2), background=(128, 128, 128))
    Image.fromarray(image).save(tmp_path / "red.png")
    assert main(["predict", str(tmp_path / "red.png"), "--model", saved["multilabel"], "--json"]) == 0
    result = json.loads(capsys.readouterr().out)[0]
    model = load_model(saved["multilabel"])
    expected = model.keras_model(model.preprocess(image[None])).numpy()[0]
    assert result["independent"]
    assert {p["index"]: p["probability"] for p in result["predictions"]} == pytest.approx(dict(enumerate(expected)))
    assert main(["predict", str(tmp_path / "red.png"), "--model", saved["multilabel"]]) == 0
    assert "need not sum to 100%" in capsys.readouterr().out


def test_a_regression_model_is_refused_in_one_line_naming_the_file(saved, capsys):
    assert main(["predict", CHELSEA, "--model", saved["regression"]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"limelight: {saved['regression']}: ") and "regression" in err and "sigmoid" in err


# --- Preprocessing, small images and superpixels ------------------------------------------------

def test_the_cli_says_once_on_stderr_which_preprocessing_it_assumed(saved, capsys):
    assert main(["predict", CHELSEA, "--model", saved["fashion_mnist"]]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and saved["fashion_mnist"] in lines[0] and "assumed 'unit'" in lines[0]
    assert "--preprocess" in lines[0]
    # A Rescaling layer inside says how the model is fed: nothing is assumed.
    assert main(["predict", CHELSEA, "--model", saved["fruits_20"]]) == 0
    assert capsys.readouterr().err == ""
    assert main(["predict", CHELSEA, "--model", saved["fashion_mnist"], "--preprocess", "unit"]) == 0
    assert capsys.readouterr().err == ""


def test_the_28_pixel_grayscale_model_gets_enough_superpixels_in_the_cli(saved, tmp_path, capsys):
    assert main(["explain", CHELSEA, "--model", saved["fashion_mnist"], "--preprocess", "unit",
                 "--samples", "300", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "too few" not in captured.err and "too few" not in captured.out
    report = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert report["labels"][0]["stability"]["num_segments"] >= 15
    assert report["parameters"]["segmentation"]["kernel_size"] < 4  # scaled from lime's 4 for 28 px


def test_an_explanation_over_too_few_superpixels_is_never_called_stable(saved, tmp_path, capsys):
    assert main(["explain", CHELSEA, "--model", saved["fruits_20"], "--segmentation", "grid", "--segments", "4",
                 "--samples", "200", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    trust = [line for line in captured.out.splitlines() if "LIME" in line][0]
    assert "too few superpixels" in trust and "stable" not in trust
    assert f"{CHELSEA}: only 4 superpixels" in captured.err
    report = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert report["labels"][0]["stability"]["word"] == "too few superpixels"
    assert any("only 4 superpixels" in warning for warning in report["warnings"])


def test_the_cli_refusal_of_a_single_superpixel_names_the_image(saved, tmp_path, capsys):
    assert main(["explain", CHELSEA, "--model", saved["fruits_20"], "--segmentation", "grid", "--segments", "1",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"limelight: {CHELSEA}: ") and "single superpixel" in err


def test_a_model_of_any_input_size_is_explained_at_224(saved, photo):
    model = load_model(saved["any_size"])
    assert model.input_size == (224, 224)
    assert explain_cam(model.prepare(photo), model).input_heatmap.shape == (224, 224)


def test_augmentation_layers_stay_off_when_explaining(saved, photo):
    model = load_model(saved["augmented"])
    image = model.prepare(photo)
    assert np.array_equal(model.predict(image[None]), model.predict(image[None]))
    first = explain_cam(image, model, method="gradcam").heatmap
    np.testing.assert_array_equal(first, explain_cam(image, model, method="gradcam").heatmap)


def test_a_keras_application_used_directly_keeps_its_own_classifier(saved):
    model = load_model(saved["resnet50"])
    assert model.num_classes == 3 and isinstance(model.keras_model, keras.Model)


# --- Vision Transformers ------------------------------------------------------------------------

class ClassToken(keras.layers.Layer):
    """Prepends a learned class token to a sequence of patch tokens, as ViT does."""

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="random_normal")

    def call(self, tokens):
        batch = keras.ops.shape(tokens)[0]
        return keras.ops.concatenate([keras.ops.tile(self.token, (batch, 1, 1)), tokens], axis=1)


def tiny_vit():
    """A two-block Vision Transformer on 8x8 patches of a 32x32 image: 1 class token + 4x4 patch tokens."""
    keras.utils.set_random_seed(10)
    inputs = keras.Input((32, 32, 3))
    patches = keras.layers.Conv2D(32, 8, strides=8, name="patch_embedding")(inputs)
    x = ClassToken(name="class_token")(keras.layers.Reshape((16, 32))(patches))
    for block in range(2):
        y = keras.layers.LayerNormalization(name=f"block{block}_norm1")(x)
        y = keras.layers.MultiHeadAttention(2, 16, name=f"block{block}_attention")(y, y)
        x = keras.layers.Add()([x, y])
        y = keras.layers.LayerNormalization(name=f"block{block}_norm2")(x)
        y = keras.layers.Dense(32, activation="gelu", name=f"block{block}_mlp")(y)
        x = keras.layers.Add()([x, y])
    tokens = keras.layers.LayerNormalization(name="encoder_norm")(x)
    class_token = keras.layers.Lambda(lambda t: t[:, 0], name="take_class_token")(tokens)
    logits = keras.layers.Dense(3, name="head")(class_token)
    return keras.Model(inputs, keras.layers.Softmax()(logits), name="tiny_vit"), keras.Model(inputs, [tokens, logits])


def test_a_vision_transformers_tokens_are_offered_as_a_grid_and_explained_like_a_feature_map():
    from limelight.core.cam import candidate_layers
    from limelight.core.models import ModelSettings, wrap_model

    keras_model, split = tiny_vit()
    model = wrap_model(keras_model, name="tiny_vit", source="test", settings=ModelSettings(preprocessing="unit"))
    layer = candidate_layers(model)[-1]
    assert (layer.path, layer.output_shape, layer.leading_tokens) == ("encoder_norm", (4, 4, 32), 1)
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    # Grad-CAM by hand: the gradient of the logit over the patch tokens, reshaped to their 4x4 grid.
    x = tf.constant(model.preprocess(image[None]))
    with tf.GradientTape() as tape:
        tokens, logits = split(x)
        score = logits[0, 2]
    gradients = tape.gradient(score, tokens)[0, 1:].numpy().reshape(4, 4, 32)
    expected = tokens[0, 1:].numpy().reshape(4, 4, 32) @ gradients.mean(axis=(0, 1))
    explanation = explain_cam(image, model, target=2, relu=False)
    assert explanation.layer == "encoder_norm"
    np.testing.assert_allclose(explanation.heatmap, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    for method in CAM_METHODS[1:]:
        assert explain_cam(image, model, method=method, target=2).input_heatmap.shape == (32, 32)
