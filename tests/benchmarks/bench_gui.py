"""The window stays responsive: GUI-thread heartbeat gaps while LIME runs, and overlay re-render time."""
import os
import statistics
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

HEARTBEAT_MS = 10
GAP_TARGET_MS = 50
RENDER_TARGET_MS = 16
RENDER_REPEATS = 30
# A worst gap is one sample of the scheduler's mood: take the median over a few runs.
RUNS = 3


def _wait(signal, timeout_s=600):
    """Run the event loop until `signal` fires; return its arguments."""
    loop, got = QEventLoop(), []

    def fire(*args):
        got.append(args)
        loop.quit()

    signal.connect(fire)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(fire)
    if not got:
        raise RuntimeError(f"waited {timeout_s} s for a signal that never came")
    return got[0]


def _heartbeat(run):
    """Worst gap between ticks of a 10 ms GUI-thread timer while `run()` starts work that ends the loop."""
    gaps, clock, timer = [], QElapsedTimer(), QTimer()
    timer.setInterval(HEARTBEAT_MS)
    timer.timeout.connect(lambda: gaps.append(clock.restart()))
    clock.start()
    timer.start()
    run()
    timer.stop()
    # The wait from the last tick to the end counts too: a run shorter than two ticks (LIME on the
    # demo model sends each distinct mask to the model once) still has a gap to report.
    gaps.append(clock.elapsed())
    return max(gaps[1:] or gaps), len(gaps)


def _idle(seconds):
    def run():
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()
    return run


def _explain(window, method, **changes):
    import dataclasses

    panel = window.parameter_panel

    def run():
        panel.set_request(dataclasses.replace(panel.request(), method=method, **changes))
        started = time.perf_counter()
        window.parameter_panel.sig_explain_requested.emit()
        _wait(window.sig_explanation_shown)
        run.seconds = time.perf_counter() - started
    return run


def _window(settings_dir, model, images):
    """Open a window, and return it with the worst heartbeat gap while it loaded and warmed up."""
    from limelight.gui.main_window import MainWindow
    from limelight.gui.settings import Settings

    opened = {}

    def run():
        window = MainWindow(settings=Settings(os.path.join(settings_dir, f"{model}.ini")),
                            images=images, model=f"builtin:{model}")
        window.resize(1366, 768)
        window.show()
        opened["window"] = window
        # Until the worker is idle: the model loaded, the photo predicted, the graphs traced.
        while window.controller.busy or window.session.current_image() is None:
            _wait(window.controller.sig_busy_changed if window.controller.busy
                  else window.sig_image_shown)

    gap, _ = _heartbeat(run)
    return opened["window"], gap


def _select(window, path):
    """Select `path` in the browser and wait until its photo is shown.

    Until a photo not yet cached has loaded, the window keeps the previous one: waiting only for
    the path would explain and measure the previous photo.
    """
    if window.session.current_path() == path:
        return  # _window waited for the first photo
    shown = []

    def on_shown(shown_path):
        shown.append(shown_path)

    window.sig_image_shown.connect(on_shown)
    window.browser.select_path(path)
    if not shown:
        _wait(window.sig_image_shown)
    window.sig_image_shown.disconnect(on_shown)


def _render_times(window):
    """Median ms of a style change: to everything repainted, the window's own part, and core render."""
    import dataclasses

    from limelight.core.overlay import render

    result = window.session.shown_result()
    base = window.overlay_controls.style()
    styles = [dataclasses.replace(base, threshold=t, display=d)
              for t in np.linspace(0.05, 0.9, 6) for d in ("outline", "block", "heatmap")]
    through, own, alone = [], [], []
    for i in range(RENDER_REPEATS):
        style = styles[i % len(styles)]
        window.overlay_controls.set_style(style)
        start = time.perf_counter()
        window.overlay_controls.sig_style_changed.emit(style)
        handed = time.perf_counter()
        # Paints the view and whatever else the change touched (the overlay panel's histogram).
        QApplication.processEvents()
        through.append(time.perf_counter() - start)
        own.append(handed - start)
        start = time.perf_counter()
        render(result.frame, result.explanation, result.target, style)
        alone.append(time.perf_counter() - start)
    return [statistics.median(times) * 1e3 for times in (through, own, alone)]


def table() -> str:
    from limelight.core.images import load_image
    from limelight.core.zoo import weights_available
    from limelight.resources import resource_path

    app = QApplication.instance() or QApplication([])
    rows = ["### Desktop app responsiveness",
            "| measurement | value | baseline | baseline value | ratio |",
            "|---|---|---|---|---|"]
    chelsea = str(resource_path("samples", "chelsea.jpg"))
    with tempfile.TemporaryDirectory() as folder:
        big = os.path.join(folder, "astronaut_2048.png")
        from PIL import Image

        Image.fromarray(load_image(resource_path("samples", "astronaut.jpg"))).resize(
            (2048, 2048), Image.BICUBIC).save(big)
        idle_gap, _ = _heartbeat(_idle(3))
        models = ["demo_shapes"] if weights_available("demo_shapes") else []
        models.append("efficientnet_lite0")
        for model in models:
            started = time.perf_counter()
            window, load_gap = _window(folder, model, [chelsea, big])
            rows.append(f"| worst GUI-thread gap while {model} loads and traces its graphs "
                        f"(once per model, {time.perf_counter() - started:.1f} s) | {load_gap} ms | "
                        f"the same timer, app idle | {idle_gap} ms | "
                        f"{load_gap / max(idle_gap, 1):.1f}x |")
            samples = 1000 if model == "demo_shapes" else 300
            gaps, seconds = [], []
            for seed in range(RUNS):
                run = _explain(window, "lime", num_samples=samples, batch_size=50, seed=seed)
                gaps.append(_heartbeat(run)[0])
                seconds.append(run.seconds)
            gap = statistics.median(gaps)
            rows.append(f"| worst GUI-thread gap during LIME, {samples} samples on {model} "
                        f"(median of {RUNS} runs of {statistics.median(seconds):.1f} s; worst "
                        f"{max(gaps)} ms) | {gap:.0f} ms | the same timer, app idle | "
                        f"{idle_gap} ms | {gap / max(idle_gap, 1):.1f}x |")
            if model == "efficientnet_lite0":
                for path, name in ((chelsea, "451x300"), (big, "2048x2048")):
                    _select(window, path)
                    _explain(window, "lime", num_samples=100, batch_size=50, seed=0)()
                    view = window.image_view
                    # Fitted to the window, the view asks for an overlay of the size it shows; at
                    # 100 % (the large photo only) for one at the photo's full resolution.
                    for set_zoom in (view.zoom_fit, view.zoom_actual)[:2 if path == big else 1]:
                        set_zoom()
                        QApplication.processEvents()
                        shown = (f"{name} photo (LIME) at {view.zoom():.0%} zoom, overlay drawn at "
                                 f"{view.overlay_scale():.0%} of the photo")
                        through, own, alone = _render_times(window)
                        rows.append(f"| style change to everything repainted (view, histogram), {shown} | "
                                    f"{through:.1f} ms | core.overlay.render alone, full resolution | "
                                    f"{alone:.1f} ms | {through / alone:.2f}x |")
                        rows.append(f"| of which the window's own work (render, hand to the view), {shown} "
                                    f"| {own:.1f} ms | core.overlay.render alone, full resolution | "
                                    f"{alone:.1f} ms | {own / alone:.2f}x |")
            window.close()
    rows += ["", f"Offscreen Qt on this machine's CPU. Targets: worst gap <= {GAP_TARGET_MS} ms "
                 f"(the 10 ms timer's ideal is {HEARTBEAT_MS} ms), re-render <= {RENDER_TARGET_MS} ms "
                 f"(median of {RENDER_REPEATS} style changes, from the signal to the view updated)."]
    del app
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
