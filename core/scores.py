"""How far to trust an explanation: stability of its top superpixels, and faithfulness (deletion and insertion AUC)."""
import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from threadpoolctl import ThreadpoolController

from limelight.core.errors import Cancelled, ExplanationError
from limelight.core.segmentation import MIN_SUPERPIXELS

#: Stability at or above this is "stable", at or above BORDERLINE "borderline", below it "unstable".
STABLE = 0.9
BORDERLINE = 0.7
#: A LIME fit (weighted R²) below this imitates the classifier too loosely for its weights to be trusted.
WEAK_FIT = 0.5
#: The most samples `explain_lime(num_samples="auto")` draws; past it more samples cost minutes.
MAX_SAMPLES = 4000
#: Perturbed images (LIME's samples, Score-CAM's masked images) built and sent to the model per step, and
#: so how often progress is told and cancellation checked: enough to keep the model busy, few enough for a
#: laptop's memory. The model splits them into forward passes of its own (models.FORWARD_BATCH_SIZE).
SAMPLE_BATCH_SIZE = 48
#: The stability word of an explanation over fewer than MIN_SUPERPIXELS superpixels.
TOO_FEW_SUPERPIXELS = "too few superpixels"
#: How many superpixels the stability score follows, as lime's own examples show them.
TOP_K = 5
#: Two weights within this share of the largest absolute weight are tied: their order is noise.
TIE_DELTA = 0.1
# Bootstrap refits per stability estimate. With 40 the estimate of one set of samples moved by
# 0.01-0.02 (standard deviation) from one resampling seed to another, and "auto", which stops on
# the estimate, took the upward moves for stability; 120 cut that to about 0.007 for ~0.1 s more
# per estimate at 1,700 samples.
_REPEATS = 120
# Every this-many-th draw's deviation centres the level below of the bias correction (40 of 120).
_CENTRE_STEP = 3


@dataclass(frozen=True)
class Stability:
    """How reproducible an explanation's top superpixels are, estimated from its own samples.

    Attributes
    ----------
    value : float
        Tie-aware agreement: the expected share of a rerun's top-`k` positive superpixels (another
        seed, as many samples) that are in this explanation's top `k` or tied with its `k`-th
        place, within ``tie_delta`` times the largest absolute weight (1: a rerun shows nothing
        that matters differently).
    k : int
        How many top superpixels are compared.
    num_samples : int
        The samples it was estimated from.
    num_segments : int
        The superpixels of the explanation (0: not recorded). With fewer than
        `MIN_SUPERPIXELS` the top-k set is nearly all of them, so it repeats whatever the weights,
        and the word is "too few superpixels" whatever the value.
    jaccard : float
        The expected Jaccard index of the two top-`k` sets, which counts a swap between tied
        superpixels as a disagreement; kept for comparison (None when not measured).
    tie_delta : float
        The tie tolerance, as a share of the largest absolute weight.
    saturated : bool
        True when ``num_samples="auto"`` projected that more samples would not make it stable.
    """

    value: float
    k: int
    num_samples: int
    num_segments: int = 0
    jaccard: float | None = None
    tie_delta: float = TIE_DELTA
    saturated: bool = False

    @property
    def word(self):
        """"stable", "borderline", "unstable" or "too few superpixels"."""
        if 0 < self.num_segments < MIN_SUPERPIXELS:
            return TOO_FEW_SUPERPIXELS
        if self.value >= STABLE:
            return "stable"
        return "borderline" if self.value >= BORDERLINE else "unstable"

    @property
    def summary(self):
        """The value and the word, e.g. "0.93 stable"; only the word when there are too few superpixels."""
        return self.word if self.word == TOO_FEW_SUPERPIXELS else f"{self.value:.2f} {self.word}"

    @property
    def hint(self):
        """What would make it more stable, in a few words; empty when it is stable."""
        if self.word == "stable":
            return ""
        if self.word == TOO_FEW_SUPERPIXELS:
            return "use more, smaller superpixels"
        if self.saturated or self.num_samples >= MAX_SAMPLES:
            return "use fewer, larger superpixels"
        return "add samples"

    def to_record(self):
        """Return a JSON-safe dict; `from_record` reads it back."""
        return {"value": float(self.value), "k": int(self.k), "num_samples": int(self.num_samples),
                "num_segments": int(self.num_segments),
                "jaccard": None if self.jaccard is None else float(self.jaccard), "tie_delta": float(self.tie_delta),
                "saturated": bool(self.saturated)}

    @classmethod
    def from_record(cls, record):
        common = dict(value=float(record["value"]), k=int(record["k"]), num_samples=int(record["num_samples"]),
                      num_segments=int(record.get("num_segments", 0)))
        if "tie_delta" not in record:
            # Saved before ties were counted: the value was the Jaccard index.
            return cls(**common, jaccard=float(record["value"]), tie_delta=0.0)
        return cls(**common, jaccard=None if record["jaccard"] is None else float(record["jaccard"]),
                   tie_delta=float(record["tie_delta"]), saturated=bool(record.get("saturated", False)))


@dataclass(frozen=True)
class Faithfulness:
    """Deletion and insertion curves of one class (Petsiuk et al., 2018, RISE) over superpixels.

    Deletion hides the superpixels from the most important down and watches the class probability
    fall: a faithful explanation makes it fall fast (low AUC). Insertion shows them, from a fully
    hidden image, in the same order: the probability should rise fast (high AUC). A random order
    gives the baseline for both.

    Attributes
    ----------
    fractions : tuple of float
        The share of superpixels hidden (deletion) or shown (insertion) at each step, 0 to 1.
    deletion, insertion : tuple of float
        The model's probability for the class at each step.
    random : tuple of float
        The mean probability over random orders with `fractions` of the superpixels shown: the
        insertion baseline; read backwards, the deletion baseline.
    """

    fractions: tuple
    deletion: tuple
    insertion: tuple
    random: tuple

    def __post_init__(self):
        for name in ("fractions", "deletion", "insertion", "random"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))

    @property
    def deletion_auc(self):
        """Area under the deletion curve, 0 to 1: lower is more faithful."""
        return _area(self.fractions, self.deletion)

    @property
    def insertion_auc(self):
        """Area under the insertion curve, 0 to 1: higher is more faithful."""
        return _area(self.fractions, self.insertion)

    @property
    def random_auc(self):
        """Area under the random-order curve, the same for deletion and insertion."""
        return _area(self.fractions, self.random)

    def to_record(self):
        """Return a JSON-safe dict of the curves; `from_record` reads it back."""
        return {name: list(getattr(self, name)) for name in ("fractions", "deletion", "insertion", "random")}

    @classmethod
    def from_record(cls, record):
        return cls(**{name: record[name] for name in ("fractions", "deletion", "insertion", "random")})


def fit_word(r2):
    """Return "good" for a LIME fit (weighted R²) of at least `WEAK_FIT`, else "weak" (NaN included)."""
    return "good" if r2 >= WEAK_FIT else "weak"


def top_k_stability(masks, targets, sample_weight, *, k=TOP_K, tie_delta=TIE_DELTA, repeats=_REPEATS,
                    random_state=0):
    """Estimate, without new model calls, how far a rerun would pick the same top-`k` superpixels.

    Bootstrap: the samples (all but the first, the unperturbed image, which every run has) are
    drawn again with replacement, the weighted ``Ridge(alpha=1)`` of LIME is refitted to each
    draw (`ridge_coefficients`), and the draws are compared pairwise as two runs with different
    seeds would be: the share of one's top-`k` positive superpixels that the other ranks in its
    top `k` or ties with its `k`-th place (`tied_places`), and the Jaccard index of the two sets.

    The draws scatter around this run's weights, not around the true ones, and noise spreads
    near-tied weights apart, so draws agree on an order that reruns would shuffle: the plain
    bootstrap runs high. With more samples than superpixels the bias is estimated one level
    down, by comparing draws scattered around other draws (each draw shifted by another's
    deviation from this run's weights), and subtracted: ``2 * plain - one level down``
    (Efron and Tibshirani, 1993, ch. 10).

    Parameters
    ----------
    masks : ndarray of shape (num_samples, n_segments), bool
    targets : ndarray of shape (num_samples, n_labels)
        The model's probability of each explained class per sample.
    sample_weight : ndarray of shape (num_samples,)
        LIME's proximity weights.
    k : int
    tie_delta : float
        Weights within ``tie_delta`` times the largest absolute weight of the `k`-th are tied with it.
    repeats : int
        Bootstrap refits.
    random_state : int
        Seed of the resampling, so the same samples always give the same estimate.

    Returns
    -------
    agreement : ndarray of shape (n_labels,), float64
        The tie-aware agreement (`Stability.value`).
    jaccard : ndarray of shape (n_labels,), float64
        The mean pairwise Jaccard index of the top-`k` sets.
    """
    design = np.asarray(masks, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64).reshape(len(design), -1)
    rng = np.random.default_rng(random_state)
    num_samples = len(design)
    refits = np.empty((targets.shape[1], repeats, design.shape[1]))
    # Matrices this small gain nothing from BLAS threads, and on a busy machine the threads' waiting
    # makes each refit 100x slower (75 ms instead of 0.7 ms at 2000 samples on two shared cores).
    with single_threaded_blas():
        fitted = ridge_coefficients(design, targets, sample_weight)
        for repeat in range(repeats):
            counts = np.bincount(rng.integers(1, num_samples, num_samples - 1), minlength=num_samples)
            counts[0] = 1
            refits[:, repeat] = ridge_coefficients(design, targets, sample_weight * counts)
    plain = np.array([rerun_agreement(draws, k, tie_delta=tie_delta) for draws in refits])
    # With fewer samples than superpixels the fit is underdetermined and the level below ran the
    # other way (on the demo scenes at 25 samples for 44 superpixels it raised an estimate already
    # 0.13-0.23 high), so there the plain bootstrap stands.
    if num_samples <= design.shape[1]:
        return plain[:, 0], plain[:, 1]
    below = np.array([np.mean([rerun_agreement(draws + shift, k, tie_delta=tie_delta)
                               for shift in draws[::_CENTRE_STEP] - centre], axis=0)
                      for draws, centre in zip(refits, fitted)])
    corrected = np.clip(2 * plain - below, 0.0, 1.0)
    return corrected[:, 0], corrected[:, 1]


def single_threaded_blas():
    """A context in which BLAS runs on one thread (for the small matrices of LIME's fits)."""
    return _threadpools().limit(limits=1, user_api="blas")


@functools.cache
def _threadpools():
    # threadpool_limits() looks for the loaded libraries on every call: 7 ms of wall time a call on
    # the busy machine (0.4 ms of CPU). scikit-learn's fits use SciPy's own OpenBLAS, not numpy's,
    # so it is loaded before looking.
    import scipy.linalg  # noqa: F401

    return ThreadpoolController()


def rerun_agreement(runs, k=TOP_K, *, tie_delta=TIE_DELTA):
    """How far runs of one explanation agree on its top-`k` positive superpixels, over every pair of runs.

    Parameters
    ----------
    runs : ndarray of shape (n_runs, n_segments)
        Each run's weights for one class.
    k : int
    tie_delta : float
        As for `tied_places`.

    Returns
    -------
    agreement : float
        The mean over ordered pairs (a, b) of the share of b's top `k` that a ranks in its top `k`
        or ties with its `k`-th place.
    jaccard : float
        The mean Jaccard index of the pairs' top-`k` sets.
    """
    tops, accepted = _top_and_tied(runs, k, tie_delta)
    return _mean_pairwise_share(tops, tops | accepted), _mean_pairwise_jaccard(tops)


def tied_places(weights, k, *, tie_delta=TIE_DELTA):
    """Return the superpixels that share the `k`-th place: ranked `k`-th or below, within a tie of the `k`-th.

    A weight is tied with the `k`-th largest positive weight when it is at most ``tie_delta``
    times the largest absolute weight below it. With fewer than `k` positive weights the last
    positive one takes the `k`-th place.

    Returns
    -------
    ndarray of shape (n_tied,), int
        Largest weight first; the `k`-th superpixel itself comes first. Empty without positive weights.
    """
    weights = np.asarray(weights, dtype=np.float64)
    order = np.argsort(-weights, kind="stable")
    return order[_top_and_tied(weights[None], k, tie_delta)[1][0, order]]


def _top_and_tied(runs, k, tie_delta):
    """Per run (row): its top-`k` positive superpixels, and those tied with its `k`-th place (`tied_places`).

    Returns
    -------
    tops, tied : ndarray of shape (n_runs, n_segments), bool
    """
    runs = np.asarray(runs, dtype=np.float64)
    order = np.argsort(-runs, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(runs.shape[1])[None].repeat(len(runs), axis=0), axis=1)
    positive = np.count_nonzero(runs > 0, axis=1)
    place = np.minimum(int(k), positive) - 1
    rows = np.arange(len(runs))
    kth = runs[rows, order[rows, np.maximum(place, 0)]]
    floor = kth - tie_delta * np.abs(runs).max(axis=1)
    tops = (ranks < k) & (runs > 0)
    tied = (ranks >= place[:, None]) & (runs >= floor[:, None]) & (positive[:, None] > 0)
    return tops, tied


def describe_tie(weights, k, *, tie_delta=TIE_DELTA):
    """Say in a few words when the `k`-th place is shared, e.g. "5th place: a tie between 3 superpixels"; else ""."""
    tied = len(tied_places(weights, k, tie_delta=tie_delta))
    if tied < 2:
        return ""
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix} place: a tie between {tied} superpixels"


def ridge_coefficients(design, targets, sample_weight, alpha=1.0):
    """Return the coefficients of ``Ridge(alpha).fit(design, targets, sample_weight)``, one row per target.

    The same weighted, intercept-centred normal equations that scikit-learn solves, without its
    per-call overhead: a bootstrap refits dozens of times, and this is 40x faster at 4000 samples.
    """
    total = sample_weight.sum()
    mean_x = sample_weight @ design / total
    mean_y = sample_weight @ targets / total
    weighted = design.T * sample_weight
    gram = weighted @ design - total * np.outer(mean_x, mean_x)
    moment = weighted @ targets - total * np.outer(mean_x, mean_y)
    return np.linalg.solve(gram + alpha * np.eye(len(gram)), moment).T


def top_positive(weights, k):
    """Return the indices of the `k` largest positive weights, largest first."""
    weights = np.asarray(weights)
    order = np.argsort(-weights, kind="stable")
    return order[weights[order] > 0][:k]


def jaccard(first, second):
    """The Jaccard index of two collections of indices (1 for two empty ones)."""
    first, second = set(np.asarray(first).tolist()), set(np.asarray(second).tolist())
    union = first | second
    return len(first & second) / len(union) if union else 1.0


def faithfulness(predict_masks, ranking, label, *, steps=20, random_orders=3, random_state=0, cancelled=None):
    """Measure the deletion and insertion curves of one class for a ranking of superpixels.

    Parameters
    ----------
    predict_masks : callable
        Takes masks of shape (n, n_segments), bool (True: the superpixel is shown) and returns the
        model's probabilities of shape (n, num_classes), e.g. `PredictionCache.predict`.
    ranking : ndarray of shape (n_segments,)
        How important each superpixel is for `label`: LIME weights, or for a heatmap its mean
        inside each superpixel (`superpixel_means`). Hidden and shown from the largest down.
    label : int
    steps : int
        How many steps each curve takes; at most one per superpixel.
    random_orders : int
        Random orders averaged into the baseline. They depend only on `random_state`, so every
        class of one image shares them (and their model calls, through a cache).
    random_state : int
    cancelled : callable, optional
        Checked before the model is called; when it returns True, raises `Cancelled`.

    Returns
    -------
    Faithfulness
    """
    ranking = np.asarray(ranking, dtype=np.float64)
    n_segments = len(ranking)
    if steps < 1 or random_orders < 1:
        raise ExplanationError(f"faithfulness needs at least 1 step and 1 random order, got {steps} and "
                               f"{random_orders}.")
    counts = np.unique(np.round(np.linspace(0, n_segments, min(steps, n_segments) + 1)).astype(int))
    order = np.argsort(-ranking, kind="stable")
    rng = np.random.default_rng(random_state)
    random_orders = [rng.permutation(n_segments) for _ in range(random_orders)]
    # Deletion hides the first `count` superpixels of the order; insertion shows them.
    deletion = _shown(order, counts, n_segments, first=False)
    insertion = _shown(order, counts, n_segments, first=True)
    random = np.concatenate([_shown(shuffled, counts, n_segments, first=True) for shuffled in random_orders])
    if cancelled is not None and cancelled():
        raise Cancelled("cancelled before the faithfulness curves.")
    probabilities = np.asarray(predict_masks(np.concatenate([deletion, insertion, random])))[:, int(label)]
    n = len(counts)
    return Faithfulness(fractions=counts / n_segments, deletion=probabilities[:n], insertion=probabilities[n:2 * n],
                        random=probabilities[2 * n:].reshape(-1, n).mean(axis=0))


def superpixel_means(weight_map, segments):
    """Return the mean of a per-pixel map inside each superpixel, to rank a heatmap's superpixels.

    Parameters
    ----------
    weight_map : ndarray of shape (rows, cols)
    segments : ndarray of shape (rows, cols), int
        Labels contiguous from 0.

    Returns
    -------
    ndarray of shape (n_segments,), float64
    """
    segments = np.asarray(segments).ravel()
    sums = np.bincount(segments, weights=np.asarray(weight_map, dtype=np.float64).ravel())
    return sums / np.maximum(np.bincount(segments, minlength=len(sums)), 1)


def add_faithfulness(explanation, cache, labels=None, *, steps=20, random_orders=3, cancelled=None):
    """Return `explanation` with the faithfulness of `labels` measured and added.

    Works for LIME (superpixels ranked by weight) and for class activation maps (superpixels of
    the cache's segmentation ranked by the map's mean inside each). Classes already measured
    are kept and cost nothing.

    Parameters
    ----------
    explanation : LimeExplanation or CamExplanation
    cache : PredictionCache
        For the same model and image as the explanation; its segmentation and hide mode define
        what a superpixel is and how it is hidden. Masks already predicted cost nothing.
    labels : sequence of int, optional
        By default every explained class.
    steps, random_orders, cancelled
        As for `faithfulness`.

    Returns
    -------
    LimeExplanation or CamExplanation
        A copy with ``faithfulness[label]`` set for each label.
    """
    labels = explanation.labels if labels is None else [int(label) for label in labels]
    measured = dict(explanation.faithfulness)
    seed = int(explanation.params.get("seed", 0) or 0)
    for label in labels:
        if label in measured:
            continue
        if explanation.kind == "lime":
            if explanation.segments.shape != cache.segments.shape or not np.array_equal(explanation.segments,
                                                                                       cache.segments):
                raise ExplanationError("the cache was made for another segmentation than this explanation; "
                                       "pass the cache the explanation was computed with.")
            explanation.weight_map(label)  # refuses a class that was not explained
            ranking = explanation.weights[label]
        else:
            ranking = superpixel_means(explanation.weight_map(label), cache.segments)
        measured[label] = faithfulness(cache.predict, ranking, label, steps=steps, random_orders=random_orders,
                                       random_state=seed, cancelled=cancelled)
    return dataclasses.replace(explanation, faithfulness=measured)


def frozen_scores(scores, cls):
    """Return a read-only {label: Stability or Faithfulness} mapping, reading saved records too.

    Raises TypeError, KeyError or ValueError for a damaged record.
    """
    if not isinstance(scores, Mapping):
        raise TypeError(f"scores must be a mapping of label to {cls.__name__}, not {type(scores).__name__}")
    return MappingProxyType({int(label): value if isinstance(value, cls) else cls.from_record(value)
                             for label, value in scores.items()})


def _shown(order, counts, n_segments, *, first):
    masks = np.zeros((len(counts), n_segments), dtype=bool) if first else np.ones((len(counts), n_segments), bool)
    for row, count in enumerate(counts):
        masks[row, order[:count]] = first
    return masks


def _mean_pairwise_share(sets, accepted):
    """Mean over ordered pairs of runs (a, b), a != b, of the share of b's set that a accepts."""
    inter = sets.astype(np.int64) @ accepted.astype(np.int64).T  # [b, a]: b's members that a accepts
    sizes = sets.sum(axis=1)
    share = np.where(sizes[:, None] > 0, inter / np.maximum(sizes[:, None], 1), 1.0)
    off_diagonal = ~np.eye(len(sets), dtype=bool)
    return float(share[off_diagonal].mean())


def _mean_pairwise_jaccard(sets):
    sets = sets.astype(np.int64)
    inter = sets @ sets.T
    sizes = sets.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - inter
    similarity = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    upper = np.triu_indices(len(sets), k=1)
    return float(similarity[upper].mean())


def _area(fractions, values):
    return float(np.trapezoid(values, fractions))


# Resampled noisy maps rebuilt per matrix product by `resampled_map_stability`, and how many in all. Each
# draw of a 224 x 224 px map costs about 6 ms on the busy 2-core machine; with 40 the estimate moves by
# about 0.03 (standard deviation) from one resampling seed to another, 0.01 with 120 (demo scenes, 10 copies).
_DRAWS_AT_ONCE = 16
_MAP_DRAWS = 40


def resampled_map_stability(group_sums, group_squares, group_sizes, make_map, regions, *, k=TOP_K,
                            tie_delta=TIE_DELTA, repeats=_MAP_DRAWS, random_state=0):
    """Estimate, without new model calls, how far a rerun of a noisy map would pick the same top-`k` regions.

    SmoothGrad and its kin average the gradients of noisy copies. Their copies, summed in groups,
    are drawn again with replacement (a bootstrap over groups of copies), the map is rebuilt from
    each draw with `make_map`, its regions are ranked by the map's mean inside each (as
    `superpixel_means` ranks them), and the draws are compared pairwise as two runs with other
    noise would be (`rerun_agreement`): the same tie-aware agreement and Jaccard index as
    `top_k_stability`, with each draw's region means measured from their mean.

    Parameters
    ----------
    group_sums, group_squares : ndarray of shape (groups, rows, cols, channels)
        Each group's sum of the copies' gradients and of their squares; at least two groups.
    group_sizes : ndarray of shape (groups,)
        The copies in each group.
    make_map : callable
        ``make_map(total, total_square, count)`` with arrays of shape (draws, rows, cols, channels)
        and `count` of shape (draws, 1, 1, 1) returns the maps, of shape (draws, rows, cols), of
        `count` copies whose gradients sum to `total` and whose squares sum to `total_square`.
    regions : ndarray of shape (rows, cols), int
        Labels contiguous from 0: what a top region is.
    k, tie_delta
        As for `rerun_agreement`.
    repeats : int
        Draws.
    random_state : int
        Seed of the resampling, so the same map always gives the same estimate.

    Returns
    -------
    agreement : float
        The tie-aware agreement (`Stability.value`).
    jaccard : float
        The mean pairwise Jaccard index of the top-`k` sets.
    """
    group_sums, group_squares = np.asarray(group_sums), np.asarray(group_squares)
    group_sizes = np.asarray(group_sizes, dtype=np.float64)
    groups = len(group_sizes)
    if groups < 2:
        raise ExplanationError(f"a resampled stability needs at least 2 groups of copies, not {groups}")
    rng = np.random.default_rng(random_state)
    counts = np.array([np.bincount(rng.integers(0, groups, groups), minlength=groups) for _ in range(repeats)],
                      dtype=np.float64)
    regions = np.asarray(regions).ravel()
    n_regions = int(regions.max()) + 1
    sizes = np.bincount(regions, minlength=n_regions)
    shape = group_sums.shape[1:]
    # float32 halves the time (the ranking needs no more digits than the map's own float32).
    flat_sums, flat_squares = (np.asarray(a, dtype=np.float32).reshape(groups, -1) for a in (group_sums, group_squares))
    counts, group_sizes = counts.astype(np.float32), group_sizes.astype(np.float32)
    draws = np.empty((repeats, n_regions))
    # A few draws at a time, each one matrix product over the groups: all at once would hold every
    # draw's gradients (120 x 224 x 224 x 3 doubles is 145 MB).
    for start in range(0, repeats, _DRAWS_AT_ONCE):
        chosen = counts[start:start + _DRAWS_AT_ONCE]
        with single_threaded_blas():
            totals, squares = chosen @ flat_sums, chosen @ flat_squares
        maps = make_map(totals.reshape(-1, *shape), squares.reshape(-1, *shape),
                        (chosen @ group_sizes).reshape(-1, 1, 1, 1)).reshape(len(chosen), -1)
        # Each draw's region means in one bincount: draw d's region r is bin d * n_regions + r.
        bins = (np.arange(len(chosen))[:, None] * n_regions + regions).ravel()
        sums = np.bincount(bins, weights=maps.ravel(), minlength=len(chosen) * n_regions)
        draws[start:start + len(chosen)] = sums.reshape(len(chosen), n_regions) / np.maximum(sizes, 1)
    # A magnitude map is positive everywhere: measured from its mean region, as LIME's weights are
    # from its intercept, so that ties are within a share of the map's contrast, not of its level.
    return rerun_agreement(draws - draws.mean(axis=1, keepdims=True), k, tie_delta=tie_delta)
