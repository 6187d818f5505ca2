"""Draw the installers' icons (Linux PNGs, Windows .ico, macOS .icns) from resources/icons/limelight.svg.

Run it after changing the SVG: `.venv/bin/python installer/make_icons.py`; the outputs are committed.
"""
import shutil
from pathlib import Path

from PIL import Image

INSTALLER = Path(__file__).resolve().parent
SOURCE = INSTALLER.parent / "resources" / "icons" / "limelight.svg"
HICOLOR = INSTALLER / "linux" / "icons" / "hicolor"
#: The sizes desktops look for in the hicolor theme; the .ico and .icns carry their own sets.
LINUX_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)


def draw(side: int) -> Image.Image:
    """The SVG drawn by Qt at side x side pixels, as an RGBA Pillow image."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(SOURCE))
    canvas = QImage(side, side, QImage.Format.Format_RGBA8888)
    canvas.fill(Qt.GlobalColor.transparent)
    painter = QPainter(canvas)
    renderer.render(painter)
    painter.end()
    return Image.frombuffer("RGBA", (side, side), bytes(canvas.constBits()), "raw", "RGBA", 0, 1).copy()


def main() -> None:
    scalable = HICOLOR / "scalable" / "apps"
    scalable.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, scalable / "limelight.svg")
    for side in LINUX_SIZES:
        folder = HICOLOR / f"{side}x{side}" / "apps"
        folder.mkdir(parents=True, exist_ok=True)
        draw(side).save(folder / "limelight.png", optimize=True)
    largest = draw(1024)
    largest.save(INSTALLER / "windows" / "limelight.ico", sizes=[(s, s) for s in ICO_SIZES])
    largest.save(INSTALLER / "macos" / "limelight.icns")


if __name__ == "__main__":
    from PySide6.QtGui import QGuiApplication

    # Qt draws only while an application object exists.
    app = QGuiApplication(["make_icons", "-platform", "offscreen"])
    main()
