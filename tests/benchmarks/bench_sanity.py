"""The Grad-CAM sanity check (eight randomisation steps and a random class) against one Grad-CAM."""
import statistics
import time

from limelight.core.cam import explain_cam
from limelight.core.pipeline import ExplainRequest, check_sanity
from limelight.core.sanity import STEPS
from limelight.core.zoo import load_builtin, weights_available
from tests.benchmarks.bench_cam import _image, _median_seconds, _seconds

#: The issue's target for EfficientNet-Lite0 on a CPU, in seconds.
TARGET_SECONDS = 2.0
REPEATS = 3


def table() -> str:
    names = ["efficientnet_lite0"] + (["demo_shapes"] if weights_available("demo_shapes") else [])
    rows = ["### Sanity check (Grad-CAM)",
            "| model | measurement | time | baseline | baseline time | ratio |",
            "|---|---|---|---|---|---|"]
    for name in names:
        model = load_builtin(name)  # a new Keras model: nothing traced or copied for it yet
        image = _image(model)
        start = time.perf_counter()
        explanation = explain_cam(image, model)
        first_gradcam = time.perf_counter() - start
        target = explanation.target

        def check():
            return check_sanity(image, model, explanation, ExplainRequest(method="gradcam"), target=target,
                                random_state=0)

        one, = _median_seconds(lambda: explain_cam(image, model, target=target))
        start = time.perf_counter()
        result = check()
        first = time.perf_counter() - start
        repeated = statistics.median(_timed(check) for _ in range(REPEATS))
        rows.append(f"| {name} | first check of the model ({len(result.maps) - 1} steps of {result.total_layers} "
                    f"layers, right after its first Grad-CAM, {_seconds(first_gradcam)}, which traced it) | "
                    f"{_seconds(first)} | one Grad-CAM | {_seconds(one)} | {first / one:.0f}x |")
        rows.append(f"| {name} | later checks (median of {REPEATS}) | {_seconds(repeated)} | one Grad-CAM | "
                    f"{_seconds(one)} | {repeated / one:.0f}x |")
    rows += ["", f"{STEPS} randomisation steps and one random class; 'one Grad-CAM' is the median of warm calls. The check "
                 "randomises the model in place and reuses its traced Grad-CAM: no copy, no new tracing. "
                 f"Target: {TARGET_SECONDS:g} s for EfficientNet-Lite0 on this machine's CPU."]
    return "\n".join(rows)


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start
