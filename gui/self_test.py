"""`limelight --self-test`: prove headless that this installation can predict, explain and save."""
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

from limelight.core.errors import LimelightError

#: The bundled photo the check predicts on, and the class the built-in model must give it.
SAMPLE = "chelsea.jpg"
EXPECTED_CLASS = "Egyptian cat"
#: Enough LIME samples to run every stage of LIME, few enough to take a second or two.
LIME_SAMPLES = 100


class SelfTestFailed(Exception):
    """A check that failed; the message says which and why, in one line."""


def run() -> int:
    """Run every check, print one line saying how it went, and return the exit code.

    Returns
    -------
    int
        0 when everything passed, 1 otherwise (the reason goes to stderr).
    """
    started = time.perf_counter()
    try:
        with TemporaryDirectory(prefix="limelight-self-test-") as folder:
            summary = _check_everything(Path(folder))
    except SelfTestFailed as failure:
        print(f"limelight self-test failed: {failure}", file=sys.stderr)
        return 1
    print(f"limelight self-test passed in {time.perf_counter() - started:.1f} s: {summary}")
    return 0


def _check_everything(folder: Path) -> str:
    with _step("starting Qt offscreen"):
        _check_qt()

    with _step("loading the built-in model"):
        from limelight.core.models import import_tensorflow
        from limelight.core.zoo import DEFAULT_MODEL, load_builtin

        import_tensorflow()
        model = load_builtin(DEFAULT_MODEL)

    with _step(f"predicting {SAMPLE}"):
        from limelight.core.images import load_image
        from limelight.resources import resource_path

        photo = load_image(resource_path("samples", SAMPLE))
        label, name, probability = model.top_classes(photo, k=1)[0]
        # The right answer on a known photo is what shows the weights, labels and
        # preprocessing all arrived intact.
        _check(name == EXPECTED_CLASS, f"expected '{EXPECTED_CLASS}', the model said '{name}' "
                                       f"({probability:.0%})")
        image = model.prepare(photo)

    with _step("segmenting"):
        from limelight.core.segmentation import SEGMENTATION_DEFAULTS, segment, segment_count

        # Every method the app offers, because scikit-image imports each one lazily.
        segmentations = {method: segment(image, method=method) for method in SEGMENTATION_DEFAULTS}
        for method, segments in segmentations.items():
            _check(segment_count(segments) > 1, f"{method} found a single superpixel")

    with _step(f"explaining with LIME ({LIME_SAMPLES} samples)"):
        from limelight.core.lime import explain_lime

        lime = explain_lime(image, model.predict, segments=segmentations["quickshift"],
                            labels=[label], num_samples=LIME_SAMPLES, random_state=0)
        weights = lime.weights[label]
        _check(np.all(np.isfinite(weights)) and np.any(weights != 0),
               "the superpixel weights are not finite numbers, or all zero")

    with _step("explaining with Grad-CAM"):
        from limelight.core.cam import explain_cam

        cam = explain_cam(image, model, method="gradcam", target=label)
        _check(np.all(np.isfinite(cam.heatmap)) and cam.heatmap.max() > 0,
               f"the map of layer {cam.layer} is not finite, or empty")

    with _step("rendering and saving annotated PNGs"):
        from limelight.core.overlay import OverlayStyle, render

        framed = model.frame(photo)
        drawings = {"lime": render(framed, lime, label, OverlayStyle(num_features=5)),
                    "gradcam": render(framed, cam, label, OverlayStyle(display="heatmap"))}
        for method, drawing in drawings.items():
            _check(np.any(drawing != framed), f"the {method} overlay left the photo unchanged")
            _check_saved(folder / f"{Path(SAMPLE).stem}_{method}.png", drawing)

    return (f"{model.name} says {name} ({probability:.0%}) for {SAMPLE}; LIME ({LIME_SAMPLES} "
            f"samples) and Grad-CAM ({cam.layer}) drawn, saved as PNG and read back")


def _check_qt() -> None:
    # Headless whatever the desktop: the check must pass over SSH and in CI.
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication

    # Importing the window pulls in every part of it, matplotlib's Qt canvas included.
    from limelight.gui.main_window import app_icon

    app = QApplication.instance() or QApplication([sys.argv[0]])
    _check(app.platformName() == "offscreen", f"Qt started the '{app.platformName()}' platform")
    _check(not app_icon().pixmap(64, 64).isNull(),
           "the app icon did not draw; Qt's SVG plugins are missing")


def _check_saved(path: Path, drawing: np.ndarray) -> None:
    from limelight.core.images import open_image
    from limelight.core.report import save_annotated

    save_annotated(path, drawing)
    with open_image(path) as saved:
        _check(saved.format == "PNG", f"{path.name} was written as {saved.format}, not PNG")
        pixels = np.asarray(saved.convert("RGB"))
    _check(pixels.shape == drawing.shape and np.array_equal(pixels, drawing),
           f"{path.name} does not read back as the overlay that was saved")


def _check(condition, reason: str) -> None:
    if not condition:
        raise SelfTestFailed(reason)


@contextmanager
def _step(what: str):
    """Name the step in the message of whatever fails inside it."""
    try:
        yield
    except Exception as error:
        # The user's own kind of error already reads as a sentence; anything else is a bug or a
        # broken installation, and its type says which module or file is missing.
        reason = str(error) if isinstance(error, (SelfTestFailed, LimelightError)) else (
            f"{type(error).__name__}: {error}")
        raise SelfTestFailed(f"{what}: {' '.join(reason.split())}") from error
