"""The demo dataset knows the truth per pixel, and the committed demo model has learnt it."""
import numpy as np
import pytest

from limelight.core.demo import (CLASS_NAMES, MODEL_CLASS_NAMES, make_dataset, make_pair_scene,
                                 make_scene)
from limelight.core.zoo import load_builtin


def test_scene_mask_marks_exactly_the_object():
    rng = np.random.default_rng(3)
    for _ in range(30):
        scene = make_scene(rng)
        assert scene.image.shape == (64, 64, 3) and scene.image.dtype == np.uint8
        assert scene.mask.shape == (64, 64) and scene.mask.any()
        # Fully inside: the object never touches the border.
        assert not (scene.mask[0].any() or scene.mask[-1].any()
                    or scene.mask[:, 0].any() or scene.mask[:, -1].any())
        # The object stands out: its pixels differ from the background next to them.
        grown = np.zeros_like(scene.mask)
        rows, cols = np.nonzero(scene.mask)
        grown[max(rows.min() - 4, 0):rows.max() + 5, max(cols.min() - 4, 0):cols.max() + 5] = True
        ring = grown & ~scene.mask
        outside = scene.image[ring].astype(float).mean(axis=0)
        contrast = np.abs(scene.image[scene.mask].astype(float) - outside).sum(axis=1).mean()
        assert contrast > 40, CLASS_NAMES[scene.label]


def test_scene_draws_the_requested_class_at_the_documented_scale():
    rng = np.random.default_rng(5)
    for label in range(len(CLASS_NAMES)):
        for _ in range(10):
            scene = make_scene(rng, label=label)
            rows, cols = np.nonzero(scene.mask)
            extent = max(np.ptp(rows), np.ptp(cols)) + 1
            assert scene.label == label
            # Objects span 14-28 px; a square turned 45 degrees reaches 0.8 * 28 * sqrt(2) = 32.
            assert 10 <= extent <= 33, (CLASS_NAMES[label], extent)
    # Scenes are values: nobody can paint over the truth afterwards.
    assert not scene.image.flags.writeable and not scene.mask.flags.writeable
    with pytest.raises(ValueError, match="class index"):
        make_scene(rng, label=len(CLASS_NAMES))


def test_pair_scene_objects_sit_in_their_own_halves():
    rng = np.random.default_rng(4)
    for _ in range(20):
        pair = make_pair_scene(rng, labels=(0, 3))
        left, right = pair.masks
        assert pair.labels == (0, 3)
        assert not (left & right).any()
        assert not left[:, 32:].any() and not right[:, :32].any()


def test_empty_scenes_have_no_object():
    images, labels, masks = make_dataset(21, random_state=1, with_empty=True)
    empty = labels == len(CLASS_NAMES)
    assert empty.sum() == 3 and not masks[empty].any() and masks[~empty].any(axis=(1, 2)).all()


def test_same_seed_same_dataset():
    a = make_dataset(20, random_state=7)
    b = make_dataset(20, random_state=7)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], make_dataset(20, random_state=8)[0])


@pytest.fixture(scope="module")
def demo_model():
    return load_builtin("demo_shapes")


def test_committed_model_is_small_and_accurate(demo_model):
    from limelight.resources import resource_path

    assert resource_path("models", "demo_shapes.keras").stat().st_size < 1_000_000
    assert demo_model.labels.names == MODEL_CLASS_NAMES
    images, labels, _ = make_dataset(200, random_state=12345, with_empty=True)
    predicted = demo_model.predict(images).argmax(axis=1)
    assert np.mean(predicted == labels) >= 0.9


def test_demo_model_has_a_feature_map_for_grad_cam(demo_model):
    layer = demo_model.keras_model.get_layer("last_conv")
    assert len(layer.output.shape) == 4 and layer.output.shape[1:3] == (16, 16)


@pytest.mark.slow
def test_training_rebuilds_the_same_model_bit_for_bit(tmp_path):
    """What the README promises for `python -m limelight.core.demo train`, run after run."""
    import subprocess
    import sys

    import keras

    def train(folder):
        out = tmp_path / folder / "demo_shapes.keras"
        subprocess.run([sys.executable, "-m", "limelight.core.demo", "train", "--out", str(out),
                        "--samples", "96", "--epochs", "1"], check=True, capture_output=True)
        return keras.saving.load_model(out, compile=False).get_weights()

    first, again = train("first"), train("again")
    assert len(first) == len(again)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
