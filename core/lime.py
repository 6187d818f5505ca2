"""LIME for images: hide random sets of superpixels, watch the model's scores, fit a weighted linear model."""
import os
import time
import warnings as _warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar, Mapping

import numpy as np

from limelight.core.images import as_rgb_image
from limelight.core.errors import Cancelled, ExplanationError, ReportError
from limelight.core.scores import (MAX_SAMPLES, SAMPLE_BATCH_SIZE, STABLE, TOP_K, Faithfulness, Stability,
                                   faithfulness as measure_faithfulness, frozen_scores, single_threaded_blas,
                                   top_k_stability)
from limelight.core.segmentation import MIN_SUPERPIXELS, segment_count

#: The named hide modes besides "mean" and "blur", as RGB colours.
HIDE_COLOURS = {"black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128)}
HIDE_MODES = ("mean", "blur", *HIDE_COLOURS)

# Blur strength for hide="blur", as a fraction of the image's longer side: strong enough to wipe
# out a typical superpixel's texture (about 1/7 of the side with 50 superpixels).
_BLUR_SIGMA = 0.05

# Builds the next batch's perturbed images while the model works on this one. numpy releases the
# GIL for the gather and the arithmetic, so most of their time hides behind the model's (on two
# cores the thread still takes some CPU from the model's threads).
_PERTURBER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="limelight-perturb")

_SCALAR_FIELDS = ("intercepts", "scores", "local_predictions", "probabilities")
# samples="auto" draws this many samples first, then this many more each round (250, 375, 500, ...;
# twice as many per round past 2000 samples, three times past 3000) and estimates the stability
# after each. A run stops at a round that confirms the target, so the step is what it overshoots
# by: with rounds of 250, 500, 750, 1125, 1687, ... chelsea's runs drew a median 1687 samples,
# though its reruns agree >= 0.9 from about 1000.
_FIRST_ROUND = 250
_ROUND = 125
# "auto" projects where the stability is heading once its estimates span this factor of samples
# (250 to 750), and stops when it would stay below the target at max_samples.
_SPAN_TO_PROJECT = 3
# "auto" stops when this many estimates in a row (250 samples apart from first to last) reach the
# target. The estimate tracks reruns at a fixed count, but a run that stops at its first estimate
# above the target stops where the estimate happens to be high. Over 8 reruns of each sample photo
# (seeds 0-7, EfficientNet-Lite0), two in a row of these closer rounds let rocket's reruns agree
# only 0.89 (at a median 625 samples); three agree 0.91-0.99 on the four photos. On seeds 8-15
# three gave 0.94-0.99 except rocket, 0.89: its reruns agree only 0.88-0.92 from 500 to 1000
# samples, and there the plain bootstrap ran 0.03-0.05 high (0.01-0.04 with its bias subtracted,
# see limelight.core.scores.top_k_stability).
_ESTIMATES_TO_STOP = 3


@dataclass(frozen=True, eq=False)
class LimeExplanation:
    """A LIME explanation: per-superpixel weights for one or more classes, and the samples behind them.

    Attributes
    ----------
    segments : ndarray of shape (rows, cols), int32
        Superpixel labels at model-input resolution, contiguous from 0.
    labels : tuple of int
        The explained class indices, most probable first when chosen automatically.
    weights : mapping of int to ndarray of shape (n_segments,), float64
        The linear model's coefficient for each superpixel: how much showing it (rather than hiding
        it) raises the class probability.
    intercepts, scores, local_predictions, probabilities : mapping of int to float
        Per label: the linear model's intercept, its weighted R^2 on the samples, its prediction
        for the unperturbed image, and the model's own probability for the unperturbed image.
    params : mapping
        What made it: num_samples, batch_size, hide, kernel_width, seed (the one actually used, so
        passing it as ``random_state`` reproduces the run) and segmentation (when given).
    masks : ndarray of shape (num_samples, n_segments), bool
        Which superpixels each sample showed; the first sample shows all of them.
    predictions : ndarray of shape (num_samples, len(labels)), float32
        The model's probability of each explained label for each sample.
    timings : mapping of str to float
        Seconds spent in perturb, predict, fit, scores (stability and faithfulness) and total.
    warnings : tuple of str
        Doubts about the result's quality that did not stop it (too few samples, ...).
    stability : mapping of int to Stability
        Per label: how reproducible its top superpixels are (see `limelight.core.scores`).
    faithfulness : mapping of int to Faithfulness
        Per label whose curves were measured: deletion and insertion AUC against a random order.
    """

    kind: ClassVar[str] = "lime"
    smooth: ClassVar[bool] = False

    segments: np.ndarray
    labels: tuple
    weights: Mapping
    intercepts: Mapping
    scores: Mapping
    local_predictions: Mapping
    probabilities: Mapping
    params: Mapping
    masks: np.ndarray
    predictions: np.ndarray
    timings: Mapping = field(default_factory=dict)
    warnings: tuple = ()
    stability: Mapping = field(default_factory=dict)
    faithfulness: Mapping = field(default_factory=dict)

    def __post_init__(self):
        # An explanation is a value: freeze its arrays and mappings so no viewer can alter it.
        set_ = object.__setattr__
        set_(self, "labels", tuple(int(label) for label in self.labels))
        set_(self, "segments", _frozen(self.segments, np.int32))
        set_(self, "masks", _frozen(self.masks, bool))
        set_(self, "predictions", _frozen(self.predictions, np.float32))
        set_(self, "weights", MappingProxyType(
            {int(k): _frozen(v, np.float64) for k, v in self.weights.items()}))
        for name in _SCALAR_FIELDS:
            set_(self, name, MappingProxyType({int(k): float(v) for k, v in getattr(self, name).items()}))
        set_(self, "params", MappingProxyType(dict(self.params)))
        set_(self, "timings", MappingProxyType(dict(self.timings)))
        set_(self, "warnings", tuple(self.warnings))
        set_(self, "stability", frozen_scores(self.stability, Stability))
        set_(self, "faithfulness", frozen_scores(self.faithfulness, Faithfulness))

    def __reduce__(self):
        # Mapping proxies cannot be pickled or deep-copied; go through the saved form instead.
        return (_from_record, self.to_record())

    @property
    def method(self):
        """The method that made it: "lime", or "kernelshap" or "rise" (see `limelight.core.perturbation`)."""
        return self.params.get("method", "lime")

    @property
    def num_segments(self):
        """The number of superpixels."""
        return self.masks.shape[1]

    @property
    def num_samples(self):
        """The number of samples the weights were fitted to."""
        return self.masks.shape[0]

    def weight_map(self, label):
        """Return each pixel's weight for `label`: its superpixel's weight.

        Returns
        -------
        ndarray of shape (rows, cols), float32
            Positive where the superpixel supports the class, negative where it speaks against it.
        """
        return self._weights(label).astype(np.float32)[self.segments]

    def top_segments(self, label, k, *, positive_only=True):
        """Return the indices of the `k` most important superpixels for `label`, most important first.

        With ``positive_only`` only superpixels that support the class count, ranked by weight;
        otherwise all are ranked by absolute weight.

        Returns
        -------
        ndarray of shape (at most k,), int
        """
        weights = self._weights(label)
        if positive_only:
            order = np.argsort(-weights, kind="stable")
            order = order[weights[order] > 0]
        else:
            order = np.argsort(-np.abs(weights), kind="stable")
        return order[:max(int(k), 0)]

    def to_record(self):
        """Return the explanation as JSON-safe metadata and a dict of arrays, for saving.

        Returns
        -------
        meta : dict
            JSON-safe; label keys become strings.
        arrays : dict of str to ndarray
            segments, masks, predictions, and weights as a (len(labels), n_segments) matrix in
            the order of ``labels``.
        """
        meta = {"kind": self.kind, "labels": list(self.labels),
                "params": _json_safe(dict(self.params)),
                "timings": {k: float(v) for k, v in self.timings.items()},
                "warnings": list(self.warnings),
                "stability": {str(k): v.to_record() for k, v in self.stability.items()},
                "faithfulness": {str(k): v.to_record() for k, v in self.faithfulness.items()}}
        for name in _SCALAR_FIELDS:
            meta[name] = {str(k): v for k, v in getattr(self, name).items()}
        weights = np.stack([self.weights[label] for label in self.labels]) if self.labels else (
            np.zeros((0, self.num_segments)))
        arrays = {"segments": np.array(self.segments), "masks": np.array(self.masks),
                  "predictions": np.array(self.predictions), "weights": weights}
        return meta, arrays

    @classmethod
    def from_record(cls, meta, arrays):
        """Rebuild an explanation saved with `to_record`.

        Raises
        ------
        ReportError
            When the record is not a LIME explanation or parts are missing or inconsistent.
        """
        try:
            if meta.get("kind") != cls.kind:
                raise ReportError(f"the saved explanation is {meta.get('kind')!r}, not 'lime'; "
                                  f"open it with the matching explainer.")
            labels = [int(label) for label in meta["labels"]]
            weights = np.asarray(arrays["weights"], dtype=np.float64)
            segments, masks = np.asarray(arrays["segments"]), np.asarray(arrays["masks"])
            predictions = np.asarray(arrays["predictions"])
            n_segments = masks.shape[1]
            if (weights.shape != (len(labels), n_segments) or predictions.shape != (len(masks), len(labels))
                    or segments.ndim != 2 or segment_count(segments) != n_segments):
                raise ReportError("the saved LIME explanation's arrays do not fit together; "
                                  "compute the explanation again and save it anew.")
            params = dict(meta["params"])
            if isinstance(params.get("hide"), list):
                params["hide"] = tuple(params["hide"])
            return cls(segments=segments, labels=tuple(labels),
                       weights=dict(zip(labels, weights)),
                       **{name: {int(k): v for k, v in meta[name].items()} for name in _SCALAR_FIELDS},
                       params=params, masks=masks, predictions=predictions,
                       timings=meta.get("timings", {}), warnings=tuple(meta.get("warnings", ())),
                       stability=meta.get("stability", {}), faithfulness=meta.get("faithfulness", {}))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ReportError(f"the saved LIME explanation is incomplete ({exc!r}); "
                              f"compute the explanation again and save it anew.") from exc

    def _weights(self, label):
        try:
            return self.weights[int(label)]
        except KeyError:
            raise ExplanationError(f"class {label} was not explained; explained classes are "
                                   f"{list(self.labels)}; explain it with labels=[{label}].") from None


class PredictionCache:
    """The model's class probabilities for perturbed copies of one image, so that none is predicted twice.

    A cache belongs to one model (its `predict`), one image, one segmentation and one hide mode:
    `explain_lime` and `limelight.core.scores.add_faithfulness` fill it and read from it. With it,
    asking for more samples with the same seed predicts only the new ones, and explaining
    another class of the same image predicts nothing at all, because every class's probability
    is kept (``num_classes * 4`` bytes per sample: 16 MB for 1000 classes and 4000 samples).

    Parameters
    ----------
    predict : callable
        As for `explain_lime`.
    image : ndarray of shape (rows, cols, 3), uint8
    segments : ndarray of shape (rows, cols), int
    hide : str or tuple of 3 int
        As for `explain_lime`.

    Attributes
    ----------
    segments : ndarray of shape (rows, cols), int32
        The superpixels, renumbered from 0.
    hide : str or tuple of int
    images_predicted : int
        How many perturbed images went to the model through this cache.
    """

    def __init__(self, predict, image, segments, *, hide="mean"):
        image = as_rgb_image(image, needed_by="LIME", hint="resize it to the model's input with ClassifierModel.prepare.")
        self.segments = _check_segments(segments, image.shape[:2])
        self.hide, self._hidden = _hidden_image(image, self.segments, hide)
        self.segments.flags.writeable = False
        self._predict, self._image = predict, image.copy()
        # Per-channel labels and the wrapped uint8 difference, for the batch expression in predict().
        self._segments_rgb = np.repeat(self.segments[..., None], 3, axis=-1)
        self._difference = image - self._hidden
        self._rows = {}
        self._prefetched = None          # (keys, future of their images) built ahead for the next call
        self._probabilities = np.empty((0, 0), dtype=np.float32)
        self.images_predicted = 0
        self.perturb_seconds = self.predict_seconds = 0.0

    def __len__(self):
        return len(self._rows)

    @property
    def unchanged_segments(self):
        """How many superpixels look the same hidden as shown (hiding them tells the model nothing)."""
        return _unchanged_segments(self._image, self._hidden, self.segments)

    def predict(self, masks, *, batch_size=SAMPLE_BATCH_SIZE, ahead=None):
        """Return the model's probabilities for the image with only the superpixels in `masks` shown.

        Parameters
        ----------
        masks : ndarray of shape (n, n_segments), bool
        batch_size : int
            How many images go to the model at once; only masks never seen before go.
        ahead : ndarray of shape (m, n_segments), bool, optional
            The masks the caller will ask for next. Their images are built on a background thread
            while the model works on these.

        Returns
        -------
        ndarray of shape (n, num_classes), float32
        """
        keys = _keys(masks)
        missing = list(dict.fromkeys(key for key in keys if key not in self._rows))
        chunks = [missing[start:start + batch_size] for start in range(0, len(missing), batch_size)]
        upcoming = []
        if ahead is not None:
            known = self._rows.keys() | set(missing)
            upcoming = list(dict.fromkeys(key for key in _keys(ahead) if key not in known))
        queue = chunks + [upcoming] if upcoming else chunks
        prefetched, self._prefetched = self._prefetched, None
        pending = None
        if queue:
            reuse = prefetched is not None and prefetched[0] == queue[0]
            pending = prefetched[1] if reuse else _PERTURBER.submit(self._images, queue[0])
        for index, chunk in enumerate(chunks):
            batch = pending.result()
            pending = _PERTURBER.submit(self._images, queue[index + 1]) if index + 1 < len(queue) else None
            tick = time.perf_counter()
            scores = _check_scores(self._predict(batch), len(chunk))
            self.predict_seconds += time.perf_counter() - tick
            self._store(chunk, scores)
        if upcoming:
            self._prefetched = (upcoming, pending)
        return self._probabilities[[self._rows[key] for key in keys]]

    def _images(self, keys):
        """The perturbed images for these masks (as bytes), as one batch."""
        tick = time.perf_counter()
        bits = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), -1)
        # hidden + bit * (image - hidden), in uint8 arithmetic that wraps modulo 256, so a 1 bit gives
        # the image exactly and a 0 bit the hidden image. This is 3-5x faster than np.where, which has
        # no vectorised select for uint8; np.take (unlike bits[:, segments_rgb]) returns a C-ordered
        # batch, which the model converts fastest, and working in place in it saves two more
        # batch-sized allocations (a third of the time).
        batch = np.take(bits, self._segments_rgb, axis=1)
        batch *= self._difference
        batch += self._hidden
        self.perturb_seconds += time.perf_counter() - tick
        return batch

    def check(self, predict, image, segments, hide):
        """Raise ExplanationError unless this cache was made for this model, image, segmentation and hide mode."""
        segments = np.asarray(segments)
        same = (predict == self._predict and np.shape(image) == self._image.shape and np.array_equal(image, self._image)
                and segments.shape == self.segments.shape
                and np.array_equal(_check_segments(segments, segments.shape), self.segments)
                and _hidden_image(self._image, self.segments, hide)[0] == self.hide)
        if not same:
            raise ExplanationError("this prediction cache holds another model's, image's, segmentation's or hide "
                                   "mode's predictions; make a new PredictionCache for this one.")

    def _store(self, keys, scores):
        if len(self._rows) + len(keys) > len(self._probabilities) or scores.shape[1] != self._probabilities.shape[1]:
            if self._rows and scores.shape[1] != self._probabilities.shape[1]:
                raise ExplanationError(f"predict returned {scores.shape[1]} classes for one batch and "
                                       f"{self._probabilities.shape[1]} for another; it must always return every class.")
            grown = np.empty((max(2 * len(self._probabilities), len(self._rows) + len(keys), 256), scores.shape[1]),
                             dtype=np.float32)
            if self._rows:
                grown[:len(self._rows)] = self._probabilities[:len(self._rows)]
            self._probabilities = grown
        start = len(self._rows)
        self._probabilities[start:start + len(keys)] = scores
        self._rows.update((key, start + i) for i, key in enumerate(keys))
        self.images_predicted += len(keys)


def explain_lime(image, predict, *, segments, labels=None, top_labels=5, num_samples="auto",
                 batch_size=SAMPLE_BATCH_SIZE, hide="mean", kernel_width=0.25, random_state=None,
                 segmentation=None, top_k=TOP_K, target_stability=STABLE, max_samples=MAX_SAMPLES,
                 faithfulness=True, cache=None, progress=None, cancelled=None):
    """Explain a classifier's prediction for one image with LIME (Ribeiro et al., 2016).

    Follows the Python ``lime`` package's image explainer so that results are comparable: each
    sample shows every superpixel with probability 0.5 (the first sample shows all of them), is
    weighted by ``sqrt(exp(-d**2 / kernel_width**2))`` where ``d`` is the cosine distance of its
    mask to the all-on mask, and a ``Ridge(alpha=1)`` fit on all superpixels gives the weights.
    Every explanation carries its stability and, by default, its faithfulness scores.

    Parameters
    ----------
    image : ndarray of shape (rows, cols, 3), uint8
        The image at the model's input resolution.
    predict : callable
        Takes a uint8 batch of shape (N, rows, cols, 3) and returns probabilities of shape
        (N, num_classes), e.g. ``ClassifierModel.predict``.
    segments : ndarray of shape (rows, cols), int
        Superpixel labels, e.g. from `limelight.core.segmentation.segment`.
    labels : sequence of int, optional
        Classes to explain. By default the `top_labels` most probable classes of the image.
    top_labels : int
        How many classes to explain when `labels` is None. All classes come from the same samples,
        so more classes cost no more model calls.
    num_samples : int or "auto"
        How many perturbed images to show the model. "auto" samples in rounds (250, 375, 500,
        ..., 125 more each round up to 2000) and stops as soon as the first label's tie-aware stability (see
        `limelight.core.scores.top_k_stability`) has reached `target_stability` at three rounds
        in a row (one estimate that happens to be high does not stop it), when the trend of
        its estimates projects that `max_samples` would not reach it, or at `max_samples`; the
        samples used are in ``params["num_samples"]`` and the reason in
        ``params["auto"]["stopped"]`` (and, unless stable, in ``warnings``).
        Samples are drawn in the same order either way, so "auto" stopping at N gives exactly
        the explanation that ``num_samples=N`` gives.
    batch_size : int
        How many images go to `predict` at once. Memory use grows with it, not with `num_samples`.
    hide : {"mean", "blur", "black", "white", "grey"} or tuple of 3 int
        What a hidden superpixel shows: its own mean colour (``lime``'s default), a blurred copy
        of the image, or a flat colour.
    kernel_width : float
        Width of the proximity kernel over cosine distances (``lime``'s image default is 0.25).
    random_state : int, numpy.random.Generator or None
        Seed for the samples. The seed actually used is recorded in ``params["seed"]``.
    segmentation : mapping, optional
        How `segments` were made (e.g. ``{"method": "slic", "n_segments": 50}``); recorded in
        ``params`` so the explanation can be reproduced.
    top_k : int
        How many top superpixels the stability score follows.
    target_stability : float
        With ``num_samples="auto"``: the stability to reach, 0 to 1.
    max_samples : int
        With ``num_samples="auto"``: the most samples to draw.
    faithfulness : bool or sequence of int
        Measure the deletion and insertion curves of every explained label (True), of none, or
        of these labels. Each label costs about ``2 * 19`` model calls, plus ``3 * 19`` once per
        image for the random baseline.
    cache : PredictionCache, optional
        Keeps the model's probabilities for every sample. Pass the same cache (made for the same
        `predict`, image, segments and hide) to a later call and only samples it has not seen go
        to the model: more samples with the same seed cost only the new ones, other labels
        nothing.
    progress : callable, optional
        Called as ``progress(done, total)`` with sample counts after each batch; with "auto",
        total is `max_samples` until the run stops, then ``progress(done, done)``.
    cancelled : callable, optional
        Checked before each batch; when it returns True the run stops with `Cancelled`.

    Returns
    -------
    LimeExplanation

    Raises
    ------
    ExplanationError
        For unusable inputs: a wrong image, segments that do not fit it or form a single
        superpixel, a hide mode that leaves the image unchanged, bad numbers, a cache made for
        something else, or a `predict` that returns something other than (N, num_classes)
        finite scores.
    Cancelled
        When `cancelled` returned True.
    """
    started = time.perf_counter()
    if cache is None:
        cache = PredictionCache(predict, image, segments, hide=hide)
    else:
        cache.check(predict, image, segments, hide)
    segments, hide = cache.segments, cache.hide
    n_segments = segment_count(segments)
    auto = isinstance(num_samples, str) and num_samples == "auto"
    num_samples, batch_size, top_labels, top_k, max_samples = _check_counts(
        num_samples, batch_size, top_labels, labels, top_k, max_samples)
    if not (isinstance(kernel_width, (int, float, np.number)) and np.isfinite(kernel_width) and kernel_width > 0):
        raise ExplanationError(f"kernel_width must be a positive number, got {kernel_width}; "
                               f"lime's default for images is 0.25.")
    if auto and not (isinstance(target_stability, (int, float, np.number)) and 0 < target_stability <= 1):
        raise ExplanationError(f"target_stability must be a number above 0 and at most 1, got {target_stability!r}.")
    seed = _seed(random_state)
    perturb_before, predict_before = cache.perturb_seconds, cache.predict_seconds
    # lime's design and random stream: every superpixel shown with probability 0.5, the first sample
    # unperturbed, drawn exactly as LimeImageExplainer(random_state=seed) draws them, so one seed gives
    # lime's own samples. randint fills row by row, so the first N rows are the same for any total:
    # "auto", a larger num_samples and the cache all see one sample stream per seed.
    masks = lime_masks(seed, num_samples, n_segments)
    design = masks.astype(np.float64)

    probabilities = None
    explained = None
    scores_time = 0.0
    history, stopped, saturated = [], None, False
    rounds = _rounds(num_samples) if auto else [num_samples]
    for stop in rounds:
        done = 0 if probabilities is None else len(probabilities)
        new = _sample(cache, masks, done, stop, batch_size, num_samples, progress, cancelled)
        probabilities = new if probabilities is None else np.concatenate([probabilities, new])
        if explained is None:
            explained = _choose_labels(labels, top_labels, probabilities[0])
        if not auto:
            break
        tick = time.perf_counter()
        # Only the first label decides when to stop; every label's estimate comes at the end.
        estimate = top_k_stability(masks[:stop], probabilities[:, explained[:1]], _kernel(design[:stop], kernel_width),
                                   k=top_k, random_state=seed)[0][0]
        scores_time += time.perf_counter() - tick
        history.append((stop, estimate))
        confirmed = history[-_ESTIMATES_TO_STOP:]
        if len(confirmed) == _ESTIMATES_TO_STOP and all(value >= target_stability for _, value in confirmed):
            stopped = f"stable: tie-aware agreement {estimate:.2f} reached {target_stability:g} at {stop} samples"
            break
        if stop == num_samples:
            stopped = f"stopped at the cap of {stop} samples with agreement {estimate:.2f}"
            if estimate < target_stability:
                stopped += f", short of {target_stability:g}; use fewer, larger superpixels"
            break
        projected = _projected(history, num_samples)
        if projected is not None and projected < target_stability:
            stopped = (f"stopped at {stop} samples with agreement {estimate:.2f}: its trend projects "
                       f"{projected:.2f} at {num_samples}, short of {target_stability:g}; use fewer, larger "
                       f"superpixels")
            saturated = True
            break
    used = len(probabilities)
    if auto and progress is not None and used < num_samples:
        progress(used, used)
    masks, kept = masks[:used], probabilities[:, explained]
    tick = time.perf_counter()
    # The kernel of these rows alone: sklearn's distances of a larger matrix can differ in the last
    # bit, and "auto" stopping at N must give exactly the run of num_samples=N.
    sample_weight = _kernel(design[:used], kernel_width)
    agreement, jaccard = top_k_stability(masks, kept, sample_weight, k=top_k, random_state=seed)
    scores_time += time.perf_counter() - tick

    tick = time.perf_counter()
    fit = _fit(design[:used], kept, sample_weight)
    fit_time = time.perf_counter() - tick
    weights = dict(zip(explained, fit["coef"]))
    tick = time.perf_counter()
    faithful = {}
    for label in _faithfulness_labels(faithfulness, explained):
        faithful[label] = measure_faithfulness(lambda m: cache.predict(m, batch_size=batch_size), weights[label],
                                               label, random_state=seed, cancelled=cancelled)
    scores_time += time.perf_counter() - tick

    params = {"num_samples": used, "batch_size": batch_size, "hide": hide,
              "kernel_width": float(kernel_width), "seed": seed}
    if auto:
        params["auto"] = {"target_stability": float(target_stability), "max_samples": max_samples,
                          "stopped": stopped}
    if segmentation is not None:
        params["segmentation"] = dict(segmentation)
    return LimeExplanation(
        segments=segments, labels=tuple(explained), weights=weights,
        intercepts=dict(zip(explained, fit["intercept"])),
        scores=dict(zip(explained, fit["score"])),
        local_predictions=dict(zip(explained, fit["local"])),
        probabilities=dict(zip(explained, kept[0].astype(np.float64))),
        params=params, masks=masks, predictions=kept,
        timings={"perturb": cache.perturb_seconds - perturb_before, "predict": cache.predict_seconds - predict_before,
                 "fit": fit_time, "scores": scores_time, "total": time.perf_counter() - started},
        warnings=tuple(_doubts(cache, n_segments, used)) + (
            (stopped,) if auto and estimate < target_stability else ()),
        stability={label: Stability(value, top_k, used, n_segments, jaccard=overlap, saturated=saturated)
                   for label, value, overlap in zip(explained, agreement, jaccard)},
        faithfulness=faithful)


def lime_masks(seed, num_samples, n_segments):
    """Return LIME's samples for `seed`: the first shows every superpixel, the rest each with probability 0.5.

    Drawn exactly as ``LimeImageExplainer(random_state=seed)`` draws them. RISE uses the same
    masks, so after a LIME run of the same seed its model calls are all in the cache.

    Returns
    -------
    ndarray of shape (num_samples, n_segments), bool
    """
    stream = np.random.RandomState(seed)
    stream.randint(0, high=1000)  # lime draws its segmentation seed first, even when it is not used
    masks = stream.randint(0, 2, num_samples * n_segments).reshape(num_samples, n_segments).astype(bool)
    masks[0] = True
    return masks


def _sample(cache, masks, start, stop, batch_size, total, progress, cancelled):
    """Predict samples start..stop a batch at a time, checking for cancellation before each batch."""
    parts = []
    for first in range(start, stop, batch_size):
        if cancelled is not None and cancelled():
            raise Cancelled(f"LIME cancelled after {first} of {total} samples.")
        last = min(first + batch_size, stop)
        upcoming = masks[last:min(last + batch_size, stop)]
        parts.append(cache.predict(masks[first:last], batch_size=batch_size, ahead=upcoming))
        if progress is not None:
            progress(last, total)
    return np.concatenate(parts)


def _keys(masks):
    """Each mask as bytes, the cache's key for its image."""
    return [row.tobytes() for row in np.ascontiguousarray(masks, dtype=bool)]


def _rounds(max_samples):
    """The sample counts at which samples="auto" checks the stability."""
    counts, count = [], _FIRST_ROUND
    while count < max_samples:
        counts.append(count)
        count += _ROUND * max(1, count // 1000)
    return counts + [max_samples]


def _projected(history, max_samples):
    """The stability expected at `max_samples`, from a straight line through (log2 samples, estimate); None early on."""
    counts, values = np.array(history, dtype=np.float64).T
    if counts[-1] < _SPAN_TO_PROJECT * counts[0]:
        return None
    slope, intercept = np.polyfit(np.log2(counts), values, 1)
    return float(intercept + slope * np.log2(max_samples))


def _faithfulness_labels(faithfulness, explained):
    if faithfulness is True:
        return list(explained)
    if faithfulness is False or faithfulness is None:
        return []
    wanted = [int(label) for label in faithfulness]
    unknown = [label for label in wanted if label not in explained]
    if unknown:
        raise ExplanationError(f"faithfulness asks for class {unknown[0]}, which is not explained; explained "
                               f"classes are {list(explained)}.")
    return wanted


def _doubts(cache, n_segments, num_samples):
    notes = []
    if n_segments < MIN_SUPERPIXELS:
        notes.append(f"only {n_segments} superpixels, too few to say where the evidence is (under "
                     f"{MIN_SUPERPIXELS}); use more, smaller superpixels.")
    if n_segments > num_samples:
        notes.append(f"more superpixels ({n_segments}) than samples ({num_samples}): the weights are "
                     f"underdetermined; use more samples or fewer superpixels.")
    unchanged = cache.unchanged_segments
    if unchanged:
        notes.append(f"{unchanged} of {n_segments} superpixels look the same hidden as shown (hide={cache.hide!r} on "
                     f"flat colour), so their weights are only noise; choose another hide mode such as 'grey'.")
    return notes


def _kernel(design, kernel_width):
    # lime_image measures distance with sklearn's cosine metric to the all-on sample, unscaled
    # (only lime_text multiplies it by 100), then weights samples with the square-rooted
    # exponential kernel.
    # scikit-learn loads here, on the worker thread: the window imports this module at start-up.
    from sklearn.metrics import pairwise_distances

    distances = pairwise_distances(design, design[:1], metric="cosine").ravel()
    return np.sqrt(np.exp(-(distances ** 2) / kernel_width ** 2))


def _fit(design, targets, sample_weight):
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    # One multi-output Ridge equals one Ridge per label (same alpha, same weights) and fits all
    # features, as lime's 'auto' selection does with its default num_features=100000.
    y = targets.astype(np.float64)
    # Single-threaded BLAS: see limelight.core.scores.top_k_stability.
    with single_threaded_blas():
        model = Ridge(alpha=1.0, fit_intercept=True).fit(design, y, sample_weight=sample_weight)
    fitted = model.predict(design)
    with _warnings.catch_warnings():
        # A class whose score never moves has an undefined R^2; sklearn warns and we report NaN.
        _warnings.simplefilter("ignore")
        score = r2_score(y, fitted, sample_weight=sample_weight, multioutput="raw_values")
    return {"coef": np.atleast_2d(model.coef_), "intercept": np.atleast_1d(model.intercept_),
            "score": np.atleast_1d(score), "local": np.atleast_2d(fitted)[0]}


def _hidden_image(image, segments, hide):
    """Return the normalised hide setting and the fully hidden image."""
    from skimage.color import label2rgb
    from skimage.filters import gaussian

    if isinstance(hide, str):
        if hide not in HIDE_MODES:
            raise ExplanationError(f"unknown hide mode {hide!r}; choose one of {', '.join(HIDE_MODES)} "
                                   f"or an RGB tuple such as (0, 0, 0).")
        if hide == "mean":
            # label2rgb 'avg' truncates the means to uint8, exactly as lime's hide_color=None does.
            hidden = label2rgb(segments, image, kind="avg", bg_label=-1)
        elif hide == "blur":
            sigma = _BLUR_SIGMA * max(image.shape[:2])
            hidden = np.round(gaussian(image, sigma=sigma, channel_axis=-1, preserve_range=True))
        else:
            hidden = np.broadcast_to(np.array(HIDE_COLOURS[hide], dtype=np.uint8), image.shape)
    else:
        colour = np.asarray(hide)
        if (colour.shape != (3,) or not np.issubdtype(colour.dtype, np.number)
                or np.any(colour < 0) or np.any(colour > 255)):
            raise ExplanationError(f"hide colour {hide!r} is not an RGB tuple; give three numbers from "
                                   f"0 to 255, such as (0, 0, 0), or a mode: {', '.join(HIDE_MODES)}.")
        hide = tuple(int(round(c)) for c in colour)
        hidden = np.broadcast_to(np.array(hide, dtype=np.uint8), image.shape)
    hidden = np.ascontiguousarray(hidden, dtype=np.uint8)
    if np.array_equal(hidden, image):
        raise ExplanationError(f"hiding superpixels with hide={hide!r} leaves this image unchanged (it is "
                               f"one flat colour or matches the hide colour); choose another hide mode "
                               f"or other segmentation settings.")
    return hide, hidden


def _unchanged_segments(image, hidden, segments):
    """Count the superpixels that hiding does not change at all."""
    changed = np.any(image != hidden, axis=-1)
    return int(np.count_nonzero(np.bincount(segments.ravel(), weights=changed.ravel(),
                                            minlength=segment_count(segments)) == 0))


def _choose_labels(labels, top_labels, first_scores):
    num_classes = first_scores.shape[0]
    if labels is None:
        # argsort's order matches lime's choice of top labels, reversed to put the likeliest first.
        return [int(i) for i in np.argsort(first_scores)[-top_labels:][::-1]]
    dropped = [int(label) for label in labels if not 0 <= int(label) < num_classes]
    if dropped:
        raise ExplanationError(f"class index {dropped[0]} is out of range for a model with {num_classes} "
                               f"classes; pick indices from 0 to {num_classes - 1}.")
    return list(dict.fromkeys(int(label) for label in labels))


def _check_scores(scores, rows):
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != rows or scores.shape[1] < 1:
        raise ExplanationError(f"predict returned shape {scores.shape} for {rows} images; it must return "
                               f"probabilities of shape ({rows}, num_classes).")
    if not np.issubdtype(scores.dtype, np.number) or not np.all(np.isfinite(scores)):
        raise ExplanationError("predict returned scores that are not finite numbers; check the model "
                               "and its preprocessing.")
    return scores


def _check_segments(segments, shape):
    from skimage.segmentation import relabel_sequential

    segments = np.asarray(segments)
    if segments.shape != tuple(shape):
        raise ExplanationError(f"segments have shape {segments.shape} but the image is {tuple(shape)}; "
                               f"segment the same image that you explain.")
    if not np.issubdtype(segments.dtype, np.integer):
        raise ExplanationError(f"segments must be integer labels, got {segments.dtype}; "
                               f"use limelight.core.segmentation.segment.")
    # Each superpixel becomes one column of the design matrix, so labels must run 0..n-1.
    segments = relabel_sequential(segments - segments.min())[0].astype(np.int32)
    if segment_count(segments) < 2:
        raise ExplanationError("the segmentation has a single superpixel, so there is nothing to compare; "
                               "use more segments, a smaller scale or another segmentation method.")
    return segments


def _check_counts(num_samples, batch_size, top_labels, labels, top_k, max_samples):
    """Return num_samples (max_samples for "auto"), batch_size, top_labels, top_k and max_samples, checked."""
    if labels is not None and len(labels) == 0:
        raise ExplanationError("labels is empty; give the class indices to explain, or None for the "
                               "most probable classes.")
    max_samples = _whole("max_samples", max_samples, 10)
    if isinstance(num_samples, str) and num_samples == "auto":
        num_samples = max_samples
    else:
        num_samples = _whole("num_samples", num_samples, 10, "'auto' or ")
    top_labels = top_labels if labels is not None else _whole("top_labels", top_labels, 1)
    return num_samples, _whole("batch_size", batch_size, 1), top_labels, _whole("top_k", top_k, 1), max_samples


def _whole(name, value, least, alternative=""):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ExplanationError(f"{name} must be {alternative}a whole number of at least {least}, got {value!r}.")
    return int(value)


def _seed(random_state):
    # Every run records an integer seed, so passing it back as random_state reproduces the run.
    if random_state is None:
        return int.from_bytes(os.urandom(4), "little")
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2 ** 32))
    # lime's RandomState takes seeds below 2**32.
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool) and (
            0 <= random_state < 2 ** 32):
        return int(random_state)
    raise ExplanationError(f"random_state must be a non-negative int below 2**32, a numpy Generator or None, "
                           f"got {random_state!r}.")


def _frozen(array, dtype):
    array = np.array(array, dtype=dtype)
    array.flags.writeable = False
    return array


def _json_safe(value):
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_record(meta, arrays):
    return LimeExplanation.from_record(meta, arrays)
