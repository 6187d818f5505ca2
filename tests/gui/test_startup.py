"""Start-up: importing the window loads none of the heavy libraries, which wait until first needed."""
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
