"""Loading the built-in model: the first build from the PyTorch weights against a load from the cache."""
import os
import subprocess
import sys
import tempfile

SCRIPT = """
import time, sys
start = time.perf_counter()
from limelight.core.models import import_tensorflow
import_tensorflow()
imported = time.perf_counter()
from limelight.core.zoo import load_builtin
model = load_builtin("efficientnet_lite0")
loaded = time.perf_counter()
import numpy as np
model.predict(np.zeros((1, 224, 224, 3), np.uint8))
predicted = time.perf_counter()
print(imported - start, loaded - imported, predicted - loaded)
"""


def _run(cache: str) -> list[float]:
    env = dict(os.environ, LIMELIGHT_CACHE_DIR=cache, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return [float(x) for x in out]


def table() -> str:
    with tempfile.TemporaryDirectory() as cache:
        first = _run(cache)
        cached = min((_run(cache) for _ in range(3)), key=lambda r: r[1])
    rows = [
        "### Built-in model loading (EfficientNet-Lite0)",
        "| step | first launch (build from weights) | later launches (cached .keras) | ratio |",
        "|---|---|---|---|",
        f"| import TensorFlow | {first[0]:.2f} s | {cached[0]:.2f} s | |",
        f"| load model | {first[1]:.2f} s | {cached[1]:.2f} s | {first[1] / cached[1]:.2f}x |",
        f"| first prediction (traces the graph) | {first[2]:.2f} s | {cached[2]:.2f} s | |",
        "",
        "Each column runs in a fresh process; the cached column is the best of three.",
    ]
    return "\n".join(rows)
