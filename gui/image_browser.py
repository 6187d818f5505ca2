"""The image browser: a list of opened photos with thumbnails made off the GUI thread."""
import sys
from pathlib import Path

from PIL import Image, ImageOps
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QAction, QColor, QIcon, QImage, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QLabel, QListWidget, QListWidgetItem,
                               QSizePolicy, QToolBar, QVBoxLayout, QWidget)

from limelight.core.images import is_supported_image, list_images, open_image
from limelight.gui.background_tasks import BackgroundTasks

THUMBNAIL_SIZE = QSize(72, 54)
PATH_ROLE = Qt.ItemDataRole.UserRole
ERROR_ROLE = Qt.ItemDataRole.UserRole + 1


def make_thumbnail(path: str, width: int, height: int) -> QImage:
    """Decode a small version of an image file (runs on a pool thread).

    JPEG's draft mode decodes at 1/2 to 1/8 scale directly, so a 24-megapixel photo costs
    about as much as a small one.
    """
    from limelight.core.errors import ImageError

    try:
        with open_image(path) as image:
            image.draft("RGB", (width * 2, height * 2))
            image = ImageOps.exif_transpose(image)
            image.thumbnail((width, height), Image.Resampling.BILINEAR)
            rgb = image.convert("RGB")
    except ImageError:
        raise
    except Exception as error:  # Pillow reports broken files with many exception types.
        raise ImageError(f"cannot read this image ({type(error).__name__})", path=path) from None
    data = rgb.tobytes()
    qimage = QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888)
    # copy(): the QImage must own its pixels once `data` goes away with this thread's frame.
    return qimage.copy()


def _placeholder_icon(size: QSize, broken: bool = False) -> QIcon:
    pixmap = QPixmap(size)
    pixmap.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pixmap)
    painter.setPen(QColor(150, 150, 150))
    painter.setBrush(QColor(235, 235, 235) if not broken else QColor(250, 225, 225))
    painter.drawRoundedRect(1, 1, size.width() - 3, size.height() - 3, 4, 4)
    if broken:
        painter.setPen(QColor(190, 60, 60))
        painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, "!")
    painter.end()
    return QIcon(pixmap)


class ImageBrowser(QWidget):
    """Thumbnails of the opened images; selecting one shows it.

    Keyboard: arrows, Home/End and Page Up/Down move; Delete removes the selected images.
    """

    sig_image_selected = Signal(str)
    """The current image changed: its path ("" when the list became empty)."""
    sig_images_changed = Signal(int)
    """Images were added or removed: how many there are now."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._tasks = BackgroundTasks(self)
        self._tasks.sig_done.connect(self._on_thumbnail)
        self._tasks.sig_failed.connect(self._on_thumbnail_failed)
        self._items: dict[str, QListWidgetItem] = {}
        self._loading_icon = _placeholder_icon(THUMBNAIL_SIZE)
        self._broken_icon = _placeholder_icon(THUMBNAIL_SIZE, broken=True)

        self.toolbar = QToolBar(self)
        self.toolbar.setIconSize(QSize(16, 16))
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.list = QListWidget(self)
        self.list.setIconSize(THUMBNAIL_SIZE)
        self.list.setUniformItemSizes(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setSpacing(2)
        self.list.setToolTip("Opened images; Delete removes the selected ones")
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.setAccessibleName("Images")
        self.empty_label = QLabel("No images yet.\nOpen images (Ctrl+O) or a folder,\n"
                                  "or drop them on the window.", self)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.empty_label.setStyleSheet("color: palette(mid);")

        self.remove_action = QAction("Remove", self)
        self.remove_action.setShortcut(QKeySequence.StandardKey.Delete)
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.remove_action.setToolTip("Remove the selected images from the list (the files stay)")
        self.remove_action.triggered.connect(self.remove_selected)
        self.addAction(self.remove_action)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.list.addAction(self.remove_action)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty_label, 1)
        self._update_empty()

    def height_for_rows(self, rows: int) -> int:
        """The height that shows `rows` thumbnails without scrolling, with the toolbar above them."""
        row = self.list.sizeHintForRow(0) if self.list.count() else THUMBNAIL_SIZE.height() + 8
        list_height = rows * (row + 2 * self.list.spacing()) + 2 * self.list.frameWidth()
        return self.toolbar.sizeHint().height() + self.layout().spacing() + list_height

    # --- Contents --------------------------------------------------------------------------

    def set_actions(self, actions) -> None:
        """Put actions (e.g. the window's Open and Open folder) on the browser's toolbar."""
        self.toolbar.clear()
        for action in actions:
            self.toolbar.addAction(action)
        self.toolbar.addAction(self.remove_action)

    def add_paths(self, paths, *, select: bool = True) -> tuple[int, int]:
        """Add image files and folders (searched recursively for supported images).

        Returns
        -------
        added, skipped : int
            How many images were new, and how many files were skipped as not images.
        """
        added, skipped, first_new = 0, 0, None
        for path in paths:
            path = Path(path)
            if path.is_dir():
                files = list_images(path)
            elif is_supported_image(path):
                files = [path]
            else:
                skipped += 1
                continue
            for file in files:
                key = str(file.resolve())
                if key in self._items:
                    first_new = first_new or self._items[key]
                    continue
                item = QListWidgetItem(self._loading_icon, file.name)
                item.setData(PATH_ROLE, key)
                item.setToolTip(key)
                self.list.addItem(item)
                self._items[key] = item
                self._tasks.start(key, make_thumbnail, key, THUMBNAIL_SIZE.width(),
                                  THUMBNAIL_SIZE.height())
                added += 1
                first_new = first_new or item
        self._update_empty()
        if first_new is not None and select:
            self.list.setCurrentItem(first_new)
            self.list.scrollToItem(first_new)
        if added:
            self.sig_images_changed.emit(self.count())
        return added, skipped

    def paths(self) -> list[str]:
        """Every image in the list, in order."""
        return [self.list.item(row).data(PATH_ROLE) for row in range(self.list.count())]

    def count(self) -> int:
        return self.list.count()

    def current_path(self) -> str:
        item = self.list.currentItem()
        return item.data(PATH_ROLE) if item is not None else ""

    def select_path(self, path) -> bool:
        """Make `path` the current image; False when it is not in the list."""
        item = self._items.get(str(Path(path).resolve()))
        if item is None:
            return False
        self.list.setCurrentItem(item)
        self.list.scrollToItem(item)
        return True

    def mark_failed(self, path: str, message: str) -> None:
        """Show that an image could not be read, with the reason as its tooltip."""
        item = self._items.get(path)
        if item is not None:
            item.setIcon(self._broken_icon)
            item.setData(ERROR_ROLE, message)
            item.setToolTip(message)

    @Slot()
    def remove_selected(self) -> None:
        """Remove the selected images from the list; the files are not touched."""
        selected = self.list.selectedItems() or ([self.list.currentItem()]
                                                  if self.list.currentItem() else [])
        if not selected:
            return
        rows = sorted(self.list.row(item) for item in selected)
        # Keep the keyboard where it was: select the image that takes the first removed row.
        self.list.blockSignals(True)
        for row in reversed(rows):
            item = self.list.takeItem(row)
            self._items.pop(item.data(PATH_ROLE), None)
        self.list.blockSignals(False)
        self._update_empty()
        if self.list.count():
            self.list.setCurrentRow(min(rows[0], self.list.count() - 1))
        self._on_current_changed(self.list.currentItem(), None)
        self.sig_images_changed.emit(self.count())

    @Slot()
    def clear(self) -> None:
        self._tasks.clear()
        self.list.clear()
        self._items.clear()
        self._update_empty()
        self.sig_image_selected.emit("")
        self.sig_images_changed.emit(0)

    def shutdown(self, timeout_ms: int = 3000) -> bool:
        """Drop waiting thumbnails and wait for the ones being made."""
        return self._tasks.wait(timeout_ms)

    # --- Slots -----------------------------------------------------------------------------

    @Slot(object, object)
    def _on_thumbnail(self, key, image: QImage) -> None:
        item = self._items.get(key)
        if item is not None:
            item.setIcon(QIcon(QPixmap.fromImage(image)))

    @Slot(object, str)
    def _on_thumbnail_failed(self, key, message: str) -> None:
        self.mark_failed(key, message)

    @Slot(QListWidgetItem, QListWidgetItem)
    def _on_current_changed(self, current, previous) -> None:
        self.sig_image_selected.emit(current.data(PATH_ROLE) if current is not None else "")

    def _update_empty(self) -> None:
        empty = self.list.count() == 0
        self.empty_label.setVisible(empty)
        self.list.setVisible(not empty)


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    from limelight.resources import resource_path

    app = QApplication(sys.argv)
    browser = ImageBrowser()
    browser.sig_image_selected.connect(lambda path: print("selected", path))
    browser.add_paths(sys.argv[1:] or [str(resource_path("samples"))])
    browser.resize(260, 500)
    browser.show()
    sys.exit(app.exec())
