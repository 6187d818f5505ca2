"""Input-gradient maps: plain gradients, SmoothGrad, SmoothGrad-Squared, VarGrad and Integrated Gradients."""
from __future__ import annotations

import time
import weakref
from typing import Any, Callable, ClassVar

import numpy as np
import tensorflow as tf

from limelight.core.cam import CamExplanation, _cached, _forward, _input_shape, _survey, _validate_image
from limelight.core.errors import Cancelled, ExplanationError
from limelight.core.lime import HIDE_COLOURS, _hidden_image, _seed

__all__ = ["METHODS", "BASELINES", "GradientExplanation", "explain_gradients"]

METHODS = ("gradients", "smoothgrad", "smoothgrad-squared", "vargrad", "integrated-gradients")
#: Integrated Gradients' named baselines: a flat colour or the blurred image (an RGB tuple works too).
BASELINES = ("black", "blur", *(name for name in HIDE_COLOURS if name != "black"))
#: Integrated Gradients with steps="auto" refines until its attributions add up to the score's
#: change within this share (Sundararajan et al. suggest checking completeness to 5%).
COMPLETENESS = 0.01
# steps="auto" starts with this many trapezoids and doubles them up to the most.
_FIRST_INTERVALS, _MOST_INTERVALS = 32, 1024
#: Where the map is taken: the gradients are of the score with respect to the model's input.
INPUT_LAYER = "input"


class GradientExplanation(CamExplanation):
    """A map of the class score's gradients with respect to the input pixels; arrays are read-only.

    The fields are those of `CamExplanation`, with `heatmap` and `heatmap_full` both at the
    model's input resolution and `layer` equal to `INPUT_LAYER`. The plain, SmoothGrad,
    SmoothGrad-Squared and VarGrad maps are magnitudes (never negative); Integrated Gradients'
    map is signed: its pixels sum to the score's change from the baseline to the image, and
    ``params["completeness"]`` holds both sides of that sum.
    """

    kind: ClassVar[str] = "gradient"


def _input_gradient_function(model, survey, use_logits: bool):
    """Return f(x, target) -> (gradients of the score with respect to x, scores, probabilities)."""
    model_ref = weakref.ref(model.keras_model)
    head = model.head
    signature = (tf.TensorSpec((None, *_input_shape(model)), tf.float32), tf.TensorSpec((None,), tf.int32))

    @tf.function(input_signature=signature)
    def input_gradients(x, target):
        with tf.GradientTape() as tape:
            tape.watch(x)
            _, logits, probabilities = _forward(model_ref(), x, survey, None, head)
            scores = logits if use_logits else probabilities
            top = tf.argmax(probabilities, axis=1, output_type=tf.int32)
            target = tf.where(target < 0, top, target)
            score = tf.gather(scores, target, axis=1, batch_dims=1)
        # Rows of a batch are independent (inference mode), so the gradient of their sum is each
        # row's own gradient.
        return tape.gradient(score, x), score, probabilities

    return input_gradients


def explain_gradients(image: np.ndarray, model, *, method: str = "smoothgrad", target: int | None = None,
                      use_logits: bool = True, num_samples: int = 50, noise: float = 0.15,
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
    if method not in METHODS:
        raise ExplanationError(f"unknown gradient method {method!r}; choose one of {', '.join(METHODS)}")
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
    compute = _cached(model, ("input-gradients", bool(use_logits)),
                      lambda: _input_gradient_function(model, survey, bool(use_logits)))
    x = np.asarray(model.preprocess(image[None]), dtype=np.float32)
    chosen = -1 if target is None else int(target)
    if cancelled is not None and cancelled():
        raise Cancelled(f"{method} cancelled before it started.")
    gradients, scores, probabilities = (t.numpy() for t in compute(tf.constant(x), tf.constant([chosen], tf.int32)))
    timings = {"forward": time.perf_counter() - started}
    target = int(np.argmax(probabilities[0])) if target is None else int(target)
    params = {"method": method, "layer": INPUT_LAYER, "target": target, "use_logits": bool(use_logits)}
    passes = _Passes(compute, target, batch_size, progress, cancelled, method)

    if method == "gradients":
        heatmap = np.abs(gradients[0].astype(np.float64)).sum(axis=-1)
        passes.report(1, 1)
    elif method == "integrated-gradients":
        baseline_name, baseline_image = _baseline(image, baseline)
        heatmap, completeness = _integrated_gradients(passes, x, model.preprocess(baseline_image[None]), steps)
        params.update(baseline=baseline_name, completeness=completeness)
    else:
        mean, mean_square = _noisy_moments(passes, x, num_samples, noise, seed)
        if method == "smoothgrad":
            heatmap = np.abs(mean).sum(axis=-1)
        elif method == "smoothgrad-squared":
            heatmap = mean_square.sum(axis=-1)
        else:
            # The population variance, as Adebayo et al. define VarGrad; clipped at 0 against rounding.
            heatmap = np.maximum(mean_square - mean ** 2, 0.0).sum(axis=-1)
        params.update(num_samples=int(num_samples), noise=float(noise), seed=seed, batch_size=int(batch_size))
    heatmap = heatmap.astype(np.float32)
    timings["total"] = time.perf_counter() - started
    return GradientExplanation(method=method, heatmap=heatmap, heatmap_full=heatmap, layer=INPUT_LAYER,
                               target=target, score=float(scores[0]), probability=float(probabilities[0, target]),
                               timings=timings, params=params)


class _Passes:
    """Runs the gradient function over copies of the image a batch at a time, with progress and cancel."""

    def __init__(self, compute, target, batch_size, progress, cancelled, method):
        self._compute, self._target, self._batch_size = compute, target, int(batch_size)
        self._progress, self._cancelled, self._method = progress, cancelled, method

    def run(self, total: int, make_batch):
        """Yield (start, gradients, scores) for each batch of the `total` copies `make_batch(start, stop)` builds."""
        for start in range(0, total, self._batch_size):
            if self._cancelled is not None and self._cancelled():
                raise Cancelled(f"{self._method} cancelled after {start} of {total} copies.")
            stop = min(start + self._batch_size, total)
            batch = make_batch(start, stop)
            gradients, scores, _ = self._compute(tf.constant(batch, tf.float32),
                                                 tf.fill((stop - start,), self._target))
            yield start, gradients.numpy().astype(np.float64), scores.numpy().astype(np.float64)
            self.report(stop, total)

    def report(self, done: int, total: int):
        if self._progress is not None:
            self._progress(done, total)


def _noisy_moments(passes: _Passes, x: np.ndarray, num_samples: int, noise: float, seed: int):
    """The mean and mean square over noisy copies of `x` of the score's gradient, per input value."""
    rng = np.random.default_rng(seed)
    sigma = float(noise) * float(x.max() - x.min())
    total, total_square = np.zeros(x.shape[1:]), np.zeros(x.shape[1:])

    def noisy(start, stop):
        return x + rng.normal(0.0, sigma, (stop - start, *x.shape[1:])).astype(np.float32)

    for _, gradients, _ in passes.run(num_samples, noisy):
        # float64 sums: with zero noise the mean of n equal gradients is exactly that gradient.
        total += gradients.sum(axis=0)
        total_square += (gradients ** 2).sum(axis=0)
    return total / num_samples, total_square / num_samples


def _integrated_gradients(passes: _Passes, x: np.ndarray, x_baseline: np.ndarray, steps):
    """Integrated Gradients' map (channels summed) and its completeness check.

    The trapezoid rule over ``intervals`` equal steps from the baseline to the image; with "auto"
    the intervals double, each time adding only the midpoints, until the attributions add up to
    the score's change within `COMPLETENESS`.
    """
    x_baseline = np.asarray(x_baseline, dtype=np.float32)
    difference = (x - x_baseline)[0].astype(np.float64)
    auto = steps == "auto"
    intervals = _FIRST_INTERVALS if auto else int(steps)
    alphas = np.linspace(0.0, 1.0, intervals + 1)
    gradients, scores = _path_gradients(passes, x, x_baseline, alphas)
    # Gradients at the baseline and the image count half, as the trapezoid rule has it.
    interior, ends = gradients[1:-1].sum(axis=0), (gradients[0] + gradients[-1]) / 2
    change = scores[-1] - scores[0]
    while True:
        attributions = difference * (interior + ends) / intervals
        total = float(attributions.sum())
        if not auto or abs(total - change) <= COMPLETENESS * abs(change) or intervals >= _MOST_INTERVALS:
            break
        midpoints = (np.arange(intervals) + 0.5) / intervals
        interior += _path_gradients(passes, x, x_baseline, midpoints)[0].sum(axis=0)
        intervals *= 2
    completeness = {"attribution_sum": total, "score": float(scores[-1]), "baseline_score": float(scores[0]),
                    "steps": intervals}
    return attributions.sum(axis=-1), completeness


def _path_gradients(passes: _Passes, x: np.ndarray, x_baseline: np.ndarray, alphas: np.ndarray):
    """The score's gradients and values at ``baseline + alpha (x - baseline)`` for each alpha."""
    gradients, scores = np.empty((len(alphas), *x.shape[1:])), np.empty(len(alphas))

    def points(start, stop):
        return x_baseline + alphas[start:stop, None, None, None].astype(np.float32) * (x - x_baseline)

    for start, batch_gradients, batch_scores in passes.run(len(alphas), points):
        gradients[start:start + len(batch_gradients)] = batch_gradients
        scores[start:start + len(batch_scores)] = batch_scores
    return gradients, scores


def _baseline(image: np.ndarray, baseline):
    """Integrated Gradients' baseline setting, normalised, and its image."""
    if isinstance(baseline, str) and baseline not in BASELINES:
        raise ExplanationError(f"unknown baseline {baseline!r}; choose one of {', '.join(BASELINES)} "
                               "or an RGB tuple such as (0, 0, 0)")
    # The same images LIME hides superpixels with; a segmentation is needed only for "mean".
    return _hidden_image(image, np.zeros(image.shape[:2], np.int32), baseline)

