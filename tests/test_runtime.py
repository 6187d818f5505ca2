"""The perturbation runtime: LiteRT where it agrees with Keras, Keras otherwise, and what the model info says."""
import keras
import numpy as np
import pytest

from limelight.core.cam import explain_cam
from limelight.core.cli import main
from limelight.core.models import ModelSettings, load_model, wrap_model
from limelight.core.runtime import PROBE_TOLERANCE, PerturbationRuntime, model_digest


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LIMELIGHT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def gray_logits_cnn(seed=0):
    """A 28x28 grayscale classifier with a logits head and PyTorch-style layer names."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, activation="relu", name="features.0"),
        keras.layers.MaxPooling2D(name="features.2"),
        keras.layers.Conv2D(16, 3, activation="relu", name="features.3"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(10, name="classifier")])


def nested_any_size_classifier(seed=0):
    """A classifier with no fixed input size whose convolutions sit in a nested model."""
    keras.utils.set_random_seed(seed)
    inner = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(8, 3, activation="relu"),
                              keras.layers.Conv2D(8, 3, activation="relu")], name="backbone")
    inputs = keras.Input((None, None, 3))
    x = keras.layers.GlobalAveragePooling2D()(inner(inputs))
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))


def wrap(keras_model, **options):
    return wrap_model(keras_model, name="net", source="test", settings=ModelSettings(preprocessing="unit"), **options)


def images(shape, count=6):
    return np.random.default_rng(1).integers(0, 256, (count, *shape, 3), dtype=np.uint8)


@pytest.mark.parametrize("build, input_size", [(gray_logits_cnn, None), (nested_any_size_classifier, (40, 48))])
def test_small_models_run_on_litert_with_kerass_probabilities(build, input_size):
    model = wrap(build(), input_size=input_size)
    assert model.runtime.name == "LiteRT" and model.runtime.description == "LiteRT"
    batch = images(model.input_size)
    keras_probabilities = model.as_probabilities(keras.ops.convert_to_numpy(model.keras_model(model.preprocess(batch))))
    assert np.max(np.abs(model.predict(batch) - keras_probabilities)) <= PROBE_TOLERANCE


def test_the_converted_model_is_kept_by_content_and_reused(private_cache, tmp_path, monkeypatch):
    path = tmp_path / "gray.keras"
    gray_logits_cnn().save(path)
    first = load_model(path, preprocessing="unit")
    kept = private_cache / "runtimes" / f"{model_digest(first.keras_model, (28, 28, 1))}.tflite"
    assert kept.is_file()
    import tensorflow as tf

    def refuse(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_concrete_functions", refuse)
    copy = tmp_path / "renamed copy.keras"
    copy.write_bytes(path.read_bytes())
    again = load_model(copy, preprocessing="unit")  # the same content under another name
    assert again.runtime.name == "LiteRT"
    batch = images((28, 28))
    np.testing.assert_array_equal(again.predict(batch), first.predict(batch))


def test_a_damaged_converted_file_falls_back_to_keras_and_says_so(private_cache, tmp_path, capsys):
    path = tmp_path / "gray.keras"
    gray_logits_cnn().save(path)
    kept = private_cache / "runtimes" / f"{model_digest(keras.saving.load_model(path), (28, 28, 1))}.tflite"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"not a flatbuffer")
    model = load_model(path, preprocessing="unit")
    assert model.runtime.name == "Keras"
    assert model.runtime.description.startswith("Keras (the model could not be converted to LiteRT (")
    assert main(["info", "--model", str(path), "--preprocess", "unit"]) == 0
    assert "runtime        Keras (the model could not be converted to LiteRT" in capsys.readouterr().out


def test_a_converted_model_that_disagrees_with_keras_is_not_used(private_cache):
    other = wrap(gray_logits_cnn(seed=1))  # converts and keeps a file for other weights
    model = gray_logits_cnn(seed=2)
    source = private_cache / "runtimes" / f"{model_digest(other.keras_model, (28, 28, 1))}.tflite"
    source.rename(source.with_name(f"{model_digest(model, (28, 28, 1))}.tflite"))
    runtime = PerturbationRuntime(model, input_shape=(28, 28, 1), outputs_probabilities=False,
                                  cache_dir=private_cache)
    assert runtime.name == "Keras"
    assert "differ from Keras's by" in runtime.note and "on a probe batch" in runtime.note
    x = np.zeros((3, 28, 28, 1), np.float32)
    np.testing.assert_array_equal(runtime(x), keras.ops.convert_to_numpy(model(x)))


def test_info_names_the_runtime_of_a_builtin_model(capsys):
    assert main(["info", "--model", "demo_shapes"]) == 0
    out = capsys.readouterr().out
    assert "runtime        LiteRT" in out and "classes        7" in out


def test_score_cam_sends_its_masked_images_through_the_runtime():
    model = wrap(nested_any_size_classifier(), input_size=(32, 32))
    seen = []
    forward = model.runtime.__call__

    class Counting:
        def __call__(self, x):
            seen.append(len(x))
            return forward(x)

    image = images((32, 32), 1)[0]
    expected = explain_cam(image, model, method="scorecam", target=1, batch_size=4)
    model.runtime = Counting()
    explanation = explain_cam(image, model, method="scorecam", target=1, batch_size=4)
    assert seen[0] == 1 and 1 < sum(seen) <= 1 + 8  # the blank image, then the informative channels of 8
    np.testing.assert_allclose(explanation.heatmap, expected.heatmap, atol=1e-6)
