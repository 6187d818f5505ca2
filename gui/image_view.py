"""The central image view: zoom, pan, and the original, explained or split (before/after) picture."""
import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import (QBrush, QColor, QFont, QImage, QKeySequence, QPainter, QPainterPath, QPen, QPixmap,
                           QTransform)
from PySide6.QtWidgets import (QFrame, QGraphicsItem, QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene,
                               QGraphicsView, QVBoxLayout, QWidget)

__all__ = ["ImageView", "VIEW_MODES", "array_to_qimage"]

#: What the view can show: the overlay, the photo alone, or both with a draggable divider.
VIEW_MODES = ("explained", "original", "split")

PLACEHOLDER = "Open an image (Ctrl+O) or drop one here"

_MIN_ZOOM = 0.01
_MAX_ZOOM = 64.0
_WHEEL_STEP = 1.25
# From this zoom on, pixels are drawn as crisp squares: superpixel borders and single pixels stay
# readable instead of being blurred by bilinear filtering.
_CRISP_ZOOM = 2.0
# How close (screen pixels) the pointer must be to the split divider to grab it.
_GRAB_DISTANCE = 8
_BACKGROUND = QColor(58, 58, 60)


def array_to_qimage(array):
    """Return a QImage that owns a copy of an RGB array.

    Parameters
    ----------
    array : ndarray of shape (rows, cols, 3), uint8

    Returns
    -------
    QImage
        Format RGB888, cols wide and rows high.
    """
    array = _check_rgb(array, "image")
    array = np.ascontiguousarray(array)
    rows, cols = array.shape[:2]
    # The QImage only borrows the buffer; copy() makes it independent of the array's lifetime.
    return QImage(array.data, cols, rows, array.strides[0], QImage.Format.Format_RGB888).copy()


def _check_rgb(array, name):
    array = np.asarray(array)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8 or 0 in array.shape[:2]:
        raise ValueError(f"the {name} must be an array of shape (rows, cols, 3) and dtype uint8, "
                         f"got shape {array.shape} and dtype {array.dtype}.")
    return array


class _Canvas(QGraphicsView):
    """The QGraphicsView that paints the placeholder and split divider and turns input into zoom and pan."""

    def __init__(self, owner):
        super().__init__(owner)
        self._owner = owner
        self._dragging_divider = False
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setBackgroundBrush(QBrush(_BACKGROUND))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # Files dropped on the picture belong to the main window, which opens them.
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.viewport().setMouseTracking(True)

    # --- Painting -----------------------------------------------------------------------------

    def drawForeground(self, painter, rect):
        owner = self._owner
        painter.save()
        painter.resetTransform()
        if not owner.has_image():
            self._draw_placeholder(painter)
        elif owner.view_mode() == "split":
            self._draw_divider(painter)
        painter.restore()

    def _draw_placeholder(self, painter):
        area = self.viewport().rect()
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        painter.setFont(font)
        painter.setPen(QColor(200, 200, 204))
        painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, PLACEHOLDER)

    def _visible_image_rect(self):
        """The image's rectangle in viewport coordinates, clipped to the viewport."""
        image_rect = self.mapFromScene(self.sceneRect()).boundingRect()
        return image_rect.intersected(self.viewport().rect())

    def divider_x(self):
        """The divider's column in viewport coordinates."""
        scene_x = self._owner.split_position() * self.sceneRect().width()
        return self.mapFromScene(QPointF(scene_x, 0)).x()

    def _draw_divider(self, painter):
        visible = self._visible_image_rect()
        if visible.isEmpty():
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        x = self.divider_x()
        if visible.left() <= x <= visible.right():
            painter.setPen(QPen(QColor(0, 0, 0, 140), 4))
            painter.drawLine(x, visible.top(), x, visible.bottom())
            painter.setPen(QPen(QColor(255, 255, 255), 2))
            painter.drawLine(x, visible.top(), x, visible.bottom())
            # A round handle with two arrows says "drag me sideways".
            centre = QPointF(x, visible.center().y())
            painter.setPen(QPen(QColor(0, 0, 0, 140), 1))
            painter.setBrush(QColor(255, 255, 255))
            painter.drawEllipse(centre, 13, 13)
            arrows = QPainterPath()
            for sign in (-1, 1):
                arrows.moveTo(centre + QPointF(sign * 3, -5))
                arrows.lineTo(centre + QPointF(sign * 9, 0))
                arrows.lineTo(centre + QPointF(sign * 3, 5))
                arrows.closeSubpath()
            painter.setBrush(QColor(60, 60, 60))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawPath(arrows)
        self._draw_badge(painter, "Original", visible, left=True)
        self._draw_badge(painter, "Explained", visible, left=False)

    def _draw_badge(self, painter, text, visible, *, left):
        metrics = painter.fontMetrics()
        width = metrics.horizontalAdvance(text) + 12
        height = metrics.height() + 6
        top = visible.top() + 8
        x = visible.left() + 8 if left else visible.right() - 8 - width
        badge = QRectF(x, top, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(badge, 4, 4)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)

    # --- Input ----------------------------------------------------------------------------------

    def _near_divider(self, position):
        return (self._owner.has_image() and self._owner.view_mode() == "split"
                and abs(position.x() - self.divider_x()) <= _GRAB_DISTANCE)

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton and self._near_divider(event.position()):
            self._dragging_divider = True
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):
        if self._dragging_divider:
            scene_x = self.mapToScene(event.position().toPoint()).x()
            width = self.sceneRect().width()
            self._owner.set_split_position(scene_x / width if width else 0.5)
            event.accept()
            return
        if not event.buttons():
            # Show that the divider can be grabbed; otherwise the hand says the picture can be dragged.
            shape = (Qt.CursorShape.SplitHCursor if self._near_divider(event.position())
                     else Qt.CursorShape.OpenHandCursor)
            self.viewport().setCursor(shape)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        if self._dragging_divider and event.button() == Qt.MouseButton.LeftButton:
            self._dragging_divider = False
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event):
        # Double-click toggles between fitting the window and actual pixels, as image viewers do.
        if self._owner.has_image() and event.button() == Qt.MouseButton.LeftButton:
            if self._owner.is_fitted():
                self._owner.zoom_actual()
            else:
                self._owner.zoom_fit()
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def wheelEvent(self, event):
        if not self._owner.has_image():
            return
        steps = event.angleDelta().y() / 120.0
        if steps:
            self._owner.zoom_by(_WHEEL_STEP ** steps, anchor_under_mouse=True)
        event.accept()

    def keyPressEvent(self, event):
        owner = self._owner
        if event.matches(QKeySequence.StandardKey.ZoomIn) or (
                event.key() == Qt.Key.Key_Equal and event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            owner.zoom_in()
        elif event.matches(QKeySequence.StandardKey.ZoomOut):
            owner.zoom_out()
        elif event.key() == Qt.Key.Key_0 and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            owner.zoom_fit()
        elif event.key() == Qt.Key.Key_1 and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            owner.zoom_actual()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._owner._refit()

    def showEvent(self, event):
        super().showEvent(event)
        self._owner._refit()


class ImageView(QWidget):
    """Shows a photo and its explanation overlay, with zoom, pan and a before/after split.

    The view fits the image to the window until the user zooms; after that the zoom is kept
    (also across overlays of the same image) until `zoom_fit` or an image of another size.
    """

    sig_zoom_changed = Signal(float)
    """The zoom factor changed; 1.0 shows one image pixel per screen pixel."""

    sig_view_mode_changed = Signal(str)
    """The view mode changed to "explained", "original" or "split"."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._original = None            # QImage of the photo
        self._overlay = None             # QImage of the rendered explanation, or None
        self._overlay_pixels = None      # the array that QImage borrows
        self._full_size = None           # callable giving the overlay at the photo's size
        self._mode = "explained"
        self._split = 0.5                # divider position as a fraction of the image width
        self._fitted = True              # keep fitting to the window until the user zooms

        self._scene = QGraphicsScene(self)
        self._original_item = QGraphicsPixmapItem()
        # The overlay sits in a clipping rectangle; in split mode the clip shows only its right part.
        self._clip_item = QGraphicsRectItem()
        self._clip_item.setPen(QPen(Qt.PenStyle.NoPen))
        self._clip_item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape, True)
        self._overlay_item = QGraphicsPixmapItem(self._clip_item)
        for item in (self._original_item, self._overlay_item):
            item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        self._scene.addItem(self._original_item)
        self._scene.addItem(self._clip_item)

        self._canvas = _Canvas(self)
        self._canvas.setScene(self._scene)
        self.setFocusProxy(self._canvas)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._canvas)
        self.setMinimumSize(160, 120)
        self._update_items()

    # --- Content --------------------------------------------------------------------------------

    def set_image(self, original):
        """Show a new photo, without overlay.

        Parameters
        ----------
        original : ndarray of shape (rows, cols, 3), uint8, or None
            The photo at its own resolution; None empties the view and shows the placeholder.
        """
        if original is None:
            self.clear()
            return
        image = array_to_qimage(original)
        if self._original is None or self._original.size() != image.size():
            self._fitted = True
        self._original = image
        self._overlay = self._overlay_pixels = self._full_size = None
        self._original_item.setPixmap(QPixmap.fromImage(image))
        self._overlay_item.setPixmap(QPixmap())
        self._scene.setSceneRect(QRectF(0, 0, image.width(), image.height()))
        self._update_items()
        self._refit()

    def set_overlay(self, rendered, *, full_size=None):
        """Show the rendered explanation over the photo, or no overlay.

        Parameters
        ----------
        rendered : ndarray of shape (rows, cols, 3), uint8, or None
            The photo with the explanation drawn on it: at the photo's size, or scaled down by one
            factor (see `overlay_scale`), which the view stretches to cover the photo exactly.
            None shows the photo alone.
        full_size : callable, optional
            Returns the same overlay at the photo's size; needed with a scaled-down `rendered`, so
            that `current_pixmap_image` keeps the photo's resolution.
        """
        if rendered is None:
            self._overlay = self._overlay_pixels = self._full_size = None
            self._overlay_item.setPixmap(QPixmap())
            self._update_items()
            return
        if self._original is None:
            raise ValueError("set an image with set_image before its overlay.")
        rendered = _check_rgb(rendered, "overlay")
        rows, cols = rendered.shape[:2]
        height, width = self._original.height(), self._original.width()
        if (rows, cols) != (height, width):
            # Each side is rounded on its own: some one scale must round to both.
            lowest = max((rows - 0.5) / height, (cols - 0.5) / width)
            highest = min((rows + 0.5) / height, (cols + 0.5) / width, 1.0)
            if lowest > highest:
                raise ValueError(f"the overlay has {rows}x{cols} pixels but the image {height}x{width}; "
                                 f"render it at the image's own size, or scaled down by one factor.")
            if full_size is None:
                raise ValueError("a scaled-down overlay needs full_size, which gives it at the image's size.")
        # Borrow the rendering's buffer rather than copy it: a style change must stay within a
        # frame, and the view holds on to the array for as long as the QImage lives.
        self._overlay_pixels = np.ascontiguousarray(rendered)
        self._overlay = QImage(self._overlay_pixels.data, cols, rows, self._overlay_pixels.strides[0],
                               QImage.Format.Format_RGB888)
        self._full_size = full_size
        self._overlay_item.setPixmap(QPixmap.fromImage(self._overlay))
        self._overlay_item.setTransform(QTransform.fromScale(width / cols, height / rows))
        self._update_items()

    @Slot()
    def clear(self):
        """Remove the photo and overlay and show the placeholder."""
        self._original = None
        self._overlay = self._overlay_pixels = self._full_size = None
        self._original_item.setPixmap(QPixmap())
        self._overlay_item.setPixmap(QPixmap())
        self._scene.setSceneRect(QRectF(0, 0, 1, 1))
        self._fitted = True
        self._update_items()

    def has_image(self):
        """Return whether a photo is shown."""
        return self._original is not None

    def has_overlay(self):
        """Return whether an explanation overlay is set."""
        return self._overlay is not None

    # --- View mode ------------------------------------------------------------------------------

    @Slot(str)
    def set_view_mode(self, mode):
        """Show the explanation ("explained"), the photo alone ("original") or both ("split").

        Split shows the photo left of a vertical divider and the explanation right of it; drag the
        divider to compare.
        """
        if mode not in VIEW_MODES:
            raise ValueError(f"view mode must be one of {', '.join(VIEW_MODES)}, not {mode!r}.")
        if mode == self._mode:
            return
        self._mode = mode
        self._update_items()
        self.sig_view_mode_changed.emit(mode)

    def view_mode(self):
        """Return the current view mode, one of `VIEW_MODES`."""
        return self._mode

    @Slot(float)
    def set_split_position(self, fraction):
        """Move the split divider to `fraction` (0 = left edge, 1 = right edge) of the image width."""
        self._split = min(1.0, max(0.0, float(fraction)))
        self._update_items()

    def split_position(self):
        """Return the split divider's position as a fraction of the image width."""
        return self._split

    def _update_items(self):
        has_overlay = self._overlay is not None
        # The explained view covers the photo completely: painting the photo under it would only
        # double the cost of every repaint.
        self._original_item.setVisible(self._original is not None
                                       and not (has_overlay and self._mode == "explained"))
        self._clip_item.setVisible(has_overlay and self._mode != "original")
        if self._original is not None:
            width, height = self._original.width(), self._original.height()
            left = self._split * width if self._mode == "split" else 0.0
            self._clip_item.setRect(QRectF(left, 0, width - left, height))
        self._canvas.viewport().update()

    def current_pixmap_image(self):
        """Return what is shown, at the photo's resolution, e.g. for copying to the clipboard.

        Returns
        -------
        QImage
            The overlay, the photo, or in split mode the photo left of the divider and the overlay
            right of it; a null QImage when the view is empty.
        """
        if self._original is None:
            return QImage()
        if self._overlay is None or self._mode == "original":
            return self._original.copy()
        overlay = self._overlay
        if overlay.size() != self._original.size():
            overlay = array_to_qimage(self._full_size())
        if self._mode == "explained":
            return overlay.copy()
        composite = self._original.copy()
        left = int(round(self._split * composite.width()))
        painter = QPainter(composite)
        painter.drawImage(left, 0, overlay, left, 0, composite.width() - left, composite.height())
        painter.end()
        return composite

    # --- Zoom -----------------------------------------------------------------------------------

    def zoom(self):
        """Return the zoom factor; 1.0 shows one image pixel per screen pixel."""
        return self._canvas.transform().m11()

    def overlay_scale(self):
        """Return the resolution, as a fraction of the photo's, that an overlay needs to look sharp now.

        1 from 100 % up (counting the screen's device pixels); below that, the next power of √2 at
        or above the zoom. A smaller overlay renders and repaints faster, and zooming out or in by
        a wheel step rarely needs a new one.
        """
        shown = self.zoom() * self.devicePixelRatioF()
        if shown >= 1.0:
            return 1.0
        # The small margin keeps a zoom that is a power of √2 but for rounding on its own step.
        return 2.0 ** (math.ceil(2 * math.log2(shown) - 1e-9) / 2)

    def overlay_outdated(self):
        """Return whether the overlay shown has other than the resolution `overlay_scale` now asks for."""
        if self._overlay is None:
            return False
        return self._overlay.width() != round(self._original.width() * self.overlay_scale())

    def is_fitted(self):
        """Return whether the view keeps the whole image fitted to the window."""
        return self._fitted

    @Slot()
    def zoom_in(self):
        """Enlarge by one step around the centre of the view."""
        self.zoom_by(_WHEEL_STEP)

    @Slot()
    def zoom_out(self):
        """Shrink by one step around the centre of the view."""
        self.zoom_by(1 / _WHEEL_STEP)

    @Slot()
    def zoom_fit(self):
        """Fit the whole image in the view, and keep it fitted when the view is resized."""
        self._fitted = True
        self._refit()

    @Slot()
    def zoom_actual(self):
        """Show the image at 100 %: one image pixel per screen pixel."""
        self._set_zoom(1.0)

    def zoom_by(self, factor, *, anchor_under_mouse=False):
        """Multiply the zoom by `factor`, keeping the point under the mouse (or the centre) in place."""
        self._set_zoom(self.zoom() * factor, anchor_under_mouse=anchor_under_mouse)

    def _set_zoom(self, zoom, *, anchor_under_mouse=False):
        if self._original is None:
            return
        self._fitted = False
        zoom = min(_MAX_ZOOM, max(_MIN_ZOOM, zoom))
        anchor = (QGraphicsView.ViewportAnchor.AnchorUnderMouse if anchor_under_mouse
                  else QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self._canvas.setTransformationAnchor(anchor)
        factor = zoom / self.zoom()
        self._canvas.scale(factor, factor)
        self._canvas.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self._zoom_changed()

    def _refit(self):
        if not self._fitted or self._original is None:
            return
        viewport = self._canvas.viewport().rect()
        if viewport.width() < 2 or viewport.height() < 2:
            return
        # Computed rather than fitInView(), which leaves a margin and can shrink the image by a pixel.
        zoom = min(viewport.width() / self._original.width(), viewport.height() / self._original.height())
        zoom = min(_MAX_ZOOM, max(_MIN_ZOOM, zoom))
        self._canvas.resetTransform()
        self._canvas.scale(zoom, zoom)
        self._canvas.centerOn(self._scene.sceneRect().center())
        self._zoom_changed()

    def _zoom_changed(self):
        mode = (Qt.TransformationMode.FastTransformation if self.zoom() >= _CRISP_ZOOM
                else Qt.TransformationMode.SmoothTransformation)
        self._original_item.setTransformationMode(mode)
        self._overlay_item.setTransformationMode(mode)
        self._canvas.viewport().update()
        self.sig_zoom_changed.emit(self.zoom())


def _preview():
    """Show the view with a sample photo and a fake overlay; press 1, 2, 3 to switch modes."""
    import sys

    from PySide6.QtGui import QShortcut
    from PySide6.QtWidgets import QApplication

    from limelight.core.images import load_image
    from limelight.resources import resource_path

    app = QApplication.instance() or QApplication(sys.argv)
    view = ImageView()
    view.setWindowTitle("Image View")
    view.resize(900, 650)
    if "--empty" not in sys.argv:
        photo = load_image(resource_path("samples") / "chelsea.jpg")
        tinted = photo.copy()
        tinted[..., 1] = np.maximum(tinted[..., 1], 160)
        view.set_image(photo)
        view.set_overlay(tinted)
        view.set_view_mode("split")
    for key, mode in zip("123", VIEW_MODES):
        QShortcut(QKeySequence(key), view, activated=lambda mode=mode: view.set_view_mode(mode))
    view.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(_preview())
