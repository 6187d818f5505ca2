"""Tests of the view widgets: image view, overlay controls, parameter panel and predictions panel."""
import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from limelight.core.errors import ExplanationError
from limelight.core.segmentation import SEGMENTATION_DEFAULTS
from limelight.core.images import place_in_photo, scale_photo_and_frame
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


def stripes(rows, cols):
    """A photo of eight vertical colour bands: easy to recognise at any scale."""
    bands = np.array([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255),
                      (255, 0, 255), (255, 255, 255), (0, 0, 0)], np.uint8)
    return np.ascontiguousarray(np.broadcast_to(bands[np.arange(cols) * 8 // cols], (rows, cols, 3)))


def shrink(image, cols, rows):
    return np.asarray(Image.fromarray(image).resize((cols, rows), Image.Resampling.BICUBIC))


def test_image_view_stretches_a_smaller_overlay_over_the_photo(view):
    # 1200x600 in a 400x300 view: shown at a third of its size, on rows 50 to 249.
    photo, full = solid(600, 1200, (0, 0, 255)), stripes(600, 1200)
    view.set_image(photo)
    assert view.zoom() == pytest.approx(1 / 3)
    scale = view.overlay_scale()
    assert 1 / 3 <= scale < 1
    view.set_overlay(shrink(full, round(1200 * scale), round(600 * scale)), full_size=lambda: full)
    shown = shown_pixels(view).astype(int)
    # The overlay covers the photo exactly (no blue photo peeking out at an edge) and looks like the
    # full-size overlay shrunk to the screen.
    assert np.abs(shown[50:250] - shrink(full, 400, 200)).max() <= 2
    background = np.array([58, 58, 60])
    assert (shown[:50] == background).all() and (shown[250:] == background).all()
    # Copying still gives the photo's resolution, from the full-size overlay.
    assert np.array_equal(qimage_array(view.current_pixmap_image()), full)
    # Split: the photo left of the divider and the overlay right of it, on screen and in a copy.
    view.set_view_mode("split")
    shown = shown_pixels(view).astype(int)
    # (Clear of the badges and the divider's handle.)
    assert (shown[100:200, 20:180] == (0, 0, 255)).all()
    assert np.abs(shown[100:200, 220:380] - shrink(full, 400, 200)[50:150, 220:380]).max() <= 2
    composite = qimage_array(view.current_pixmap_image())
    assert (composite[:, :600] == (0, 0, 255)).all() and np.array_equal(composite[:, 600:], full[:, 600:])


def test_image_view_refuses_an_overlay_it_cannot_stretch_over_the_photo(view):
    view.set_image(solid(600, 1200, (0, 0, 255)))
    full = stripes(600, 1200)
    with pytest.raises(ValueError, match="scaled down by one factor"):
        view.set_overlay(solid(300, 300, (1, 2, 3)), full_size=lambda: full)
    with pytest.raises(ValueError, match="scaled down by one factor"):
        view.set_overlay(solid(1200, 2400, (1, 2, 3)), full_size=lambda: full)
    with pytest.raises(ValueError, match="needs full_size"):
        view.set_overlay(solid(300, 600, (1, 2, 3)))
    # Each side rounds on its own: 213 of 600 rows and 425 of 1200 columns is one scale.
    view.set_overlay(solid(213, 425, (1, 2, 3)), full_size=lambda: full)
    assert view.has_overlay()


def test_overlay_scale_follows_the_zoom_in_steps(view, monkeypatch):
    view.set_image(solid(600, 1200, (0, 0, 255)))
    for zoom, scale in [(4.0, 1.0), (1.0, 1.0), (0.9, 1.0), (0.7, 2 ** -0.5), (0.6, 2 ** -0.5),
                        (0.5, 0.5), (0.45, 0.5), (0.2, 2 ** -2)]:
        view._set_zoom(zoom)
        assert view.overlay_scale() == pytest.approx(scale), zoom
    # A screen with two device pixels per point needs twice the pixels.
    monkeypatch.setattr(view, "devicePixelRatioF", lambda: 2.0)
    view._set_zoom(0.45)
    assert view.overlay_scale() == 1.0


def test_a_frame_scaled_for_the_view_lands_where_it_was_in_the_photo():
    # The model saw the centre 300x300 of a 300x600 photo (white, the rest black).
    photo = solid(300, 600, (0, 0, 0))
    photo[:, 150:450] = 255
    small, frame = scale_photo_and_frame(photo, photo[:, 150:450], 2 ** -1.5)
    assert small.shape == (106, 212, 3) and frame.shape == (106, 106, 3)
    # The frame is the white part of the scaled photo, and pasted back it covers exactly that part.
    white = np.flatnonzero(small[0, :, 0] > 128)
    assert frame[..., 0].min() > 128
    covered = np.flatnonzero(np.all(place_in_photo(small, np.zeros_like(frame)) == 0, axis=2).all(axis=0))
    assert np.array_equal(covered, white)
    assert scale_photo_and_frame(photo, photo, 1.0)[0] is photo


def test_image_view_empty_shows_nothing_to_copy(view):
    assert view.current_pixmap_image().isNull()
    view.set_image(solid(10, 10, (5, 5, 5)))
    assert view.has_image()
    view.set_image(None)
    assert not view.has_image() and view.current_pixmap_image().isNull()


# --- ParameterPanel -----------------------------------------------------------------------------

@pytest.fixture
def panel(qtbot):
    from limelight.gui.parameter_panel import ParameterPanel

    panel = ParameterPanel()
    qtbot.addWidget(panel)
    return panel


def test_explain_request_round_trips_through_the_panel(panel):
    from limelight.core.pipeline import ExplainRequest

    panel.set_layers(["conv_a", "conv_b"])
    lime = ExplainRequest(method="lime", segmentation="slic",
                          segmentation_params={"n_segments": 80, "compactness": 20.0, "sigma": 1.5},
                          num_samples=200_000, batch_size=100, hide="blur", kernel_width=0.4, seed=None)
    assert panel.request() != lime
    panel.set_request(lime)
    assert panel.request() == lime
    assert panel.request().key() == lime.key() and hash(lime.key())
    assert lime.params() == {"n_segments": 80, "compactness": 20.0, "sigma": 1.5}
    cam = ExplainRequest(method="scorecam", seed=12, layer="conv_b", use_logits=False, relu=False)
    panel.set_request(cam)
    assert panel.request() == cam
    # A layer the current model does not list is kept rather than silently replaced by Auto.
    odd = ExplainRequest(method="gradcam", layer="elsewhere")
    panel.set_request(odd)
    assert panel.request().layer == "elsewhere"
    with pytest.raises(ExplanationError, match="method must be one of"):
        ExplainRequest(method="shap")


def test_default_request_uses_the_engines_batch_size(panel):
    request = panel.request()
    assert request.batch_size == 48
    assert request.segmentation_params == tuple(SEGMENTATION_DEFAULTS["quickshift"].items())


def test_switching_method_shows_only_its_parameters(panel, qtbot):
    panel.show()
    panel.method_combo.setCurrentIndex(panel.method_combo.findData("lime"))
    assert panel.sampling_box.isVisible() and panel.superpixels_box.isVisible()
    assert not panel.cam_box.isVisible()
    panel.preview.setChecked(True)
    with qtbot.waitSignal(panel.sig_preview_toggled) as blocker:
        panel.method_combo.setCurrentIndex(panel.method_combo.findData("gradcam++"))
    assert blocker.args == [False]
    assert not panel.sampling_box.isVisible() and not panel.superpixels_box.isVisible()
    assert panel.cam_box.isVisible()
    assert panel.request().method == "gradcam++"
    # Only LIME and Score-CAM send batches to the model.
    assert not panel.batch_size.isVisible()
    panel.method_combo.setCurrentIndex(panel.method_combo.findData("scorecam"))
    assert panel.batch_size.isVisible()


def test_cache_key_counts_only_the_chosen_methods_parameters():
    from limelight.core.pipeline import ExplainRequest

    cam = ExplainRequest(method="gradcam", seed=1, num_samples=500)
    assert cam.key() == ExplainRequest(method="gradcam", seed=2, num_samples=900, batch_size=7).key()
    assert cam.key() != ExplainRequest(method="gradcam", layer="conv_b").key()
    assert cam.key() != ExplainRequest(method="gradcam++").key()
    lime = ExplainRequest(method="lime", seed=1)
    assert lime.key() == ExplainRequest(method="lime", seed=1, layer="conv_b", batch_size=7).key()
    assert lime.key() != ExplainRequest(method="lime", seed=2).key()
    assert lime.key() != ExplainRequest(method="lime", seed=1, segmentation_params={"kernel_size": 6}).key()


def test_only_the_users_method_choice_is_announced(panel, qtbot):
    from PySide6.QtTest import QTest

    from limelight.core.pipeline import ExplainRequest

    with qtbot.assertNotEmitted(panel.sig_method_changed):
        panel.set_request(ExplainRequest(method="gradcam"))
    with qtbot.waitSignal(panel.sig_method_changed) as blocker:
        QTest.keyClick(panel.method_combo, Qt.Key.Key_Down)
    assert blocker.args == ["gradcam++"] and panel.request().method == "gradcam++"


def test_batch_size_shows_only_for_methods_that_batch(panel):
    panel.show()
    for method, shown in [("lime", True), ("gradcam", False), ("gradcam++", False), ("scorecam", True)]:
        panel.method_combo.setCurrentIndex(panel.method_combo.findData(method))
        assert panel.batch_size.isVisible() == shown, method


def test_folded_sampling_section_summarises_its_settings(panel, qtbot):
    panel.show()
    section = panel.sampling_box
    assert not section.is_expanded() and not panel.samples.isVisible()
    assert section.header.text() == "Sampling: auto samples, seed 0"
    panel.auto_samples.setChecked(False)
    panel.samples.setValue(2500)
    panel.seed.setValue(7)
    assert section.header.text() == "Sampling: 2,500 samples, seed 7"
    panel.random_seed.setChecked(True)
    assert section.header.text() == "Sampling: 2,500 samples, random seed"
    qtbot.mouseClick(section.header, Qt.MouseButton.LeftButton)
    assert section.is_expanded() and panel.samples.isVisible() and section.header.text() == "Sampling"


def test_keys_explain_and_cancel_only_when_they_can(panel, qtbot):
    from PySide6.QtTest import QTest

    panel.show()
    with qtbot.waitActive(panel):
        panel.activateWindow()
    with qtbot.waitSignal(panel.sig_explain_requested, timeout=1000):
        QTest.keyClick(panel.samples, Qt.Key.Key_Return)
    with qtbot.waitSignal(panel.sig_explain_requested, timeout=1000):
        QTest.keyClick(panel.method_combo, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    panel.set_running(True)
    with qtbot.waitSignal(panel.sig_cancel_requested, timeout=1000):
        QTest.keyClick(panel.method_combo, Qt.Key.Key_Escape)
    with qtbot.assertNotEmitted(panel.sig_explain_requested, wait=200):
        QTest.keyClick(panel.samples, Qt.Key.Key_Return)
        QTest.keyClick(panel.method_combo, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)


def test_idle_escape_is_left_to_the_window(qtbot):
    """While nothing runs, Esc is not taken by the panel: here it closes the dialog holding it."""
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QDialog, QVBoxLayout

    from limelight.gui.parameter_panel import ParameterPanel

    dialog = QDialog()
    qtbot.addWidget(dialog)
    panel = ParameterPanel(dialog)
    QVBoxLayout(dialog).addWidget(panel)
    dialog.show()
    with qtbot.waitActive(dialog):
        dialog.activateWindow()
    with qtbot.assertNotEmitted(panel.sig_cancel_requested), qtbot.waitSignal(dialog.rejected, timeout=1000):
        QTest.keyClick(panel.samples, Qt.Key.Key_Escape)


def test_segmentation_edits_announce_a_new_preview(panel, qtbot):
    panel.method_combo.setCurrentIndex(panel.method_combo.findData("lime"))
    with qtbot.waitSignal(panel.sig_segmentation_changed):
        panel.segmentation_combo.setCurrentIndex(panel.segmentation_combo.findData("grid"))
    editor = panel._param_editors["grid"]["n_segments"]
    with qtbot.waitSignal(panel.sig_segmentation_changed):
        editor.setValue(25)
    assert panel.request().params() == {"n_segments": 25}
    panel.random_seed.setChecked(True)
    assert panel.request().seed is None and not panel.seed.isEnabled()


def test_running_shows_progress_with_time_left_and_cancel(panel, qtbot, monkeypatch):
    import limelight.gui.parameter_panel as module

    panel.show()
    assert not panel.progress.isVisible() and not panel.cancel_button.isVisible()
    clock = iter([100.0, 110.0])
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    panel.set_running(True)
    assert panel.progress.isVisible() and panel.cancel_button.isVisible()
    assert not panel.explain_button.isEnabled()
    panel.set_progress(250, 1000)  # a quarter in 10 s: 30 s to go
    assert panel.progress.value() == 250 and panel.progress.maximum() == 1000
    assert panel.eta.text() == "About 30 s left"
    with qtbot.waitSignal(panel.sig_cancel_requested):
        panel.cancel_button.click()
    panel.set_running(False)
    assert not panel.progress.isVisible() and panel.explain_button.isEnabled()
    with qtbot.waitSignal(panel.sig_explain_requested):
        panel.explain_button.click()


# --- OverlayControls ----------------------------------------------------------------------------

@pytest.fixture
def controls(qtbot):
    from limelight.gui.overlay_controls import OverlayControls

    controls = OverlayControls()
    qtbot.addWidget(controls)
    return controls


def test_threshold_slider_emits_a_style_with_that_threshold(controls, qtbot):
    with qtbot.waitSignal(controls.sig_style_changed) as blocker:
        controls.threshold.setValue(35)
    assert blocker.args[0].threshold == pytest.approx(0.35)
    assert controls.style().threshold == pytest.approx(0.35)
    assert controls.threshold_value.text() == "35%"


@pytest.mark.parametrize("change, field, expected", [
    (lambda c: c.display.setCurrentIndex(c.display.findData("heatmap")), "display", "heatmap"),
    (lambda c: c.top_k.setValue(7), "num_features", 7),
    (lambda c: c.alpha.setValue(70), "alpha", 0.7),
    (lambda c: c.show_negative.setChecked(True), "show_negative", True),
    (lambda c: c.hide_rest.setChecked(True), "hide_rest", True),
    (lambda c: c.colormap.setCurrentIndex(c.colormap.findData("viridis")), "colormap", "viridis"),
])
def test_each_control_changes_the_style(controls, qtbot, change, field, expected):
    before = controls.style()
    with qtbot.waitSignal(controls.sig_style_changed) as blocker:
        change(controls)
    style = blocker.args[0]
    assert getattr(style, field) == expected != getattr(before, field)
    # Nothing else moved.
    assert {k: v for k, v in vars(style).items() if k != field} == {
        k: v for k, v in vars(before).items() if k != field}


def test_colour_buttons_pick_with_the_colour_dialog(controls, qtbot, monkeypatch):
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QColorDialog

    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *args: QColor(0, 0, 255)))
    with qtbot.waitSignal(controls.sig_style_changed) as blocker:
        controls.positive_button.click()
    assert blocker.args[0].positive_colour == (0, 0, 255)
    monkeypatch.setattr(QColorDialog, "getColor", staticmethod(lambda *args: QColor()))  # Cancel
    with qtbot.assertNotEmitted(controls.sig_style_changed):
        controls.positive_button.click()
    assert controls.style().positive_colour == (0, 0, 255)


def test_set_style_shows_it_without_emitting(controls, qtbot):
    from limelight.core.overlay import OverlayStyle

    style = OverlayStyle(display="block", threshold=0.55, num_features=3, alpha=0.8, show_negative=True,
                         positive_colour=(1, 2, 3), negative_colour=(4, 5, 6), hide_rest=True,
                         colormap="magma", fade=0.5)
    with qtbot.assertNotEmitted(controls.sig_style_changed):
        controls.set_style(style)
    assert controls.style() == style
    assert controls.threshold.value() == 55 and controls.top_k.value() == 3
    # A later change keeps the fields that have no control.
    controls.alpha.setValue(10)
    assert controls.style().fade == 0.5 and controls.style().block_colour == style.block_colour


def test_histogram_shows_the_weights_and_the_threshold(controls):
    segments = np.repeat(np.arange(4), 16).reshape(8, 8)
    weights = np.array([0.5, -0.25, 0.1, 1.0], np.float32)[segments]
    controls.set_weights(weights)
    # One value per superpixel, as a share of the strongest.
    assert sorted(controls.histogram.values()) == pytest.approx([-0.25, 0.1, 0.5, 1.0])
    controls.threshold.setValue(40)
    assert controls.histogram.threshold_lines() == pytest.approx([0.4])
    controls.show_negative.setChecked(True)
    assert controls.histogram.threshold_lines() == pytest.approx([0.4, -0.4])
    controls.set_weights(None)
    assert controls.histogram.values() is None and controls.histogram.threshold_lines() == []


def test_histogram_greys_out_the_weights_not_drawn(controls):
    controls.set_weights(np.array([[0.5, -0.25], [0.1, 1.0]], np.float32))
    histogram = controls.histogram
    controls.threshold.setValue(30)
    left, right = histogram.hidden_band()
    # Without negative evidence every negative weight is hidden, up to the threshold.
    assert left < -1 and right == pytest.approx(0.3)
    controls.show_negative.setChecked(True)
    assert histogram.hidden_band() == pytest.approx((-0.3, 0.3))
    controls.set_weights(None)
    assert histogram.hidden_band() is None


def test_the_histogram_is_the_heatmaps_legend_in_its_colormap(controls):
    import matplotlib

    from limelight.core.overlay import OverlayStyle

    controls.set_weights(np.linspace(0.0, 1.0, 400, dtype=np.float32).reshape(20, 20), signed=False)
    histogram = controls.histogram
    green, red = (60, 176, 67), (217, 65, 43)
    controls.set_style(OverlayStyle(display="outline", positive_colour=green, negative_colour=red))
    assert {tuple(c) for c in histogram.bar_colours()} == {green}
    # As a heatmap, the bars run from the colormap's first colour (weight 0) to its last (the strongest).
    controls.set_style(OverlayStyle(display="heatmap", colormap="viridis"))
    bars = histogram.bar_colours().astype(int)
    edges = np.linspace(0.0, 1.0, len(bars) + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    assert len(bars) > 10
    assert np.abs(bars - np.rint(matplotlib.colormaps["viridis"](centres)[:, :3] * 255)).max() <= 6
    # Automatic picks jet for a map of one sign, as the renderer does.
    controls.set_style(OverlayStyle(display="heatmap"))
    jet = np.rint(matplotlib.colormaps["jet"](centres)[:, :3] * 255)
    assert np.abs(histogram.bar_colours().astype(int) - jet).max() <= 6


def test_options_that_change_no_pixel_are_off_and_say_why(controls):
    from limelight.core.overlay import OverlayStyle

    # A Grad-CAM map: no superpixels to count, no negative weight to show.
    controls.set_superpixel_method(False)
    controls.set_weights(np.linspace(0.0, 1.0, 16, dtype=np.float32).reshape(4, 4), signed=False)
    controls.set_style(OverlayStyle(display="heatmap"))
    assert not controls.top_k.isEnabled() and "no superpixels" in controls.top_k.toolTip()
    assert not controls.show_negative.isEnabled() and "no negative weights" in controls.show_negative.toolTip()
    assert controls.alpha.isEnabled() and controls.hide_rest.isEnabled()
    # LIME with weights of both signs: every option counts, except what Block already does.
    controls.set_superpixel_method(True)
    controls.set_weights(np.array([[0.5, -0.25], [0.1, 1.0]], np.float32), signed=True)
    assert controls.top_k.isEnabled() and controls.show_negative.isEnabled()
    assert not controls.negative_button.isEnabled() and "Show negative evidence" in controls.negative_button.toolTip()
    controls.show_negative.setChecked(True)
    assert controls.negative_button.isEnabled()
    controls.display.setCurrentIndex(controls.display.findData("block"))
    assert not controls.hide_rest.isEnabled() and "always fades" in controls.hide_rest.toolTip()


def test_one_colour_row_shows_what_the_display_uses(controls):
    controls.show()
    assert controls.positive_button.isVisible() and not controls.colormap.isVisible()
    assert controls.colour_label.text() == "Colours:"
    controls.display.setCurrentIndex(controls.display.findData("heatmap"))
    assert controls.colormap.isVisible() and not controls.positive_button.isVisible()
    assert controls.colour_label.buddy() is controls.colormap
    # The opposing colour only matters once negative evidence is shown.
    controls.display.setCurrentIndex(controls.display.findData("block"))
    assert not controls.negative_button.isEnabled()
    controls.show_negative.setChecked(True)
    assert controls.negative_button.isEnabled()


# --- PredictionsPanel ---------------------------------------------------------------------------

@pytest.fixture
def predictions(qtbot):
    from limelight.gui.predictions_panel import PredictionsPanel

    panel = PredictionsPanel()
    qtbot.addWidget(panel)
    panel.resize(300, 500)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


TOP = [(967, "espresso", 0.62), (504, "coffee mug", 0.21), (968, "cup", 0.08)]


def test_clicking_a_prediction_emits_its_index(predictions, qtbot):
    predictions.set_predictions(TOP)
    assert predictions.list.count() == 3
    item = predictions.list.item(1)
    point = predictions.list.visualItemRect(item).center()
    with qtbot.waitSignal(predictions.sig_target_chosen) as blocker:
        qtbot.mouseClick(predictions.list.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert blocker.args == [504]
    predictions.set_target(968)
    assert [i.data(Qt.ItemDataRole.UserRole) for i in predictions.list.selectedItems()] == [968]
    predictions.set_predictions([])
    assert predictions.list.count() == 0 and predictions.empty.isVisible()


def test_probability_bars_are_drawn_to_scale(predictions):
    predictions.set_predictions([(0, "full", 1.0), (1, "half", 0.5)])
    predictions.set_target(None)
    image = qimage_array(predictions.list.viewport().grab().toImage())
    green = (np.abs(image.astype(int) - (76, 175, 80)).sum(axis=2) < 30)

    def bar_width(row):
        rect = predictions.list.visualItemRect(predictions.list.item(row))
        ratio = predictions.list.viewport().devicePixelRatioF()
        rows = green[int(rect.top() * ratio):int(rect.bottom() * ratio)]
        return rows.any(axis=0).sum()

    assert bar_width(1) == pytest.approx(bar_width(0) / 2, rel=0.1)


def test_searching_a_class_name_emits_its_index(predictions, qtbot):
    from limelight.core.labels import imagenet_labels

    predictions.set_class_names(imagenet_labels().names)
    assert "espresso" in predictions._completer_model.stringList()
    predictions.search.setText("espresso")
    with qtbot.waitSignal(predictions.sig_target_chosen) as blocker:
        predictions.search.returnPressed.emit()
    assert blocker.args == [967]
    with qtbot.waitSignal(predictions.sig_target_chosen) as blocker:
        predictions.completer.activated[str].emit("crane (machine)")
    assert blocker.args == [517]
    predictions.search.setText("dog")  # many classes: the user must pick one
    with qtbot.assertNotEmitted(predictions.sig_target_chosen):
        predictions.search.returnPressed.emit()
    assert predictions.search_note.isVisible()
    # A user labels file may repeat a name: the index tells the two apart.
    predictions.set_class_names(["cat", "crane", "dog", "crane"])
    assert predictions._completer_model.stringList() == ["cat", "crane (class 1)", "dog", "crane (class 3)"]
    with qtbot.waitSignal(predictions.sig_target_chosen) as blocker:
        predictions.completer.activated[str].emit("crane (class 3)")
    assert blocker.args == [3]


def test_info_block_shows_the_explanations_facts(predictions):
    predictions.set_info({"method": "LIME", "label": "espresso", "index": 967, "time": 4.25,
                          "probability": 0.625, "fit": 0.7134, "local_prediction": 0.58, "samples": 1000,
                          "seed": None, "superpixels": 48})
    text = predictions.info_text()
    for part in ("espresso", "(class 967)", "LIME", "62.5%", "Fit (R²)", "0.71 good", "Fit's estimate",
                 "58.0%", "1,000", "random", "4.2 s"):
        assert part in text
    predictions.set_info({"method": "Grad-CAM", "label": "cup", "index": 968, "time": 0.12,
                          "probability": 0.08, "layer": "top_conv", "class_score": 3.5})
    text = predictions.info_text()
    assert "top_conv" in text and "120 ms" in text and "3.500" in text and "Seed" not in text
    predictions.set_info(None)
    assert "Explain the image" in predictions.info_text()


def test_info_names_a_class_once_and_flags_a_weak_fit_and_an_estimate_outside_0_to_1(predictions):
    # The numbers of issue 16: a fit's estimate of 1.195 beside a probability of 82.1 %, R² 0.355.
    predictions.set_info({"method": "LIME", "label": "class 6", "index": 6, "probability": 0.821,
                          "fit": 0.355, "local_prediction": 1.195})
    text = predictions.info_text()
    assert text.count("class 6") == 1
    assert "Fit (R²) 0.35 weak" in " ".join(text.split())
    assert "Fit's estimate 100% (clipped)" in " ".join(text.split())
    assert "Local prediction" not in text and "1.195" not in text
    predictions.set_info({"method": "LIME", "label": "tabby", "index": 281, "fit": 0.8, "local_prediction": -0.2})
    text = " ".join(predictions.info_text().split())
    assert "tabby (class 281)" in text and "Fit (R²) 0.80 good" in text and "0% (clipped)" in text


def test_info_facts_come_in_a_fixed_order(predictions):
    predictions.set_info({"time": 0.5, "label": "cup", "probability": 0.5, "method": "Grad-CAM"})
    cells = predictions.info_text().split()
    assert cells == ["cup", "Method", "Grad-CAM", "Probability", "50.0%", "Time", "500", "ms"]
