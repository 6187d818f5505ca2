"""LIME: points at known objects, agrees with the reference package, and is reproducible, cancellable and lean."""
import dataclasses
import json
import pickle

import numpy as np
import pytest
from lime.lime_image import LimeImageExplainer
from scipy.ndimage import binary_dilation, binary_fill_holes
from scipy.stats import spearmanr
from skimage.filters import gaussian

from limelight.core.errors import Cancelled, ExplanationError, ReportError
from limelight.core.lime import LimeExplanation, explain_lime
from limelight.core.segmentation import segment, segment_count

SQUARE = (slice(16, 32), slice(24, 40))  # exactly cells (2, 3), (2, 4), (3, 3), (3, 4) of an 8x8 grid
SQUARE_CELLS = [19, 20, 27, 28]
RED = 200


@pytest.fixture(scope="module")
def red_square():
    """A red square on grey noise, and an 8x8 grid whose cells the square covers exactly."""
    rng = np.random.default_rng(5)
    image = rng.integers(60, 120, (64, 64, 3)).astype(np.uint8)
    image[SQUARE] = (RED, 20, 20)
    return image, segment(image, method="grid", n_segments=64)


def redness(batch):
    """Class 0: the mean red inside the square (0..1); class 1: the rest; class 2: blueness overall."""
    red = batch[:, SQUARE[0], SQUARE[1], 0].mean(axis=(1, 2)) / 255.0
    blue = batch[..., 2].mean(axis=(1, 2)) / 255.0
    return np.stack([red, 1 - red, blue], axis=1).astype(np.float32)


class Recorder:
    """A predict function that counts calls and images and can keep copies of its batches."""

    def __init__(self, predict=redness, keep=False):
        self.predict, self.keep = predict, keep
        self.calls, self.images, self.batches = 0, 0, []

    def __call__(self, batch):
        self.calls += 1
        self.images += len(batch)
        if self.keep:
            self.batches.append(np.array(batch))
        return self.predict(batch)


def weights_from_reference(explanation, label, n_segments):
    weights = np.zeros(n_segments)
    for feature, weight in explanation.local_exp[label]:
        weights[feature] = weight
    return weights


# --- Known truth ----------------------------------------------------------------------------------

def test_the_top_superpixels_are_exactly_the_red_square(red_square):
    image, segments = red_square
    explanation = explain_lime(image, redness, segments=segments, labels=[0, 1], num_samples=1000,
                               hide="black", random_state=0)
    assert sorted(explanation.top_segments(0, 4)) == SQUARE_CELLS
    # Hiding one of the four cells blackens a quarter of the square: the score drops by
    # RED / 255 / 4, which a linear model recovers almost exactly (Ridge's alpha=1 shrinks a little).
    weights = explanation.weights[0]
    assert weights[SQUARE_CELLS] == pytest.approx(RED / 255 / 4, rel=0.03)
    assert np.abs(np.delete(weights, SQUARE_CELLS)).max() < 0.01 * weights.max()
    # The complementary class is explained by the mirror-image weights.
    assert explanation.weights[1] == pytest.approx(-weights, abs=1e-6)
    assert explanation.scores[0] > 0.99
    assert explanation.probabilities[0] == pytest.approx(RED / 255, abs=1e-6)
    assert explanation.local_predictions[0] == pytest.approx(RED / 255, abs=0.01)
    assert explanation.weight_map(0)[SQUARE].min() == pytest.approx(weights[SQUARE_CELLS].min())


def test_matches_the_reference_lime_on_a_linear_model(red_square):
    image, segments = red_square
    ours = explain_lime(image, redness, segments=segments, labels=[0], num_samples=1500, hide="black",
                        random_state=1)
    theirs = LimeImageExplainer(random_state=1).explain_instance(
        image, redness, labels=(0,), top_labels=None, hide_color=0, num_samples=1500, batch_size=100,
        segmentation_fn=lambda _: segments)
    reference = weights_from_reference(theirs, 0, 64)
    # The same seed draws the same samples, and kernel, distance and regression are the same.
    assert ours.weights[0] == pytest.approx(reference, abs=1e-9)
    assert ours.intercepts[0] == pytest.approx(theirs.intercept[0], abs=1e-9)
    assert ours.scores[0] == pytest.approx(theirs.score, abs=1e-9)


def test_a_seed_draws_the_reference_lime_perturbed_images(red_square):
    image, segments = red_square
    ours, theirs = Recorder(keep=True), Recorder(keep=True)
    explain_lime(image, ours, segments=segments, labels=[0], num_samples=300, random_state=12, faithfulness=False)
    LimeImageExplainer(random_state=12).explain_instance(
        image, theirs, labels=(0,), top_labels=None, hide_color=None, num_samples=300, batch_size=48,
        segmentation_fn=lambda _: segments)
    assert np.array_equal(np.concatenate(ours.batches), np.concatenate(theirs.batches))


# --- Perturbations --------------------------------------------------------------------------------

@pytest.mark.parametrize("hide", ["mean", "blur", "black", "white", "grey", (10, 200, 30)])
def test_every_sample_shows_its_superpixels_and_hides_the_rest(red_square, hide):
    image, segments = red_square
    recorder = Recorder(keep=True)
    explanation = explain_lime(image, recorder, segments=segments, labels=[0], num_samples=30, batch_size=8,
                               hide=hide, random_state=2, faithfulness=False)
    if hide == "mean":
        # Each superpixel's own mean colour, truncated to uint8 as lime does.
        sums = np.stack([np.bincount(segments.ravel(), image[..., c].ravel().astype(float)) for c in range(3)], 1)
        hidden = (sums / np.bincount(segments.ravel())[:, None]).astype(np.uint8)[segments]
    elif hide == "blur":
        hidden = np.round(gaussian(image, sigma=0.05 * 64, channel_axis=-1, preserve_range=True)).astype(np.uint8)
    else:
        colour = {"black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128)}.get(hide, hide)
        hidden = np.broadcast_to(np.array(colour, np.uint8), image.shape)
    batches = np.concatenate(recorder.batches)
    assert [len(b) for b in recorder.batches] == [8, 8, 8, 6]
    assert batches.dtype == np.uint8 and batches.shape == (30, 64, 64, 3)
    expected = np.where(explanation.masks[:, segments][..., None], image, hidden)
    assert np.array_equal(batches, expected)
    assert np.array_equal(batches[0], image) and explanation.masks[0].all()
    assert explanation.params["hide"] == hide


def test_masks_switch_each_superpixel_on_half_the_time(red_square):
    image, segments = red_square
    masks = explain_lime(image, redness, segments=segments, num_samples=2000, random_state=3).masks
    assert masks.shape == (2000, 64) and masks.dtype == bool
    assert masks[1:].mean() == pytest.approx(0.5, abs=0.01)
    assert masks[1:].mean(axis=0) == pytest.approx(np.full(64, 0.5), abs=0.06)


# --- Labels, cost and memory ----------------------------------------------------------------------

def test_top_labels_come_from_the_unperturbed_image_most_probable_first(red_square):
    image, segments = red_square
    explanation = explain_lime(image, redness, segments=segments, top_labels=2, num_samples=50, random_state=0)
    scores = redness(image[None])[0]
    assert explanation.labels == tuple(np.argsort(scores)[::-1][:2])
    assert explanation.predictions.shape == (50, 2)
    assert explanation.probabilities == {k: pytest.approx(float(scores[k])) for k in explanation.labels}


def test_more_labels_cost_no_more_model_calls(red_square):
    image, segments = red_square
    one, three = Recorder(), Recorder()
    single = explain_lime(image, one, segments=segments, labels=[0], num_samples=200, batch_size=40,
                          hide="black", random_state=4, faithfulness=False)
    multi = explain_lime(image, three, segments=segments, labels=None, top_labels=3, num_samples=200,
                         batch_size=40, hide="black", random_state=4, faithfulness=False)
    assert (one.calls, one.images) == (three.calls, three.images) == (5, 200)
    assert len(multi.labels) == 3
    # Same seed, same samples: the shared label's explanation does not depend on the others.
    assert multi.weights[0] == pytest.approx(single.weights[0], rel=1e-9, abs=1e-12)


def test_memory_holds_only_masks_and_the_explained_scores(red_square):
    image, segments = red_square
    recorder = Recorder()
    explanation = explain_lime(image, recorder, segments=segments, labels=[0, 2], num_samples=3000,
                               batch_size=100, random_state=5, faithfulness=False)
    assert explanation.masks.shape == (3000, 64) and explanation.masks.dtype == bool
    assert explanation.predictions.shape == (3000, 2) and explanation.predictions.dtype == np.float32
    assert recorder.images == 3000 and recorder.calls == 30
    # Everything kept is far smaller than the 3000 perturbed images (37 MB) it was computed from.
    kept = sum(a.nbytes for a in explanation.to_record()[1].values())
    assert kept < 300_000


# --- Reproducibility, progress and cancellation ---------------------------------------------------

def test_the_same_seed_gives_identical_results(red_square):
    image, segments = red_square
    first = explain_lime(image, redness, segments=segments, num_samples=100, random_state=42)
    again = explain_lime(image, redness, segments=segments, num_samples=100, random_state=42)
    other = explain_lime(image, redness, segments=segments, num_samples=100, random_state=43)
    assert np.array_equal(first.masks, again.masks)
    assert all(np.array_equal(first.weights[k], again.weights[k]) for k in first.labels)
    assert not np.array_equal(first.masks, other.masks)
    assert first.params["seed"] == 42


@pytest.mark.parametrize("random_state", [None, np.random.default_rng(9)])
def test_the_recorded_seed_reproduces_any_run(red_square, random_state):
    image, segments = red_square
    first = explain_lime(image, redness, segments=segments, num_samples=60, random_state=random_state)
    seed = first.params["seed"]
    assert isinstance(seed, int) and 0 <= seed < 2 ** 32
    again = explain_lime(image, redness, segments=segments, num_samples=60, random_state=seed)
    assert np.array_equal(first.masks, again.masks)
    assert np.array_equal(first.weights[0], again.weights[0])


def test_progress_counts_samples_after_each_batch(red_square):
    image, segments = red_square
    calls = []
    explain_lime(image, redness, segments=segments, num_samples=120, batch_size=50, random_state=0,
                 progress=lambda done, total: calls.append((done, total)))
    assert calls == [(50, 120), (100, 120), (120, 120)]


def test_cancelling_stops_before_the_next_batch(red_square):
    image, segments = red_square
    recorder = Recorder()
    with pytest.raises(Cancelled, match="after 60 of 1000 samples"):
        explain_lime(image, recorder, segments=segments, num_samples=1000, batch_size=20, random_state=0,
                     cancelled=lambda: recorder.calls >= 3)
    assert recorder.calls == 3


# --- Validation -----------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (lambda im, seg: (im.astype(np.float32), seg), r"LIME needs an RGB image .* got shape \(64, 64, 3\) and dtype float32; resize it"),
    (lambda im, seg: (im[..., 0], seg), r"got shape \(64, 64\) and dtype uint8; resize it"),
    (lambda im, seg: (im, seg[:32]), r"segments have shape \(32, 64\) but the image is \(64, 64\)"),
    (lambda im, seg: (im, seg.astype(float)), "segments must be integer labels, got float64"),
    (lambda im, seg: (im, np.zeros_like(seg)), "single superpixel, so there is nothing to compare; use more"),
    (lambda im, seg: (np.full_like(im, 7), seg), "leaves this image unchanged .* choose another hide mode"),
])
def test_unusable_inputs_are_refused_with_a_fix(red_square, change, message):
    image, segments = change(*red_square)
    with pytest.raises(ExplanationError, match=message):
        explain_lime(image, redness, segments=segments, num_samples=20)


@pytest.mark.parametrize("options, message", [
    ({"num_samples": 9}, "num_samples must be 'auto' or a whole number of at least 10, got 9"),
    ({"num_samples": "many"}, "num_samples must be 'auto' or a whole number of at least 10, got 'many'"),
    ({"num_samples": "auto", "max_samples": 5}, "max_samples must be a whole number of at least 10, got 5"),
    ({"num_samples": "auto", "target_stability": 1.5}, "target_stability must be a number above 0 and at most 1"),
    ({"top_k": 0}, "top_k must be a whole number of at least 1, got 0"),
    ({"labels": [0], "faithfulness": [1]}, r"faithfulness asks for class 1, which is not explained; explained classes are \[0\]"),
    ({"batch_size": 0}, "batch_size must be a whole number of at least 1, got 0"),
    ({"top_labels": 0}, "top_labels must be a whole number of at least 1"),
    ({"labels": []}, "labels is empty"),
    ({"labels": [3, 7]}, "class index 3 is out of range for a model with 3 classes; pick indices from 0 to 2"),
    ({"labels": [0, 5]}, "class index 5 is out of range"),
    ({"hide": "pink"}, "unknown hide mode 'pink'; choose one of mean, blur, black, white, grey"),
    ({"hide": (1, 2)}, r"hide colour \(1, 2\) is not an RGB tuple"),
    ({"hide": (0, 0, 300)}, "three numbers from 0 to 255"),
    ({"kernel_width": 0}, "kernel_width must be a positive number"),
    ({"kernel_width": "wide"}, "kernel_width must be a positive number, got wide"),
    ({"random_state": -1}, "random_state must be a non-negative int"),
    ({"random_state": 2 ** 32}, r"random_state must be a non-negative int below 2\*\*32"),
])
def test_bad_options_are_refused_with_a_fix(red_square, options, message):
    image, segments = red_square
    with pytest.raises(ExplanationError, match=message):
        explain_lime(image, redness, segments=segments, **{"num_samples": 20, **options})


@pytest.mark.parametrize("predict, message", [
    (lambda batch: np.ones(len(batch)), r"predict returned shape \(\d+,\) for \d+ images"),
    (lambda batch: np.ones((1, 3)), r"predict returned shape \(1, 3\) for 10 images"),
    (lambda batch: np.full((len(batch), 3), np.nan), "not finite numbers"),
])
def test_a_broken_predict_is_reported(red_square, predict, message):
    image, segments = red_square
    with pytest.raises(ExplanationError, match=message):
        explain_lime(image, predict, segments=segments, num_samples=20, batch_size=10)


def test_doubtful_settings_give_warnings_not_errors(red_square):
    image, segments = red_square
    explanation = explain_lime(image, redness, segments=segments, labels=[0], num_samples=12,
                               hide="mean", random_state=0)
    assert explanation.labels == (0,)
    text = " ".join(explanation.warnings)
    assert "more superpixels (64) than samples (12)" in text
    # The square's four cells are pure red: their mean colour is the same red.
    assert "4 of 64 superpixels look the same hidden as shown" in text
    assert explain_lime(image, redness, segments=segments, num_samples=100, hide="black").warnings == ()


def test_non_contiguous_segment_labels_are_renumbered(red_square):
    image, segments = red_square
    explanation = explain_lime(image, redness, segments=segments * 3 + 5, labels=[0], num_samples=200,
                               hide="black", random_state=0)
    assert np.array_equal(explanation.segments, segments)
    assert sorted(explanation.top_segments(0, 4)) == SQUARE_CELLS


# --- The explanation value ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def explanation(red_square):
    image, segments = red_square
    return explain_lime(image, redness, segments=segments, labels=[0, 2], num_samples=300, hide="black",
                        random_state=6, segmentation={"method": "grid", "n_segments": 64})


def test_explanations_are_immutable(explanation):
    with pytest.raises(dataclasses.FrozenInstanceError):
        explanation.labels = (1,)
    for array in (explanation.segments, explanation.masks, explanation.predictions, explanation.weights[0]):
        with pytest.raises(ValueError, match="read-only"):
            array.flat[0] = 0
    with pytest.raises(TypeError):
        explanation.weights[0] = np.zeros(64)
    assert LimeExplanation.kind == "lime" and LimeExplanation.smooth is False


def test_weight_map_paints_each_superpixel_with_its_weight(explanation):
    weight_map = explanation.weight_map(0)
    assert weight_map.dtype == np.float32 and weight_map.shape == (64, 64)
    assert np.array_equal(weight_map, explanation.weights[0].astype(np.float32)[explanation.segments])
    with pytest.raises(ExplanationError, match=r"class 1 was not explained; explained classes are \[0, 2\]"):
        explanation.weight_map(1)


def test_top_segments_rank_by_weight_or_by_size_of_effect(explanation):
    weights = explanation.weights[0]
    positive = explanation.top_segments(0, 10)
    assert list(positive) == sorted(positive, key=lambda s: -weights[s]) and (weights[positive] > 0).all()
    assert len(explanation.top_segments(0, 100)) == np.count_nonzero(weights > 0)
    both = explanation.top_segments(0, 64, positive_only=False)
    assert sorted(both) == list(range(64))
    assert np.all(np.diff(np.abs(weights[both])) <= 0)


def test_a_record_survives_json_and_comes_back_equal(explanation):
    meta, arrays = explanation.to_record()
    assert set(arrays) == {"segments", "masks", "predictions", "weights"}
    assert arrays["weights"].shape == (2, 64)
    meta = json.loads(json.dumps(meta))
    assert meta["params"] == {"num_samples": 300, "batch_size": 48, "hide": "black", "kernel_width": 0.25,
                              "seed": 6, "segmentation": {"method": "grid", "n_segments": 64}}
    back = LimeExplanation.from_record(meta, arrays)
    assert back.labels == explanation.labels
    for label in explanation.labels:
        assert np.array_equal(back.weights[label], explanation.weights[label])
        assert np.array_equal(back.weight_map(label), explanation.weight_map(label))
    for name in ("intercepts", "scores", "local_predictions", "probabilities"):
        assert dict(getattr(back, name)) == dict(getattr(explanation, name))
    assert np.array_equal(back.masks, explanation.masks)
    assert np.array_equal(back.predictions, explanation.predictions)
    assert dict(back.params) == dict(explanation.params)
    assert dict(back.timings) == dict(explanation.timings)
    assert set(back.timings) == {"perturb", "predict", "fit", "scores", "total"}
    # The scores come back too, so a saved explanation still says how far to trust it.
    assert set(back.stability) == set(back.faithfulness) == {0, 2}
    for label in explanation.labels:
        assert back.stability[label] == explanation.stability[label]
        assert back.faithfulness[label] == explanation.faithfulness[label]


def test_a_colour_hide_comes_back_as_a_tuple(red_square):
    image, segments = red_square
    explanation = explain_lime(image, redness, segments=segments, num_samples=20, hide=(1, 2, 3))
    back = LimeExplanation.from_record(*explanation.to_record())
    assert back.params["hide"] == (1, 2, 3)


def test_pickle_goes_through_the_record(explanation):
    back = pickle.loads(pickle.dumps(explanation))
    assert np.array_equal(back.weights[2], explanation.weights[2]) and back.params["seed"] == 6


def test_broken_records_raise_report_errors(explanation):
    meta, arrays = explanation.to_record()
    with pytest.raises(ReportError, match="the saved explanation is 'cam', not 'lime'"):
        LimeExplanation.from_record({**meta, "kind": "cam"}, arrays)
    with pytest.raises(ReportError, match="incomplete"):
        LimeExplanation.from_record(meta, {k: v for k, v in arrays.items() if k != "weights"})
    with pytest.raises(ReportError, match="do not fit together"):
        LimeExplanation.from_record(meta, {**arrays, "weights": arrays["weights"][:, :10]})


# --- The demo model: known objects ----------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_model():
    from limelight.core.zoo import load_builtin

    return load_builtin("demo_shapes")


# 8x8-pixel cells: they cut through objects, so hiding one really removes part of a shape (a
# superpixel that traces a flat object's outline keeps its silhouette when hidden).
DEMO_SEGMENTATION = {"method": "grid", "n_segments": 64}
# The pointing game's tolerance (Zhang et al., 2016: 15 px at 224 px), scaled to 64 px.
TOLERANCE = 4


def pointing_hits(segments, mask):
    """For each superpixel: does its centroid lie within TOLERANCE px of the object's silhouette?"""
    # A ring's hole, which tells a ring from a disc, counts as part of the object.
    near = binary_dilation(binary_fill_holes(mask), iterations=TOLERANCE)
    count = segments.max() + 1
    rows, cols = np.indices(segments.shape)
    sizes = np.bincount(segments.ravel(), minlength=count)
    centre_rows = np.round(np.bincount(segments.ravel(), rows.ravel(), count) / sizes).astype(int)
    centre_cols = np.round(np.bincount(segments.ravel(), cols.ravel(), count) / sizes).astype(int)
    return near[centre_rows, centre_cols]


@pytest.mark.slow
def test_lime_points_at_the_object_on_the_demo_model(demo_model):
    from limelight.core.demo import make_scene

    hits, chance = [], []
    for index in range(60):
        scene = make_scene(np.random.default_rng(1000 + index), label=index % 6)
        segments = segment(scene.image, **DEMO_SEGMENTATION)
        explanation = explain_lime(scene.image, demo_model.predict, segments=segments, labels=[scene.label],
                                   num_samples=500, batch_size=500, random_state=index, faithfulness=False)
        on_object = pointing_hits(segments, scene.mask)
        hits.append(on_object[np.argmax(explanation.weights[scene.label])])
        chance.append(on_object.mean())
    # A superpixel picked at random would hit far less often: the test can fail.
    assert np.mean(chance) < 0.25
    assert np.mean(hits) >= 0.9


@pytest.mark.slow
def test_agrees_with_the_reference_lime_on_the_demo_model(demo_model):
    from limelight.core.demo import make_scene

    def reference(scene, segments, seed):
        explanation = LimeImageExplainer(random_state=seed).explain_instance(
            scene.image, demo_model.predict, labels=(scene.label,), top_labels=None, hide_color=None,
            num_samples=4000, batch_size=500, segmentation_fn=lambda _: segments)
        return weights_from_reference(explanation, scene.label, segment_count(segments))

    shown_ranks, all_ranks, self_ranks, pearsons = [], [], [], []
    for index in range(12):
        scene = make_scene(np.random.default_rng(2000 + index), label=index % 6)
        segments = segment(scene.image, **DEMO_SEGMENTATION)
        ours = explain_lime(scene.image, demo_model.predict, segments=segments, labels=[scene.label],
                            num_samples=4000, batch_size=500, hide="mean", random_state=index, faithfulness=False)
        # A surrogate that explains less than half the variance has noise for ranks, in lime too:
        # compare where it fits.
        if ours.scores[scene.label] < 0.5:
            continue
        weights, theirs = ours.weights[scene.label], reference(scene, segments, index)
        # Rank the superpixels a user would see at a 10% display threshold in either explanation;
        # the rest (a flat background under hide="mean") have weights of pure sampling noise.
        shown = (np.abs(weights) >= 0.1 * np.abs(weights).max()) | (
            np.abs(theirs) >= 0.1 * np.abs(theirs).max())
        if shown.sum() < 4:  # one dominant superpixel leaves nothing to rank
            continue
        shown_ranks.append(spearmanr(weights[shown], theirs[shown]).statistic)
        pearsons.append(np.corrcoef(weights, theirs)[0, 1])
        all_ranks.append(spearmanr(weights, theirs).statistic)
        self_ranks.append(spearmanr(theirs, reference(scene, segments, index + 100)).statistic)
        if len(shown_ranks) == 5:
            break
    assert len(shown_ranks) == 5
    assert np.mean(shown_ranks) >= 0.9 and min(shown_ranks) >= 0.75, shown_ranks
    # Over all superpixels the weights themselves agree, noise and all.
    assert min(pearsons) >= 0.9, pearsons
    # Ranked over every superpixel, Limelight agrees with lime as well as lime agrees with itself
    # under another seed: what differs is sampling noise, not the method.
    assert np.mean(all_ranks) >= np.mean(self_ranks) - 0.05, (all_ranks, self_ranks)
