"""Benchmark LIME against the pure-inference floor and the reference ``lime`` package, in time and memory."""
import inspect
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# lime_image wraps its sampling loop in tqdm; keep its progress bars out of the table.
os.environ.setdefault("TQDM_DISABLE", "1")

from limelight.core.lime import explain_lime  # noqa: E402
from limelight.core.segmentation import segment  # noqa: E402

N = 1000
# LIMELIGHT_BENCH_QUICK=1: fewer rounds and no batch-size sweep beyond the default's neighbours.
QUICK = os.environ.get("LIMELIGHT_BENCH_QUICK") == "1"
QUICK_REPEATS = 3
# explain_lime's own batch size, which the CLI uses too.
LIME_BATCH = inspect.signature(explain_lime).parameters["batch_size"].default
BATCH_SIZES = (16, 32) if QUICK else (8, 16, 32, 64, 128)
SWEEP_IMAGES = 256
MEMORY_SAMPLES = (500, 5000)
REPEATS = 1 if QUICK else 3
# (Limelight hide, lime_image hide_color) per model: the demo scenes are flat colours, where a
# superpixel's mean colour often is its colour, so they hide with grey.
HIDE = {"efficientnet_lite0": ("mean", None), "demo_shapes": ("grey", 128)}
REPO = Path(__file__).resolve().parents[2]


def table():
    """Measure everything in one run and return the markdown table."""
    rows, notes = [], []
    for name in ("efficientnet_lite0", "demo_shapes"):
        try:
            model, image = _load(name)
        except Exception as exc:  # a missing built-in model must not hide the other's figures
            rows.append(f"| {name} | skipped: {exc} | | | | | |")
            continue
        if name == "efficientnet_lite0":
            rows.append(_runtime_row(model, image))
        model_rows, note = _speed(name, model, image)
        rows += model_rows
        notes.append(note)
    rows += [] if QUICK else _memory()  # two fresh processes: minutes
    header = ["### LIME: time against the inference floor and lime_image, memory against sample count", "",
              "| Model | Measured | Value | Baseline | Baseline value | Ratio | Target |",
              "|---|---|---|---|---|---|---|"]
    note = (f"N={N} samples, quickshift (lime's defaults) unless noted, on the prepared chelsea photo for "
            f"EfficientNet-Lite0 and a demo scene (hidden with grey) for demo_shapes; floor = N images through "
            f"ClassifierModel.predict (through the same runtime as LIME) at the best batch size, measured before and after each Limelight run (the "
            f"value is their mean); times and ratios are medians of {REPEATS} rounds. {' '.join(notes)} "
            f"Memory: numpy peak (tracemalloc), and the growth of peak RSS over a LIME run in a fresh process.")
    return "\n".join(header + rows + ["", note])


def _load(name):
    from limelight.core.zoo import load_builtin

    model = load_builtin(name)
    if name == "efficientnet_lite0":
        from skimage import data

        image = model.prepare(data.chelsea())
    else:
        from limelight.core.demo import make_scene

        image = make_scene(np.random.default_rng(0), label=0).image
    return model, image


def _speed(name, model, image):
    default_batch = model.batch_size
    hide, hide_colour = HIDE[name]
    # The floor's batch size: the fastest ClassifierModel.predict, model chunking set to match.
    rates = {}
    for batch_size in BATCH_SIZES:
        rates[batch_size] = SWEEP_IMAGES / _floor(model, image, batch_size, SWEEP_IMAGES)
    best = max(rates, key=rates.get)
    runs = {key: [] for key in ("floor", "best", "unsegmented", "slic", "default", "lime10", "lime100")}
    floors = {key: [] for key in ("best", "unsegmented", "slic", "default")}
    for _ in range(REPEATS):
        # Each Limelight run sits between two floor runs and is compared with their mean, so load
        # from the other processes on this machine, which drifts over seconds, hits both sides alike.
        before = _floor(model, image, best, N)
        runs["floor"].append(before)
        for key, run in (("best", lambda: _lime(model, image, best, best, hide=hide)),
                         ("slic", lambda: _lime(model, image, best, best, hide=hide, method="slic")),
                         ("default", lambda: _lime(model, image, LIME_BATCH, default_batch, hide=hide))):
            seconds, parts = run()
            after = _floor(model, image, best, N)
            runs[key].append(seconds)
            floors[key].append((before + after) / 2)
            if key == "best":
                runs["unsegmented"].append(seconds - parts["segment"])
                floors["unsegmented"].append((before + after) / 2)
                quickshift_parts = parts
            before = after
        model.batch_size = default_batch
        runs["lime10"].append(_reference(model, image, 10, hide_colour))
        runs["lime100"].append(_reference(model, image, 100, hide_colour))
    runs = {key: np.array(values) for key, values in runs.items()}
    floors = {key: np.array(values) for key, values in floors.items()}

    def row(label, key, base_label, base, target):
        baseline = floors[key] if base == "floor" else runs[base]
        ratio = np.median(runs[key] / baseline)
        return (f"| {name} | {label} | {np.median(runs[key]):.2f} s | {base_label} | "
                f"{np.median(baseline):.2f} s | {ratio:.3f}x | {target} |")

    floor = f"inference floor, batch {best}"
    rows = [row(f"Limelight LIME, batch {best} (segment + perturb + predict + fit)", "best", floor, "floor",
                "<= 1.05x"),
            row("the same less its quickshift segmentation (perturb + predict + fit)", "unsegmented", floor,
                "floor", "<= 1.02x"),
            row(f"Limelight LIME, batch {best}, slic instead of quickshift", "slic", floor, "floor", "<= 1.05x"),
            row(f"Limelight LIME, defaults (batch {LIME_BATCH}, model batch {default_batch})", "default", floor,
                "floor", "<= 1.05x"),
            row("lime_image, batch 10", "lime10", "Limelight LIME, defaults", "default", "> 1x"),
            row("lime_image, batch 100", "lime100", "Limelight LIME, defaults", "default", "> 1x")]
    sweep = ", ".join(f"{b}: {r:.0f}" for b, r in rates.items())
    overhead = ", ".join(f"{k} {v:.3f} s" for k, v in quickshift_parts.items())
    return rows, (f"{name}: predict images/s by batch size {sweep} (best {best}); LIME's own work "
                  f"{overhead}.")


def _runtime_row(model, image, batch_size=32):
    """The perturbation runtime's forward pass against Keras predict_on_batch, interleaved rounds."""
    x = model.preprocess(np.repeat(image[None], batch_size, axis=0))
    forwards = {"runtime": model.runtime, "keras": model.keras_model.predict_on_batch}
    for forward in forwards.values():
        forward(x)  # warm-up
    seconds = {key: [] for key in forwards}
    for _ in range(QUICK_REPEATS if QUICK else 3 * REPEATS):
        for key, forward in forwards.items():
            started = time.perf_counter()
            forward(x)
            seconds[key].append(time.perf_counter() - started)
    ours, keras = (np.array(seconds[key]) for key in ("runtime", "keras"))
    return (f"| efficientnet_lite0 | forward pass, batch {batch_size}, {model.runtime.name} "
            f"(the perturbation runtime) | {np.median(ours) / batch_size * 1000:.2f} ms/image | Keras "
            f"predict_on_batch | {np.median(keras) / batch_size * 1000:.2f} ms/image | "
            f"{np.median(ours / keras):.3f}x | <= 0.7x |")


def _floor(model, image, batch_size, count):
    model.batch_size = batch_size
    batch = np.repeat(image[None], batch_size, axis=0)
    model.predict(batch)  # warm-up: tracing and thread pools
    started = time.perf_counter()
    for start in range(0, count, batch_size):
        model.predict(batch[:min(batch_size, count - start)])
    return time.perf_counter() - started


def _lime(model, image, batch_size, model_batch, *, hide, method="quickshift"):
    model.batch_size = model_batch
    model.predict(image[None].repeat(batch_size, axis=0))
    started = time.perf_counter()
    segments = segment(image, method=method)
    segmented = time.perf_counter()
    # LIME's own work, as lime_image does it: the faithfulness curves are a separate score.
    timings = explain_lime(image, model.predict, segments=segments, num_samples=N, batch_size=batch_size,
                           hide=hide, random_state=0, faithfulness=False).timings
    total = time.perf_counter() - started
    return total, {"segment": segmented - started, "perturb": timings["perturb"], "fit": timings["fit"]}


def _reference(model, image, batch_size, hide_color):
    from lime.lime_image import LimeImageExplainer

    started = time.perf_counter()
    LimeImageExplainer(random_state=0).explain_instance(image, model.predict, top_labels=5, hide_color=hide_color,
                                                        num_samples=N, batch_size=batch_size)
    return time.perf_counter() - started


def _memory():
    """Peak memory at 500 and 5000 samples: numpy's own allocations, then the whole process."""
    rows = []
    numpy_peaks = {n: _numpy_peak(n) for n in MEMORY_SAMPLES}
    low, high = (numpy_peaks[n] for n in MEMORY_SAMPLES)
    rows.append(f"| 224x224, predict = preprocessing only | numpy peak, N={MEMORY_SAMPLES[1]} | {high:.1f} MB "
                f"| numpy peak, N={MEMORY_SAMPLES[0]} | {low:.1f} MB | +{high - low:.1f} MB | <= +100 MB |")
    rss = {n: _process_peak(n) for n in MEMORY_SAMPLES}
    if all(v is not None for v in rss.values()):
        low, high = (rss[n] for n in MEMORY_SAMPLES)
        rows.append(f"| demo_shapes | process peak RSS growth during LIME, N={MEMORY_SAMPLES[1]} | {high:.1f} MB "
                    f"| same, N={MEMORY_SAMPLES[0]} | {low:.1f} MB | {high - low:+.1f} MB "
                    f"| <= +100 MB |")
    return rows


def _numpy_peak(num_samples):
    # A model-free predict that still converts each batch to float32 as preprocessing does, so
    # the figure is LIME's own memory at full resolution without minutes of inference.
    def predict(batch):
        floats = batch.astype(np.float32) / 255.0
        return np.stack([floats.mean(axis=(1, 2, 3)), 1 - floats.mean(axis=(1, 2, 3))], axis=1)

    image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    segments = segment(image, method="grid", n_segments=50)
    tracemalloc.start()
    try:
        explain_lime(image, predict, segments=segments, num_samples=num_samples, random_state=0,
                     faithfulness=False)
        return tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


_CHILD = """
import sys
import numpy as np
from limelight.core.demo import make_scene
from limelight.core.lime import explain_lime
from limelight.core.segmentation import segment
from limelight.core.zoo import load_builtin

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024

model = load_builtin("demo_shapes")
image = make_scene(np.random.default_rng(0), label=0).image
segments = segment(image, method="slic")
explain_lime(image, model.predict, segments=segments, num_samples=100, hide="grey", random_state=0,
             faithfulness=False)
before = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # resets the peak (VmHWM) to the current size, so loading TensorFlow does not count
explain_lime(image, model.predict, segments=segments, num_samples=int(sys.argv[1]), hide="grey", random_state=0,
             faithfulness=False)
print(status("VmHWM:") - before)
"""


def _process_peak(num_samples):
    done = subprocess.run([sys.executable, "-c", _CHILD, str(num_samples)], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if done.returncode != 0:
        return None
    return float(done.stdout.split()[-1])
