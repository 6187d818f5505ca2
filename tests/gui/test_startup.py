"""Start-up: importing the window loads none of the heavy libraries, which wait until first needed."""
import os
import subprocess
import sys

import pytest

# Each costs from half a second to several seconds of CPU at import; the window must show first.
HEAVY = ("tensorflow", "keras", "sklearn", "matplotlib", "scipy")


@pytest.mark.parametrize("module", ["limelight.gui.app", "limelight.gui.main_window"])
def test_importing_the_window_loads_no_heavy_library(module):
    code = f"import sys, {module}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_building_the_window_loads_no_heavy_library_before_it_paints(shapes):
    # The histogram and plots wait for their first data, the model for the first paint.
    code = ("import sys\n"
            "from PySide6.QtWidgets import QApplication\n"
            "app = QApplication(['limelight', '-platform', 'offscreen'])\n"
            "from limelight.gui.main_window import MainWindow\n"
            "window = MainWindow(images=[sys.argv[1]], model='builtin:demo_shapes')\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
            "window.close()\n")
    out = subprocess.run([sys.executable, "-c", code, shapes[0][0]], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_after_a_model_loads_no_method_imports_anything_while_it_runs():
    # Loading an extension module holds the interpreter lock, so an import during the first run
    # stalls the window's progress; the worker's warm-up imports them while 'Loading' shows.
    code = ("import sys\n"
            "import numpy as np\n"
            "from limelight.core.methods import METHODS\n"
            "from limelight.core.pipeline import ExplainRequest, explain\n"
            "from limelight.core.zoo import load_builtin\n"
            "from limelight.gui.worker import _warm_up\n"
            "model = load_builtin('demo_shapes')\n"
            "_warm_up(model, lambda: False)\n"
            "before = set(sys.modules)\n"
            "photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)\n"
            "for method in METHODS:\n"
            "    explain(photo, model, ExplainRequest(method=method, num_samples=40, seed=0))\n"
            "# Tracing a TensorFlow function writes a module of its own: that is tracing, not an import.\n"
            "print(sorted(m for m in set(sys.modules) - before if not m.startswith('__autograph_generated')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert out.stdout.strip() == "[]"
