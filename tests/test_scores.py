"""Trust scores: faithfulness curves on known truth, a stability estimate that tracks reruns, auto sample counts and no wasted model calls."""
import numpy as np
import pytest

from limelight.core.errors import ExplanationError
from limelight.core.lime import PredictionCache, explain_lime
from limelight.core.scores import (Faithfulness, Stability, add_faithfulness, describe_tie, rerun_agreement,
                                   ridge_coefficients, superpixel_means, tied_places, top_k_stability)
from limelight.core.segmentation import segment

from tests.test_lime import RED, SQUARE, SQUARE_CELLS, Recorder, red_square, redness  # noqa: F401 (a fixture)


# --- Faithfulness ---------------------------------------------------------------------------------

def test_deletion_and_insertion_follow_the_red_square(red_square):
    image, segments = red_square
    explanation = explain_lime(image, redness, segments=segments, labels=[0], num_samples=500, hide="black",
                               random_state=0)
    curves = explanation.faithfulness[0]
    # 20 steps over 64 superpixels: 0, 3, 6, 10, ... hidden.
    assert curves.fractions[:4] == pytest.approx(np.array([0, 3, 6, 10]) / 64)
    assert len(curves.fractions) == 21 and curves.fractions[-1] == 1.0
    # The four square cells go first: after 3 of them only a quarter of the red is left, after 6 none.
    assert curves.deletion[:3] == pytest.approx([RED / 255, RED / 255 / 4, 0.0], abs=1e-6)
    assert max(curves.deletion[2:]) == pytest.approx(0.0, abs=1e-6)
    assert curves.insertion[:3] == pytest.approx([0.0, 3 * RED / 255 / 4, RED / 255], abs=1e-6)
    # A random order reveals the square in proportion to the share shown, on average.
    assert curves.random_auc == pytest.approx(RED / 255 / 2, abs=0.1)
    assert curves.deletion_auc < 0.05 < curves.random_auc < curves.insertion_auc
    assert curves.insertion_auc > RED / 255 - 0.05


def test_a_heatmap_is_scored_by_its_mean_inside_each_superpixel(red_square):
    from limelight.core.cam import CamExplanation

    image, segments = red_square
    on_square = np.zeros((64, 64), np.float32)
    on_square[SQUARE] = 1.0
    on_square[SQUARE[0].start:SQUARE[0].start + 4, SQUARE[1]] = 2.0  # the top rows weigh most
    means = superpixel_means(on_square, segments)
    assert sorted(np.argsort(-means)[:4]) == SQUARE_CELLS and means[SQUARE_CELLS[0]] == pytest.approx(1.5)

    def cam(heatmap):
        return CamExplanation(method="gradcam", heatmap=heatmap[::4, ::4], input_heatmap=heatmap, layer="conv",
                              target=0, class_score=1.0, probability=RED / 255)

    recorder = Recorder()
    cache = PredictionCache(recorder, image, segments, hide="black")
    good = add_faithfulness(cam(on_square), cache)
    wrong = add_faithfulness(cam(1.0 - on_square), cache)
    assert good.faithfulness[0].deletion_auc < 0.05 < wrong.faithfulness[0].random_auc
    assert wrong.faithfulness[0].deletion_auc > wrong.faithfulness[0].random_auc
    assert good.faithfulness[0].insertion_auc > wrong.faithfulness[0].insertion_auc
    assert cam(on_square).faithfulness == {}  # the original value is untouched
    # Measured labels are kept: asking again costs nothing.
    images = recorder.images
    assert add_faithfulness(good, cache).faithfulness[0] == good.faithfulness[0] and recorder.images == images


def test_faithfulness_curves_survive_their_record():
    curves = Faithfulness(fractions=[0, 0.5, 1], deletion=[0.9, 0.2, 0.1], insertion=[0.1, 0.8, 0.9],
                          random=[0.1, 0.5, 0.9])
    assert curves.deletion_auc == pytest.approx(0.35) and curves.insertion_auc == pytest.approx(0.65)
    assert curves.random_auc == pytest.approx(0.5)
    assert Faithfulness.from_record(curves.to_record()) == curves


# --- Stability ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, samples, word, hint", [
    (0.95, 300, "stable", ""),
    (0.9, 4000, "stable", ""),
    (0.8, 600, "borderline", "add samples"),
    (0.5, 1000, "unstable", "add samples"),
    (0.5, 4000, "unstable", "use fewer, larger superpixels"),
])
def test_stability_is_a_number_a_word_and_a_hint(value, samples, word, hint):
    stability = Stability(value, 5, samples)
    assert (stability.word, stability.hint) == (word, hint)
    assert Stability.from_record(stability.to_record()) == stability


def test_a_linear_model_is_stable_and_noise_is_not(red_square):
    image, segments = red_square
    # Four superpixels matter, so the top 4 are certain and a fifth is a coin toss among the rest.
    linear = explain_lime(image, redness, segments=segments, labels=[0], num_samples=200, hide="black",
                          random_state=0, faithfulness=False, top_k=4)
    assert linear.stability[0].value == 1.0 and linear.stability[0].word == "stable"
    assert linear.stability[0].k == 4
    fifth = explain_lime(image, redness, segments=segments, labels=[0], num_samples=200, hide="black",
                         random_state=0, faithfulness=False)
    # The fifth place is a tie among the 60 superpixels that do not matter: a rerun that picks
    # another of them shows nothing that matters differently, though the Jaccard index counts it.
    assert fifth.stability[0].value >= 0.9 and fifth.stability[0].jaccard < 0.9
    assert len(tied_places(fifth.weights[0], 5)) >= 30

    def noise(batch):
        return np.random.default_rng(int(batch.sum())).dirichlet(np.ones(3), len(batch)).astype(np.float32)

    noisy = explain_lime(image, noise, segments=segments, labels=[0], num_samples=200, hide="black",
                         random_state=0, faithfulness=False)
    # Top-5 sets drawn at random from 64 superpixels share about 5/64 of their members, and few
    # more are tied with the fifth place.
    assert noisy.stability[0].value < 0.5 and noisy.stability[0].word == "unstable"


def test_the_estimate_needs_no_model_calls_and_repeats_exactly(red_square):
    image, segments = red_square
    explanation = explain_lime(image, redness, segments=segments, labels=[0, 2], num_samples=300, random_state=1,
                               faithfulness=False)
    from limelight.core.lime import _kernel

    design = explanation.masks.astype(float)
    values, jaccards = top_k_stability(explanation.masks, explanation.predictions, _kernel(design, 0.25),
                                       random_state=1)
    assert values.shape == jaccards.shape == (2,)
    assert values == pytest.approx([explanation.stability[0].value, explanation.stability[2].value])
    assert jaccards == pytest.approx([explanation.stability[0].jaccard, explanation.stability[2].jaccard])


def test_the_bootstrap_refits_exactly_the_ridge_lime_fits():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(4)
    design = rng.integers(0, 2, (500, 30)).astype(float)
    targets = rng.random((500, 2))
    weights = rng.random(500) * rng.integers(0, 3, 500)
    expected = Ridge(alpha=1.0).fit(design, targets, sample_weight=weights).coef_
    assert ridge_coefficients(design, targets, weights) == pytest.approx(expected, abs=1e-10)


@pytest.fixture(scope="module")
def demo_model():
    from limelight.core.zoo import load_builtin

    return load_builtin("demo_shapes")


# Two scenes whose top 5 settles at different rates, and sample counts from fewer than the 50
# superpixels up, so that reruns agree from about 0.4 to 1 and the estimate has a range to track.
VALIDATION_SCENES = (3002, 3005)
VALIDATION_COUNTS = (25, 50, 100, 200, 400)
VALIDATION_SEEDS = 8


@pytest.mark.slow
def test_the_stability_estimate_tracks_the_measured_agreement_of_reruns(demo_model):
    from scipy.stats import spearmanr

    from limelight.core.demo import make_scene

    estimated, measured = [], []
    for scene_seed in VALIDATION_SCENES:
        scene = make_scene(np.random.default_rng(scene_seed), label=scene_seed % 6)
        segments = segment(scene.image, method="slic", n_segments=50)
        # One cache per seed: a seed's larger runs only add to its smaller ones, so these cost as
        # many model calls as the largest runs alone.
        caches = [PredictionCache(demo_model.predict, scene.image, segments, hide="mean")
                  for _ in range(VALIDATION_SEEDS)]
        for count in VALIDATION_COUNTS:
            runs = [explain_lime(scene.image, demo_model.predict, segments=segments, labels=[scene.label],
                                 num_samples=count, batch_size=1600, random_state=seed, cache=cache,
                                 faithfulness=False) for seed, cache in enumerate(caches)]
            measured.append(rerun_agreement([run.weights[scene.label] for run in runs], 5)[0])
            estimated.append(np.mean([run.stability[scene.label].value for run in runs]))
    estimated, measured = np.array(estimated), np.array(measured)
    assert measured.max() - measured.min() >= 0.4, measured  # the cases span a wide range
    assert spearmanr(estimated, measured).statistic >= 0.8, (estimated, measured)
    assert np.abs(estimated - measured).mean() <= 0.12, (estimated, measured)
    assert np.abs(estimated - measured).max() <= 0.25, (estimated, measured)


def test_the_stability_estimate_is_not_fooled_by_near_ties_at_the_kth_place():
    from limelight.core.lime import _kernel, lime_masks

    # A linear "classifier" with known weights: four clear leaders, five within 0.005 of each other for
    # the 5th place, and noise. A run's own noise spreads the five apart, and a bootstrap of that run
    # took its spread order for a stable one: 0.10 above the reruns' agreement at 250 samples, 0.05 at 500.
    truth = np.concatenate([[0.10, 0.09, 0.08, 0.07, 0.05, 0.048, 0.047, 0.046, 0.045], np.linspace(0.02, -0.02, 21)])
    errors = []
    for count in (250, 500):
        runs, estimates = [], []
        for seed in range(16):
            masks = lime_masks(seed, count, len(truth))
            scores = masks @ truth + np.random.default_rng(100 + seed).normal(0, 0.3, count)
            weights = _kernel(masks.astype(float), 0.25)
            runs.append(ridge_coefficients(masks.astype(float), scores[:, None], weights)[0])
            estimates.append(top_k_stability(masks, scores, weights, random_state=seed)[0][0])
        measured = np.mean([rerun_agreement(runs[:8])[0], rerun_agreement(runs[8:])[0]])
        errors.append(np.mean(estimates) - measured)
    assert np.mean(errors) <= 0.04, errors


# --- samples="auto" -------------------------------------------------------------------------------

def test_auto_stops_when_three_estimates_in_a_row_are_stable(red_square):
    image, segments = red_square
    recorder, calls = Recorder(), []
    auto = explain_lime(image, recorder, segments=segments, labels=[0], num_samples="auto", hide="black",
                        random_state=3, faithfulness=False, top_k=4,
                        progress=lambda done, total: calls.append((done, total)))
    # The square's four superpixels are certain from the first round (250 samples) on, but one
    # estimate alone does not stop a run: the next two rounds (375, 500) confirm it.
    assert auto.num_samples == auto.params["num_samples"] == 500 and recorder.images == 500
    assert auto.params["auto"] == {"target_stability": 0.9, "max_samples": 4000, "stopped":
                                   "stable: tie-aware agreement 1.00 reached 0.9 at 500 samples"}
    assert calls[0] == (48, 4000) and calls[-1] == (500, 500) and auto.warnings == ()
    fixed = explain_lime(image, redness, segments=segments, labels=[0], num_samples=500, hide="black",
                         random_state=3, faithfulness=False, top_k=4)
    assert np.array_equal(auto.masks, fixed.masks) and np.array_equal(auto.weights[0], fixed.weights[0])
    assert auto.stability[0] == fixed.stability[0]


def test_auto_stops_at_the_cap_when_it_cannot_get_stable(red_square):
    image, segments = red_square

    def noise(batch):
        return np.random.default_rng(int(batch.sum())).dirichlet(np.ones(3), len(batch)).astype(np.float32)

    recorder = Recorder(noise)
    explanation = explain_lime(image, recorder, segments=segments, labels=[0], num_samples="auto", max_samples=300,
                               hide="black", random_state=0, faithfulness=False)
    assert explanation.num_samples == 300 and recorder.images == 300
    assert explanation.stability[0].word == "unstable" and explanation.stability[0].hint == "add samples"
    assert explanation.warnings[-1].startswith("stopped at the cap of 300 samples with agreement 0.")


def test_auto_stops_early_when_more_samples_would_not_make_it_stable(red_square):
    image, segments = red_square

    def noise(batch):
        return np.random.default_rng(int(batch.sum())).dirichlet(np.ones(3), len(batch)).astype(np.float32)

    recorder = Recorder(noise)
    explanation = explain_lime(image, recorder, segments=segments, labels=[0], num_samples="auto", hide="black",
                               random_state=0, faithfulness=False)
    # Estimates from 250 to 750 samples (a tripling, enough to draw a trend) on a flat trend, far
    # from 4000; not the 22 rounds up to it.
    assert explanation.num_samples == recorder.images == 750
    stopped = explanation.params["auto"]["stopped"]
    assert stopped.startswith("stopped at 750 samples with agreement 0.") and "at 4000, short of 0.9" in stopped
    assert stopped.endswith("; use fewer, larger superpixels") and explanation.warnings[-1] == stopped
    assert explanation.stability[0].saturated and explanation.stability[0].hint == "use fewer, larger superpixels"


# --- No wasted model calls ------------------------------------------------------------------------

def test_more_samples_with_the_cache_predict_only_the_new_ones(red_square):
    image, segments = red_square
    recorder = Recorder()
    cache = PredictionCache(recorder, image, segments, hide="black")
    first = explain_lime(image, recorder, segments=segments, labels=[0], num_samples=200, batch_size=50,
                         hide="black", random_state=7, cache=cache, faithfulness=False)
    assert (recorder.calls, recorder.images, cache.images_predicted, len(cache)) == (4, 200, 200, 200)
    more = explain_lime(image, recorder, segments=segments, labels=[0], num_samples=350, batch_size=50,
                        hide="black", random_state=first.params["seed"], cache=cache, faithfulness=False)
    assert (recorder.calls, recorder.images) == (7, 350)
    # The continued run is the run that would have been made with 350 samples from the start.
    fresh = explain_lime(image, redness, segments=segments, labels=[0], num_samples=350, hide="black",
                         random_state=7, faithfulness=False)
    assert np.array_equal(more.masks, fresh.masks) and np.array_equal(more.weights[0], fresh.weights[0])


def test_another_label_of_the_same_image_costs_no_samples(red_square):
    image, segments = red_square
    recorder = Recorder()
    cache = PredictionCache(recorder, image, segments, hide="black")
    explain_lime(image, recorder, segments=segments, labels=[0], num_samples=200, hide="black", random_state=8,
                 cache=cache)
    # 200 samples, then the faithfulness curves of class 0: the all-off image, 19 deletion and 19
    # insertion steps, and 3 random orders of 19 steps (the all-on image is the first sample).
    assert recorder.images == 200 + 1 + 19 + 19 + 3 * 19
    other = explain_lime(image, recorder, segments=segments, labels=[2], num_samples=200, hide="black",
                         random_state=8, cache=cache, faithfulness=False)
    assert recorder.images == 296
    fresh = explain_lime(image, redness, segments=segments, labels=[2], num_samples=200, hide="black",
                         random_state=8, faithfulness=False)
    assert np.array_equal(other.weights[2], fresh.weights[2])
    # Its own curves need only its own deletion and insertion steps; the baseline is shared.
    with_curves = add_faithfulness(other, cache)
    assert recorder.images == 296 + 2 * 19
    assert with_curves.faithfulness[2].random == explain_lime(
        image, redness, segments=segments, labels=[2], num_samples=200, hide="black",
        random_state=8).faithfulness[2].random


def test_images_built_ahead_go_to_the_model_only_when_asked_for(red_square):
    image, segments = red_square
    masks = np.random.default_rng(0).integers(0, 2, (30, segments.max() + 1)).astype(bool)
    recorder = Recorder(keep=True)
    cache = PredictionCache(recorder, image, segments, hide="black")
    first = cache.predict(masks[:10], batch_size=4, ahead=masks[10:14])
    assert (recorder.calls, recorder.images) == (3, 10)
    # Not the masks announced: the ones built ahead wait, and these are built now.
    other = cache.predict(masks[20:30], batch_size=4)
    announced = cache.predict(masks[10:20], batch_size=4)
    assert recorder.images == 30
    expected = PredictionCache(redness, image, segments, hide="black").predict(masks)
    assert np.array_equal(np.concatenate([first, announced, other]), expected[np.r_[0:10, 10:20, 20:30]])
    # Every image the model saw is the photo with exactly its mask's superpixels shown.
    shown = np.concatenate(recorder.batches).astype(bool).any(axis=-1)
    order = np.r_[0:10, 20:30, 10:20]
    assert np.array_equal(shown, masks[order][:, segments] & (image.any(axis=-1)))


def test_a_cache_refuses_another_image_model_or_hide_mode(red_square):
    image, segments = red_square
    cache = PredictionCache(redness, image, segments, hide="black")
    message = "this prediction cache holds another model's, image's, segmentation's or hide mode's predictions"
    for changed in ({"image": image[::-1].copy()}, {"predict": lambda batch: redness(batch)}, {"hide": "grey"},
                    {"segments": segment(image, method="grid", n_segments=16)}):
        arguments = {"image": image, "predict": redness, "segments": segments, "hide": "black", **changed}
        with pytest.raises(ExplanationError, match=message):
            explain_lime(arguments.pop("image"), arguments.pop("predict"), num_samples=20, cache=cache, **arguments)
    # Labels renumbered the same way are the same segmentation.
    explain_lime(image, redness, segments=segments * 2 + 1, hide="black", num_samples=20, cache=cache)


def test_the_last_place_shared_within_a_tenth_of_the_largest_weight_is_named():
    weights = np.array([1.0, 0.85, 0.7, 0.55, 0.4, 0.36, 0.33, 0.2, -0.6])
    assert tied_places(weights, 5).tolist() == [4, 5, 6]
    assert describe_tie(weights, 5) == "5th place: a tie between 3 superpixels"
    assert describe_tie(weights, 2) == "" and tied_places(weights, 2).tolist() == [1]
    assert describe_tie(weights, 3, tie_delta=0.2) == "3rd place: a tie between 2 superpixels"
    # Fewer positive weights than places: the last positive one holds the last place.
    assert tied_places(np.array([0.5, -0.1, 0.02]), 5).tolist() == [2]
    assert tied_places(np.array([-0.5, -0.1]), 5).tolist() == []
