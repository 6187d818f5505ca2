"""Explaining a labelled dataset's selection: files per class folder, the index CSV, per-image seeds, cancelling."""
import csv

import numpy as np
import pytest

from limelight.core.dataset import evaluate, scan_dataset
from limelight.core.overlay import OverlayStyle
from limelight.core.pipeline import ExplainRequest
from limelight.core.selection import INDEX_FILE, SaveOptions, explain_selection, image_targets
from tests.labelled_folders import shape_scenes


@pytest.fixture(scope="module")
def demo():
    from limelight.core.zoo import load_builtin

    return load_builtin("demo_shapes")


@pytest.fixture(scope="module")
def evaluation(demo, tmp_path_factory):
    return evaluate(demo, scan_dataset(shape_scenes(tmp_path_factory.mktemp("shapes"), per_class=2,
                                                    hard_per_class=2)))


def _index(result):
    with open(result.index, newline="") as handle:
        return list(csv.DictReader(handle))


def test_each_wrong_image_gets_its_predicted_and_true_class_in_its_class_folder_and_the_index(
        demo, evaluation, tmp_path):
    wrong = evaluation.wrong()
    seen = []
    result = explain_selection(demo, evaluation, wrong, ExplainRequest(method="gradcam"), folder=tmp_path,
                               options=SaveOptions(OverlayStyle(display="heatmap")),
                               progress=lambda done, total: seen.append((done, total)))
    assert len(wrong) > 0 and not result.cancelled and not result.failures
    assert seen[0] == (0, len(wrong)) and seen[-1] == (len(wrong), len(wrong))
    rows = _index(result)
    assert len(rows) == 2 * len(wrong)
    for row, position in zip(rows[::2], wrong):
        names = [evaluation.label_names[t] for t in image_targets(evaluation, position)]
        assert row["path"] == str(evaluation.paths[position]) and row["explained"] == names[0]
    for row in rows:
        assert (tmp_path / row["true"]).samefile(tmp_path / row["image"].split("/")[-2])
        assert row["why"] == ("predicted" if row["explained"] == row["predicted"] else "true")
    assert sorted(map(str, result.written)) == sorted(
        str(p) for p in tmp_path.rglob("*") if p.is_file() and p.name != INDEX_FILE)


def test_cancelling_inside_an_image_stops_it_before_anything_of_it_is_written(demo, evaluation, tmp_path):
    # A LIME image takes long on a busy laptop: Cancel must not wait for it to finish.
    explained, polls_since_first = [], []

    def cancelled():
        if explained:
            polls_since_first.append(1)
        return len(polls_since_first) >= 2  # the poll between images passes, the first inside the next stops

    request = ExplainRequest(method="lime", segmentation="slic", segmentation_params={"n_segments": 60},
                             num_samples=150, seed=0, hide="blur")  # the scenes' shapes are flat: blur, not mean
    result = explain_selection(demo, evaluation, np.arange(3), request, folder=tmp_path,
                               options=SaveOptions(OverlayStyle()), on_image=explained.append, cancelled=cancelled)
    assert result.cancelled and [image.position for image in result.images] == [0]
    second = evaluation.paths[1].stem
    assert not [p for p in tmp_path.rglob(f"{second}_*")]
    assert {row["path"] for row in _index(result)} == {str(evaluation.paths[0])}


def test_cancelling_stops_between_images_and_the_index_lists_exactly_what_was_written(demo, evaluation, tmp_path):
    everything = np.arange(len(evaluation.paths))
    explained = []
    result = explain_selection(demo, evaluation, everything, ExplainRequest(method="gradcam"), folder=tmp_path,
                               options=SaveOptions(OverlayStyle(display="heatmap")),
                               on_image=explained.append, cancelled=lambda: len(explained) >= 2)
    assert result.cancelled and len(result.images) == len(explained) == 2
    rows = _index(result)
    expected = sum(len(image_targets(evaluation, image.position)) for image in result.images)
    assert len(rows) == expected
    images = {p for p in tmp_path.rglob("*.png")}
    assert {row["image"] for row in rows} == {str(p) for p in images}


def test_an_images_seed_comes_from_its_content_so_order_does_not_change_its_explanation(
        demo, evaluation, tmp_path):
    wrong = evaluation.wrong()[:2]
    request = ExplainRequest(method="lime", num_samples=100, faithfulness=False)
    forward = explain_selection(demo, evaluation, wrong, request, folder=tmp_path / "a",
                                options=SaveOptions(OverlayStyle()))
    backward = explain_selection(demo, evaluation, wrong[::-1], request, folder=tmp_path / "b",
                                 options=SaveOptions(OverlayStyle()))
    for one, other in zip(forward.images, backward.images[::-1]):
        assert one.path == other.path
        for target in one.explanations:
            np.testing.assert_array_equal(one.explanations[target].weights[target],
                                          other.explanations[target].weights[target])


def test_a_file_that_exists_is_a_one_line_failure_naming_it_and_the_rest_goes_on(demo, evaluation, tmp_path):
    wrong = evaluation.wrong()[:2]
    options = SaveOptions(OverlayStyle(display="heatmap"))
    first = explain_selection(demo, evaluation, wrong[:1], ExplainRequest(method="gradcam"), folder=tmp_path,
                              options=options)
    again = explain_selection(demo, evaluation, wrong, ExplainRequest(method="gradcam"), folder=tmp_path,
                              options=options)
    assert [path for path, _ in again.failures] == [first.images[0].path]
    assert "already exists" in again.failures[0][1] and "\n" not in again.failures[0][1]
    assert [image.path for image in again.images] == [evaluation.paths[wrong[1]]]
