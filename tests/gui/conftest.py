"""GUI test fixtures: windows on temporary settings, small model files, and a leak check on every test."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from limelight.gui.settings import Settings  # noqa: E402

DEMO = "builtin:demo_shapes"
MODEL_TIMEOUT_MS = 60_000
JOB_TIMEOUT_MS = 60_000


@pytest.fixture(autouse=True)
def private_files(tmp_path, monkeypatch):
    """Point the default settings file and the log at temporary files: no test touches the user's."""
    from limelight.gui.crash import LOG_ENV
    from limelight.gui.settings import SETTINGS_ENV

    monkeypatch.setenv(SETTINGS_ENV, str(tmp_path / "settings.ini"))
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "log" / "limelight.log"))


@pytest.fixture(autouse=True)
def no_leaks(qapp):
    """Fail a test that leaves a worker thread running or a top-level window open."""
    from limelight.gui.controller import running_controllers

    yield
    QApplication.processEvents()
    windows = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    threads = running_controllers()
    for window in windows:
        window.close()
    for controller in threads:
        controller.shutdown(10_000)
    QApplication.processEvents()
    assert not threads, f"a test left {len(threads)} worker thread(s) running"
    assert not windows, ("a test left windows open: "
                         + ", ".join(w.windowTitle() or type(w).__name__ for w in windows))


@pytest.fixture
def settings(tmp_path):
    """Settings in a temporary INI file, so no test reads or writes the user's."""
    return Settings(tmp_path / "settings.ini")


@pytest.fixture
def shapes(tmp_path):
    """Four small synthetic photos of known shapes, as files: [(path, label, mask), ...].

    The mask marks the object's pixels at the model's 64x64 input resolution.
    """
    from limelight.core.demo import make_scene

    rng = np.random.default_rng(7)
    folder = tmp_path / "shapes"
    folder.mkdir()
    files = []
    for index, label in enumerate((0, 1, 2, 3)):
        scene = make_scene(rng, label=label, size=64)
        # Larger than the model's input, as real photos are: the overlay is drawn at this size.
        path = folder / f"shape{index}.png"
        Image.fromarray(scene.image).resize((128, 128), Image.NEAREST).save(path)
        files.append((str(path), label, scene.mask))
    return files


@pytest.fixture
def make_window(qtbot, settings):
    """Open main windows on the temporary settings; each is closed (worker stopped) after the test."""
    from limelight.gui.main_window import MainWindow

    windows = []

    def make(*, images=None, model=DEMO, wait=True, settings_=None, **kwargs):
        window = MainWindow(settings=settings_ or settings, images=images, model=model, **kwargs)
        windows.append(window)
        if wait:
            with qtbot.waitSignal(window.sig_model_loaded, timeout=MODEL_TIMEOUT_MS):
                window.show()
        else:
            window.show()
        return window

    yield make
    for window in windows:
        window.close()


@pytest.fixture(scope="session")
def model_files(tmp_path_factory):
    """Small model files: a safe one and one with a Lambda layer (runs code when loaded)."""
    import keras

    folder = tmp_path_factory.mktemp("models")

    def classifier(with_lambda):
        inputs = keras.Input((32, 32, 3))
        x = inputs
        if with_lambda:
            x = keras.layers.Lambda(lambda t: t * 1.0)(x)
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))

    safe, lambda_model = folder / "small.keras", folder / "with_lambda.keras"
    classifier(False).save(safe)
    classifier(True).save(lambda_model)
    broken = folder / "broken.keras"
    broken.write_bytes(b"this is not a zip archive")
    return {"safe": str(safe), "lambda": str(lambda_model), "broken": str(broken)}
