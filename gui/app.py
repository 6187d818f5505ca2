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
                             "sample photos); a .keras or .h5 file opens as the model")
    parser.add_argument("--model", metavar="NAME|PATH",
                        help="a built-in model name or a .keras/.h5 file or SavedModel folder "
                             "(default: the last model used, or EfficientNet-Lite0)")
    parser.add_argument("--trust-model", action="store_true",
                        help="allow the model file to run code while loading (only for files "
                             "you trust)")
    parser.add_argument("--self-test", action="store_true",
                        help="check headless that this installation can predict, explain and "
                             "save, print one line and exit (0 when it works)")
    return parser


def images_and_model(args) -> tuple[list[str], str | None]:
    """The images to open and the model to load, as absolute paths where they are files.

    A model file among the positional paths (a `.keras` double-clicked on the desktop, which
    runs `limelight %F`) is the model, unless --model names one.
    """
    from limelight.core.models import MODEL_FILE_TYPES

    paths = [os.path.abspath(p) for p in args.images]
    model_files = [p for p in paths if os.path.splitext(p)[1].lower() in MODEL_FILE_TYPES]
    model = args.model or (model_files[0] if model_files else None)
    if model and os.path.exists(model):
        model = os.path.abspath(model)
    return [p for p in paths if p not in model_files], model


def main(argv: list[str]) -> int:
    # Quiet TensorFlow before the worker imports it; the user's own setting wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    # Qt's own options (-platform, -style...) pass through to QApplication.
    args, qt_args = parser.parse_known_args(argv)
    unknown = [a for a in qt_args if a.startswith("--")]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.self_test:
        if args.images or args.model:
            parser.error("--self-test checks the built-in model on a bundled photo; it takes "
                         "no images or --model")
        from limelight.gui.self_test import run

        return run()

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

    images, model = images_and_model(args)
    window = MainWindow(images=images or None, model=model, trust_model=args.trust_model)
    window.show()
    code = app.exec()
    from limelight.gui.controller import wait_for_orphans

    wait_for_orphans()
    return code
