"""Tests of the view widgets: image view, overlay controls, parameter panel and predictions panel."""
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from limelight.gui.image_view import ImageView


def qimage_array(image):
    """A QImage as an (rows, cols, 3) uint8 array."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    return data.reshape(height, image.bytesPerLine())[:, :width * 3].reshape(height, width, 3).copy()


def solid(rows, cols, colour):
    image = np.empty((rows, cols, 3), np.uint8)
    image[...] = colour
    return image


# --- ImageView ----------------------------------------------------------------------------------

@pytest.fixture
def view(qtbot):
    view = ImageView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)
    return view


def shown_pixels(view):
    """What the view's canvas shows on screen, as an array."""
    return qimage_array(view._canvas.viewport().grab().toImage())


def test_image_view_fits_then_keeps_the_users_zoom(view):
    view.set_image(solid(100, 200, (10, 20, 30)))
    viewport = view._canvas.viewport().rect()
    fit = min(viewport.width() / 200, viewport.height() / 100)
    assert view.is_fitted()
    assert view.zoom() == pytest.approx(fit)
    view.zoom_actual()
    assert view.zoom() == pytest.approx(1.0)
    assert not view.is_fitted()
    view.zoom_in()
    assert view.zoom() == pytest.approx(1.25)
    view.zoom_out()
    view.zoom_out()
    assert view.zoom() == pytest.approx(0.8)
    # A user's zoom survives a resize; zoom_fit fits again and follows the next resize.
    view.resize(500, 300)
    assert view.zoom() == pytest.approx(0.8)
    view.zoom_fit()
    viewport = view._canvas.viewport().rect()
    assert view.zoom() == pytest.approx(min(viewport.width() / 200, viewport.height() / 100))


def test_image_view_overlay_changes_the_displayed_pixels(view):
    view.set_image(solid(60, 80, (0, 0, 255)))
    centre = shown_pixels(view)[150, 200]
    assert tuple(centre) == (0, 0, 255)
    view.set_overlay(solid(60, 80, (255, 0, 0)))
    assert tuple(shown_pixels(view)[150, 200]) == (255, 0, 0)
    view.set_view_mode("original")
    assert tuple(shown_pixels(view)[150, 200]) == (0, 0, 255)
    view.set_view_mode("explained")
    view.set_overlay(None)
    assert tuple(shown_pixels(view)[150, 200]) == (0, 0, 255)
    with pytest.raises(ValueError, match="render it at the image's own size"):
        view.set_overlay(solid(10, 10, (1, 2, 3)))


def test_image_view_split_shows_original_left_and_overlay_right(view, qtbot):
    view.set_image(solid(50, 100, (0, 0, 255)))
    view.set_overlay(solid(50, 100, (255, 0, 0)))
    with qtbot.waitSignal(view.sig_view_mode_changed) as blocker:
        view.set_view_mode("split")
    assert blocker.args == ["split"]
    composite = qimage_array(view.current_pixmap_image())
    assert composite.shape == (50, 100, 3)
    assert tuple(composite[25, 10]) == (0, 0, 255) and tuple(composite[25, 90]) == (255, 0, 0)
    view.set_split_position(0.8)
    composite = qimage_array(view.current_pixmap_image())
    assert tuple(composite[25, 70]) == (0, 0, 255) and tuple(composite[25, 90]) == (255, 0, 0)
    # Dragging the divider moves it: from its place on screen to a quarter of the image.
    canvas = view._canvas
    start = QPoint(canvas.divider_x(), canvas.viewport().height() // 2)
    target = canvas.mapFromScene(25, 25)
    qtbot.mousePress(canvas.viewport(), Qt.MouseButton.LeftButton, pos=start)
    move = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(target), QPointF(target),
                       Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas.viewport(), move)
    qtbot.mouseRelease(canvas.viewport(), Qt.MouseButton.LeftButton, pos=target)
    assert view.split_position() == pytest.approx(0.25, abs=0.03)
    with pytest.raises(ValueError, match="view mode must be one of"):
        view.set_view_mode("sideways")


def test_image_view_empty_shows_nothing_to_copy(view):
    assert view.current_pixmap_image().isNull()
    view.set_image(solid(10, 10, (5, 5, 5)))
    assert view.has_image()
    view.set_image(None)
    assert not view.has_image() and view.current_pixmap_image().isNull()
