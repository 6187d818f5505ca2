"""Start-up: wall and CPU time of the real launch (`limelight.gui.app.main`) until the window first paints."""
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 5
WALL_TARGET_S = 2.0
CPU_TARGET_S = 1.0

# The real launch, with one addition: at the main window's first paint, print the CPU time spent
# so far (the GUI thread's, and the whole process's, which includes the worker starting TensorFlow)
# and exit.
_LAUNCH = """
import os, sys, time
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow

app = QApplication([sys.argv[0], "-platform", "offscreen"])


class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow):
            print(time.thread_time(), time.process_time(), flush=True)
            os._exit(0)
        return False


first_paint = FirstPaint()
app.installEventFilter(first_paint)
from limelight.gui.app import main

main([])
"""


def _run(code: str, env: dict) -> tuple[float, float, str]:
    """Wall seconds until `code` prints its first line, its CPU seconds (user + system), and that line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True)
    line = process.stdout.readline()
    wall = time.perf_counter() - started
    process.wait(timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, line


def measure(runs: int = RUNS) -> dict:
    """Medians over `runs` launches: wall to first paint, GUI-thread and process CPU, and `python -c pass`."""
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, LIMELIGHT_SETTINGS=os.path.join(folder, "settings.ini"),
                   LIMELIGHT_LOG=os.path.join(folder, "limelight.log"), TF_CPP_MIN_LOG_LEVEL="2")
        bare = [_run("print(1)", env) for _ in range(runs)]
        launches = [_run(_LAUNCH, env) for _ in range(runs)]
    gui_cpu = [float(line.split()[0]) for *_, line in launches]
    process_cpu = [float(line.split()[1]) for *_, line in launches]
    return {"wall": statistics.median(w for w, _, _ in launches),
            "gui_cpu": statistics.median(gui_cpu), "process_cpu": statistics.median(process_cpu),
            "bare_wall": statistics.median(w for w, _, _ in bare),
            "bare_cpu": statistics.median(c for _, c, _ in bare)}


def table() -> str:
    m = measure()
    rows = ["### Start-up to the first painted window",
            f"Median of {RUNS} launches (offscreen, a fresh settings file, the default model loading).",
            "",
            "| measurement | value | target | baseline (`python -c pass`) | ratio |",
            "|---|---|---|---|---|",
            f"| wall time to the first paint | {m['wall']:.2f} s | {WALL_TARGET_S:.0f} s | "
            f"{m['bare_wall']:.2f} s | {m['wall'] / m['bare_wall']:.0f}x |",
            f"| CPU of the GUI thread to the first paint | {m['gui_cpu']:.2f} s | {CPU_TARGET_S:.0f} s | "
            f"{m['bare_cpu']:.2f} s | {m['gui_cpu'] / max(m['bare_cpu'], 0.01):.0f}x |",
            f"| CPU of the process to the first paint (includes the worker starting TensorFlow) | "
            f"{m['process_cpu']:.2f} s | | {m['bare_cpu']:.2f} s | "
            f"{m['process_cpu'] / max(m['bare_cpu'], 0.01):.0f}x |"]
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
