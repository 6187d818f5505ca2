"""Side panels that scroll: the wheel scrolls the panel, and changes a value only in a control with focus."""
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (QAbstractSlider, QAbstractSpinBox, QApplication, QComboBox, QFrame, QScrollArea,
                               QScrollBar, QWidget)

__all__ = ["scroll_panel"]


class _WheelOnlyWhenFocused(QObject):
    """Passes a wheel over an unfocused control on to the scroll area, which scrolls."""

    def __init__(self, area: QScrollArea):
        super().__init__(area)
        self._area = area

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Wheel and not watched.hasFocus():
            QApplication.sendEvent(self._area.viewport(), event)
            return True
        return False


def scroll_panel(widget: QWidget, parent: QWidget) -> QScrollArea:
    """Put `widget` in a vertical scroll area where spin boxes, combo boxes and sliders take the wheel
    only once clicked or tabbed into, so scrolling past one never changes its value."""
    area = QScrollArea(parent)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(widget)
    guard = _WheelOnlyWhenFocused(area)
    for control in widget.findChildren(QWidget):
        if isinstance(control, (QAbstractSpinBox, QComboBox, QAbstractSlider)) and not isinstance(
                control, QScrollBar):
            # The default, WheelFocus, would let the wheel give the control focus and then turn it.
            control.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            control.installEventFilter(guard)
    return area
