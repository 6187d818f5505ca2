"""The Ray engine gives the local engine's results, on one node or two, through a killed worker and Ctrl+C."""
import os
import signal
import time

import numpy as np
import pytest

from limelight.core.dataset import evaluate, scan_dataset
from limelight.core.errors import UntrustedModelError
from tests.labelled_folders import shape_scenes

ray = pytest.importorskip("ray")
from limelight.core.ray_engine import RayEngine  # noqa: E402 (needs ray)


@pytest.fixture(scope="module")
def demo():
    from limelight.core.zoo import load_builtin

    return load_builtin("demo_shapes")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return scan_dataset(shape_scenes(tmp_path_factory.mktemp("shapes"), per_class=3, hard_per_class=1))


@pytest.fixture(scope="module")
def local(demo, shapes):
    return evaluate(demo, shapes)


@pytest.fixture
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _same(evaluation, local):
    assert evaluation.paths == local.paths
    assert evaluation.predicted.tolist() == local.predicted.tolist()
    np.testing.assert_allclose(evaluation.probabilities, local.probabilities, atol=1e-5)


def _wait_until(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_two_workers_give_the_local_engines_predictions_and_release_the_cluster(demo, shapes, local, cluster):
    engine = RayEngine(workers=2)
    evaluation = evaluate(demo, shapes, engine=engine, batch_size=3)
    _same(evaluation, local)
    assert len(engine.worker_pids) == 2 and engine.startup_seconds > 0
    _wait_until(lambda: ray.available_resources().get("CPU") == 2)


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_restarted_and_no_image_is_lost_or_counted_twice(demo, shapes, local, cluster):
    engine, seen = RayEngine(workers=2), []

    def progress(done, total):
        if seen and seen[-1] == 0 and done > 0:
            os.kill(engine.worker_pids[0], signal.SIGKILL)
        seen.append(done)

    evaluation = evaluate(demo, shapes, engine=engine, batch_size=2, progress=progress)
    _same(evaluation, local)
    assert seen[-1] == len(shapes) and seen == sorted(seen)


def test_ctrl_c_in_the_driver_stops_the_workers(demo, shapes, cluster):
    def progress(done, total):
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(demo, shapes, engine=RayEngine(workers=2), batch_size=2, progress=progress)
    _wait_until(lambda: ray.available_resources().get("CPU") == 2)


@pytest.mark.slow
def test_a_model_that_runs_code_is_refused_on_the_workers_unless_trusted(shapes, tmp_path, cluster):
    import keras

    from limelight.core.models import load_model

    inputs = keras.Input((64, 64, 3))
    outputs = keras.layers.Dense(6, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(keras.layers.Lambda(lambda x: x * 2.0)(inputs)))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    model = load_model(path, trust=True, preprocessing="unit")
    with pytest.raises(UntrustedModelError, match="Lambda") as error:
        evaluate(model, shapes, engine=RayEngine(workers=1))
    assert str(error.value).startswith(str(path))
    evaluation = evaluate(model, shapes, engine=RayEngine(workers=1, trust=True))
    assert len(evaluation.paths) == len(shapes)


@pytest.mark.slow
def test_a_two_node_cluster_gives_the_local_engines_predictions(demo, shapes, local):
    from ray.cluster_utils import Cluster

    two_nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    two_nodes.add_node(num_cpus=1)
    try:
        engine = RayEngine(address=two_nodes.address)
        _same(evaluate(demo, shapes, engine=engine, batch_size=3), local)
        assert len(engine.worker_pids) == 2
    finally:
        two_nodes.shutdown()


def test_predicting_then_explaining_starts_the_actors_once_and_writes_the_local_engines_files(
        demo, shapes, local, cluster, tmp_path):
    from limelight.core.overlay import OverlayStyle
    from limelight.core.pipeline import ExplainRequest
    from limelight.core.selection import SaveOptions, explain_selection

    request, options = ExplainRequest(method="gradcam"), SaveOptions(OverlayStyle(display="heatmap"))
    expected = explain_selection(demo, local, local.wrong(), request, folder=tmp_path / "local", options=options)
    engine = RayEngine(workers=2)
    with engine.started(demo):
        evaluation = evaluate(demo, shapes, engine=engine, batch_size=3)
        result = explain_selection(demo, evaluation, evaluation.wrong(), request, folder=tmp_path / "ray",
                                   options=options, engine=engine)
    assert engine.starts == 1
    _same(evaluation, local)
    assert len(result.images) == len(expected.images) > 0
    for one, other in zip(expected.written, result.written):
        assert one.relative_to(tmp_path / "local") == other.relative_to(tmp_path / "ray")
        if one.suffix == ".png":
            assert one.read_bytes() == other.read_bytes()
    _wait_until(lambda: ray.available_resources().get("CPU") == 2)
