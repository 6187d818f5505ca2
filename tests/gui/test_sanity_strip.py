"""The sanity strip on its own: offering the check, running with Cancel, the verdict and its maps."""
import numpy as np
from PySide6.QtCore import Qt

from limelight.core.sanity import Sanity
from limelight.gui.sanity_strip import MAPS_PER_ROW, THUMBNAIL, SanityStrip


def made_up(passing=True):
    rows, cols = np.mgrid[0:32, 0:32]
    blob = np.exp(-((rows - 8) ** 2 + (cols - 24) ** 2) / 20.0)
    flat = np.random.default_rng(0).random((32, 32)) * 0.01
    maps = [blob, blob if not passing else flat, flat]
    rho = [1.0, 1.0 if not passing else 0.1, 0.05]
    return Sanity(method="gradcam", target=2, total_layers=2, randomised=(0, 1, 2), layers=("", "dense", "conv"),
                  spearman=rho, ssim=rho, maps=maps, random_class=1, random_class_spearman=-0.5,
                  random_class_ssim=0.1, random_class_map=flat, seed=0)


def test_the_check_is_offered_with_its_cost_and_cancel_replaces_it_while_it_runs(qtbot):
    strip = SanityStrip()
    qtbot.addWidget(strip)
    strip.clear()
    assert strip.isHidden()
    strip.clear("9 gradcam gradient passes, a few seconds")
    assert not strip.isHidden() and strip.button.text() == "Check sanity"
    assert "9 gradcam gradient passes" in strip.button.toolTip()
    with qtbot.waitSignal(strip.sig_check_requested, timeout=1000):
        qtbot.mouseClick(strip.button, Qt.MouseButton.LeftButton)

    strip.set_running("9 gradcam gradient passes, a few seconds")
    assert strip.running and strip.button.text() == "Cancel" and not strip.progress.isHidden()
    strip.set_progress(3000, 9000)
    assert strip.progress.value() == 3000 and strip.progress.maximum() == 9000
    with qtbot.waitSignal(strip.sig_cancel_requested, timeout=1000):
        qtbot.mouseClick(strip.button, Qt.MouseButton.LeftButton)
    strip.set_cancelled()
    assert not strip.running and strip.button.text() == "Check sanity" and "cancelled" in strip.verdict.text()


def test_a_result_shows_its_verdict_and_one_map_per_step(qtbot):
    strip = SanityStrip()
    qtbot.addWidget(strip)
    strip.set_running("3 gradient passes")
    strip.set_result(made_up())
    assert not strip.running and strip.progress.isHidden()
    assert "sanity: <span style='color: #2e9d3a'>passes</span>" in strip.verdict.text()
    assert "Another class: -0.50" in strip.verdict.text()
    pictures = [strip._grid.itemAtPosition(0, column).widget().pixmap() for column in range(3)]
    captions = [strip._grid.itemAtPosition(1, column).widget().text() for column in range(3)]
    assert captions == ["original", "0.10", "0.05"]
    assert all(max(p.width(), p.height()) == THUMBNAIL for p in pictures)
    # The original's peak (row 8, column 24 of 32) is drawn in the colormap's top colour (jet: dark red).
    image = pictures[0].toImage()
    peak = image.pixelColor(24 * THUMBNAIL // 32, 8 * THUMBNAIL // 32)
    corner = image.pixelColor(1, THUMBNAIL - 2)
    assert peak.red() > 100 and peak.blue() < 60 and corner.blue() > 100

    strip.set_result(made_up(passing=False))
    assert "fails" in strip.verdict.text() and strip._grid.count() == 6


def test_a_failure_is_one_line_and_the_check_can_be_asked_again(qtbot):
    strip = SanityStrip()
    qtbot.addWidget(strip)
    strip.set_running("3 gradient passes")
    strip.set_failed("the sanity check could not copy the model (no config)")
    assert "could not copy the model" in strip.verdict.text() and strip.button.text() == "Check sanity"


def test_nine_steps_wrap_into_rows_that_fit_the_narrow_info_panel(qtbot):
    # At 1366x768 the info panel is about 230 px wide; nine maps in one row (380 px) widened it and
    # pushed the class probabilities and the verdict's end out of sight.
    strip = SanityStrip()
    qtbot.addWidget(strip)
    many = made_up()
    steps = 9
    strip.set_result(Sanity(method="gradcam", target=2, total_layers=8, randomised=tuple(range(steps)),
                            layers=("",) + ("dense",) * (steps - 1), spearman=[0.1] * steps, ssim=[0.1] * steps,
                            maps=[many.maps[0]] * steps, random_class=1, random_class_spearman=-0.5,
                            random_class_ssim=0.1, random_class_map=many.maps[2], seed=0))
    assert strip._grid.itemAtPosition(2, 0) is not None and strip._grid.itemAtPosition(0, MAPS_PER_ROW) is None
    assert strip.maps.minimumSizeHint().width() <= 220


def test_steps_fill_the_strip_while_it_runs_and_the_result_replaces_them(qtbot):
    strip = SanityStrip()
    qtbot.addWidget(strip)
    sanity = made_up()
    strip.add_step(0, "", sanity.maps[0], 1.0)  # not running: a late step of a cancelled check is dropped
    assert strip._grid.count() == 0
    strip.set_running("3 gradient passes")
    for count, layer, picture, rho in zip(sanity.randomised, sanity.layers, sanity.maps, sanity.spearman):
        strip.add_step(count, layer, picture, rho)
        assert len(strip.step_captions()) == count + 1 and strip.maps.isVisibleTo(strip)
    assert strip.step_captions() == ["original", "0.10", "0.05"] and strip.running
    assert strip._grid.itemAtPosition(0, 1).widget().toolTip() == "1 layer randomised (down to dense); Spearman 0.10"
    strip.set_result(sanity)
    assert strip.step_captions() == ["original", "0.10", "0.05"] and not strip.running
