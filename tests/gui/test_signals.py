"""The Qt binding's signals themselves: what every window part relies on."""
import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    sig_value = Signal(int)


def test_emitting_a_signal_leaves_the_reference_count_of_true_alone(qapp):
    # PySide6 6.12.0's emit returned True without a reference: each emit took one from True, and
    # after enough of them (a long LIME run reports progress 20 times a second) the interpreter aborts
    # with "bool_dealloc: deallocating True or False".
    emitter = _Emitter()
    emitter.sig_value.connect(lambda value: None)
    before = sys.getrefcount(True)
    for value in range(100):
        emitter.sig_value.emit(value)
    assert sys.getrefcount(True) > before - 50
