"""Gradient maps: agreement with a plain tape, SmoothGrad's and Integrated Gradients' own truths, pointing, users' models."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.ndimage import binary_fill_holes, distance_transform_edt

from limelight.core.errors import Cancelled, ExplanationError
from limelight.core.gradients import GradientExplanation, explain_gradients
from limelight.core.methods import BASELINES, GRADIENT_METHODS
from limelight.core.models import ModelSettings, wrap_model
from limelight.core.zoo import load_builtin, weights_available
from tests import user_models

needs_demo = pytest.mark.skipif(not weights_available("demo_shapes"),
                                reason="the demo_shapes model has not been trained yet")


def wrap(keras_model, preprocessing="unit"):
    return wrap_model(keras_model, name=keras_model.name, source="test",
                      settings=ModelSettings(preprocessing=preprocessing))


def random_image(seed, size):
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def tape_gradients(keras_model, x, target):
    """The gradient of the target's pre-softmax score, as a plain GradientTape on a linear-headed copy gives it."""
    head = keras_model.layers[-1]
    features = keras.Model(keras_model.inputs, keras_model.layers[-2].output)
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = tf.matmul(features(x, training=False), head.kernel) + head.bias
        score = logits[:, target]
    return tape.gradient(score, x).numpy().astype(np.float64), logits.numpy()[:, target]


@pytest.fixture(scope="module")
def demo():
    return load_builtin("demo_shapes")


@pytest.fixture(scope="module")
def fruits():
    """A users' RGB model with its own Rescaling layer, softmax head."""
    keras_model = user_models.fruits_20()
    keras_model(np.zeros((1, 20, 20, 3), np.float32))
    return wrap(keras_model, "none"), keras_model


@pytest.fixture(scope="module")
def grayscale():
    """The Fashion-MNIST tutorial's 28x28 grayscale CNN: one input channel."""
    return wrap(user_models.fashion_mnist())


@pytest.fixture(scope="module")
def nested():
    """MobileNetV2 nested in a Sequential behind a Rescaling layer."""
    return wrap(user_models.transfer_mobilenet(), "none")


@pytest.fixture(scope="module")
def sigmoid():
    """A single-sigmoid binary head whose truth is known: the brightest 3x3 patch."""
    return wrap(user_models.bright_square_detector())


def test_plain_gradients_match_a_gradient_tape_summed_over_channels(fruits):
    model, keras_model = fruits
    image = random_image(0, (20, 20))
    expected, score = tape_gradients(keras_model, model.preprocess(image[None]), 2)
    explanation = explain_gradients(image, model, method="gradients", target=2)
    np.testing.assert_allclose(explanation.input_heatmap, np.abs(expected[0]).sum(axis=-1), rtol=1e-4, atol=1e-7)
    assert explanation.class_score == pytest.approx(float(score[0]), rel=1e-5)
    assert isinstance(explanation, GradientExplanation) and explanation.kind == "gradient"


def test_smoothgrad_with_zero_noise_equals_plain_gradients_exactly(fruits, grayscale, nested):
    for model in (fruits[0], grayscale, nested):
        image = random_image(1, model.input_size)
        plain = explain_gradients(image, model, method="gradients", target=1).input_heatmap
        # One copy per pass runs exactly the plain pass, so any difference would be the averaging's.
        smooth = explain_gradients(image, model, method="smoothgrad", noise=0.0, num_samples=7, batch_size=1,
                                   target=1, random_state=0).input_heatmap
        assert np.array_equal(smooth, plain)
        # Batched copies differ only by the convolution's rounding for a batch of another size.
        batched = explain_gradients(image, model, method="smoothgrad", noise=0.0, num_samples=7, batch_size=4,
                                    target=1, random_state=0).input_heatmap
        np.testing.assert_allclose(batched, plain, rtol=1e-5, atol=1e-6 * plain.max())


def test_vargrad_is_smoothgrad_squared_less_the_squared_mean_on_one_channel(grayscale):
    image = random_image(2, (28, 28))
    maps = {method: explain_gradients(image, grayscale, method=method, target=3, num_samples=12,
                                      random_state=5).input_heatmap
            for method in ("smoothgrad", "smoothgrad-squared", "vargrad")}
    # With one channel, E[g^2] - Var[g] = E[g]^2 pixel by pixel.
    np.testing.assert_allclose(maps["smoothgrad-squared"] - maps["vargrad"], maps["smoothgrad"] ** 2,
                               rtol=1e-4, atol=1e-6 * maps["smoothgrad-squared"].max())
    assert maps["vargrad"].min() >= 0


def test_noise_changes_the_map_and_the_same_seed_repeats_it(fruits, nested):
    for model in (fruits[0], nested):
        image = random_image(3, model.input_size)
        first, again, other = (explain_gradients(image, model, method="smoothgrad", target=0, num_samples=8,
                                                 random_state=seed).input_heatmap for seed in (4, 4, 5))
        assert np.array_equal(first, again)
        assert not np.array_equal(first, other)


def test_smoothgrad_agrees_with_independent_noise_drawn_for_every_copy(fruits):
    from scipy.stats import spearmanr

    model, keras_model = fruits
    image = random_image(3, (20, 20))
    x = model.preprocess(image[None]).astype(np.float32)
    sigma = 0.15 * float(x.max() - x.min())

    def reference(copies, seed):
        # SmoothGrad as the paper draws it: fresh Gaussian noise for every pixel of every copy.
        noise = np.random.default_rng(seed).standard_normal((copies, *x.shape[1:])).astype(np.float32)
        gradients, _ = tape_gradients(keras_model, x + sigma * noise, 0)
        return np.abs(gradients.mean(axis=0)).sum(axis=-1)

    converged = reference(4000, 123).ravel()
    ours = [spearmanr(explain_gradients(image, model, method="smoothgrad", target=0, num_samples=50,
                                        random_state=seed).input_heatmap.ravel(), converged).statistic
            for seed in range(8)]
    fresh = [spearmanr(reference(50, 100 + seed).ravel(), converged).statistic for seed in range(8)]
    # Windows of one pool are as good as fresh noise: measured 0.978 and 0.978 (spread 0.002).
    assert np.mean(ours) >= np.mean(fresh) - 0.005, (ours, fresh)


@pytest.mark.parametrize("baseline", ["black", "blur", "grey", (40, 200, 90)])
def test_integrated_gradients_sum_to_the_score_change_within_one_percent(nested, grayscale, sigmoid, baseline):
    for model, seed in ((nested, 6), (grayscale, 7), (sigmoid, 8)):
        image = random_image(seed, model.input_size)
        explanation = explain_gradients(image, model, method="integrated-gradients", baseline=baseline,
                                        target=model.num_classes - 1)
        check = explanation.params["completeness"]
        change = check["class_score"] - check["baseline_class_score"]
        assert explanation.input_heatmap.sum() == pytest.approx(check["attribution_sum"], rel=1e-4)
        assert abs(check["attribution_sum"] - change) <= 0.01 * abs(change), (model.name, check)
        # The path ends on the image: its score is the plain pass's, up to a batch's rounding.
        assert check["class_score"] == pytest.approx(explanation.class_score, rel=1e-4, abs=1e-6)


def test_integrated_gradients_baseline_score_is_the_models_own(sigmoid):
    image = random_image(9, (32, 32))
    explanation = explain_gradients(image, sigmoid, method="integrated-gradients", baseline=(0, 0, 0), target=1)
    probability = float(sigmoid.predict(np.zeros((1, 32, 32, 3), np.uint8))[0, 1])
    # The binary head's score is the sigmoid's logit, log(p / (1 - p)).
    assert explanation.params["completeness"]["baseline_class_score"] == pytest.approx(
        np.log(probability / (1 - probability)), rel=1e-4)


def test_the_bright_patch_detector_is_explained_where_the_patch_is(sigmoid):
    image = np.full((32, 32, 3), 60, np.uint8)
    image[20:26, 5:11] = 250
    for method in GRADIENT_METHODS:
        heatmap = explain_gradients(image, sigmoid, method=method, target=1, random_state=0).input_heatmap
        row, col = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        assert 18 <= row <= 27 and 3 <= col <= 12, method


# The pointing game (Zhang et al., 2016): a hit is a peak within 15 px of the object at 224 px,
# 4 px at 64 px. Gradient maps are pixel-sharp and peak on the outline, often a pixel outside the
# painted shape, so unlike Grad-CAM's (tests/test_cam.py) their test allows the game's tolerance.
# Measured on the committed demo model, 50 scenes, hits within 4 px (strictly on painted pixels):
# gradients 0.96 (0.66), SmoothGrad 0.98 (0.60), SmoothGrad-Squared 0.88 (0.56), VarGrad 0.62
# (0.40), Integrated Gradients 1.00 (0.62) from black and 1.00 (0.66) from the blurred image.
# The noisy ones vary with the seed: over seeds 0-3, SmoothGrad 0.98, SmoothGrad-Squared 0.88-0.92 and
# VarGrad 0.62-0.70 (with fresh noise for every copy instead of windows of one pool: 0.96-0.98,
# 0.84-0.96 and 0.68-0.72).
@needs_demo
@pytest.mark.parametrize("method, options, expected", [
    ("gradients", {}, 0.94), ("smoothgrad", {}, 0.96), ("smoothgrad-squared", {}, 0.86), ("vargrad", {}, 0.6),
    ("integrated-gradients", {"baseline": "black"}, 0.98), ("integrated-gradients", {"baseline": "blur"}, 0.98)])
def test_the_gradient_map_peak_lies_near_the_object(demo, method, options, expected):
    from limelight.core.demo import make_scene

    hits, chance = [], []
    for index in range(50):
        scene = make_scene(np.random.default_rng(3000 + index), label=index % 6)
        heatmap = explain_gradients(scene.image, demo, method=method, target=scene.label, random_state=0,
                                    **options).input_heatmap
        near = distance_transform_edt(~binary_fill_holes(scene.mask)) <= 4
        hits.append(near[np.unravel_index(np.argmax(heatmap), heatmap.shape)])
        chance.append(near.mean())
    # A peak dropped at random would hit far less often: the test can fail.
    assert np.mean(chance) < 0.3
    assert np.mean(hits) >= expected


def test_progress_counts_copies_and_cancel_stops_between_passes(fruits):
    model, _ = fruits
    image = random_image(10, (20, 20))
    calls = []
    explain_gradients(image, model, method="smoothgrad", num_samples=10, batch_size=4, target=0,
                      progress=lambda done, total: calls.append((done, total)))
    # The image itself, then ten noisy copies.
    assert calls == [(4, 11), (8, 11), (11, 11)]
    passes = []
    with pytest.raises(Cancelled, match="after 4 of 11 passes"):
        explain_gradients(image, model, method="vargrad", num_samples=10, batch_size=4, target=0,
                          progress=lambda done, total: passes.append(done), cancelled=lambda: len(passes) == 1)


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "guided"}, "unknown gradient method"),
    ({"method": "integrated-gradients", "baseline": "mean"}, "unknown baseline"),
    ({"num_samples": 0}, "num_samples must be"),
    ({"noise": -0.1}, "noise must be"),
    ({"target": 99}, "target class 99 does not exist"),
])
def test_bad_options_are_refused_in_one_line(fruits, kwargs, message):
    with pytest.raises(ExplanationError, match=message):
        explain_gradients(random_image(11, (20, 20)), fruits[0], **kwargs)


def test_a_baseline_equal_to_the_image_is_refused(fruits):
    with pytest.raises(ExplanationError, match="leaves this image unchanged"):
        explain_gradients(np.zeros((20, 20, 3), np.uint8), fruits[0], method="integrated-gradients", baseline="black")


def test_the_explanation_round_trips_through_a_record_as_a_gradient_map(fruits):
    explanation = explain_gradients(random_image(12, (20, 20)), fruits[0], method="integrated-gradients",
                                    baseline="blur", target=1)
    meta, arrays = explanation.to_record()
    assert meta["kind"] == "gradient" and meta["params"]["baseline"] == "blur"
    again = GradientExplanation.from_record(meta, arrays)
    assert np.array_equal(again.weight_map(1), explanation.weight_map(1))
    assert again.params["completeness"] == explanation.params["completeness"]
    assert set(BASELINES) >= {"black", "blur"}


def test_a_saved_report_reopens_as_the_same_gradient_map(fruits, tmp_path):
    from limelight.core.report import load_report, save_report

    explanation = explain_gradients(random_image(13, (20, 20)), fruits[0], method="smoothgrad", target=2,
                                    num_samples=4, random_state=1)
    path = save_report(tmp_path / "fruit.json", explanation, image_path="fruit.png", model_name="fruits_20",
                       preprocessing="none", label_names=None)
    loaded, info = load_report(path)
    assert info["kind"] == "gradient" and loaded.method == "smoothgrad" and type(loaded) is GradientExplanation
    assert np.array_equal(loaded.weight_map(2), explanation.weight_map(2))


def _tie_aware_agreement(rankings, k=5, tie_delta=0.1):
    """The tie-aware agreement written from its definition: over ordered pairs (a, b), the share of b's top k
    positive regions that a has in its top k or within tie_delta x its largest |weight| of its k-th."""
    shares = []
    for a, first in enumerate(rankings):
        order = np.argsort(-first, kind="stable")
        positive = [i for i in order if first[i] > 0]
        kth = first[positive[min(k, len(positive)) - 1]]
        accepted = set(positive[:k]) | {i for i in positive[k:] if first[i] >= kth - tie_delta * np.abs(first).max()}
        for b, second in enumerate(rankings):
            if a != b:
                top = [i for i in np.argsort(-second, kind="stable") if second[i] > 0][:k]
                shares.append(np.mean([i in accepted for i in top]))
    return float(np.mean(shares))


def test_a_noisy_maps_stability_is_a_bootstrap_over_its_groups_of_copies(grayscale):
    from limelight.core.gradients import STABILITY_GRID
    from limelight.core.scores import resampled_map_stability

    rng = np.random.default_rng(0)
    sums, squares = rng.normal(size=(6, 16, 16, 2)), rng.random((6, 16, 16, 2)) * 3
    sizes = np.array([3, 3, 2, 2, 2, 2])
    rows, cols = np.indices((16, 16))
    regions = rows // 4 * 4 + cols // 4
    agreement, _ = resampled_map_stability(sums, squares, sizes, lambda total, square, count: np.abs(
        total / count).sum(axis=-1), regions, repeats=12, random_state=3)
    # The same draws, one at a time: groups drawn with replacement, SmoothGrad's map of their copies,
    # each region's mean from its mean region.
    draws, rng = [], np.random.default_rng(3)
    for _ in range(12):
        chosen = rng.integers(0, 6, 6)
        heatmap = np.abs(sum(sums[g] for g in chosen) / sum(sizes[g] for g in chosen)).sum(axis=-1)
        means = np.array([heatmap[regions == r].mean() for r in range(16)])
        draws.append(means - means.mean())
    assert agreement == pytest.approx(_tie_aware_agreement(draws))

    image = random_image(9, (28, 28))
    explanation = explain_gradients(image, grayscale, method="vargrad", num_samples=30, random_state=1)
    stability = explanation.stability[explanation.target]
    assert (stability.k, stability.num_samples, stability.num_segments) == (5, 30, STABILITY_GRID ** 2)
    assert 0 <= stability.value <= 1 and explanation.stability_note == ""


@needs_demo
def test_a_noisy_maps_stability_foresees_how_far_reruns_with_other_noise_agree(demo):
    from limelight.core.demo import make_scene
    from limelight.core.gradients import STABILITY_GRID
    from limelight.core.scores import superpixel_means

    rows, cols = np.indices(demo.input_size)
    cells = rows * STABILITY_GRID // demo.input_size[0] * STABILITY_GRID + cols * STABILITY_GRID // demo.input_size[1]
    gaps = []
    for scene in range(3):
        image = demo.prepare(make_scene(scene).image)
        runs = [explain_gradients(image, demo, method="smoothgrad", num_samples=10, random_state=seed)
                for seed in range(10)]
        estimate = np.mean([run.stability[run.target].value for run in runs])
        means = [superpixel_means(run.input_heatmap, cells) for run in runs]
        gaps.append(estimate - _tie_aware_agreement([m - m.mean() for m in means]))
    # Measured: within 0.11 on each scene (the bootstrap over ten copies errs on the optimistic side).
    assert max(abs(gap) for gap in gaps) < 0.2 and abs(np.mean(gaps)) < 0.12, gaps


def test_deterministic_maps_say_stability_does_not_apply_and_integrated_gradients_its_completeness(fruits):
    model, _ = fruits
    image = random_image(4, (20, 20))
    plain = explain_gradients(image, model, method="gradients", target=1)
    assert plain.stability == {} and plain.stability_note == "n/a, deterministic"
    integrated = explain_gradients(image, model, method="integrated-gradients", target=1)
    completeness = integrated.params["completeness"]
    change = completeness["class_score"] - completeness["baseline_class_score"]
    off = abs(completeness["attribution_sum"] - change) / abs(change)
    assert integrated.stability == {}
    assert integrated.stability_note == f"n/a, deterministic; attributions add up to the score's change within {off:.1%}"
