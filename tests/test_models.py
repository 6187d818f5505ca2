"""Model loading: safe by default, the right preprocessing, clear refusals of non-classifiers."""
import json
import tomllib
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from limelight.core.errors import ModelError, UntrustedModelError
from limelight.core.models import (ModelSettings, load_model, preprocess, read_sidecar,
                                   write_sidecar)
from limelight.core.zoo import BUILTIN_MODELS, load_builtin


def small_classifier(classes=3, channels=3, activation="softmax"):
    inputs = keras.Input((16, 16, channels))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(classes, activation=activation, name="predictions")(x)
    return keras.Model(inputs, outputs)


def one_line_error(error_type, path, **kwargs) -> str:
    with pytest.raises(error_type) as caught:
        load_model(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_preprocessing_modes():
    pixel = np.array([[[[0, 127, 255]]]], dtype=np.uint8)
    assert np.allclose(preprocess(pixel, "none"), [0, 127, 255])
    assert np.allclose(preprocess(pixel, "unit"), [0, 127 / 255, 1])
    assert np.allclose(preprocess(pixel, "symmetric"), [-1, 127 / 127.5 - 1, 1])
    assert np.allclose(preprocess(pixel, "effnet_lite"), [-127 / 128, 0, 1])
    # caffe: BGR order, ImageNet mean subtracted
    assert np.allclose(preprocess(pixel, "caffe"), [255 - 103.939, 127 - 116.779, 0 - 123.68])
    torch = preprocess(pixel, "torch")
    assert np.allclose(torch[..., 0], (0 - 0.485) / 0.229)
    gray = preprocess(np.full((1, 2, 2, 3), 200, np.uint8), "unit", channels=1)
    assert gray.shape == (1, 2, 2, 1) and np.allclose(gray, 200 / 255, atol=1e-5)
    with pytest.raises(ModelError, match="unknown preprocessing 'bogus'"):
        preprocess(pixel, "bogus")


def test_keras_file_loads_and_predicts_probabilities(tmp_path):
    path = tmp_path / "net.keras"
    small_classifier().save(path)
    model = load_model(path)
    assert model.input_size == (16, 16) and model.channels == 3 and model.num_classes == 3
    assert model.head == "softmax"
    assert model.labels.names == ("class 0", "class 1", "class 2")
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    prepared = model.prepare(photo)
    assert prepared.shape == (16, 16, 3) and prepared.dtype == np.uint8
    probabilities = model.predict(np.stack([prepared] * 70))
    assert probabilities.shape == (70, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    expected = model.keras_model.predict(model.preprocess(prepared[None]), verbose=0)
    np.testing.assert_allclose(probabilities[0], expected[0], rtol=1e-5)


def test_predict_does_not_retrace_for_new_batch_sizes(tmp_path):
    path = tmp_path / "net.keras"
    small_classifier().save(path)
    model = load_model(path)
    images = np.zeros((45, 16, 16, 3), np.uint8)
    for n in (1, 7, 32, 45):
        model.predict(images[:n])
    assert model.runtime._keras_forward.experimental_get_tracing_count() == 1


def test_logit_models_get_softmax(tmp_path):
    path = tmp_path / "logits.keras"
    small_classifier(activation=None).save(path)
    model = load_model(path)
    assert model.head == "logits"
    out = model.predict(np.zeros((2, 16, 16, 3), np.uint8))
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)


def test_gray_model_gets_gray_input(tmp_path):
    path = tmp_path / "fashion.keras"
    small_classifier(classes=10, channels=1).save(path)
    model = load_model(path)
    assert model.channels == 1
    assert model.predict(np.zeros((3, 16, 16, 3), np.uint8)).shape == (3, 10)


def test_centre_crop_keeps_the_middle(tmp_path):
    path = tmp_path / "net.keras"
    small_classifier().save(path)
    model = load_model(path, resize="crop")
    wide = np.zeros((10, 30, 3), np.uint8)
    wide[:, 10:20] = 255
    framed = model.frame(wide)
    assert framed.shape == (10, 10, 3) and framed.min() == 255


def test_h5_file_loads(tmp_path):
    path = tmp_path / "legacy.h5"
    small_classifier().save(path)
    assert load_model(path).num_classes == 3


def test_sidecar_remembers_preprocessing_and_labels(tmp_path):
    path = tmp_path / "net.keras"
    small_classifier().save(path)
    (tmp_path / "names.txt").write_text("a\nb\nc\n")
    assert load_model(path).settings.preprocessing_guessed
    write_sidecar(path, ModelSettings(preprocessing="symmetric",
                                      labels_path=str(tmp_path / "names.txt")))
    assert json.loads((tmp_path / "net.keras.limelight.json").read_text())["labels"] == "names.txt"
    model = load_model(path)
    assert model.preprocessing == "symmetric" and not model.settings.preprocessing_guessed
    assert model.labels.names == ("a", "b", "c")
    assert read_sidecar(tmp_path / "other.keras") == {}


def test_random_bytes_named_keras(tmp_path):
    path = tmp_path / "junk.keras"
    path.write_bytes(np.random.default_rng(0).bytes(1000))
    assert "not a Keras model file" in one_line_error(ModelError, path)


def test_hdf5_without_a_model(tmp_path):
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as handle:
        handle["data"] = np.arange(4)
    assert "holds no Keras model" in one_line_error(ModelError, path)


def test_vector_input_model_refused(tmp_path):
    inputs = keras.Input((10,))
    path = tmp_path / "tabular.keras"
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs)).save(path)
    assert "not an image" in one_line_error(ModelError, path)


def test_two_input_model_refused(tmp_path):
    a, b = keras.Input((8, 8, 3)), keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([a, b]))
    path = tmp_path / "two.keras"
    keras.Model([a, b], keras.layers.Dense(3, activation="softmax")(x)).save(path)
    assert "2 inputs" in one_line_error(ModelError, path)


def test_regression_model_refused(tmp_path):
    path = tmp_path / "regression.keras"
    small_classifier(classes=1, activation=None).save(path)
    assert "regression" in one_line_error(ModelError, path)


def test_unknown_file_type(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"x")
    assert "not a model file" in one_line_error(ModelError, path)


def test_saved_model_needs_trust(tmp_path):
    path = tmp_path / "exported"
    small_classifier().export(str(path), verbose=False)
    assert "SavedModel" in one_line_error(UntrustedModelError, path)
    model = load_model(path, trust=True)
    assert model.input_size == (16, 16) and model.num_classes == 3
    assert model.predict(np.zeros((2, 16, 16, 3), np.uint8)).shape == (2, 3)


def test_installed_keras_is_at_least_the_floor_with_the_loading_fixes():
    from packaging.requirements import Requirement

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    keras_floor, = [r for r in map(Requirement, pyproject["project"]["dependencies"])
                    if r.name == "keras"]
    assert any(spec.operator == ">=" for spec in keras_floor.specifier), keras_floor
    assert keras_floor.specifier.contains(keras.__version__), (
        f"Keras {keras.__version__} is older than {keras_floor}, which fixed known model-loading "
        "holes; upgrade it")


def test_demo_model_is_built_in():
    model = load_builtin("demo_shapes")
    assert model.input_size == (64, 64) and model.preprocessing == "unit"
    assert not model.labels.assumed and len(model.labels) == model.num_classes


@pytest.mark.parametrize("name", [n for n, s in BUILTIN_MODELS.items() if s.application])
def test_keras_applications_plumbing(name):
    model = load_builtin(name, weights=None)
    spec = BUILTIN_MODELS[name]
    assert model.input_size == spec.input_size and model.preprocessing == spec.preprocessing
    assert model.num_classes == 1000 and model.labels.name(285) == "Egyptian cat"
    assert model.head == "softmax"


def test_application_weights_missing_offline(monkeypatch, tmp_path):
    import limelight.core.zoo as zoo

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(zoo, "_online", lambda: False)
    with pytest.raises(ModelError, match="vgg16_weights_tf_dim_ordering_tf_kernels.h5"):
        load_builtin("vgg16")


def test_unknown_builtin():
    with pytest.raises(ModelError, match="no built-in model named 'alexnet'"):
        load_builtin("alexnet")
