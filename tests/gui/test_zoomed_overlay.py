"""A large photo zoomed out: the window draws the overlay at the size shown, and copies it at full size."""
import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QApplication

from .conftest import JOB_TIMEOUT_MS
from .test_app import explain, qimage_array

SIDE = 1536


@pytest.fixture
def big_photo(shapes, tmp_path):
    """A photo larger than the view, so that it is shown zoomed out."""
    path = tmp_path / "big.png"
    Image.open(shapes[0][0]).resize((SIDE, SIDE), Image.Resampling.NEAREST).save(path)
    return str(path)


def shown_on_screen(view):
    """The photo's part of the screen, and the same size of the full-resolution overlay, shrunk."""
    canvas = view._canvas
    box = canvas.mapFromScene(canvas.sceneRect()).boundingRect().intersected(canvas.viewport().rect())
    screen = qimage_array(canvas.viewport().grab().toImage())
    return screen[box.top() + 1:box.bottom() - 1, box.left() + 1:box.right() - 1], box


@pytest.mark.parametrize("method", ["lime", "gradcam"])
def test_zoomed_out_overlay_matches_the_full_render_and_copies_at_full_size(qtbot, make_window, big_photo,
                                                                          method):
    window = make_window(images=[big_photo])
    window.resize(1200, 800)
    view = window.image_view
    explain(qtbot, window, method, **({"num_samples": 200, "seed": 0} if method == "lime" else {}))
    scale = view.overlay_scale()
    assert view.zoom() < scale < 1
    # The view got an overlay of the size shown, not of the photo ...
    assert (view._overlay.width(), view._overlay.height()) == (round(SIDE * scale),) * 2
    # ... which on screen looks like the full-resolution overlay shrunk to the photo's place on it.
    full = window.rendered_frame()
    screen, box = shown_on_screen(view)
    expected = np.asarray(Image.fromarray(full).resize((box.width(), box.height()), Image.Resampling.BICUBIC))
    difference = np.abs(screen.astype(int) - expected[1:-2, 1:-2]).mean(axis=2)
    assert np.median(difference) <= 1 and np.mean(difference) <= 3
    # Copying gives the photo's resolution: exactly the full render, and in split mode the photo
    # left of the divider and the full render right of it.
    window.copy_action.trigger()
    assert np.array_equal(qimage_array(QApplication.clipboard().image()), full)
    window.set_view_mode("split")
    window.copy_action.trigger()
    copied = qimage_array(QApplication.clipboard().image())
    half = SIDE // 2
    assert np.array_equal(copied[:, :half], window.current_image()[:, :half])
    assert np.array_equal(copied[:, half:], full[:, half:])


def test_zooming_redraws_the_overlay_only_when_it_needs_more_or_fewer_pixels(qtbot, make_window, big_photo,
                                                                            monkeypatch):
    window = make_window(images=[big_photo])
    view = window.image_view
    explain(qtbot, window, "gradcam")
    handed = []
    set_overlay = view.set_overlay
    monkeypatch.setattr(view, "set_overlay", lambda rendered, **kw: handed.append(rendered.shape[:2])
                        or set_overlay(rendered, **kw))
    scale = view.overlay_scale()
    # Zooming out a little, still within the overlay's step: the overlay stays.
    view.zoom_by((scale / 2 ** 0.5 / view.zoom()) ** 0.5)
    assert view.overlay_scale() == scale and handed == []
    # Out past the step: a smaller overlay; at 100 % the photo's own size again.
    view.zoom_by(0.8)
    view.zoom_by(0.8)
    assert handed and handed[-1] == (round(SIDE * view.overlay_scale()),) * 2 and view.overlay_scale() < scale
    view.zoom_actual()
    assert handed[-1] == (SIDE, SIDE)
    assert np.array_equal(qimage_array(view.current_pixmap_image()), window.rendered_frame())


def test_compare_draws_both_sides_at_the_size_shown_and_copies_them_at_full_size(qtbot, make_window,
                                                                                big_photo):
    from limelight.core.overlay import render
    from limelight.core.images import place_in_photo

    window = make_window(images=[big_photo])
    explain(qtbot, window, "gradcam")
    window.show_compare()
    dialog = window._compare
    qtbot.waitUntil(lambda: all(pane["result"] is not None for pane in dialog._panes), timeout=JOB_TIMEOUT_MS)
    for index, pane in enumerate(dialog._panes):
        view, result = pane["view"], pane["result"]
        style = dialog.pane_style(index)  # each side in its own method's display
        scale = view.overlay_scale()
        assert scale < 1 and (view._overlay.width(), view._overlay.height()) == (round(SIDE * scale),) * 2
        full = place_in_photo(window.current_image(), render(result.frame, result.explanation, result.target, style))
        assert np.array_equal(qimage_array(view.current_pixmap_image()), full)
        # Zoomed to 100 %, the side draws the photo's own size again.
        view.zoom_actual()
        assert (view._overlay.width(), view._overlay.height()) == (SIDE, SIDE)
    dialog.close()
