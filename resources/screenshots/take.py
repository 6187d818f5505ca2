"""Take the README screenshots of the main window: run under Xvfb, e.g.

    xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python resources/screenshots/take.py

Writes main_window.png (a Grad-CAM explanation) and lime_split.png (LIME, original vs
explained) next to this file, at the screen's size; `--out FOLDER` writes elsewhere, and
`--all` also keeps the in-between states (loading, an out-of-date result, running, a captioned save,
compare, trust dialog).
"""
import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent))
    parser.add_argument("--all", action="store_true", help="also save the in-between states")
    args = parser.parse_args(argv)
    out = Path(args.out)

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    app.setApplicationName("Limelight")
    from limelight.gui.main_window import MainWindow, app_icon
    from limelight.gui.settings import Settings
    from limelight.gui.trust_dialog import TrustDialog

    app.setWindowIcon(app_icon())

    def pause(ms=300):
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait(signal, timeout_s=300):
        loop, got = QEventLoop(), []
        signal.connect(lambda *a: (got.append(a), loop.quit()))
        QTimer.singleShot(timeout_s * 1000, loop.quit)
        loop.exec()
        if not got:
            raise RuntimeError("the window never answered")

    def save(widget, name, always=False):
        if always or args.all:
            widget.grab().save(str(out / name))

    # A fresh settings file: the screenshots show what a first start shows.
    settings = Settings(Path(tempfile.mkdtemp()) / "settings.ini")
    window = MainWindow(settings=settings)
    window.setGeometry(app.primaryScreen().availableGeometry())
    window.show()
    pause(500)
    save(window, "0_start.png")
    wait(window.sig_model_loaded)
    while window.controller.busy:
        wait(window.controller.sig_busy_changed)
    pause(500)
    save(window, "1_loaded.png")

    panel = window.parameter_panel
    panel.set_request(dataclasses.replace(panel.request(), method="gradcam", cam_faithfulness=True))
    panel.sig_explain_requested.emit()
    wait(window.sig_explanation_shown)
    pause(500)
    save(window, "main_window.png", always=True)

    panel.set_request(dataclasses.replace(panel.request(), method="lime", num_samples="auto", seed=0))
    panel.sig_method_changed.emit("lime")  # as choosing LIME in the panel does: its natural display
    pause(300)
    save(window, "2_out_of_date.png")
    panel.sig_explain_requested.emit()
    pause(3000)
    save(window, "2_lime_running.png")
    wait(window.sig_explanation_shown)
    window.set_view_mode("split")
    pause(500)
    save(window, "lime_split.png", always=True)
    window.set_view_mode("explained")

    if args.all:
        window.files.save_annotated(out / "5_caption.png", caption=True)
        window.show_compare()
        dialog = window.compare
        deadline = time.monotonic() + 300
        while any(p["result"] is None for p in dialog._panes) and time.monotonic() < deadline:
            pause(200)
        pause(300)
        save(dialog, "3_compare.png")
        dialog.close()
        trust = TrustDialog(Path.home() / "Downloads" / "model_with_lambda.keras",
                            "model contains a Lambda layer, which runs code when loaded", window)
        trust.show()
        pause(200)
        save(trust, "4_trust.png")
        trust.close()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
