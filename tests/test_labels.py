"""Class names: the shipped ImageNet table, user label files and lookups by name."""
import json

import pytest

from limelight.core.errors import LabelsError
from limelight.core.labels import (imagenet_labels, imagenet_wnids, labels_for_model,
                                   load_labels)


def test_imagenet_names_ship_with_the_app():
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels.name(285) == "Egyptian cat"
    assert labels.name(967) == "espresso"
    assert imagenet_wnids()[0] == "n01440764"
    assert len(set(labels.names)) == 1000


@pytest.mark.parametrize("filename, text", [
    ("l.txt", "cat\ndog\n\nbird\n"),
    ("l.json", json.dumps(["cat", "dog", "bird"])),
    ("l.json", json.dumps({"2": "bird", "0": "cat", "1": "dog"})),
    ("l.csv", "cat\ndog\nbird\n"),
    ("l.csv", "index,name\n1,dog\n0,cat\n2,bird\n"),
])
def test_label_files(tmp_path, filename, text):
    (tmp_path / filename).write_text(text)
    assert load_labels(tmp_path / filename).names == ("cat", "dog", "bird")


def test_label_count_must_match_the_model(tmp_path):
    (tmp_path / "l.txt").write_text("cat\ndog\n")
    with pytest.raises(LabelsError, match="has 2 names but the model has 3 classes"):
        labels_for_model(3, labels_path=tmp_path / "l.txt")


def test_labels_beside_the_model_are_picked_up(tmp_path):
    (tmp_path / "net.labels.txt").write_text("a\nb\n")
    labels = labels_for_model(2, model_path=tmp_path / "net.keras")
    assert labels.names == ("a", "b")


def test_thousand_classes_without_labels_assume_imagenet(tmp_path):
    labels = labels_for_model(1000, model_path=tmp_path / "net.keras")
    assert labels.assumed and labels.name(285) == "Egyptian cat"


def test_other_models_without_labels_show_indices(tmp_path):
    labels = labels_for_model(3, model_path=tmp_path / "net.keras")
    assert labels.names == ("class 0", "class 1", "class 2") and not labels.assumed


def test_find_by_name_index_and_suggestion():
    labels = imagenet_labels()
    assert labels.find("egyptian cat") == 285
    assert labels.find("967") == 967
    with pytest.raises(LabelsError, match="did you mean 'Egyptian cat'"):
        labels.find("egyptian kat")
    with pytest.raises(LabelsError, match="out of range"):
        labels.find("1000")


def test_broken_json_labels(tmp_path):
    (tmp_path / "l.json").write_text("{not json")
    with pytest.raises(LabelsError, match="not valid JSON"):
        load_labels(tmp_path / "l.json")
