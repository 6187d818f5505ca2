"""Each gradient map against the forward+backward passes it is made of, plain and batched."""
import os
import statistics
import time

import numpy as np
import tensorflow as tf

from limelight.core.gradients import explain_gradients
from tests.benchmarks.bench_cam import _image, _median_seconds, _models, _seconds, input_gradient_graph

REPEATS = 5
# The demo model's maps take milliseconds, where other processes' load swings a median of 5 by 20%.
DEMO_REPEATS = 31
# LIMELIGHT_BENCH_QUICK=1: the demo model only (EfficientNet-Lite0's 50 copies at 224 px take minutes).
QUICK = os.environ.get("LIMELIGHT_BENCH_QUICK") == "1"
# SmoothGrad and its kin: the noisy copies' time may exceed the batched passes' by at most this.
NOISY_TARGET = 1.1


def _batched_input_gradients(model, count, batch_size):
    """The floor: `count` input gradients of the score, `batch_size` at a time, without Limelight's graph runner."""
    gradient = input_gradient_graph(model)

    def run(image, target):
        x = model.preprocess(np.repeat(image[None], batch_size, axis=0))
        for start in range(0, count, batch_size):
            gradient(tf.constant(x[:min(batch_size, count - start)]), target).numpy()

    return run


def _noisy_seconds(explain, floor, repeats):
    """Medians of a noisy map's time less its stability estimate, of that estimate, and of the floor, alternating."""
    explain(), floor()  # warm-up
    took, stability, floors = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        explanation = explain()
        took.append(time.perf_counter() - start)
        stability.append(explanation.timings.get("stability", 0.0))
        start = time.perf_counter()
        floor()
        floors.append(time.perf_counter() - start)
    maps = [whole - estimate for whole, estimate in zip(took, stability)]
    return statistics.median(maps), statistics.median(stability), statistics.median(floors)


def table() -> str:
    rows = ["### Gradient maps",
            "| model | measurement | time | baseline | baseline time | ratio |",
            "|---|---|---|---|---|---|"]
    batch_size = 16
    models = _models()
    if QUICK:
        models = {name: model for name, model in models.items() if name == "demo_shapes"}
    for name, model in models.items():
        repeats = DEMO_REPEATS if name == "demo_shapes" else REPEATS
        image = _image(model)
        target = int(np.argmax(model.predict(image[None])[0]))
        one = _batched_input_gradients(model, 1, 1)
        took, floor = _median_seconds(lambda: explain_gradients(image, model, method="gradients", target=target),
                                      lambda: one(image, target), repeats=repeats)
        rows.append(f"| {name} | gradients | {_seconds(took)} | one forward+backward pass | {_seconds(floor)} | "
                    f"{took / floor:.2f}x |")
        copies = 50
        batched = _batched_input_gradients(model, copies, batch_size)
        for method in ("smoothgrad", "smoothgrad-squared", "vargrad"):
            took, stability, floor = _noisy_seconds(
                lambda: explain_gradients(image, model, method=method, target=target, num_samples=copies,
                                          batch_size=batch_size, random_state=0),
                lambda: batched(image, target), repeats)
            rows.append(f"| {name} | {method}, {copies} noisy copies, less its stability estimate "
                        f"({_seconds(stability)}, timed apart) | {_seconds(took)} | {copies} passes, "
                        f"{batch_size} a batch | {_seconds(floor)} | {took / floor:.2f}x "
                        f"(target ≤ {NOISY_TARGET}x) |")
        for baseline in ("black", "blur"):
            steps = explain_gradients(image, model, method="integrated-gradients", baseline=baseline,
                                      target=target).params["completeness"]["steps"]
            path = _batched_input_gradients(model, steps + 1, batch_size)
            took, floor = _median_seconds(
                lambda: explain_gradients(image, model, method="integrated-gradients", baseline=baseline,
                                          target=target),
                lambda: path(image, target), repeats=repeats)
            rows.append(f"| {name} | Integrated Gradients from {baseline}, auto: {steps} steps | {_seconds(took)} | "
                        f"{steps + 1} passes, {batch_size} a batch | {_seconds(floor)} | {took / floor:.2f}x |")
    rows += ["", f"Medians of {REPEATS} warm calls ({DEMO_REPEATS} for the demo model), alternating with the baseline, on this machine's CPU. The baseline "
                 "calls the Keras model directly; the maps run through the graph runner that follows nested models."]
    return "\n".join(rows)
