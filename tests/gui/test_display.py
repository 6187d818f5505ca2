"""How results are drawn in the window: each in its own display, marked when out of date, saved with a caption."""
import numpy as np
from PIL import Image
from PySide6.QtWidgets import QFileDialog

from limelight.core.overlay import render
from limelight.core.images import place_in_photo

from .conftest import JOB_TIMEOUT_MS
from .test_app import explain, qimage_array, shown_pixels


def choose_method(window, method):
    """Pick `method` in the panel as a user does."""
    combo = window.parameter_panel.method_combo
    combo.setCurrentIndex(combo.findData(method))
    combo.activated.emit(combo.currentIndex())


def test_switching_the_method_keeps_the_results_display_and_marks_it_out_of_date(qtbot, make_window, shapes):
    window = make_window(images=[shapes[0][0]])
    cam = explain(qtbot, window, "gradcam")
    assert window.shown_style().display == "heatmap" and window.stale_note.isHidden()
    before = shown_pixels(window)

    choose_method(window, "lime")
    # The controls are ready for LIME's outlines; the Grad-CAM map keeps its heatmap, marked as old.
    assert window.overlay_controls.style().display == "outline"
    assert np.array_equal(shown_pixels(window), before)
    assert window.shown_style().display == "heatmap"
    assert not window.stale_note.isHidden()
    assert "Out of date: made with Grad-CAM" in window.stale_note.text() and "LIME" in window.stale_note.text()
    # The histogram stays the legend of the heatmap shown, not green outline bars.
    assert len({tuple(c) for c in window.overlay_controls.histogram.bar_colours()}) > 3
    # Other settings still apply to it, in its own display.
    window.overlay_controls.threshold.setValue(90)
    assert window.shown_style().display == "heatmap" and window.shown_style().threshold == 0.9
    assert not np.array_equal(shown_pixels(window), before)
    window.overlay_controls.threshold.setValue(20)

    # Back to Grad-CAM: current again, no mark.
    choose_method(window, "gradcam")
    assert window.stale_note.isHidden() and np.array_equal(shown_pixels(window), before)

    # A new LIME result replaces it and is drawn as outlines, unmarked.
    choose_method(window, "lime")
    lime = explain(qtbot, window, "lime", num_samples=60, seed=1)
    assert lime.explanation.kind == "lime" and cam.explanation.kind == "cam"
    assert window.stale_note.isHidden() and window.shown_style().display == "outline"
    expected = render(lime.frame, lime.explanation, lime.target, window.overlay_controls.style())
    assert np.array_equal(window.rendered_frame(), expected)


def test_compare_draws_each_side_in_its_methods_display_and_reruns_a_side_whose_method_changes(
        qtbot, make_window, shapes):
    window = make_window(images=[shapes[0][0]])
    window.show_compare()
    dialog = window._compare
    qtbot.waitUntil(lambda: all(p["result"] is not None for p in dialog._panes), timeout=JOB_TIMEOUT_MS)
    assert [dialog.pane_style(i).display for i in (0, 1)] == ["heatmap", "outline"]
    # Each pane shows exactly its own result drawn in its own style.
    for index, pane in enumerate(dialog._panes):
        result = pane["result"]
        drawn = place_in_photo(window.current_image_for(result),
                               render(result.frame, result.explanation, result.target, dialog.pane_style(index)))
        assert np.array_equal(qimage_array(pane["view"].current_pixmap_image()), drawn)

    # A side's method changes: its display follows and it is explained again with the new method.
    method = dialog._panes[0]["method"]
    method.setCurrentIndex(method.findData("lime"))
    method.activated.emit(method.currentIndex())
    assert dialog.pane_style(0).display == "outline" and dialog._panes[0]["result"] is None
    qtbot.waitUntil(lambda: dialog._panes[0]["result"] is not None, timeout=JOB_TIMEOUT_MS)
    assert dialog._panes[0]["result"].explanation.kind == "lime"
    # A pane's display can be changed alone.
    display = dialog._panes[1]["display"]
    display.setCurrentIndex(display.findData("heatmap"))
    display.activated.emit(display.currentIndex())
    assert [dialog.pane_style(i).display for i in (0, 1)] == ["outline", "heatmap"]
    dialog.close()


def test_save_with_caption_writes_method_class_and_scores_under_the_image(
        qtbot, make_window, shapes, tmp_path, monkeypatch):
    window = make_window(images=[shapes[0][0]])
    explain(qtbot, window, "gradcam")
    plain, captioned = tmp_path / "plain.png", tmp_path / "captioned.png"
    window.save_annotated(plain)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *args, **kwargs: (str(captioned), "")))
    assert window.save_captioned_action in window.menuBar().actions()[0].menu().actions()
    window.save_captioned_action.trigger()
    with Image.open(plain) as image:
        plain_pixels = np.asarray(image.convert("RGB"))
    with Image.open(captioned) as image:
        pixels = np.asarray(image.convert("RGB"))
    rows = plain_pixels.shape[0]
    assert pixels.shape[1] == plain_pixels.shape[1] and pixels.shape[0] > rows + 40
    assert np.array_equal(pixels[:rows], plain_pixels)
    under = pixels[rows:]
    # Text (dark on white) and the heatmap's colour bar (a row running through jet's colours).
    assert (under < 100).all(axis=2).sum() > 100
    assert any((np.ptp(under[r].astype(int), axis=1) > 100).sum() > 60 for r in range(under.shape[0]))
    assert np.array_equal(window.captioned_frame(), pixels)
