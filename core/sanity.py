"""Sanity check of an explanation method: does its map change when the model's layers are randomised?"""
from __future__ import annotations

import contextlib
import copy
import math
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from limelight.core.errors import Cancelled, ExplanationError

__all__ = ["STEPS", "PASS_BELOW", "PASS_SHARE", "Sanity", "check_sanity", "describe_cost", "spearman", "ssim"]

#: How many times the cascade stops to recompute the map (fewer when the model has fewer layers with weights).
STEPS = 8
#: A method passes when the Spearman correlation of its map with the original, averaged over the steps
#: that randomised at least PASS_SHARE of the layers with weights, is below PASS_BELOW: a map that survives
#: randomising the top half of the model shows the image, not what the model learned (Adebayo et al. 2018).
#: The average, not one step, decides: single steps of a small model swing by 0.3 with the random weights.
PASS_BELOW = 0.5
PASS_SHARE = 0.5
# Progress units per map, so that a LIME run inside a step moves the bar smoothly.
_UNITS = 1000


@dataclass(frozen=True, eq=False)
class Sanity:
    """The result of a model randomisation test (cascading, from the top) and a random-class test.

    Step 0 is the map of the unchanged model; step ``i`` randomised the top ``randomised[i]``
    layers with weights, down to ``layers[i]``. Arrays are read-only.

    Attributes
    ----------
    method : str
        The explanation method checked ("gradcam", "lime", ...).
    target : int
        The explained class.
    total_layers : int
        The model's layers with weights (nested models' layers counted one by one).
    randomised : tuple of int
        Layers randomised at each step; ``randomised[0] == 0``.
    layers : tuple of str
        The lowest layer randomised at each step (the empty string for step 0).
    spearman, ssim : tuple of float
        Similarity of each step's map to the original: Spearman rank correlation of the pixels,
        and SSIM of the maps scaled to 0..1 (scikit-image). Both are 1 at step 0.
    maps : ndarray of shape (steps + 1, rows, cols), float32
        The map at each step, at the model's input resolution.
    random_class : int
        Another class, drawn with the seed; its map on the unchanged model is compared to the original.
    random_class_spearman, random_class_ssim : float
    random_class_map : ndarray of shape (rows, cols), float32
    seed : int
        The seed of the re-drawn weights and the random class; the same seed repeats the check.
    seconds : float
        How long the check took.
    """

    method: str
    target: int
    total_layers: int
    randomised: tuple
    layers: tuple
    spearman: tuple
    ssim: tuple
    maps: np.ndarray
    random_class: int
    random_class_spearman: float
    random_class_ssim: float
    random_class_map: np.ndarray
    seed: int
    seconds: float = 0.0
    pass_below: float = PASS_BELOW
    pass_share: float = PASS_SHARE

    def __post_init__(self):
        set_ = object.__setattr__
        for name in ("maps", "random_class_map"):
            array = np.array(getattr(self, name), dtype=np.float32)
            array.flags.writeable = False
            set_(self, name, array)
        for name in ("randomised", "layers", "spearman", "ssim"):
            set_(self, name, tuple(getattr(self, name)))
        if self.maps.ndim != 3 or not (len(self.maps) == len(self.randomised) == len(self.layers)
                                       == len(self.spearman) == len(self.ssim) >= 2):
            raise ExplanationError("a sanity check needs the original map and at least one randomised step, "
                                   "each with its layer count, layer and similarities")

    @property
    def deciding_steps(self) -> tuple[int, ...]:
        """The steps with at least `pass_share` of the layers randomised (at least the last step)."""
        needed = self.pass_share * self.total_layers
        return tuple(i for i, count in enumerate(self.randomised) if count >= needed) or (len(self.randomised) - 1,)

    @property
    def similarity(self) -> float:
        """The mean Spearman correlation with the original over the `deciding_steps`: what pass or fail reads."""
        return float(np.mean([self.spearman[i] for i in self.deciding_steps]))

    @property
    def passed(self) -> bool:
        """True when `similarity` is below `pass_below`: the map has clearly changed with the model."""
        return self.similarity < self.pass_below

    @property
    def word(self) -> str:
        """"passes" or "fails"."""
        return "passes" if self.passed else "fails"

    @property
    def summary(self) -> str:
        """One line, e.g. "sanity: passes (Spearman 0.12 once half of 99 layers are randomised; random class -0.80)"."""
        return (f"sanity: {self.word} (Spearman {self.similarity:.2f} once {self.pass_share:.0%} of "
                f"{self.total_layers} layers are randomised; random class {self.random_class_spearman:.2f})")

    def to_record(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Split into JSON-safe metadata and named arrays, for a report."""
        meta = {"method": self.method, "target": self.target, "passed": self.passed, "word": self.word,
                "summary": self.summary, "rule": {"below": self.pass_below, "share": self.pass_share},
                "total_layers": self.total_layers,
                "similarity": self.similarity, "deciding_steps": list(self.deciding_steps),
                "steps": [{"randomised": count, "layer": layer, "spearman": rho, "ssim": similarity}
                          for count, layer, rho, similarity in zip(self.randomised, self.layers, self.spearman,
                                                                   self.ssim)],
                "random_class": {"index": self.random_class, "spearman": self.random_class_spearman,
                                 "ssim": self.random_class_ssim},
                "seed": self.seed, "seconds": self.seconds}
        return meta, {"maps": np.array(self.maps), "random_class_map": np.array(self.random_class_map)}

    @classmethod
    def from_record(cls, meta: dict, arrays: dict[str, np.ndarray]) -> Sanity:
        """Rebuild a result saved with `to_record`; raises KeyError, TypeError or ExplanationError when damaged."""
        steps = meta["steps"]
        return cls(method=str(meta["method"]), target=int(meta["target"]), total_layers=int(meta["total_layers"]),
                   randomised=[int(s["randomised"]) for s in steps], layers=[str(s["layer"]) for s in steps],
                   spearman=[_number(s["spearman"]) for s in steps], ssim=[_number(s["ssim"]) for s in steps],
                   maps=arrays["maps"], random_class=int(meta["random_class"]["index"]),
                   random_class_spearman=_number(meta["random_class"]["spearman"]),
                   random_class_ssim=_number(meta["random_class"]["ssim"]),
                   random_class_map=arrays["random_class_map"], seed=int(meta["seed"]),
                   seconds=_number(meta.get("seconds", 0.0)),
                   pass_below=float(meta["rule"]["below"]), pass_share=float(meta["rule"]["share"]))


def _number(value) -> float:
    # A report spells a missing (NaN) similarity as null.
    return math.nan if value is None else float(value)


# --- Similarity ----------------------------------------------------------------------------

def spearman(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman rank correlation of two maps' pixels; 0 when either map is constant (it keeps no ranking)."""
    from scipy.stats import spearmanr

    first, second = np.ravel(first), np.ravel(second)
    if np.ptp(first) == 0 or np.ptp(second) == 0:
        return 0.0
    return float(spearmanr(first, second).statistic)


def ssim(first: np.ndarray, second: np.ndarray) -> float:
    """Structural similarity (scikit-image) of two maps, each scaled to 0..1 first (a constant map to 0)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(_unit(first), _unit(second), data_range=1.0))


def _unit(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    span = np.ptp(values)
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


def describe_cost(explanation, *, steps: int = STEPS) -> str:
    """What the sanity check of `explanation` will cost, in words to show before it starts.

    Read from the explanation alone, so the window can say it at once: up to ``steps + 1`` more
    runs of its method, each about as long as it took (less its faithfulness curves, which the
    check does not measure). A model with fewer layers with weights than `steps` takes fewer.
    """
    from limelight.core.methods import METHOD_TITLES

    runs = int(steps) + 1
    method = str(explanation.params.get("method", explanation.kind))
    title = METHOD_TITLES.get(method, method)
    samples = f" of {explanation.num_samples:,} samples" if explanation.kind == "lime" else ""
    seconds = runs * float(explanation.timings.get("total", 0.0))
    took = f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    return f"up to {runs} {title} runs{samples}, about {took}"


# --- The check -----------------------------------------------------------------------------

def check_sanity(model, explain: Callable[..., np.ndarray], *, target: int, method: str,
                 original: np.ndarray | None = None, steps: int = STEPS, random_state=None,
                 progress: Callable[[int, int], Any] | None = None,
                 cancelled: Callable[[], bool] | None = None,
                 step: Callable[[int, str, np.ndarray, float], Any] | None = None) -> Sanity:
    """Randomise the model's layers from the top, step by step, and measure how much the map changes.

    The cascading model randomisation test of Adebayo et al. (2018, "Sanity Checks for Saliency
    Maps"): each layer with weights, from the output down, has its weights re-drawn with its own
    initialisers (BatchNormalization back to its identity), and after each step the map is made
    again and compared to the original. A map that stays alike is showing the image, not what the
    model learned. Also the random-class test: the map of another class on the unchanged model.
    The layers are randomised in place and restored exactly before it returns, also when cancelled
    or failing; the model's file is never touched.

    Parameters
    ----------
    model : ClassifierModel
        The model the explanation was made with.
    explain : callable
        ``explain(model, target, *, progress=None, cancelled=None)`` returning the map, an ndarray
        of shape (rows, cols); `limelight.core.pipeline.check_sanity` makes it from an explanation's
        request.
    target : int
        The explained class.
    method : str
        The method's name, recorded in the result.
    original : ndarray of shape (rows, cols), optional
        The map on the unchanged model, when already at hand (``explanation.weight_map(target)``);
        by default it is made with `explain`.
    steps : int
        How many times the cascade stops to recompute the map; at most one per layer with weights.
    random_state : int, numpy.random.Generator or None
        Seed for the re-drawn weights and the random class; the one used is in ``Sanity.seed``.
    progress : callable, optional
        Called as ``progress(done, total)`` as maps are made.
    cancelled : callable, optional
        Polled before each map and passed to `explain`; when it returns True, `Cancelled` is raised.
    step : callable, optional
        Called as ``step(randomised, layer, map, spearman)`` with each map of the cascade as it is
        made, the original first (0, "", its map, 1.0), so that a strip can fill step by step.

    Returns
    -------
    Sanity

    Raises
    ------
    ExplanationError
        For a model with no layer with weights, a model with one class,
        or an original map that is constant (there is nothing to compare).
    Cancelled
        When `cancelled` returned True.
    """
    started = time.perf_counter()
    if int(steps) < 1:
        raise ExplanationError(f"steps must be at least 1, not {steps}")
    if int(model.num_classes) < 2:
        raise ExplanationError("the random-class test needs a model with at least two classes")
    rng = np.random.default_rng(random_state)
    seed = int(rng.integers(2**31)) if not isinstance(random_state, (int, np.integer)) else int(random_state)
    rng = np.random.default_rng(seed)
    units = _units(model.keras_model)
    if not units:
        raise ExplanationError("the model has no layer with weights to randomise")
    counts = sorted({math.ceil(step * len(units) / min(int(steps), len(units)))
                     for step in range(1, min(int(steps), len(units)) + 1)})
    total = (len(counts) + 1 + (original is None)) * _UNITS
    reported = [None]  # the last progress value, passed on once

    def report(done):
        if done != reported[0]:
            reported[0] = done
            if progress is not None:
                progress(done, total)

    def make(explain_model, explain_target):
        start = reported[0]
        if cancelled is not None and cancelled():
            raise Cancelled(f"sanity check cancelled after {start // _UNITS} of {total // _UNITS} maps.")
        result = np.asarray(explain(explain_model, explain_target, cancelled=cancelled,
                                    progress=lambda part, whole: report(start + _UNITS * part // max(whole, 1))),
                            dtype=np.float32)
        report(start + _UNITS)
        return result

    report(0)
    if original is None:
        original = make(model, int(target))
    original = np.asarray(original, dtype=np.float32)
    if original.ndim != 2 or np.ptp(original) == 0:
        raise ExplanationError("the explanation's map is constant, so the sanity check has nothing to compare; "
                               "explain another class or use another layer")
    if step is not None:
        step(0, "", original, 1.0)
    other = [c for c in range(int(model.num_classes)) if c != int(target)]
    random_class = int(rng.choice(other))
    random_map = make(model, random_class)

    ordered = units[::-1]
    maps, layers, done_units = [original], [""], 0
    with _randomisable(model) as (randomised, redraw):
        for count in counts:
            for path, _ in ordered[done_units:count]:
                redraw(path, rng)
            done_units = count
            layers.append(ordered[count - 1][0])
            maps.append(make(randomised, int(target)))
            if step is not None:
                step(count, layers[-1], maps[-1], spearman(original, maps[-1]))
    return Sanity(method=str(method), target=int(target), total_layers=len(units), randomised=[0, *counts],
                  layers=layers, spearman=[spearman(original, m) for m in maps],
                  ssim=[ssim(original, m) for m in maps], maps=maps, random_class=random_class,
                  random_class_spearman=spearman(original, random_map), random_class_ssim=ssim(original, random_map),
                  random_class_map=random_map, seed=seed, seconds=time.perf_counter() - started)


# --- Randomising in place ------------------------------------------------------------------

def _units(keras_model, prefix: str = "") -> list[tuple[str, Any]]:
    """The layers with float weights as (path, layer), in the order the model lists them; nested models' one by one."""
    import keras

    found = []
    for layer in keras_model.layers:
        path = prefix + layer.name
        if isinstance(layer, keras.Model) and layer.layers:
            found.extend(_units(layer, path + "/"))
        elif any(_is_float(variable) for variable in layer.weights):
            found.append((path, layer))
    return found


def _is_float(variable) -> bool:
    return np.dtype(variable.dtype).kind == "f"


# One check randomises at a time: the weights it re-draws are the model's own until it restores them.
_RANDOMISING = threading.Lock()


@contextlib.contextmanager
def _randomisable(model):
    """A shallow copy of `model` and ``redraw(path, rng)``, which re-draws a layer's weights (see `_redraw`).

    The weights are the loaded model's own, re-drawn in place and restored exactly (the values
    saved before each layer's first re-draw are assigned back) when the block ends, whether it ends
    normally, cancelled or by an error. So the functions already traced for the model (its first
    Grad-CAM) serve every step: no copy of the model and no new tracing. While the block runs, the
    model must serve nobody else (the window runs one TensorFlow job at a time; other checks wait).
    The copy predicts with Keras: LiteRT's converted file holds the trained weights.
    """
    saved: dict = {}

    def redraw(path: str, rng: np.random.Generator) -> None:
        _redraw(model.keras_model, path, rng, saved)

    with _RANDOMISING:
        randomised = copy.copy(model)
        randomised.runtime = model.runtime.keras
        try:
            yield randomised, redraw
        finally:
            for variable, values in saved.values():
                variable.assign(values)


def _redraw(keras_model, path: str, rng: np.random.Generator, saved: dict) -> None:
    """Re-draw the weights of the layer at `path` of `keras_model` with its own initialisers, seeded from `rng`.

    Each variable's values before its first re-draw go into `saved` (by ``id``, as (variable, values)).
    """
    layer = keras_model
    for name in path.split("/"):
        layer = layer.get_layer(name)
    for owner in layer._flatten_layers(include_self=True):
        for variable in [*owner._trainable_variables, *owner._non_trainable_variables]:
            if _is_float(variable):
                saved.setdefault(id(variable), (variable, np.array(variable.numpy())))
                variable.assign(_draw(owner, variable, rng))


def _draw(layer, variable, rng: np.random.Generator) -> np.ndarray:
    """New values for `variable` from `layer`'s initialiser for it ("kernel" -> kernel_initializer,
    "depthwise_kernel" -> depthwise_initializer); a variable without one gets its own values shuffled."""
    import keras

    name = variable.name
    initializer = None
    for attribute in (f"{name}_initializer", f"{name.removesuffix('_kernel')}_initializer"):
        candidate = getattr(layer, attribute, None)
        if isinstance(candidate, keras.initializers.Initializer):
            initializer = candidate
            break
    if initializer is None:
        values = np.array(variable.numpy())
        return rng.permutation(values.ravel()).reshape(values.shape)
    config = initializer.get_config()
    if "seed" in config:
        # A fresh initialiser with a seed of ours, so the same seed re-draws the same weights.
        initializer = type(initializer).from_config({**config, "seed": int(rng.integers(2**31))})
    with warnings.catch_warnings():
        # Keras warns when a seeded initialiser is called twice; each one here is called once.
        warnings.simplefilter("ignore")
        return np.asarray(initializer(tuple(variable.shape), dtype=variable.dtype))
