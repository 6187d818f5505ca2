"""Input-gradient maps: plain gradients, SmoothGrad, SmoothGrad-Squared, VarGrad and Integrated Gradients."""
from __future__ import annotations

import time
import weakref
from typing import Any, Callable, ClassVar

import numpy as np
import tensorflow as tf

from limelight.core.cam import CamExplanation, _cached, _forward, _input_shape, _survey, _validate_image
from limelight.core.errors import Cancelled, ExplanationError
from limelight.core.lime import _hidden_image, _seed
from limelight.core.methods import BASELINES, DEFAULT_NOISE, GRADIENT_METHODS
from limelight.core.scores import TOP_K, Stability, resampled_map_stability

__all__ = ["GradientExplanation", "explain_gradients"]

#: Integrated Gradients with steps="auto" refines until its attributions add up to the score's
#: change within this share (Sundararajan et al. suggest checking completeness to 5%).
COMPLETENESS = 0.01
# steps="auto" starts with this many trapezoids and doubles them up to the most.
_FIRST_INTERVALS, _MOST_INTERVALS = 32, 1024
#: Where the map is taken: the gradients are of the score with respect to the model's input.
INPUT_LAYER = "input"
#: The noisy copies' windows come from a pool of this many inputs' worth of Gaussian noise (see `_Noise`).
NOISE_POOL = 2
#: The stability of a noisy map follows its top regions among this many by this many square cells.
STABILITY_GRID = 8
# The noisy copies are summed in this many groups (consecutive copies together), so that the stability
# can resample them without keeping one gradient per copy.
_STABILITY_GROUPS = 20


class GradientExplanation(CamExplanation):
    """A map of the class score's gradients with respect to the input pixels; arrays are read-only.

    The fields are those of `CamExplanation`, with `heatmap` and `input_heatmap` both at the
    model's input resolution and `layer` equal to `INPUT_LAYER`. The plain, SmoothGrad,
    SmoothGrad-Squared and VarGrad maps are magnitudes (never negative); Integrated Gradients'
    map is signed: its pixels sum to the score's change from the baseline to the image, and
    ``params["completeness"]`` holds both sides of that sum. The noisy maps' stability is in
    ``params["stability"]`` (see `stability`).
    """

    kind: ClassVar[str] = "gradient"

    @property
    def stability(self) -> dict:
        """{target: Stability} for SmoothGrad, SmoothGrad-Squared and VarGrad: would a rerun with other noise
        show the same top regions? Empty for the deterministic maps (see `stability_note`)."""
        record = self.params.get("stability")
        return {} if record is None else {self.target: Stability.from_record(record)}

    @property
    def stability_note(self) -> str:
        """What stability means where it is not measured: "n/a, deterministic" and, for Integrated
        Gradients, how close its attributions add up; "" where `stability` holds it."""
        if self.stability:
            return ""
        completeness = self.params.get("completeness")
        if completeness is None:
            return "n/a, deterministic"
        change = completeness["class_score"] - completeness["baseline_class_score"]
        off = abs(completeness["attribution_sum"] - change) / max(abs(change), 1e-12)
        return f"n/a, deterministic; attributions add up to the score's change within {off:.1%}"


def _weighted_gradient_function(model, survey, use_logits: bool):
    """Return f(origin, direction, per_row, z, weights, target) -> the batch's gradient sums.

    `per_row` holds each row's alpha and noise, as columns; `weights` has one row per group of rows
    summed. Row i of the batch is ``origin + alpha[i] * direction + noise[i] * z[i]``, with z
    standard normal (see `_Noise`); when no row has noise, z is not read and may be empty. The row
    values travel in one tensor because each argument costs a small model's pass 1%. The function
    returns each group's weighted sums over rows of the score's gradient and of its square, each
    row's score and probabilities, and
    the class explained: `target`, or row 0's top class when `target` is negative. Only the sums
    leave TensorFlow, not a gradient per row. The sums are float32 within a batch and float64
    across batches (see `_Passes.run`): float64 inside the pass cost a small model a third more time.
    """
    model_ref = weakref.ref(model.keras_model)
    head = model.head
    shape = _input_shape(model)
    image = tf.TensorSpec((1, *shape), tf.float32)
    signature = (image, image, tf.TensorSpec((None, 2), tf.float32), tf.TensorSpec((None, *shape), tf.float32),
                 tf.TensorSpec((None, None), tf.float32), tf.TensorSpec((), tf.int32))

    @tf.function(input_signature=signature)
    def weighted_gradients(origin, direction, per_row, z, weights, target):
        alphas, noise = per_row[:, 0], per_row[:, 1]

        def column(values):
            return values[:, None, None, None]

        rows = origin + column(alphas) * direction
        rows = tf.cond(tf.reduce_any(noise != 0), lambda: rows + column(noise) * z, lambda: rows)
        with tf.GradientTape() as tape:
            tape.watch(rows)
            _, logits, probabilities = _forward(model_ref(), rows, survey, (), head)
            scores = logits if use_logits else probabilities
            chosen = tf.where(target < 0, tf.argmax(probabilities[0], output_type=tf.int32), target)
            score = scores[:, chosen]
        # Rows of a batch are independent (inference mode), so the gradient of their sum is each
        # row's own gradient.
        gradients = tape.gradient(score, rows)
        return (tf.tensordot(weights, gradients, 1), tf.tensordot(weights, gradients * gradients, 1), score,
                probabilities, chosen)

    return weighted_gradients


class _Noise:
    """The noisy copies' standard normal noise: windows of one pool of values, drawn once per map from `seed`.

    The pool holds `NOISE_POOL` inputs' worth of values; a copy's noise is the window of an
    input's size that starts at the copy's offset. So each copy's noise is exactly standard normal
    and independent pixel by pixel, and, the offsets being distinct (while there are enough), no
    two copies give a pixel the same value. Drawing fresh values for every copy cost a small model
    a quarter of its pass (a fifth with NumPy's generator); a window costs a copy of memory.
    """

    def __init__(self, shape: tuple, copies: int, seed: int):
        self._shape, size = tuple(shape), int(np.prod(shape))
        starts = (NOISE_POOL - 1) * size + 1
        rng = np.random.default_rng(seed)
        self._offsets = rng.choice(starts, copies, replace=copies > starts)
        self._windows = np.lib.stride_tricks.sliding_window_view(rng.standard_normal(NOISE_POOL * size,
                                                                                     dtype=np.float32), size)

    def rows(self, copies: slice) -> np.ndarray:
        """The noise of `copies`, an ndarray of shape (len(copies), *shape), float32."""
        return self._windows[self._offsets[copies]].reshape(-1, *self._shape)


def explain_gradients(image: np.ndarray, model, *, method: str = "smoothgrad", target: int | None = None,
                      use_logits: bool = True, num_samples: int = 50, noise: float = DEFAULT_NOISE,
                      baseline: str | tuple = "black", steps: int | str = "auto", batch_size: int = 16,
                      random_state=None, progress: Callable[[int, int], Any] | None = None,
                      cancelled: Callable[[], bool] | None = None) -> GradientExplanation:
    """Explain one prediction with the gradients of its class score with respect to the pixels.

    Parameters
    ----------
    image : ndarray of shape (rows, cols, 3), uint8
        The image at the model's input resolution (see ``model.prepare``).
    model : ClassifierModel
        A loaded classifier; it is not modified. Nested models run through the same graph
        runner as Grad-CAM.
    method : {"gradients", "smoothgrad", "smoothgrad-squared", "vargrad", "integrated-gradients"}
        "gradients" (Simonyan et al. 2014): how much each pixel's change moves the score, summed
        over colour channels as magnitudes. "smoothgrad" (Smilkov et al. 2017): the mean gradient
        of `num_samples` copies with Gaussian noise added, which averages out the gradient's
        pixel-to-pixel noise. "smoothgrad-squared" and "vargrad" (Hooker et al. 2019, Adebayo et
        al. 2018): the mean square and the variance of those gradients. "integrated-gradients"
        (Sundararajan et al. 2017): the gradients along the straight path from `baseline` to
        the image, integrated over `steps` trapezoids and multiplied by the image's difference
        from the baseline; signed, and its pixels sum to the score's change.
    target : int, optional
        The class to explain; by default the top prediction.
    use_logits : bool
        Differentiate the pre-softmax score, as `limelight.core.cam.explain_cam` does.
    num_samples : int
        Noisy copies (SmoothGrad, SmoothGrad-Squared, VarGrad).
    noise : float
        The noise's standard deviation as a share of the input's range (max - min of the
        model-ready image); the SmoothGrad paper recommends 0.1 to 0.2. 0 gives the plain gradients.
    baseline : {"black", "blur", "white", "grey"} or tuple of 3 int
        Integrated Gradients' starting image: a flat colour, the image blurred as LIME's
        ``hide="blur"`` blurs it, or an RGB colour such as LIME's hide colour.
    steps : int or "auto"
        Integrated Gradients' trapezoids along the path. "auto" starts with 32 and doubles them
        (reusing every gradient already taken) until the attributions add up to the score's
        change within `COMPLETENESS`, or up to 1024; ``params["completeness"]`` says how close
        they came and with how many steps.
    batch_size : int
        Copies per gradient pass.
    random_state : int, numpy.random.Generator or None
        Seed of the noise; the seed used is in ``params["seed"]``.
    progress : callable, optional
        Called as ``progress(done, total)`` with image counts after each pass.
    cancelled : callable, optional
        Polled before each pass; when it returns True, `Cancelled` is raised.

    Returns
    -------
    GradientExplanation

    Raises
    ------
    ExplanationError
        For an unknown method or baseline, bad numbers, an image of the wrong shape or a class
        that does not exist.
    Cancelled
        When `cancelled` returned True.
    """
    started = time.perf_counter()
    timings = {}
    if method not in GRADIENT_METHODS:
        raise ExplanationError(f"unknown gradient method {method!r}; choose one of {', '.join(GRADIENT_METHODS)}")
    image = _validate_image(image, model, target, "gradient maps")
    counts = [("num_samples", num_samples, 1), ("batch_size", batch_size, 1)]
    for name, value, least in counts + ([] if steps == "auto" else [("steps", steps, 1)]):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ExplanationError(f"{name} must be a whole number of at least {least}, not {value!r}")
    if not (isinstance(noise, (int, float, np.number)) and np.isfinite(noise) and noise >= 0):
        raise ExplanationError(f"noise must be a share of the input range of at least 0, not {noise!r}; "
                               "the SmoothGrad paper uses 0.1 to 0.2")
    seed = _seed(random_state)
    survey = _survey(model)
    # The concrete function: calling it skips matching the arguments to the signature (3% of a small model's map).
    compute = _cached(model, ("weighted-gradients", bool(use_logits)),
                      lambda: _weighted_gradient_function(model, survey, bool(use_logits))).get_concrete_function()
    x = np.asarray(model.preprocess(image[None]), dtype=np.float32)
    passes = _Passes(compute, -1 if target is None else int(target), batch_size, progress, cancelled, method)
    params = {"method": method, "layer": INPUT_LAYER, "use_logits": bool(use_logits)}

    # Row 0 of every method's first batch is the image itself: its score, its probabilities and,
    # without a target, its top class come from there.
    if method == "gradients":
        total, _ = passes.run(x, 0 * x, [0.0], [0.0], [1.0], total=1)
        heatmap = np.abs(total).sum(axis=-1)
    elif method == "integrated-gradients":
        baseline_name, baseline_image = _baseline(image, baseline)
        heatmap, completeness = _integrated_gradients(passes, x, model.preprocess(baseline_image[None]), steps)
        params.update(baseline=baseline_name, completeness=completeness)
    else:
        sigma = float(noise) * float(x.max() - x.min())
        # The image first, weighing nothing, then the noisy copies in their groups (the image's own noise
        # is never read).
        groups = min(_STABILITY_GROUPS, num_samples)
        membership = np.zeros((groups, num_samples + 1))
        # Consecutive copies share a group, so that a batch adds to few groups (see `_Passes.run`).
        membership[np.arange(num_samples) * groups // num_samples, np.arange(1, num_samples + 1)] = 1.0
        group_sums, group_squares = passes.run(x, 0 * x, np.zeros(num_samples + 1), [0.0] + [sigma] * num_samples,
                                               membership, total=num_samples + 1,
                                               noise_rows=_Noise(x.shape[1:], num_samples + 1, seed))
        heatmap = _noisy_map(method, group_sums.sum(axis=0), group_squares.sum(axis=0), num_samples)
        params.update(num_samples=int(num_samples), noise=float(noise), seed=seed, batch_size=int(batch_size))
        if groups > 1:
            stability_started = time.perf_counter()
            params["stability"] = _noisy_stability(method, group_sums, group_squares, membership.sum(axis=1),
                                                   heatmap.shape, seed)
            timings["stability"] = time.perf_counter() - stability_started
    heatmap = heatmap.astype(np.float32)
    params["target"] = target = passes.target
    timings["total"] = time.perf_counter() - started
    return GradientExplanation(method=method, heatmap=heatmap, input_heatmap=heatmap, layer=INPUT_LAYER,
                               target=target, class_score=passes.class_score, probability=float(passes.probabilities[target]),
                               timings=timings, params=params)


def _noisy_map(method, total, total_square, count):
    """SmoothGrad's, SmoothGrad-Squared's or VarGrad's map from the sums of `count` copies' gradients and squares.

    Arrays of shape (..., rows, cols, channels) give maps of shape (..., rows, cols).
    """
    mean, mean_square = total / count, total_square / count
    if method == "smoothgrad":
        return np.abs(mean).sum(axis=-1)
    if method == "smoothgrad-squared":
        return mean_square.sum(axis=-1)
    # The population variance, as Adebayo et al. define VarGrad; clipped at 0 against rounding.
    return np.maximum(mean_square - mean ** 2, 0.0).sum(axis=-1)


def _noisy_stability(method, group_sums, group_squares, group_sizes, shape, seed) -> dict:
    """The record of a noisy map's `Stability`: its top cells of a `STABILITY_GRID` grid, copies resampled."""
    rows, cols = np.indices(shape)
    cells = rows * STABILITY_GRID // shape[0] * STABILITY_GRID + cols * STABILITY_GRID // shape[1]
    agreement, overlap = resampled_map_stability(
        group_sums, group_squares, group_sizes, lambda total, square, count: _noisy_map(method, total, square, count),
        cells, random_state=seed)
    return Stability(agreement, TOP_K, int(group_sizes.sum()), int(cells.max()) + 1, jaccard=overlap).to_record()


class _Passes:
    """Runs the weighted gradient function a batch at a time, with progress and cancel; remembers the image's scores.

    Attributes
    ----------
    target : int
        The explained class, once the first batch has run.
    class_score : float
        The image's score for `target`.
    probabilities : ndarray of shape (num_classes,)
        The image's class probabilities.
    """

    def __init__(self, compute, target, batch_size, progress, cancelled, method):
        self._compute, self.target = compute, target
        self._batch_size, self._progress, self._cancelled, self._method = int(batch_size), progress, cancelled, method
        self._done = 0
        self.class_score = self.probabilities = None
        self.scores = []

    def run(self, origin, direction, alphas, noise, weights, *, total, noise_rows=None):
        """The weighted sums over rows of the gradients and squared gradients; every row's score is kept in `scores`.

        `weights` of shape (rows,) gives one sum of each; of shape (groups, rows), one per group.
        `total` is the number of rows the whole explanation will take, for progress. Rows with
        noise take their standard normal values from `noise_rows` (a `_Noise`).
        """
        alphas, noise, weights = (np.asarray(v) for v in (alphas, noise, weights))
        grouped = weights.ndim == 2
        weights = np.atleast_2d(weights)
        empty = np.zeros((0, *origin.shape[1:]), np.float32)
        origin, direction = tf.constant(origin, tf.float32), tf.constant(direction, tf.float32)
        sums = [np.zeros((len(weights), *origin.shape[1:])), np.zeros((len(weights), *origin.shape[1:]))]
        for start in range(0, len(alphas), self._batch_size):
            if self._cancelled is not None and self._cancelled():
                raise Cancelled(f"{self._method} cancelled after {self._done} of {total} passes.")
            chosen = slice(start, start + self._batch_size)
            per_row = np.stack([alphas[chosen], noise[chosen]], axis=1)
            z = empty if noise_rows is None else noise_rows.rows(chosen)
            # Only the groups this batch adds to: summing into all of them cost a small model's SmoothGrad 25%.
            touched = np.flatnonzero(weights[:, chosen].any(axis=1))
            groups = slice(touched.min(initial=0), touched.max(initial=-1) + 1)
            total_gradients, total_squares, scores, probabilities, target = self._compute(
                origin, direction, tf.constant(per_row, tf.float32), tf.constant(z),
                tf.constant(weights[groups, chosen], tf.float32), tf.constant(self.target, tf.int32))
            if self.class_score is None:
                self.target = int(target)
                self.class_score, self.probabilities = float(scores[0]), probabilities.numpy()[0]
            # float64 across batches: with one row a batch, the mean of n equal gradients is exactly that gradient.
            sums[0][groups] += total_gradients.numpy()
            sums[1][groups] += total_squares.numpy()
            self.scores.extend(scores.numpy().astype(np.float64))
            self._done += len(alphas[chosen])
            if self._progress is not None:
                self._progress(min(self._done, total), total)
        return sums if grouped else [sums[0][0], sums[1][0]]

    def finish(self):
        """Report the work as done, when it stopped before the most it might have taken."""
        if self._progress is not None:
            self._progress(self._done, self._done)


def _integrated_gradients(passes: _Passes, x: np.ndarray, x_baseline: np.ndarray, steps):
    """Integrated Gradients' map (channels summed) and its completeness check.

    The trapezoid rule over ``intervals`` equal steps from the baseline to the image; with "auto"
    the intervals double, each time adding only the midpoints, until the attributions add up to
    the score's change within `COMPLETENESS`.
    """
    x_baseline = np.asarray(x_baseline, dtype=np.float32)
    direction = x - x_baseline
    auto = steps == "auto"
    intervals = _FIRST_INTERVALS if auto else int(steps)
    most = _MOST_INTERVALS + 1 if auto else intervals + 1
    # The image first (its score and top class), the baseline second, then the inner points; the
    # ends count half, as the trapezoid rule has it.
    alphas = np.concatenate([[1.0, 0.0], np.arange(1, intervals) / intervals])
    weights = np.concatenate([[0.5, 0.5], np.ones(intervals - 1)])
    integral, _ = passes.run(x_baseline, direction, alphas, np.zeros(len(alphas)), weights, total=most)
    score, baseline_score = passes.scores[0], passes.scores[1]
    change = score - baseline_score
    difference = direction[0].astype(np.float64)
    while True:
        attributions = difference * integral / intervals
        attribution_sum = float(attributions.sum())
        if (not auto or abs(attribution_sum - change) <= COMPLETENESS * abs(change)
                or intervals >= _MOST_INTERVALS):
            break
        midpoints = (np.arange(intervals) + 0.5) / intervals
        integral = integral + passes.run(x_baseline, direction, midpoints, np.zeros(intervals), np.ones(intervals),
                                         total=most)[0]
        intervals *= 2
    passes.finish()
    completeness = {"attribution_sum": attribution_sum, "class_score": float(score),
                    "baseline_class_score": float(baseline_score), "steps": intervals}
    return attributions.sum(axis=-1), completeness


def _baseline(image: np.ndarray, baseline):
    """Integrated Gradients' baseline setting, normalised, and its image."""
    if isinstance(baseline, str) and baseline not in BASELINES:
        raise ExplanationError(f"unknown baseline {baseline!r}; choose one of {', '.join(BASELINES)} "
                               "or an RGB tuple such as (0, 0, 0)")
    # The same images LIME hides superpixels with; a segmentation is needed only for "mean".
    return _hidden_image(image, np.zeros(image.shape[:2], np.int32), baseline)

