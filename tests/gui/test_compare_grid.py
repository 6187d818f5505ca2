"""Compare's grid: more methods than two, each with its deletion and insertion AUC, ranked by faithfulness."""
from limelight.core.methods import METHOD_TITLES
from limelight.gui.compare import faithfulness_margin
from tests.gui.conftest import JOB_TIMEOUT_MS


def test_added_methods_join_the_grid_and_every_pane_is_ranked_by_faithfulness(qtbot, make_window, shapes):
    window = make_window(images=[shapes[0][0]])
    window.show_compare()
    dialog = window.compare
    qtbot.waitUntil(lambda: all(p["result"] is not None for p in dialog._panes), timeout=JOB_TIMEOUT_MS)
    for method in ("smoothgrad", "rise"):
        index = len(dialog._panes)
        dialog.add_button.click()
        dialog._panes[index]["method"].setCurrentIndex(dialog._panes[index]["method"].findData(method))
        dialog._panes[index]["method"].activated.emit(dialog._panes[index]["method"].currentIndex())
    qtbot.waitUntil(lambda: len(dialog._panes) == 4 and all(p["result"] is not None for p in dialog._panes)
                    and not dialog._jobs, timeout=JOB_TIMEOUT_MS)
    results = [pane["result"] for pane in dialog._panes]
    assert [r.explanation.method for r in results] == ["gradcam", "lime", "smoothgrad", "rise"]
    margins = [faithfulness_margin(r) for r in results]
    assert all(m is not None for m in margins)  # even Grad-CAM and SmoothGrad measure their curves here
    order = sorted(range(4), key=lambda i: -margins[i])
    for place, index in enumerate(order, start=1):
        assert dialog._panes[index]["caption"].text().startswith(f"#{place} of 4 by faithfulness: deletion AUC")
    assert dialog.status.text() == "Ranked by faithfulness: " + ", ".join(
        METHOD_TITLES[results[i].explanation.method] for i in order)
    dialog.close()
