"""The window's commands: its actions, the menus and toolbar that hold them, and the About box."""
import platform

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QToolBar

VIEW_MODES = {"original": "Original", "explained": "Explained", "split": "Split"}
VIEW_MODE_TIPS = {"original": "Show the photo alone",
                  "explained": "Show the photo with the explanation",
                  "split": "Original left, explained right; drag the divider"}


class WindowCommands:
    """The main window's actions, in its File, Edit, Explain, View and Help menus and its toolbar.

    Each action calls a public slot of the window or one of its parts; the window enables,
    shows and checks them as its state changes.

    Parameters
    ----------
    window : MainWindow
        Owns the actions; its docks, image view, browser and file dialogs must exist.
    """

    def __init__(self, window: QMainWindow):
        self._window = window
        files, view, keys = window.files, window.image_view, QKeySequence.StandardKey
        self.open_images = self._action("&Open Images…", files.open_images_dialog, shortcut=keys.Open,
                                        tip="Add image files to the browser")
        self.open_folder = self._action("Open &Folder…", files.open_folder_dialog, shortcut="Ctrl+Shift+O",
                                        tip="Add every image in a folder and its subfolders")
        self.open_dataset = self._action("Open &Dataset…", window.datasets.open_dataset_dialog,
                                         tip="Evaluate the model on a folder with one sub-folder of images per class")
        self.open_report = self._action("Open &Report…", files.open_report_dialog,
                                        tip="Show a saved JSON report again, with its scores; no model needed")
        self.open_model = self._action("Open &Model…", files.open_model_dialog, shortcut="Ctrl+M",
                                       tip="Load a .keras or .h5 model file")
        self.open_saved_model = self._action(
            "Open &SavedModel Folder…", files.open_saved_model_dialog,
            tip="Load a TensorFlow SavedModel folder (it runs its own code, so you are asked first)")
        self.save = self._action("&Save Annotated Image…", files.save_annotated_dialog, shortcut=keys.Save,
                                 tip="Save the explained image at the photo's resolution")
        self.save_captioned = self._action(
            "Save with &Caption…", files.save_captioned_dialog,
            tip="Save the explained image with the method, class, probability and trust scores written under it")
        self.export = self._action("&Export Report…", files.export_report_dialog, shortcut="Ctrl+Shift+S",
                                   tip="Save the explanation as a JSON report and a side-by-side figure")
        self.batch = self._action("Explain &All Images and Export…", files.explain_all_dialog,
                                  tip="Explain every image in the browser for its top class and save the "
                                      "results to a folder")
        self.quit = self._action("&Quit", window.close, shortcut=keys.Quit)
        self.quit.setMenuRole(QAction.MenuRole.QuitRole)
        self.copy = self._action("&Copy Image", window.copy_to_clipboard, shortcut=keys.Copy,
                                 tip="Copy what the view shows to the clipboard")
        self.zoom_in = self._action("Zoom &In", view.zoom_in, shortcut=keys.ZoomIn)
        self.zoom_out = self._action("Zoom &Out", view.zoom_out, shortcut=keys.ZoomOut)
        self.zoom_fit = self._action("&Fit to Window", view.zoom_fit, shortcut="Ctrl+0")
        self.zoom_actual = self._action("&Actual Size", view.zoom_actual, shortcut="Ctrl+1")
        self.view_mode_group = QActionGroup(window)
        self.view_modes = {}
        for number, (mode, title) in enumerate(VIEW_MODES.items(), start=1):
            action = self._action(title, None, shortcut=f"Ctrl+Shift+{number}", checkable=True,
                                  tip=VIEW_MODE_TIPS[mode])
            action.triggered.connect(lambda checked, m=mode: window.set_view_mode(m))
            self.view_mode_group.addAction(action)
            self.view_modes[mode] = action
        # The panel's Explain button can scroll out of sight on a small screen; this one cannot.
        # No shortcuts here: the panel owns Ctrl+E, Enter and Esc.
        self.explain = self._action("Explain", window.click_explain,
                                    tip="Explain the selected class of the current image (Ctrl+E)")
        self.cancel = self._action("Cancel", window.session.cancel, tip="Stop the explanation (Esc)")
        self.cancel.setVisible(False)
        self.add_samples = self._action("&Add Samples", window.session.add_samples,
                                        tip="Continue the shown LIME explanation with half as many samples "
                                            "again; only the new ones go to the model")
        self.add_samples.setEnabled(False)
        self.compare = self._action("&Compare…", window.show_compare, shortcut="Ctrl+Shift+C",
                                    tip="Explain the image with several methods or models side by side")
        self.reset_layout = self._action("&Reset Layout", window.reset_layout,
                                         tip="Put every panel back where it started")
        self.about = self._action("&About Limelight", self.show_about)
        self.about.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_qt = self._action("About &Qt", QApplication.aboutQt)
        self.about_qt.setMenuRole(QAction.MenuRole.AboutQtRole)
        self.open_images.setIconText("Open…")
        self.open_folder.setIconText("Folder…")
        self._build_menus()
        self.toolbar = self._build_toolbar()

    def _action(self, text, slot, *, shortcut=None, tip=None, checkable=False) -> QAction:
        action = QAction(text, self._window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.setCheckable(checkable)
        if slot is not None:
            action.triggered.connect(slot)
        self._window.addAction(action)
        return action

    def _build_menus(self) -> None:
        window = self._window
        bar = window.menuBar()
        file_menu = bar.addMenu("&File")
        for action in (self.open_images, self.open_folder, self.open_dataset, self.open_report, None, self.open_model,
                       self.open_saved_model, None, self.save, self.save_captioned, self.export,
                       self.batch, None, self.quit):
            file_menu.addSeparator() if action is None else file_menu.addAction(action)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.copy)
        edit_menu.addAction(window.browser.remove_action)
        explain_menu = bar.addMenu("E&xplain")
        for action in (self.explain, self.cancel, self.add_samples):
            explain_menu.addAction(action)
        view_menu = bar.addMenu("&View")
        for action in (self.zoom_in, self.zoom_out, self.zoom_fit, self.zoom_actual, None,
                       *self.view_modes.values(), None, self.compare, None):
            view_menu.addSeparator() if action is None else view_menu.addAction(action)
        panels = view_menu.addMenu("&Panels")
        for dock in (*window.docks(), window.datasets.dock):
            panels.addAction(dock.toggleViewAction())
        view_menu.addAction(self.reset_layout)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about)
        help_menu.addAction(self.about_qt)

    def _build_toolbar(self) -> QToolBar:
        toolbar = QToolBar("Main", self._window)
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        toolbar.setIconSize(QSize(18, 18))
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addAction(self.explain)
        toolbar.addAction(self.cancel)
        for action in (self.explain, self.cancel):
            button = toolbar.widgetForAction(action)
            button.setObjectName("runButton")
            button.setStyleSheet("#runButton { font-weight: bold; padding: 2px 14px; }")
        for group in (self.view_modes.values(), (self.zoom_fit, self.zoom_actual), (self.compare,),
                      (self.save, self.copy)):
            toolbar.addSeparator()
            for action in group:
                toolbar.addAction(action)
        self.save.setIconText("Save…")
        self.copy.setIconText("Copy")
        self.compare.setIconText("Compare…")
        self._window.addToolBar(toolbar)
        return toolbar

    def set_running(self, running: bool, *, can_add_samples: bool) -> None:
        """Show Cancel instead of Explain while a run is under way."""
        self.explain.setVisible(not running)
        self.cancel.setVisible(running)
        self.add_samples.setEnabled(not running and can_add_samples)

    def show_about(self) -> None:
        """The About box: Limelight's version and the libraries and device it runs on."""
        from PySide6 import __version__ as pyside_version
        from PySide6.QtCore import qVersion

        session = self._window.session
        versions = session.versions() or {}
        if not versions:
            session.ask_versions()
        pending = "starting…" if not versions else versions.get("error", "unknown")
        rows = [
            ("Limelight", _limelight_version()),
            ("TensorFlow", versions.get("tensorflow", pending)),
            ("Keras", versions.get("keras", pending)),
            ("Qt", f"{qVersion()} (PySide6 {pyside_version})"),
            ("Python", platform.python_version()),
            ("Compute device", versions.get("device", pending)),
        ]
        table = "".join(f"<tr><td>{k}</td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in rows)
        QMessageBox.about(self._window, "About Limelight",
                          "<h3>Limelight</h3><p>See why an image classifier decided what it "
                          f"decided: LIME and Grad-CAM explanations.</p><table>{table}</table>")


def _limelight_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("limelight")
    except PackageNotFoundError:
        return "development"
