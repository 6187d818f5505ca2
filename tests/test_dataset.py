"""Labelled folders: scanning, class matching, cached predictions, metrics against hand-made references, and files."""
import csv
import json

import numpy as np
import pytest
from PIL import Image, ImageFilter

from limelight.core.dataset import (LocalEngine, PredictionStore, disagreements, evaluate, match_classes,
                                    scan_dataset, write_evaluation)
from limelight.core.demo import CLASS_NAMES
from limelight.core.errors import Cancelled, DatasetError
from limelight.core.images import load_image
from tests.labelled_folders import FASHION_CLASSES, fashion_folder, shape_scenes


@pytest.fixture(scope="module")
def demo():
    from limelight.core.zoo import load_builtin

    return load_builtin("demo_shapes")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return scan_dataset(shape_scenes(tmp_path_factory.mktemp("shapes")))


class CountingEngine(LocalEngine):
    """The local engine, counting the images it is asked to predict."""

    def __init__(self):
        super().__init__()
        self.images = 0

    def run(self, model, paths, **options):
        self.images += len(paths)
        super().run(model, paths, **options)


def test_scan_finds_sorted_class_folders_nested_images_and_skips_the_rest(tmp_path):
    for name in ("dog", "Cat", ".thumbnails"):
        (tmp_path / name).mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "dog" / "a.png")
    (tmp_path / "dog" / "puppies").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "dog" / "puppies" / "b.jpg")
    Image.new("RGB", (16, 16)).save(tmp_path / "Cat" / "c.png")
    Image.new("RGB", (16, 16)).save(tmp_path / ".thumbnails" / "d.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    (tmp_path / "readme.png").write_bytes(b"")  # beside the class folders: no class

    dataset = scan_dataset(tmp_path)

    assert dataset.folders == ("Cat", "dog")  # Keras sorts names as Python does: capitals first
    assert [p.name for p in dataset.paths] == ["c.png", "a.png", "b.jpg"]
    assert dataset.folder_index.tolist() == [0, 1, 1]


@pytest.mark.parametrize("make, message", [
    (lambda root: root / "missing", "folder not found"),
    (lambda root: root, "has no class folders"),
    (lambda root: (root / "cat").mkdir() or root, "hold no images"),
])
def test_a_folder_that_is_no_dataset_is_refused_in_one_line_naming_it(tmp_path, make, message):
    folder = make(tmp_path)
    with pytest.raises(DatasetError, match=message) as error:
        scan_dataset(folder)
    assert str(error.value).startswith(str(folder)) and "\n" not in str(error.value)


def test_folders_match_classes_by_name_ignoring_case_spaces_underscores_and_hyphens():
    mapping = match_classes(("Ankle_Boot", "t shirt-top"), ("T-shirt top", "trouser", "ankle boot"))
    assert mapping.classes == (2, 0)
    assert mapping.rules == ("name", "name")
    assert mapping.describe()[0] == "Ankle_Boot -> ankle boot [2] (by name (case, spaces and punctuation ignored))"


def test_fashion_folders_match_the_tutorials_class_names_though_a_folder_name_cannot_hold_a_slash():
    # The Fashion-MNIST tutorial's names, in its order; on disk 'T-shirt/top' can only be 'T-shirt_top'.
    folders = tuple(sorted(name.replace("/", "_") for name in FASHION_CLASSES))
    mapping = match_classes(folders, FASHION_CLASSES)
    assert set(mapping.rules) == {"name"}
    assert mapping.class_of("T-shirt_top") == 0 and mapping.class_of("Ankle boot") == 9


def test_sorted_order_never_overrides_folders_that_match_by_name():
    # Sorted order would make 'cat' class 0, which this model calls 'dog'.
    with pytest.raises(DatasetError, match="'kitten' name none of the model's 3 classes, and the other 2 are matched "
                                           "by name or by hand, so sorted order would contradict them"):
        match_classes(("cat", "dog", "kitten"), ("dog", "cat", "bird"))


def test_folders_that_name_no_class_match_by_sorted_order_and_say_so():
    folders = tuple(sorted(name.replace("/", "_") for name in FASHION_CLASSES))
    mapping = match_classes(folders, tuple(f"class {i}" for i in range(10)))
    assert mapping.classes == tuple(range(10))
    assert set(mapping.rules) == {"sorted order"}
    assert "sorted order, as Keras" in mapping.describe()[0]


def test_a_mapping_that_cannot_be_made_names_the_folders_and_the_fix():
    with pytest.raises(DatasetError, match="'kitten' name none of the model's 3 classes.*--class-map"):
        match_classes(("cat", "kitten"), ("cat", "dog", "bird"))


def test_folders_set_by_hand_override_the_match_and_say_so():
    mapping = match_classes(("cat", "dog"), ("cat", "dog", "bird")).with_classes({"dog": 2})
    assert mapping.classes == (0, 2) and mapping.rules == ("name", "set by hand")
    assert match_classes(("cat", "kitten"), ("cat", "dog"), chosen={"kitten": 0}).classes == (0, 0)
    with pytest.raises(DatasetError, match="no class folder named 'cow'"):
        mapping.with_classes({"cow": 1})


def test_evaluation_matches_a_reference_computed_image_by_image(demo, shapes):
    evaluation = evaluate(demo, shapes, batch_size=5)

    images = np.stack([demo.prepare(load_image(p)) for p in shapes.paths])
    reference = demo.predict(images)
    np.testing.assert_allclose(evaluation.probabilities, reference, atol=1e-5)
    true = np.array([CLASS_NAMES.index(p.parent.name) for p in shapes.paths])
    predicted = reference.argmax(axis=1)
    assert evaluation.true.tolist() == true.tolist()
    assert evaluation.accuracy == pytest.approx(np.mean(predicted == true))
    assert 0.4 < evaluation.accuracy < 1.0  # the hard scenes give wrong predictions to look at

    counts, columns = evaluation.confusion()
    expected = np.zeros((6, 8), dtype=int)
    np.add.at(expected, (true, predicted), 1)
    kept = [c if c >= 0 else 6 for c in columns]  # "no object" (6) is the only class without a folder
    assert counts.tolist() == expected[:, kept].tolist()
    normalised, _ = evaluation.confusion(normalize=True)
    np.testing.assert_allclose(normalised.sum(axis=1), 1.0)

    recall = {row["class"]: row["recall"] for row in evaluation.per_class()}
    for label, name in enumerate(CLASS_NAMES):
        assert recall[name] == pytest.approx(np.mean(predicted[true == label] == label))

    wrong = evaluation.wrong()
    assert set(wrong.tolist()) == set(np.flatnonzero(predicted != true).tolist())
    assert np.all(np.diff(evaluation.confidence[wrong]) <= 0)  # the most confident mistakes first
    assert "precision" in evaluation.report() and "circle" in evaluation.report()


@pytest.mark.parametrize("resize", ["stretch", "crop"])
def test_evaluate_predicts_each_photo_file_as_the_single_photo_path_does(demo, tmp_path, resize):
    """JPEG photos of other sizes and aspects, one turned by its EXIF tag, some with a bad one among them."""
    from limelight.core.models import ModelSettings, wrap_model
    from limelight.core.runtime import PROBE_TOLERANCE

    model = wrap_model(demo.keras_model, name="demo", source="test", labels=demo.labels,
                       settings=ModelSettings(demo.preprocessing, resize=resize))
    rng = np.random.default_rng(3)
    for i, (rows, cols) in enumerate([(240, 320), (600, 450), (97, 131), (1200, 900), (64, 64)]):
        folder = tmp_path / ("a" if i % 2 else "b")
        folder.mkdir(exist_ok=True)
        photo = Image.fromarray(rng.integers(0, 256, (rows, cols, 3), dtype=np.uint8)).filter(
            ImageFilter.GaussianBlur(3))
        exif = Image.Exif()
        exif[0x0112] = 6 if i == 1 else 1  # the 600x450 photo is stored turned, as cameras do
        photo.save(folder / f"{i}.jpg", quality=85, exif=exif)
    (tmp_path / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a photo")
    dataset = scan_dataset(tmp_path)
    evaluation = evaluate(model, dataset, mapping=match_classes(dataset.folders, model.labels.names,
                                                                  chosen={"a": 0, "b": 1}), batch_size=2)
    assert [p.name for p, _ in evaluation.failures] == ["broken.jpg"]
    single = np.stack([model.predict(model.prepare(load_image(p))[None])[0] for p in evaluation.paths])
    np.testing.assert_allclose(evaluation.probabilities, single, rtol=0, atol=PROBE_TOLERANCE)


def test_selection_by_outcome_true_class_and_predicted_class(demo, shapes):
    evaluation = evaluate(demo, shapes)
    wrong_circles = evaluation.select("wrong", class_name="circle")
    assert all(evaluation.paths[i].parent.name == "circle" for i in wrong_circles)
    assert not evaluation.correct[wrong_circles].any()
    assert len(evaluation.select("correct")) + len(evaluation.select("wrong")) == len(evaluation.paths)
    with pytest.raises(DatasetError, match="not one of this dataset's classes"):
        evaluation.select("all", class_name="no object")


def test_predictions_are_kept_so_a_second_run_and_another_model_predict_only_what_is_new(demo, shapes, tmp_path):
    store = PredictionStore(tmp_path / "cache" / "predictions.sqlite")
    first, again = CountingEngine(), CountingEngine()
    before = evaluate(demo, shapes, engine=first, store=store)
    after = evaluate(demo, shapes, engine=again, store=store)
    assert (first.images, again.images) == (len(shapes), 0)
    np.testing.assert_array_equal(before.probabilities, after.probabilities)

    # Another image in a folder: only it is predicted.
    Image.open(shapes.paths[0]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(shapes.root / "circle" / "new.png")
    grown, engine = scan_dataset(shapes.root), CountingEngine()
    try:
        evaluate(demo, grown, engine=engine, store=store)
    finally:
        (shapes.root / "circle" / "new.png").unlink()
    assert engine.images == 1

    # Another model with the same classes shares nothing with the first.
    from limelight.core.models import wrap_model

    other = wrap_model(_retrained(demo), name="other", source="test", settings=demo.settings, labels=demo.labels)
    engine = CountingEngine()
    evaluate(other, shapes, engine=engine, store=store)
    assert engine.images == len(shapes)


def _retrained(model):
    import keras

    clone = keras.models.clone_model(model.keras_model)
    clone.set_weights([w * 0.9 for w in model.keras_model.get_weights()])
    return clone


def test_a_cancelled_run_keeps_what_it_predicted(demo, shapes, tmp_path):
    store = PredictionStore(tmp_path / "predictions.sqlite")
    seen = []
    with pytest.raises(Cancelled):
        evaluate(demo, shapes, store=store, batch_size=4, progress=lambda done, total: seen.append(done),
                 cancelled=lambda: len(seen) > 1)
    engine = CountingEngine()
    evaluate(demo, shapes, store=store, engine=engine)
    assert engine.images == len(shapes) - seen[-1] and seen[-1] > 0


def test_progress_and_time_left_are_reported_per_batch(demo, shapes):
    seen, left = [], []
    evaluate(demo, shapes, batch_size=10, progress=lambda done, total: seen.append((done, total)),
             time_left=left.append)
    assert seen[0] == (0, len(shapes)) and seen[-1] == (len(shapes), len(shapes))
    assert len(left) == -(-len(shapes) // 10) and left[-1] == 0


def test_an_unreadable_image_is_named_and_the_rest_evaluated(demo, shapes, tmp_path):
    import shutil

    root = shutil.copytree(shapes.root, tmp_path / "copy")
    (root / "square" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    evaluation = evaluate(demo, scan_dataset(root))
    assert [(p.name, "corrupt" in reason or "not an image" in reason) for p, reason in evaluation.failures] == [
        ("broken.png", True)]
    assert len(evaluation.paths) == len(shapes)


def test_the_csv_png_and_summary_hold_the_evaluation(demo, shapes, tmp_path):
    evaluation = evaluate(demo, shapes)
    paths = write_evaluation(evaluation, tmp_path / "out")
    with open(paths[0], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(shapes)
    assert sum(row["correct"] == "True" for row in rows) == int(evaluation.correct.sum())
    assert rows[0]["true"] == "circle" and float(rows[0]["confidence"]) == pytest.approx(
        evaluation.confidence[0], abs=1e-6)
    png = np.asarray(Image.open(paths[1]))
    assert png.shape[0] > 300 and png.std() > 10  # a drawn figure, not a blank page
    summary = json.loads(paths[2].read_text())
    assert summary["accuracy"] == pytest.approx(evaluation.accuracy)
    assert summary["mapping"][0] == {"folder": "circle", "class": "circle", "index": 0, "rule": "name"}
    with pytest.raises(DatasetError, match="already exists; pass --force"):
        write_evaluation(evaluation, tmp_path / "out")


def test_two_models_disagree_on_the_images_where_their_predictions_differ(demo, shapes, tmp_path):
    from limelight.core.dataset import save_confusion_png
    from limelight.core.models import wrap_model

    other = wrap_model(_retrained(demo), name="other", source="test", settings=demo.settings, labels=demo.labels)
    first, second = evaluate(demo, shapes), evaluate(other, shapes)
    differ = disagreements(first, second)
    assert differ.tolist() == np.flatnonzero(first.predicted != second.predicted).tolist()
    save_confusion_png(tmp_path / "both.png", first, second)
    assert Image.open(tmp_path / "both.png").height > Image.open(tmp_path / "both.png").width * 0.8


def test_a_grayscale_28_pixel_model_matches_fashion_folders_by_sorted_order(tmp_path):
    from limelight.core.labels import index_labels
    from limelight.core.models import ModelSettings, wrap_model
    from tests.user_models import fashion_mnist

    model = wrap_model(fashion_mnist(), name="fashion", source="test", settings=ModelSettings("unit"),
                       labels=index_labels(10))
    dataset = scan_dataset(fashion_folder(tmp_path))
    evaluation = evaluate(model, dataset)
    assert set(evaluation.mapping.rules) == {"sorted order"}
    # Sorted, 'Ankle boot' is the first folder: it stands for class 0, as Keras would have trained it.
    assert evaluation.mapping.folders[0] == "Ankle boot" and evaluation.mapping.classes[0] == 0
    gray = np.stack([model.prepare(load_image(p)) for p in dataset.paths])
    np.testing.assert_allclose(evaluation.probabilities, model.predict(gray), atol=1e-5)
