"""KernelSHAP and RISE over superpixels: LIME's cousins, on its prediction cache and explanation value."""
import time
import warnings as _warnings

import numpy as np
from threadpoolctl import threadpool_limits

from limelight.core.errors import Cancelled
from limelight.core.lime import (LimeExplanation, PredictionCache, _check_counts, _choose_labels, _doubts,
                                 _faithfulness_labels, _seed, lime_masks)
from limelight.core.scores import (MAX_SAMPLES, TOP_K, Stability, faithfulness as measure_faithfulness,
                                   rerun_agreement, top_k_stability)
from limelight.core.segmentation import segment_count

__all__ = ["explain_kernelshap", "explain_rise", "kernelshap_masks"]

# Captum's KernelShap gives the all-shown and all-hidden samples this weight, so that the fit
# passes through both and the weights add up to f(image) - f(all hidden), as Shapley values do.
_ENDPOINT_WEIGHT = 1e6
# Bootstrap resamples of RISE's samples for its stability estimate, as many as LIME's refits.
_REPEATS = 120
_TITLES = {"kernelshap": "KernelSHAP", "rise": "RISE"}


def kernelshap_masks(seed, num_samples, n_segments):
    """Return KernelSHAP's samples: all shown, all hidden, then coalitions drawn from the Shapley kernel.

    Each further sample first draws how many superpixels it shows, k from 1 to n_segments - 1,
    with probability proportional to the Shapley kernel's total weight of that size,
    ``(M - 1) / (k (M - k))``, then which k, uniformly (Lundberg & Lee 2017; Captum's
    ``kernel_shap_perturb_generator``). Fitted with equal weights, they estimate Shapley values.

    Returns
    -------
    ndarray of shape (num_samples, n_segments), bool
    """
    rng = np.random.default_rng(seed)
    sizes = np.arange(1, n_segments)
    chances = (n_segments - 1) / (sizes * (n_segments - sizes))
    masks = np.zeros((num_samples, n_segments), dtype=bool)
    masks[0] = True
    drawn = rng.choice(sizes, size=num_samples - 2, p=chances / chances.sum())
    # The k smallest of random keys are a uniform random subset of size k.
    ranks = rng.random((num_samples - 2, n_segments)).argsort(axis=1).argsort(axis=1)
    masks[2:] = ranks < drawn[:, None]
    return masks


def explain_kernelshap(image, predict, *, segments, labels=None, top_labels=5, num_samples=1000, batch_size=48,
                       hide="mean", random_state=None, segmentation=None, top_k=TOP_K, faithfulness=True,
                       cache=None, progress=None, cancelled=None):
    """Explain a prediction with KernelSHAP (Lundberg & Lee 2017): Shapley values of the superpixels.

    KernelSHAP is LIME with another sampler and kernel (Captum's ``KernelShap`` subclasses its
    ``Lime``): coalitions of superpixels are drawn from the Shapley kernel (`kernelshap_masks`),
    and an unregularised weighted linear regression, pinned to the all-shown and all-hidden
    images, gives each superpixel's weight. With enough samples the weights are the Shapley
    values of the superpixels, and they add up to the class probability of the image less that
    of the fully hidden image.

    Parameters
    ----------
    image, predict, segments, labels, top_labels, batch_size, hide, random_state, segmentation, top_k, \
faithfulness, cache, progress, cancelled
        As for `limelight.core.lime.explain_lime`. A cache shared with LIME or RISE of the same
        image answers the masks they have in common (the full and empty images, the
        faithfulness curves) without calling the model.
    num_samples : int
        How many coalitions to show the model, the full and empty images included.

    Returns
    -------
    LimeExplanation
        With ``method`` "kernelshap"; ``scores`` holds the fit's R² over the drawn coalitions
        (the two pinned images left out), and the stability is LIME's bootstrap of this fit.
    """
    return _explain("kernelshap", image, predict, segments=segments, labels=labels, top_labels=top_labels,
                    num_samples=num_samples, batch_size=batch_size, hide=hide, random_state=random_state,
                    segmentation=segmentation, top_k=top_k, faithfulness=faithfulness, cache=cache,
                    progress=progress, cancelled=cancelled)


def explain_rise(image, predict, *, segments, labels=None, top_labels=5, num_samples=1000, batch_size=48,
                 hide="mean", random_state=None, segmentation=None, top_k=TOP_K, faithfulness=True,
                 cache=None, progress=None, cancelled=None):
    """Explain a prediction with RISE (Petsiuk et al. 2018) over superpixels.

    RISE shows the model random masks, each keeping every superpixel with probability 0.5, and
    weighs each superpixel by the mean class probability of the masks that show it. Here the
    weight is that mean less the mean over all masks: positive where showing the superpixel
    raises the probability. The masks are LIME's for the same seed (`lime_masks`), so after a
    LIME run of the same image, seed and hide mode with the same cache, RISE calls the model
    not at all.

    Parameters
    ----------
    image, predict, segments, labels, top_labels, batch_size, hide, random_state, segmentation, top_k, \
faithfulness, cache, progress, cancelled
        As for `limelight.core.lime.explain_lime`.
    num_samples : int
        How many masks to show the model, the unmasked image included.

    Returns
    -------
    LimeExplanation
        With ``method`` "rise"; no fit (``scores`` and ``local_predictions`` are empty), the
        mean probability over all masks as the intercept, and a stability from bootstrap
        resamples of the masks.
    """
    return _explain("rise", image, predict, segments=segments, labels=labels, top_labels=top_labels,
                    num_samples=num_samples, batch_size=batch_size, hide=hide, random_state=random_state,
                    segmentation=segmentation, top_k=top_k, faithfulness=faithfulness, cache=cache,
                    progress=progress, cancelled=cancelled)


def _explain(method, image, predict, *, segments, labels, top_labels, num_samples, batch_size, hide, random_state,
             segmentation, top_k, faithfulness, cache, progress, cancelled):
    started = time.perf_counter()
    if cache is None:
        cache = PredictionCache(predict, image, segments, hide=hide)
    else:
        cache.check(predict, image, segments, hide)
    n_segments = segment_count(cache.segments)
    num_samples, batch_size, top_labels, top_k, _ = _check_counts(
        num_samples, batch_size, top_labels, labels, top_k, MAX_SAMPLES)
    seed = _seed(random_state)
    perturb_before, predict_before = cache.perturb_seconds, cache.predict_seconds
    masks = (kernelshap_masks if method == "kernelshap" else lime_masks)(seed, num_samples, n_segments)
    probabilities = _predict(cache, masks, batch_size, progress, cancelled, _TITLES[method])
    explained = _choose_labels(labels, top_labels, probabilities[0])
    targets = probabilities[:, explained].astype(np.float64)

    tick = time.perf_counter()
    if method == "kernelshap":
        fit = _shapley_fit(masks, targets)
        weights, intercepts = fit["coef"], fit["intercept"]
        scores, local = dict(zip(explained, fit["score"])), dict(zip(explained, fit["local"]))
        agreement, jaccard = top_k_stability(masks, targets, _shapley_weights(num_samples), k=top_k,
                                             random_state=seed)
    else:
        weights, intercepts = _rise_weights(masks[1:], targets[1:])
        scores, local = {}, {}
        agreement, jaccard = _rise_stability(masks[1:], targets[1:], top_k, seed)
    fit_time = time.perf_counter() - tick
    weights = dict(zip(explained, weights))
    tick = time.perf_counter()
    faithful = {label: measure_faithfulness(lambda m: cache.predict(m, batch_size=batch_size), weights[label], label,
                                            random_state=seed, cancelled=cancelled)
                for label in _faithfulness_labels(faithfulness, explained)}
    scores_time = time.perf_counter() - tick

    params = {"method": method, "num_samples": num_samples, "batch_size": batch_size, "hide": cache.hide,
              "seed": seed}
    if segmentation is not None:
        params["segmentation"] = dict(segmentation)
    return LimeExplanation(
        segments=cache.segments, labels=tuple(explained), weights=weights,
        intercepts=dict(zip(explained, intercepts)), scores=scores, local_predictions=local,
        probabilities=dict(zip(explained, targets[0])), params=params, masks=masks, predictions=targets,
        timings={"perturb": cache.perturb_seconds - perturb_before, "predict": cache.predict_seconds - predict_before,
                 "fit": fit_time, "scores": scores_time, "total": time.perf_counter() - started},
        warnings=tuple(_doubts(cache, n_segments, num_samples)),
        stability={label: Stability(value, top_k, num_samples, n_segments, jaccard=overlap)
                   for label, value, overlap in zip(explained, agreement, jaccard)},
        faithfulness=faithful)


def _predict(cache, masks, batch_size, progress, cancelled, title):
    """The cache's probabilities for every mask, a batch at a time, checking for cancellation before each."""
    parts = []
    for first in range(0, len(masks), batch_size):
        if cancelled is not None and cancelled():
            raise Cancelled(f"{title} cancelled after {first} of {len(masks)} samples.")
        last = min(first + batch_size, len(masks))
        parts.append(cache.predict(masks[first:last], batch_size=batch_size,
                                   ahead=masks[last:last + batch_size]))
        if progress is not None:
            progress(last, len(masks))
    return np.concatenate(parts)


def _shapley_weights(num_samples):
    weights = np.ones(num_samples)
    weights[:2] = _ENDPOINT_WEIGHT
    return weights


def _shapley_fit(masks, targets):
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score

    design = masks.astype(np.float64)
    with threadpool_limits(limits=1, user_api="blas"):
        model = LinearRegression().fit(design, targets, sample_weight=_shapley_weights(len(masks)))
    fitted = model.predict(design)
    with _warnings.catch_warnings():
        # A class whose score never moves has an undefined R^2; sklearn warns and we report NaN.
        _warnings.simplefilter("ignore")
        # Over the drawn coalitions only: the two pinned images fit exactly and would make any fit look perfect.
        score = r2_score(targets[2:], fitted[2:], multioutput="raw_values")
    return {"coef": np.atleast_2d(model.coef_), "intercept": np.atleast_1d(model.intercept_),
            "score": np.atleast_1d(score), "local": np.atleast_2d(fitted)[0]}


def _rise_weights(masks, targets):
    """Per label and superpixel: the mean target of the masks that show it, less the mean of all masks."""
    shown = masks.astype(np.float64)
    counts = np.maximum(shown.sum(axis=0), 1.0)
    means = targets.mean(axis=0)
    return ((shown.T @ targets) / counts[:, None] - means).T, means


def _rise_stability(masks, targets, top_k, seed):
    """Tie-aware agreement and Jaccard index of the top `top_k` over bootstrap resamples of the masks."""
    rng = np.random.default_rng(seed)
    refits = np.empty((targets.shape[1], _REPEATS, masks.shape[1]))
    for repeat in range(_REPEATS):
        chosen = rng.integers(0, len(masks), len(masks))
        refits[:, repeat] = _rise_weights(masks[chosen], targets[chosen])[0]
    scores = np.array([rerun_agreement(weights, top_k) for weights in refits])
    return scores[:, 0], scores[:, 1]
