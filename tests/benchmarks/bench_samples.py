"""Benchmark the default LIME (samples="auto") on the sample photos against lime 0.2.0.1 at its defaults.

Per photo: the samples auto draws, how far 8 real reruns agree (tie-aware, and Jaccard for
comparison), the time of one run against lime's, and how well the bootstrap estimate tracks the
reruns' real agreement. ``LIMELIGHT_BENCH_QUICK=1`` skips the estimator's validation at fixed
sample counts. The machine is shared, so lime's runs alternate with Limelight's, times are medians,
and CPU time (the process's, all threads) is reported beside wall time: load stretches the clock
far more than the work.
"""
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# lime_image wraps its sampling loop in tqdm; keep its progress bars out of the table.
os.environ.setdefault("TQDM_DISABLE", "1")

from limelight.core.lime import PredictionCache, explain_lime  # noqa: E402
from limelight.core.scores import STABLE, TOP_K, rerun_agreement  # noqa: E402
from limelight.core.segmentation import segment  # noqa: E402

QUICK = os.environ.get("LIMELIGHT_BENCH_QUICK") == "1"
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
SEEDS = tuple(range(8))
# The sample counts at which the estimate is compared with the reruns' measured agreement.
VALIDATION_COUNTS = (250, 500, 1000, 2000)
LIME_RUNS = 4


def table():
    """Measure everything in one run and return the markdown table."""
    from limelight.core.zoo import load_builtin

    loads = [os.getloadavg()[0]]
    model = load_builtin("efficientnet_lite0")
    model.predict(np.zeros((48, *model.input_size, 3), np.uint8))  # warm-up
    # lime's batches of 10 (and its last one) trace Keras' function once; not part of any run.
    model.keras_model.predict_on_batch(model.preprocess(np.zeros((10, *model.input_size, 3), np.uint8)))
    rows, estimates = [], []
    for name in PHOTOS:
        row, pairs = _photo(model, name)
        print(row, file=sys.stderr, flush=True)  # progress: the whole table takes minutes
        rows.append(row)
        estimates += pairs
        loads.append(os.getloadavg()[0])
    header = ["### Default LIME (samples=\"auto\") against lime 0.2.0.1 at its defaults", "",
              "| photo | superpixels | auto: median samples (range) | reruns' tie-aware agreement (target "
              f">= {STABLE}) | reruns' Jaccard | auto's estimate | wall time, auto / lime | wall ratio (target "
              "<= 0.33x) | CPU time, auto / lime | CPU ratio | why auto stopped (seed 0) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines = header + rows
    if estimates:
        from scipy.stats import spearmanr

        estimated, measured = np.array(estimates).T
        lines += ["", f"Estimator against {len(SEEDS)} real reruns at {', '.join(map(str, VALIDATION_COUNTS))} "
                      f"samples on each photo: rank correlation {spearmanr(estimated, measured).statistic:.2f}, "
                      f"mean absolute error {np.abs(estimated - measured).mean():.3f}, largest "
                      f"{np.abs(estimated - measured).max():.3f}, mean signed error (bias) "
                      f"{(estimated - measured).mean():+.3f}."]
    lines += ["", f"EfficientNet-Lite0 (built in, runtime: {model.runtime.description}), the sample photos at "
                  f"224x224, quickshift with lime's defaults, the same superpixels for both. Limelight: "
                  f"explain_lime's defaults (samples=\"auto\", top 5 classes, batch 48, hide = mean colour), "
                  f"faithfulness off as lime has none, seeds {SEEDS[0]}-{SEEDS[-1]}, each run with a fresh "
                  f"prediction cache. Agreement: over every ordered pair of the {len(SEEDS)} runs, the share "
                  f"of one's top {TOP_K} that the other ranks in its top {TOP_K} or ties with its {TOP_K}th "
                  f"place (within 0.1 of its largest weight). lime: LimeImageExplainer().explain_instance "
                  f"at its defaults (1000 samples, batch 10, top 5 labels) with the model's Keras forward "
                  f"pass (predict_on_batch, the fastest a lime user can pass: Keras' own predict adds its "
                  f"per-call set-up to each of lime's 100 batches), {LIME_RUNS} runs, each just before one of "
                  f"Limelight's. Times are medians of wall time (perf_counter) and of the process's CPU time "
                  f"over all its threads (process_time). The "
                  f"machine's load (1-minute average on {os.cpu_count()} cores) at the start and after each "
                  f"photo: {' / '.join(f'{load:.1f}' for load in loads)}."]
    return "\n".join(lines)


def _photo(model, name):
    import limelight.resources
    from limelight.core.images import load_image

    image = model.prepare(load_image(Path(limelight.resources.__file__).parent / "samples" / f"{name}.jpg"))
    segments = segment(image, method="quickshift")
    runs, seconds, caches, lime_seconds = [], [], [], []
    for seed in SEEDS:
        # lime's runs alternate with Limelight's, so both see the machine's load alike.
        if seed % (len(SEEDS) // LIME_RUNS) == 0:
            lime_seconds.append(_timed(_lime, model, image, segments)[1])
        cache = PredictionCache(model.predict, image, segments)
        explanation, spent = _timed(explain_lime, image, model.predict, segments=segments, random_state=seed,
                                    faithfulness=False, cache=cache)
        runs.append(explanation)
        seconds.append(spent)
        caches.append(cache)
    label = runs[0].labels[0]
    agreement, jaccard = rerun_agreement([run.weights[label] for run in runs], TOP_K)
    estimate = np.mean([run.stability[label].value for run in runs])
    samples = [run.num_samples for run in runs]
    (ours_wall, ours_cpu), (lime_wall, lime_cpu) = np.median(seconds, axis=0), np.median(lime_seconds, axis=0)
    row = (f"| {name} | {segments.max() + 1} | {np.median(samples):.0f} ({min(samples)}-{max(samples)}) | "
           f"{agreement:.2f} | {jaccard:.2f} | {estimate:.2f} | {ours_wall:.2f} s / {lime_wall:.2f} s | "
           f"{ours_wall / lime_wall:.2f}x | {ours_cpu:.2f} s / {lime_cpu:.2f} s | {ours_cpu / lime_cpu:.2f}x | "
           f"{runs[0].params['auto']['stopped']} |")
    pairs = []
    if not QUICK:
        # The same seeds and caches: a fixed count reuses the samples the auto run already predicted.
        for count in VALIDATION_COUNTS:
            fixed = [explain_lime(image, model.predict, segments=segments, labels=[label], num_samples=count,
                                  random_state=seed, faithfulness=False, cache=cache)
                     for seed, cache in zip(SEEDS, caches)]
            measured = rerun_agreement([run.weights[label] for run in fixed], TOP_K)[0]
            pairs.append((np.mean([run.stability[label].value for run in fixed]), measured))
    return row, pairs


def _timed(function, *args, **kwargs):
    """Return function's result and the (wall, CPU) seconds it took; CPU time counts all the process's threads."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, (time.perf_counter() - wall, time.process_time() - cpu)


def _lime(model, image, segments):
    """One lime run at its defaults, with the model's Keras forward pass."""
    from lime.lime_image import LimeImageExplainer

    def keras_predict(batch):
        return np.asarray(model.keras_model.predict_on_batch(model.preprocess(batch)))

    return LimeImageExplainer().explain_instance(image, keras_predict, segmentation_fn=lambda _: segments)
