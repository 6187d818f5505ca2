"""Benchmark samples="auto" against lime: samples and time to a stable top 5, and deletion AUC at equal samples."""
import hashlib
import os
import time
from itertools import combinations

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# lime_image wraps its sampling loop in tqdm; keep its progress bars out of the table.
os.environ.setdefault("TQDM_DISABLE", "1")

from limelight.core.lime import PredictionCache, explain_lime  # noqa: E402
from limelight.core.scores import add_faithfulness, faithfulness, jaccard, top_positive  # noqa: E402
from limelight.core.segmentation import segment  # noqa: E402

IMAGES = ("chelsea", "coffee", "astronaut", "rocket")
SEEDS = (0, 1, 2, 3)
TARGET = 0.9
TOP_K = 5
# lime's sample counts, doubling. Its masks for N samples are the first N of its masks for more,
# and Limelight draws lime's own masks for a seed, so lime's runs get the model's predictions for
# the perturbed images Limelight already showed it from a cache keyed by the images' bytes, with
# lime's algorithm untouched. lime's time is measured on a separate, uncached run.
LIME_COUNTS = (250, 500, 1000, 2000, 4000)
BATCH = 16  # ClassifierModel's own batch size, for both


def table():
    """Measure everything in one run and return the markdown table."""
    from limelight.core.zoo import load_builtin

    model = load_builtin("efficientnet_lite0")
    model.predict(np.zeros((BATCH, *model.input_size, 3), np.uint8))  # warm-up: tracing and thread pools
    rows = [_row(model, name) for name in IMAGES]
    header = ["### Samples to a stable top 5: Limelight samples=\"auto\" against lime 0.2.0.1", "",
              "| image | superpixels | Limelight auto: samples | Jaccard | time | lime: samples to Jaccard "
              f">= {TARGET} | Jaccard there | time | samples, Limelight / lime | deletion AUC at equal "
              "samples, Limelight / lime (random order) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    note = (f"EfficientNet-Lite0 (built in), skimage.data photos at 224x224, quickshift with lime's defaults, the "
            f"same superpixels for both, hide = mean colour, the top class. Jaccard: mean pairwise Jaccard index of "
            f"the top-{TOP_K} positive superpixels over seeds {', '.join(map(str, SEEDS))}. Limelight: "
            f"samples=\"auto\" (target {TARGET}, cap 4000), samples and time are means over the seeds. lime: "
            f"LimeImageExplainer.explain_instance at {', '.join(map(str, LIME_COUNTS))} samples, batch {BATCH}, fed "
            f"from a cache of the model's predictions; its time is one uncached run (seed {SEEDS[0]}) at the "
            f"samples shown. A seed draws the same samples in both, so at equal samples the weights agree to "
            f"1e-9. Deletion AUC (Petsiuk et al.): 20 steps hiding superpixels in weight order, lower is better; "
            f"both at Limelight's samples for each seed, mean over seeds.")
    return "\n".join(header + rows + ["", note])


def _row(model, name):
    from skimage import data

    image = model.prepare(getattr(data, name)())
    segments = segment(image, method="quickshift")
    label = int(np.argmax(model.predict(image[None])[0]))
    shared = _CachedPredict(model.predict)
    ours = [_limelight(shared, image, segments, label, seed) for seed in SEEDS]
    our_samples = np.mean([run.num_samples for run, _ in ours])
    our_jaccard = _agreement([run.top_segments(label, TOP_K) for run, _ in ours])
    our_time = np.mean([seconds for _, seconds in ours])

    lime_weights = _lime(shared, image, segments, label, [run.num_samples for run, _ in ours])
    agreement = {count: _agreement([top_positive(lime_weights[seed, count], TOP_K) for seed in SEEDS])
                 for count in LIME_COUNTS}
    reached = [count for count in LIME_COUNTS if agreement[count] >= TARGET]
    needed = reached[0] if reached else LIME_COUNTS[-1]
    lime_time = _lime_seconds(model, image, segments, label, needed)
    lime_samples = f"{needed}" if reached else f"not reached by {needed}"

    # Faithfulness of both at Limelight's sample count per seed, through one cache so that both
    # share the random-order baseline and the endpoints.
    curves = PredictionCache(model.predict, image, segments)
    ours_deletion, lime_deletion, random_auc = [], [], []
    for seed, (run, _) in zip(SEEDS, ours):
        measured = add_faithfulness(run, curves, [label]).faithfulness[label]
        theirs = faithfulness(lambda masks: curves.predict(masks, batch_size=BATCH),
                              lime_weights[seed, run.num_samples], label, random_state=run.params["seed"])
        ours_deletion.append(measured.deletion_auc)
        lime_deletion.append(theirs.deletion_auc)
        random_auc.append(measured.random_auc)
    ratio = our_samples / needed
    ratio_text = f"{ratio:.2f}" if reached else f"< {ratio:.2f}" if our_jaccard >= TARGET else "n/a (neither reached)"
    return (f"| {name} | {segments.max() + 1} | {our_samples:.0f} | {our_jaccard:.2f} | {our_time:.1f} s | "
            f"{lime_samples} | {agreement[needed]:.2f} | {lime_time:.1f} s | {ratio_text} | "
            f"{np.mean(ours_deletion):.3f} / {np.mean(lime_deletion):.3f} ({np.mean(random_auc):.3f}) |")


def _limelight(predict, image, segments, label, seed):
    # Each seed's perturbed images are new to the shared cache, so this time is uncached.
    started = time.perf_counter()
    explanation = explain_lime(image, predict, segments=segments, labels=[label], num_samples="auto",
                               random_state=seed, faithfulness=False)
    return explanation, time.perf_counter() - started


def _lime(predict, image, segments, label, extra_counts):
    """lime's weights for `label` per (seed, sample count)."""
    weights = {}
    for seed, extra in zip(SEEDS, extra_counts):
        for count in sorted({*LIME_COUNTS, extra}):
            weights[seed, count] = _lime_weights(predict, image, segments, label, seed, count)
    return weights


def _lime_seconds(model, image, segments, label, count):
    """Seconds of one lime run with the model itself, no cache."""
    started = time.perf_counter()
    _lime_weights(model.predict, image, segments, label, SEEDS[0], count)
    return time.perf_counter() - started


def _lime_weights(predict, image, segments, label, seed, count):
    from lime.lime_image import LimeImageExplainer

    explanation = LimeImageExplainer(random_state=seed).explain_instance(
        image, predict, labels=(label,), top_labels=None, hide_color=None, num_samples=count,
        batch_size=BATCH, segmentation_fn=lambda _: segments)
    vector = np.zeros(segments.max() + 1)
    for feature, weight in explanation.local_exp[label]:
        vector[feature] = weight
    return vector


class _CachedPredict:
    """model.predict with a cache keyed by each image's bytes; counts the images it predicted."""

    def __init__(self, predict):
        self.predict, self.known, self.images = predict, {}, 0

    def __call__(self, batch):
        batch = np.asarray(batch)
        keys = [hashlib.sha1(image.tobytes()).digest() for image in batch]
        missing = [i for i, key in enumerate(keys) if key not in self.known]
        if missing:
            for i, probabilities in zip(missing, self.predict(batch[missing])):
                self.known[keys[i]] = probabilities
            self.images += len(missing)
        return np.stack([self.known[key] for key in keys])


def _agreement(tops):
    return float(np.mean([jaccard(a, b) for a, b in combinations(tops, 2)]))
