"""Start the Qt application and show the main window: `limelight [IMAGE...] [--model PATH]`."""
import argparse
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="limelight",
        description="Explain image classifiers in a desktop window. Subcommands such as "
                    "`limelight predict` run without a window.")
    parser.add_argument("images", nargs="*", metavar="IMAGE",
                        help="images or folders to open (default: the last session's, or the "
                             "sample photos)")
    parser.add_argument("--model", metavar="NAME|PATH",
                        help="a built-in model name or a .keras/.h5 file or SavedModel folder "
                             "(default: the last model used, or EfficientNet-Lite0)")
    parser.add_argument("--trust-model", action="store_true",
                        help="allow the model file to run code while loading (only for files "
                             "you trust)")
    return parser


def main(argv: list[str]) -> int:
    # Quiet TensorFlow before the worker imports it; the user's own setting wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    # Qt's own options (-platform, -style...) pass through to QApplication.
    args, qt_args = parser.parse_known_args(argv)
    unknown = [a for a in qt_args if a.startswith("--")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")

    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from limelight.gui.main_window import MainWindow, app_icon

    QGuiApplication.setDesktopFileName("limelight")
    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    app.setApplicationName("Limelight")
    app.setApplicationDisplayName("Limelight")
    app.setOrganizationName("Limelight")
    app.setWindowIcon(app_icon())
    # From here on a failure is logged and shown in the crash dialog, never fatal.
    from limelight.gui.crash import install as install_crash_reporter

    install_crash_reporter()

    images = [os.path.abspath(p) for p in args.images]
    model = args.model
    if model and os.path.exists(model):
        model = os.path.abspath(model)
    window = MainWindow(images=images or None, model=model, trust_model=args.trust_model)
    window.show()
    code = app.exec()
    from limelight.gui.worker import wait_for_orphans

    wait_for_orphans()
    return code
