"""Grad-CAM against one forward+backward pass, tracing once, and Score-CAM against plain inference."""
import statistics
import time

import numpy as np
import tensorflow as tf

from limelight.core import cam
from limelight.core.cam import explain_cam
from limelight.core.zoo import load_builtin, weights_available

REPEATS = 15


def _median_seconds(*functions, repeats=REPEATS):
    """Median time of each function; calls alternate so that load from other processes hits all alike."""
    for function in functions:
        function()  # warm-up
    times = [[] for _ in functions]
    for _ in range(repeats):
        for function, spent in zip(functions, times):
            start = time.perf_counter()
            function()
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]


def _seconds(value):
    return f"{value:.2f} s" if value >= 1 else f"{value * 1e3:.1f} ms"


def _image(model, seed=0):
    if model.input_size == (64, 64):
        from limelight.core.demo import make_scene

        return make_scene(seed).image
    from PIL import Image

    from limelight.resources import resource_path

    return model.prepare(np.asarray(Image.open(resource_path("samples", "chelsea.jpg")).convert("RGB")))


def input_gradient_graph(model):
    """``gradient(x, target)``: the class score's gradient with respect to a batch of model inputs, in one
    compiled forward and backward pass without Limelight's graph runner (the floor of the gradient benches)."""
    keras_model = model.keras_model
    spec = tf.TensorSpec((None, *model.input_size, model.channels), tf.float32)

    @tf.function(input_signature=(spec, tf.TensorSpec((), tf.int32)))
    def gradient(x, target):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = keras_model(x, training=False)[:, target]
        return tape.gradient(score, x)

    return gradient


def _input_gradient(model):
    """The floor: the score's gradient with respect to the input, one forward and one full backward pass."""
    gradient = input_gradient_graph(model)
    return lambda image, target: gradient(tf.constant(model.preprocess(image[None])), target).numpy()


def _inference_floor(model, count, batch_size=32):
    """Plain batched inference of `count` images, as many as Score-CAM masks."""
    keras_model = model.keras_model
    spec = tf.TensorSpec((None, *model.input_size, model.channels), tf.float32)
    forward = tf.function(lambda x: keras_model(x, training=False), input_signature=(spec,))
    batch = model.preprocess(np.zeros((batch_size, *model.input_size, 3), np.uint8))

    def run():
        for start in range(0, count, batch_size):
            forward(batch[:min(batch_size, count - start)]).numpy()

    return run


def _models():
    names = ["efficientnet_lite0"] + (["demo_shapes"] if weights_available("demo_shapes") else [])
    return {name: load_builtin(name) for name in names}


def table() -> str:
    models = _models()
    rows = ["### Grad-CAM family",
            "| model | measurement | time | baseline | baseline time | ratio |",
            "|---|---|---|---|---|---|"]
    for name, model in models.items():
        image = _image(model)
        target = int(np.argmax(model.predict(image[None])[0]))
        floor = _input_gradient(model)
        for method in ("gradcam", "gradcam++"):
            took, floor_time = _median_seconds(lambda: explain_cam(image, model, method=method, target=target),
                                               lambda: floor(image, target))
            rows.append(f"| {name} | {method}, repeated call | {_seconds(took)} | input gradient "
                        f"(forward+backward) | {_seconds(floor_time)} | {took / floor_time:.2f}x |")

    for name in models:
        fresh = load_builtin(name)  # a new Keras model: nothing cached for it yet
        image = _image(fresh)
        start = time.perf_counter()
        explain_cam(image, fresh, target=1)
        first = time.perf_counter() - start
        traces = cam._tracing_count(fresh.keras_model)
        repeats = 5
        repeated, = _median_seconds(lambda: explain_cam(image, fresh, target=2), repeats=repeats)
        retraced = cam._tracing_count(fresh.keras_model) - traces
        rows.append(f"| {name} | first Grad-CAM after loading ({traces} trace, then {retraced} in "
                    f"{repeats + 1} more calls) | {_seconds(first)} | repeated call | {_seconds(repeated)} | "
                    f"{first / repeated:.0f}x |")

    for name, model in models.items():
        image = _image(model)
        calls = []
        explain_cam(image, model, method="scorecam", progress=lambda done, total: calls.append(total))
        masked = calls[-1]
        took, floor_time = _median_seconds(lambda: explain_cam(image, model, method="scorecam"),
                                           _inference_floor(model, masked), repeats=3)
        rows.append(f"| {name} | Score-CAM, {masked} masked images | {_seconds(took)} | inference of "
                    f"{masked} images | {_seconds(floor_time)} | {took / floor_time:.2f}x |")
    missing = "" if "demo_shapes" in models else " The demo model is not trained yet, so only EfficientNet-Lite0 ran."
    rows += ["", f"Medians of {REPEATS} warm calls (Score-CAM: 3), alternating with the baseline, on this machine's CPU; a Grad-CAM "
                 f"target of 1.5x the input gradient or less.{missing}"]
    return "\n".join(rows)
