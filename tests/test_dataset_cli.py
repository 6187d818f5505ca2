"""`limelight evaluate` and `limelight explain FOLDER --only`: tables, JSON, files, one-line errors."""
import csv
import json

import pytest

from limelight.core.cli import main
from limelight.core.dataset import evaluate, scan_dataset
from tests.labelled_folders import fashion_folder, shape_scenes


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return shape_scenes(tmp_path_factory.mktemp("shapes"), per_class=2, hard_per_class=2)


@pytest.fixture(scope="module")
def reference(shapes):
    from limelight.core.zoo import load_builtin

    return evaluate(load_builtin("demo_shapes"), scan_dataset(shapes))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LIMELIGHT_CACHE_DIR", str(tmp_path / "cache"))


def test_evaluate_prints_accuracy_matrix_and_report_and_writes_the_files(shapes, reference, tmp_path, capsys):
    assert main(["evaluate", str(shapes), "--model", "demo_shapes", "--out", str(tmp_path / "out")]) == 0
    out, err = capsys.readouterr()
    assert f"accuracy {reference.accuracy:.1%}" in out
    assert "confusion matrix (rows: true class, columns: predicted class)" in out and "f1-score" in out
    assert "limelight: circle -> circle [0] (by name" in err
    for name in ("predictions.csv", "confusion.png", "evaluation.json"):
        assert str(tmp_path / "out" / name) in out and (tmp_path / "out" / name).is_file()
    assert (tmp_path / "cache" / "predictions.sqlite").is_file()


def test_evaluate_json_holds_the_same_numbers(shapes, reference, tmp_path, capsys):
    assert main(["evaluate", str(shapes), "--model", "demo_shapes", "--out", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["accuracy"] == pytest.approx(reference.accuracy)
    assert summary["wrong"] == len(reference.wrong())
    assert summary["confusion"]["counts"] == reference.confusion()[0].tolist()


def test_a_folder_that_matches_only_by_sorted_order_says_so(tmp_path, capsys):
    from tests.user_models import fashion_mnist

    fashion_mnist().save(tmp_path / "fashion.keras")
    folder = fashion_folder(tmp_path / "data", per_class=1)
    assert main(["evaluate", str(folder), "--model", str(tmp_path / "fashion.keras"), "--preprocess", "unit",
                 "--out", str(tmp_path / "out"), "--json"]) == 0
    err = capsys.readouterr().err
    assert "limelight: Ankle boot -> class 0 [0] (by sorted order, as Keras" in err


@pytest.mark.parametrize("arguments, message", [
    (["missing"], "missing: folder not found"),
    (["{shapes}", "--class-map", "circle"], "--class-map 'circle' must be FOLDER=CLASS"),
    (["{shapes}", "--class-map", "circle=hexagon"], "no class named 'hexagon'"),
    (["{shapes}", "--workers", "2"], "--address and --workers apply to --engine ray"),
])
def test_bad_input_is_one_line_and_exit_2(shapes, tmp_path, capsys, arguments, message):
    arguments = [a.format(shapes=shapes) for a in arguments]
    assert main(["evaluate", *arguments, "--model", "demo_shapes", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("limelight: ") and message in err[-1]


def test_an_unreadable_image_is_named_in_one_line_the_rest_written_and_exit_2(shapes, tmp_path, capsys):
    import shutil

    root = shutil.copytree(shapes, tmp_path / "copy")
    (root / "ring" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    assert main(["evaluate", str(root), "--model", "demo_shapes", "--out", str(tmp_path / "out")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "broken.jpg" in line]
    assert len(lines) == 1 and lines[0].startswith(f"limelight: {root / 'ring' / 'broken.jpg'}: ")
    assert (tmp_path / "out" / "predictions.csv").is_file()


def test_explain_folder_explains_each_wrong_image_why_predicted_and_why_not_the_true_class(
        shapes, reference, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["explain", str(shapes), "--only", "wrong", "--model", "demo_shapes", "--method", "gradcam",
                 "--out", str(out)]) == 0
    with open(out / "explained.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    wrong = reference.wrong()
    assert len(wrong) > 0 and len(rows) == 2 * len(wrong)
    assert [row["path"] for row in rows[::2]] == [str(reference.paths[i]) for i in wrong]
    for predicted, true in zip(rows[::2], rows[1::2]):
        assert (predicted["why"], predicted["explained"]) == ("predicted", predicted["predicted"])
        assert (true["why"], true["explained"]) == ("true", true["true"])
        for row in (predicted, true):
            assert row["image"].endswith(".png") and json.loads(open(row["report"]).read())
            assert f"/{row['true']}/" in row["image"].replace("\\", "/")


def test_explain_folder_of_one_class_and_its_bad_options(shapes, reference, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["explain", str(shapes), "--only", "correct", "--class", "square", "--model", "demo_shapes",
                 "--method", "gradcam", "--out", str(out)]) == 0
    with open(out / "explained.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(reference.select("correct", class_name="square"))
    assert {row["true"] for row in rows} <= {"square"}
    assert main(["explain", str(shapes), "--class", "square", "--model", "demo_shapes"]) == 2
    assert "--class applies to a labelled folder" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_on_ray_prints_what_the_local_engine_prints(shapes, tmp_path, capsys, monkeypatch):
    pytest.importorskip("ray")
    assert main(["evaluate", str(shapes), "--model", "demo_shapes", "--out", str(tmp_path / "local"),
                 "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    monkeypatch.setenv("LIMELIGHT_CACHE_DIR", str(tmp_path / "fresh"))  # the workers predict every image
    assert main(["evaluate", str(shapes), "--model", "demo_shapes", "--out", str(tmp_path / "ray"), "--json",
                 "--engine", "ray", "--workers", "2", "--eval-batch-size", "4"]) == 0
    ray_summary = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in ray_summary.items() if k != "files"} == {
        k: v for k, v in local.items() if k != "files"}


@pytest.mark.slow
def test_explain_folder_on_ray_writes_the_pixels_the_local_engine_writes(shapes, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    pytest.importorskip("ray")
    common = ["explain", str(shapes), "--only", "wrong", "--model", "demo_shapes", "--samples", "150",
              "--hide", "grey", "--no-faithfulness"]
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--out", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2"]) == 0
    local = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.png"))
    remote = sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*.png"))
    assert local == remote and len(local) > 0
    for name in local:
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "local" / name)),
                                      np.asarray(Image.open(tmp_path / "ray" / name)))
