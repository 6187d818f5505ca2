"""The side panels as a new user meets them: scrolling past controls, values that can't be wrong, messages that go."""
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from limelight.core.errors import ExplanationError

from .conftest import JOB_TIMEOUT_MS
from .test_app import set_method


def wheel(widget, steps=-1):
    """Turn the mouse wheel over `widget` (negative: towards the user, as when scrolling down)."""
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                        QPoint(0, 120 * steps), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_panel_past_a_spin_box_and_changes_it_only_once_focused(qtbot, make_window,
                                                                                      shapes):
    window = make_window(images=[shapes[0][0]])
    set_method(window, "lime")
    window.resizeDocks([window.parameters_dock], [150], Qt.Orientation.Vertical)  # short enough to scroll
    QApplication.processEvents()
    kernel = window.parameter_panel._param_editors["quickshift"]["kernel_size"]
    scroll = window.parameters_dock.widget().verticalScrollBar()
    before = kernel.value()
    window.parameter_panel.setFocus()
    for _ in range(8):
        wheel(kernel)
    assert kernel.value() == before and scroll.value() > 0
    kernel.setFocus()
    wheel(kernel)
    assert kernel.value() == before - 1


def test_kernel_size_cannot_go_below_one(qtbot, make_window, shapes):
    window = make_window(images=[shapes[0][0]])
    kernel = window.parameter_panel._param_editors["quickshift"]["kernel_size"]
    kernel.setValue(0)
    assert kernel.value() == 1 and kernel.minimum() == 1


def test_a_failed_preview_message_goes_when_the_next_preview_works(qtbot, make_window, shapes, monkeypatch):
    import limelight.core.segmentation as segmentation

    window = make_window(images=[shapes[0][0]])
    set_method(window, "lime")
    original, calls = segmentation.segment, []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ExplanationError("quickshift cannot segment this")
        return original(*args, **kwargs)

    monkeypatch.setattr(segmentation, "segment", fails_once)
    with qtbot.waitSignal(window.sig_message, timeout=JOB_TIMEOUT_MS):
        window.parameter_panel.preview.setChecked(True)
    assert "cannot segment" in window.message_bar.text()
    editor = window.parameter_panel._param_editors["quickshift"]["kernel_size"]
    # The value the user fixes gives a preview, and the message about the failed one goes.
    editor.setValue(editor.value() + 1)
    qtbot.waitUntil(lambda: window.message_bar.text() == "", timeout=JOB_TIMEOUT_MS)
    assert len(calls) == 2


def visible_in(widget, rect, window) -> bool:
    """Whether `rect` (in `widget`'s coordinates) is wholly inside the window and every scroll area around it."""
    from PySide6.QtCore import QRect

    top_left = widget.mapTo(window, rect.topLeft())
    shown = QRect(top_left, rect.size())
    area = window.rect()
    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        if parent.objectName() == "qt_scrollarea_viewport":
            area = area.intersected(QRect(parent.mapTo(window, parent.rect().topLeft()), parent.size()))
        parent = parent.parentWidget()
    return widget.isVisible() and area.contains(shown)


def test_at_1366x768_the_samples_explain_progress_cancel_and_predictions_show_without_scrolling(
        qtbot, make_window):
    window = make_window(model="builtin:demo_shapes", images=None)  # the four samples
    window.resize(1366, 728)  # the screen less a desktop panel
    window.reset_layout()
    QApplication.processEvents()
    browser = window.browser.list
    assert browser.count() == 4
    for row in range(4):
        assert visible_in(browser.viewport(), browser.visualItemRect(browser.item(row)), window), row
    predictions = window.predictions_panel.list
    qtbot.waitUntil(lambda: predictions.count() > 0, timeout=JOB_TIMEOUT_MS)
    assert visible_in(predictions.viewport(), predictions.visualItemRect(predictions.item(0)), window)
    explain_button = window.commands.toolbar.widgetForAction(window.commands.explain)
    assert visible_in(explain_button, explain_button.rect(), window)
    set_method(window, "lime", num_samples=200_000, batch_size=100, seed=0)
    with qtbot.waitSignal(window.controller.sig_progress, timeout=JOB_TIMEOUT_MS):
        window.parameter_panel.sig_explain_requested.emit()
    QApplication.processEvents()
    for widget in (window.run_status.progress, window.run_status.eta, window.run_status.cancel):
        assert visible_in(widget, widget.rect(), window), widget
    assert "left" in window.run_status.eta.text() or "Estimating" in window.run_status.eta.text()
    qtbot.mouseClick(window.run_status.cancel, Qt.MouseButton.LeftButton)
    assert not window.run_status.progress.isVisible() and not window.run_status.cancel.isVisible()
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=JOB_TIMEOUT_MS)
