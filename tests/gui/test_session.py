"""The session without a window: photo, model, target and shown explanation, and the jobs that change them."""
import numpy as np
import pytest

from limelight.core.pipeline import ExplainRequest
from limelight.gui.session import Session
from limelight.gui.jobs import Predict
from .conftest import DEMO, JOB_TIMEOUT_MS, MODEL_TIMEOUT_MS


@pytest.fixture
def request_box():
    """The request the session explains with, as a parameter panel would hand it over: set `[0]`."""
    return [ExplainRequest(method="gradcam")]


@pytest.fixture
def session(qtbot, settings, request_box):
    """A session with the demo model loaded and no window anywhere."""
    session = Session(settings, request=lambda: request_box[0])
    with qtbot.waitSignal(session.sig_model_loaded, timeout=MODEL_TIMEOUT_MS):
        session.load_model(DEMO)
    yield session
    session.shutdown(10_000)


def show(qtbot, session, path):
    with qtbot.waitSignal(session.sig_predictions_shown, timeout=JOB_TIMEOUT_MS,
                          check_params_cb=lambda predictions: predictions is not None) as shown:
        session.select_image(path)
    return shown.args[0]


def explain(qtbot, session):
    with qtbot.waitSignal(session.sig_result_shown, timeout=JOB_TIMEOUT_MS,
                          check_params_cb=lambda result: result is not None) as shown:
        session.explain()
    return shown.args[0]


def test_a_session_explains_the_photo_it_shows_where_the_object_is(qtbot, session, shapes):
    path, label, mask = shapes[0]
    predictions = show(qtbot, session, path)
    assert predictions.path == path and session.current_path() == path
    assert session.current_image().shape == (128, 128, 3)
    result = explain(qtbot, session)
    assert session.shown_result() is result and result.path == path
    assert session.target() == result.target == predictions.top[0][0]
    weights = np.asarray(result.explanation.weight_map(result.target))
    assert weights[mask].mean() > weights[~mask].mean()


def test_going_back_to_a_photo_shows_its_explanation_without_asking_the_worker(qtbot, session, shapes):
    show(qtbot, session, shapes[0][0])
    first = explain(qtbot, session)
    show(qtbot, session, shapes[1][0])
    assert session.shown_result() is None
    with qtbot.assertNotEmitted(session.controller.sig_started, wait=200):
        with qtbot.waitSignal(session.sig_result_shown, timeout=5000,
                              check_params_cb=lambda result: result is not None) as shown:
            session.select_image(shapes[0][0])
    assert shown.args[0] is first and session.shown_result() is first


def test_another_class_of_a_gradcam_result_is_explained_at_once(qtbot, session, shapes):
    show(qtbot, session, shapes[0][0])
    first = explain(qtbot, session)
    other = (first.target + 1) % 4
    with qtbot.waitSignal(session.sig_result_shown, timeout=JOB_TIMEOUT_MS,
                          check_params_cb=lambda result: result is not None and result.target == other):
        session.choose_target(other)
    assert session.target() == other and session.shown_result().target == other


def test_cancel_ends_the_run_and_shows_no_result(qtbot, session, shapes, request_box):
    show(qtbot, session, shapes[0][0])
    request_box[0] = ExplainRequest(method="lime", num_samples=200_000, batch_size=100, seed=0)
    shown = []
    session.sig_result_shown.connect(shown.append)
    with qtbot.waitSignal(session.sig_progress, timeout=JOB_TIMEOUT_MS):
        session.explain()
    assert session.is_running()
    with qtbot.waitSignal(session.sig_running_changed, timeout=5000, check_params_cb=lambda running, _: not running):
        session.cancel()
    assert not session.is_running()
    qtbot.waitUntil(lambda: not session.controller.busy, timeout=JOB_TIMEOUT_MS)
    assert shown == [] and session.shown_result() is None


def test_a_model_that_fails_to_load_is_reported_and_the_current_one_kept(qtbot, session, tmp_path):
    missing = str(tmp_path / "missing.keras")
    with qtbot.waitSignal(session.sig_error, timeout=JOB_TIMEOUT_MS) as error:
        session.load_model(missing)
    message, cause = error.args
    assert "missing.keras" in message and f"Kept {session.model_info().name}." in message
    assert cause == "model" and session.model_source() == DEMO


def test_each_answer_goes_to_the_job_that_asked_for_it(qtbot, session):
    image = np.zeros((64, 64, 3), np.uint8)
    answers, failures = [], []
    controller = session.controller
    with qtbot.waitSignal(controller.sig_busy_changed, timeout=JOB_TIMEOUT_MS, check_params_cb=lambda busy: not busy):
        controller.submit(Predict("builtin:not_loaded", "a", image), on_result=answers.append,
                          on_failed=lambda message: failures.append(("a", message)))
        controller.submit(Predict(DEMO, "b", image), on_result=lambda value: answers.append(value.path),
                          on_failed=lambda message: failures.append(("b", message)))
    assert answers == ["b"]
    assert [who for who, _ in failures] == ["a"] and "not_loaded is not loaded" in failures[0][1]


def test_a_cancelled_job_calls_none_of_its_callbacks(qtbot, session):
    image = np.zeros((64, 64, 3), np.uint8)
    heard = []
    controller = session.controller
    with qtbot.waitSignal(controller.sig_busy_changed, timeout=JOB_TIMEOUT_MS, check_params_cb=lambda busy: not busy):
        handle = controller.submit(Predict(DEMO, "a", image), on_result=heard.append, on_failed=heard.append,
                                   on_finished=lambda: heard.append("finished"))
        assert handle.is_live()
        handle.cancel()
        assert not handle.is_live()
    assert heard == []
