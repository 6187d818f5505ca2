"""Reopening an evaluated dataset in the window: File > Open Dataset… to the Dataset panel filled, from the cache."""
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.benchmarks.bench_gui import _wait  # noqa: E402

IMAGES = int(os.environ.get("LIMELIGHT_BENCH_DATASET_IMAGES", 2000))
MODEL = "builtin:demo_shapes"
# JPEG photos as a camera's, smaller: every byte is hashed to find its kept prediction.
PHOTO_SIZE = (240, 320)
TARGET_S = 1.0


def table() -> str:
    from limelight.gui.main_window import MainWindow
    from limelight.gui.settings import Settings

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        os.environ["LIMELIGHT_CACHE_DIR"] = str(folder / "cache")
        root = _photos(folder / "photos", IMAGES)
        window = MainWindow(settings=Settings(folder / "settings.ini"), model=MODEL)
        window.show()
        _wait(window.sig_model_loaded)
        first = _open_and_evaluate(app, window, root)
        reopen = min((_open_and_evaluate(app, window, root) for _ in range(2)), key=sum)
        window.close()
    scan, evaluate = reopen
    return "\n".join([
        f"### Reopening an evaluated dataset in the window ({IMAGES:,} JPEG photos of {PHOTO_SIZE[1]}x"
        f"{PHOTO_SIZE[0]}, {MODEL}, {os.cpu_count()} CPUs)",
        "| measurement | time | target |",
        "|---|---|---|",
        f"| first evaluation (every image predicted): folder read, then Evaluate to panel filled | "
        f"{first[0]:.2f} s + {sum(first) - first[0]:.2f} s | |",
        f"| reopen (every prediction kept): folder read | {scan:.2f} s | |",
        f"| reopen: Evaluate to the Dataset panel filled | {evaluate:.2f} s | |",
        f"| reopen, both (the user's click on Evaluate excluded) | {scan + evaluate:.2f} s | < {TARGET_S:.0f} s |",
        "",
        "Reopen is the best of two runs.",
    ])


def _open_and_evaluate(app, window, root) -> tuple[float, float]:
    """Seconds from Open Dataset to the mapping dialog, and from Evaluate to the panel showing the evaluation."""
    datasets = window.datasets
    datasets.mapping_dialog = None
    started = time.perf_counter()
    datasets.open_dataset(root)
    while datasets.mapping_dialog is None or not datasets.mapping_dialog.isVisible():
        app.processEvents()
        time.sleep(0.001)
    scanned = time.perf_counter()
    dialog = datasets.mapping_dialog
    dialog.evaluate_button.click()
    _wait(window.session.sig_evaluation_changed)  # connected after the panel: it has filled by now
    return scanned - started, time.perf_counter() - scanned


def _photos(root, count) -> Path:
    """`count` noise photos in two class folders named after two of the demo model's classes."""
    rng = np.random.default_rng(0)
    for index in range(count):
        folder = root / ("circle", "square")[index % 2]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (*PHOTO_SIZE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index:05d}.jpg", quality=90)
    return root


if __name__ == "__main__":
    print(table())
