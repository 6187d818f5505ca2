"""Saved reports: files round-trip exactly, never overwrite by accident, and never leave half-written files."""
import hashlib
import io
import json
import math
import os
import sys
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image

from limelight.core import report
from limelight.core.errors import ExplanationError, ReportError
from limelight.core.lime import LimeExplanation
from limelight.core.overlay import OverlayStyle, render
from limelight.core.report import (load_report, output_name, output_paths, save_annotated, save_figure,
                                   save_report)


def quadrants(size=32):
    segments = np.zeros((size, size), np.int32)
    segments[:, size // 2:] += 1
    segments[size // 2:] += 2
    return segments


@pytest.fixture
def lime():
    rng = np.random.default_rng(7)
    labels = (3, 8)
    return LimeExplanation(
        segments=quadrants(), labels=labels,
        weights={3: np.array([0.31, -0.12, 0.05, 0.2]), 8: np.array([-0.2, 0.4, 0.0, 0.1])},
        intercepts={3: 0.1, 8: 0.2}, scores={3: 0.83, 8: float("nan")}, local_predictions={3: 0.7, 8: 0.1},
        probabilities={3: 0.91, 8: 0.04}, params={"num_samples": 20, "hide": (0, 0, 0), "seed": 11},
        masks=rng.integers(0, 2, (20, 4)).astype(bool), predictions=rng.random((20, 2)).astype(np.float32),
        timings={"total": 1.25}, warnings=("only 20 samples",))


@pytest.fixture
def image():
    return np.random.default_rng(3).integers(0, 256, (50, 70, 3), dtype=np.uint8)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def save(folder, explanation, **options):
    return save_report(folder / "cat_tabby.json", explanation, image_path="photos/cat.jpg", model_name="demo_shapes",
                       preprocessing="tf", label_names=[f"class {i}" for i in range(10)], **options)


# --- Annotated images ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["out.png", "out.tif", "out.webp"])
def test_lossless_formats_keep_every_pixel(tmp_path, image, name):
    path = save_annotated(tmp_path / name, image)
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), image)


def test_jpeg_keeps_the_size_and_stays_close(tmp_path, image):
    smooth = np.repeat(np.repeat(image[:5, :7], 10, axis=0), 10, axis=1)
    path = save_annotated(tmp_path / "out.JPG", smooth)
    saved = np.asarray(Image.open(path))
    assert saved.shape == smooth.shape
    assert np.abs(saved.astype(int) - smooth).mean() < 3


def test_an_unknown_extension_is_refused(tmp_path, image):
    with pytest.raises(ReportError, match=r"out\.bmp: cannot save a image as '\.bmp'; use one of \.png"):
        save_annotated(tmp_path / "out.bmp", image)
    assert leftovers(tmp_path) == []


def test_an_existing_file_is_kept_unless_forced(tmp_path, image):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(ReportError, match="already exists; pass --force to overwrite"):
        save_annotated(path, image)
    assert path.read_bytes() == b"precious"
    save_annotated(path, image, force=True)
    assert np.array_equal(np.asarray(Image.open(path)), image)
    assert leftovers(tmp_path) == ["out.png"]


def test_a_missing_folder_is_named(tmp_path, image):
    with pytest.raises(ReportError) as caught:
        save_annotated(tmp_path / "nowhere" / "out.png", image)
    assert caught.value.path == str(tmp_path / "nowhere")
    assert "does not exist" in str(caught.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions and a non-root user")
def test_a_read_only_folder_is_named(tmp_path, image):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ReportError, match="not writable") as caught:
            save_annotated(folder / "out.png", image)
        assert caught.value.path == str(folder)
    finally:
        folder.chmod(0o700)
    assert leftovers(folder) == []


def test_a_folder_the_user_cannot_write_is_named(tmp_path, image, monkeypatch):
    monkeypatch.setattr(report.os, "access", lambda path, mode: False)
    with pytest.raises(ReportError, match="this folder is not writable") as caught:
        save_annotated(tmp_path / "out.png", image)
    assert caught.value.path == str(tmp_path)


def test_a_folder_that_refuses_new_files_is_named(tmp_path, image, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(report, "open", refuse, raising=False)
    with pytest.raises(ReportError, match=r"cannot write in this folder \(Permission denied\)") as caught:
        save_annotated(tmp_path / "out.png", image)
    assert caught.value.path == str(tmp_path)
    assert leftovers(tmp_path) == []


def test_a_failing_write_leaves_no_file_and_no_temporary(tmp_path, image, monkeypatch):
    def half_then_fail(self, stream, *args, **kwargs):
        stream.write(b"\x89PNG half an image")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", half_then_fail)
    with pytest.raises(ReportError, match=r"out\.png: could not be written \(No space left on device\)"):
        save_annotated(tmp_path / "out.png", image)
    assert leftovers(tmp_path) == []


def test_a_failing_rename_leaves_the_old_file_and_no_temporary(tmp_path, image, monkeypatch):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")

    def refuse(source, target):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(report.os, "replace", refuse)
    with pytest.raises(ReportError, match="Permission denied"):
        save_annotated(path, image, force=True)
    assert path.read_bytes() == b"old"
    assert leftovers(tmp_path) == ["out.png"]


def test_a_non_rgb_image_is_refused(tmp_path):
    with pytest.raises(ReportError, match="must be RGB"):
        save_annotated(tmp_path / "out.png", np.zeros((4, 4), np.float32))


# --- Figures ---------------------------------------------------------------------------------

def test_a_figure_shows_three_panels_without_pyplot(tmp_path, image, lime):
    had_pyplot = "matplotlib.pyplot" in sys.modules
    path = save_figure(tmp_path / "fig.png", image, lime, 3, OverlayStyle(threshold=0.1), label_name="tabby",
                       model_name="demo_shapes")
    figure = np.asarray(Image.open(path).convert("RGB"))
    # 12 inches wide at 120 dpi; three 4-inch panels of a 50x70 image plus 1.1 inches of titles.
    assert figure.shape[1] == 1440 and abs(figure.shape[0] - (4 * 50 / 70 + 1.1) * 120) < 1
    # The three panels draw the image: its colours fill a large part of the figure.
    assert (figure.std(axis=2) > 20).mean() > 0.2
    assert had_pyplot or "matplotlib.pyplot" not in sys.modules
    with pytest.raises(ReportError, match="already exists"):
        save_figure(path, image, lime, 3)


def test_a_figure_title_reads_numbers_from_the_explanation(tmp_path, image, lime, monkeypatch):
    from matplotlib.figure import Figure
    titles = []
    original = Figure.suptitle

    def record(self, text, **options):
        titles.append(text)
        return original(self, text, **options)

    monkeypatch.setattr(Figure, "suptitle", record)
    save_figure(tmp_path / "a.png", image, lime, 3, label_name="tabby")
    save_figure(tmp_path / "b.svg", image, lime, 8)
    assert titles == ["tabby \u2014 p = 0.910, fit R\u00b2 = 0.83", "class 8 \u2014 p = 0.040"]


# --- JSON reports ------------------------------------------------------------------------------

def test_a_report_round_trips_weights_and_renders_identically(tmp_path, image, lime):
    style = OverlayStyle(display="heatmap", threshold=0.1, show_negative=True, positive_colour="lime")
    path = save(tmp_path, lime, style=style)
    assert leftovers(tmp_path) == ["cat_tabby.json", "cat_tabby.npz"]
    loaded, info = load_report(path)
    assert isinstance(loaded, LimeExplanation) and loaded.labels == (3, 8)
    for label in (3, 8):
        assert np.array_equal(loaded.weights[label], lime.weights[label])
        assert np.array_equal(loaded.weight_map(label), lime.weight_map(label))
    assert np.array_equal(loaded.segments, lime.segments)
    assert loaded.scores[3] == 0.83 and math.isnan(loaded.scores[8])  # NaN survives strict JSON
    assert loaded.params == lime.params and loaded.warnings == lime.warnings
    assert info["style"] == style
    assert np.array_equal(render(image, loaded, 3, info["style"]), render(image, lime, 3, style))


def test_a_report_records_what_made_the_explanation(tmp_path, lime):
    had_tensorflow = "tensorflow" in sys.modules
    path = save(tmp_path, lime, extra={"command": "limelight-cli explain cat.jpg", "seed": np.int64(11)})
    info = json.loads(path.read_text())
    assert info["kind"] == "lime" and info["arrays"]["file"] == "cat_tabby.npz"
    assert info["image"] == {"path": "photos/cat.jpg", "name": "cat.jpg"}
    assert info["model"] == {"name": "demo_shapes", "preprocessing": "tf"}
    first, second = info["labels"]
    assert first == {"index": 3, "name": "class 3", "probability": 0.91, "fit_r2": 0.83,
                     "superpixel_weights": [0.31, -0.12, 0.05, 0.2]}
    assert second["fit_r2"] is None  # an undefined R^2 is null, not NaN
    assert info["parameters"] == {"num_samples": 20, "hide": [0, 0, 0], "seed": 11}
    assert info["timings"] == {"total": 1.25} and info["warnings"] == ["only 20 samples"]
    assert info["extra"] == {"command": "limelight-cli explain cat.jpg", "seed": 11}
    assert info["style"] is None
    assert {"numpy", "scikit-learn", "scikit-image", "python"} <= set(info["versions"])
    # Versions come from package metadata: recording TensorFlow's does not import it.
    assert had_tensorflow or "tensorflow" not in sys.modules


def test_a_report_keeps_how_far_to_trust_each_label(tmp_path, lime):
    import dataclasses

    from limelight.core.scores import Faithfulness, Stability

    curves = Faithfulness(fractions=[0, 0.5, 1], deletion=[0.91, 0.3, 0.05], insertion=[0.05, 0.7, 0.91],
                          random=[0.05, 0.5, 0.91])
    trusted = dataclasses.replace(lime, stability={3: Stability(0.94, 5, 20, 12), 8: Stability(0.55, 5, 20, 12)},
                                  faithfulness={3: curves})
    path = save(tmp_path, trusted)
    loaded, _ = load_report(path)
    assert dict(loaded.stability) == dict(trusted.stability) and dict(loaded.faithfulness) == {3: curves}
    # People and scripts read the summary beside each label's weights.
    first, second = json.loads(path.read_text())["labels"]
    assert first["stability"] == {"value": 0.94, "word": "stable", "hint": "", "k": 5, "num_samples": 20,
                                  "num_segments": 12, "jaccard": None, "tie_delta": 0.1, "tie": "",
                                  "tied_superpixels": [2]}
    assert first["faithfulness"] == {"deletion_auc": pytest.approx(curves.deletion_auc),
                                     "insertion_auc": pytest.approx(curves.insertion_auc),
                                     "random_auc": pytest.approx(curves.random_auc)}
    assert second["stability"]["word"] == "unstable" and second["stability"]["hint"] == "add samples"
    assert "faithfulness" not in second
    # A report saved without scores opens with none.
    plain, _ = load_report(save(tmp_path, lime, force=True))
    assert plain.stability == {} and plain.faithfulness == {}


def test_label_names_may_come_from_a_labels_object_or_a_mapping(tmp_path, lime):
    class Labels:
        names = [f"n{i}" for i in range(10)]

    save_report(tmp_path / "a.json", lime, image_path="x.png", model_name="m", preprocessing="none",
                label_names=Labels())
    save_report(tmp_path / "b.json", lime, image_path="x.png", model_name="m", preprocessing="none",
                label_names={3: "tabby"})
    assert [e["name"] for e in json.loads((tmp_path / "a.json").read_text())["labels"]] == ["n3", "n8"]
    assert [e["name"] for e in json.loads((tmp_path / "b.json").read_text())["labels"]] == ["tabby", None]


def test_a_report_is_not_overwritten_unless_forced(tmp_path, lime):
    (tmp_path / "cat_tabby.npz").write_bytes(b"someone else's arrays")
    with pytest.raises(ReportError, match=r"cat_tabby\.npz: already exists; pass --force to overwrite"):
        save(tmp_path, lime)
    # Both targets are checked first, so the JSON was not written either.
    assert leftovers(tmp_path) == ["cat_tabby.npz"]
    save(tmp_path, lime, force=True)
    load_report(tmp_path / "cat_tabby.json")


def test_a_report_that_fails_halfway_leaves_nothing(tmp_path, lime, monkeypatch):
    calls = []
    real_replace = os.replace

    def second_fails(source, target):
        calls.append(target)
        if len(calls) == 2:
            raise OSError(5, "Input/output error")
        real_replace(source, target)

    monkeypatch.setattr(report.os, "replace", second_fails)
    with pytest.raises(ReportError, match=r"cat_tabby\.json: could not be written \(Input/output error\)"):
        save(tmp_path, lime)
    assert leftovers(tmp_path) == []


def test_extra_values_that_are_not_json_are_refused(tmp_path, lime):
    with pytest.raises(ReportError, match="not JSON-safe"):
        save(tmp_path, lime, extra={"model": object()})
    assert leftovers(tmp_path) == []


def test_a_report_must_end_in_json(tmp_path, lime):
    with pytest.raises(ReportError, match="must end in .json"):
        save_report(tmp_path / "r.txt", lime, image_path="x.png", model_name="m", preprocessing="tf",
                    label_names=None)


# --- Reading damaged or mismatched reports ------------------------------------------------------------

def rewrite_arrays(json_path, arrays):
    """Replace a report's arrays and make its JSON vouch for them, as a careless tool might."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    npz = json_path.with_suffix(".npz")
    npz.write_bytes(buffer.getvalue())
    info = json.loads(json_path.read_text())
    info["arrays"]["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    info["arrays"]["shapes"] = {k: [list(v.shape), v.dtype.str] for k, v in arrays.items()}
    json_path.write_text(json.dumps(info))


def test_changed_arrays_are_refused_naming_the_npz(tmp_path, lime):
    path = save(tmp_path, lime)
    npz = path.with_suffix(".npz")
    npz.write_bytes(npz.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ReportError, match="does not match its report") as caught:
        load_report(path)
    assert caught.value.path == str(npz)


def test_a_corrupt_npz_is_refused(tmp_path, lime):
    path = save(tmp_path, lime)
    with np.load(path.with_suffix(".npz")) as archive:
        arrays = dict(archive)
    rewrite_arrays(path, arrays)
    packed = path.with_suffix(".npz").read_bytes()
    # Keep the checksum right but break the zip inside.
    broken = packed[:30] + b"\x00" * 40 + packed[70:]
    path.with_suffix(".npz").write_bytes(broken)
    info = json.loads(path.read_text())
    info["arrays"]["sha256"] = hashlib.sha256(broken).hexdigest()
    path.write_text(json.dumps(info))
    with pytest.raises(ReportError, match="is not a readable array archive"):
        load_report(path)


def test_a_segment_map_that_does_not_fit_the_weights_is_refused(tmp_path, lime):
    path = save(tmp_path, lime)
    with np.load(path.with_suffix(".npz")) as archive:
        arrays = dict(archive)
    arrays["segments"] = np.zeros((32, 32), np.int32)  # one superpixel for four weights
    rewrite_arrays(path, arrays)
    with pytest.raises(ReportError, match="does not hold a usable lime explanation: the saved LIME") as caught:
        load_report(path)
    assert caught.value.path == str(path)


def test_object_arrays_are_never_unpickled(tmp_path, lime):
    path = save(tmp_path, lime)
    with np.load(path.with_suffix(".npz")) as archive:
        arrays = dict(archive)
    arrays["segments"] = np.array([{"x": 1}], dtype=object)
    rewrite_arrays(path, arrays)
    with pytest.raises(ReportError, match="is not a readable array archive"):
        load_report(path)


@pytest.mark.parametrize("content, words", [
    ("{not json", "is not valid JSON"),
    ('{"format": "something-else"}', "is not a Limelight report"),
    ('{"format": "limelight-report", "version": 99}', "was saved by a newer Limelight"),
    ('{"format": "limelight-report", "version": 1}', "lacks its explanation or arrays entry"),
    ('{"format": "limelight-report", "version": 1, "kind": "shap", "explanation": {}, '
     '"arrays": {"file": "a.npz", "sha256": "", "shapes": {}}}', "unknown kind 'shap'"),
    ('{"format": "limelight-report", "version": 1, "kind": "lime", "explanation": {}, '
     '"arrays": {"file": "../a.npz", "sha256": "", "shapes": {}}}', "which is not a file beside it"),
    ('{"format": "limelight-report", "version": 1, "kind": "lime", "explanation": {}, '
     '"arrays": {"file": "gone.npz", "sha256": "", "shapes": {}}}', "arrays are missing"),
])
def test_damaged_reports_are_refused_with_a_sentence(tmp_path, content, words):
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(ReportError, match=words):
        load_report(path)


def test_a_missing_report_is_named(tmp_path):
    with pytest.raises(ReportError, match="no such report") as caught:
        load_report(tmp_path / "gone.json")
    assert caught.value.path == str(tmp_path / "gone.json")


@dataclass(frozen=True, eq=False)
class FakeCam:
    """Stands in for CamExplanation so the dispatch on kind is tested without TensorFlow."""

    kind: ClassVar[str] = "cam"
    smooth: ClassVar[bool] = True
    segments: ClassVar[None] = None
    heatmap: np.ndarray
    target: int
    probability: float

    @property
    def labels(self):
        return (self.target,)

    def weight_map(self, label):
        return self.heatmap

    def to_record(self):
        return {"kind": "cam", "target": self.target, "probability": self.probability}, {"heatmap": self.heatmap}

    @classmethod
    def from_record(cls, meta, arrays):
        if meta.get("kind") != "cam":
            raise ExplanationError("not a CAM")
        return cls(arrays["heatmap"], meta["target"], meta["probability"])


def test_cam_reports_load_through_the_cam_class(tmp_path, monkeypatch, image):
    monkeypatch.setitem(report._KINDS, "cam", (__name__, "FakeCam"))
    heatmap = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    cam = FakeCam(heatmap, 281, 0.6)
    path = save_report(tmp_path / "c.json", cam, image_path="c.png", model_name="m", preprocessing="torch",
                       label_names={281: "tabby"})
    info = json.loads(path.read_text())
    assert info["labels"] == [{"index": 281, "name": "tabby", "probability": 0.6, "fit_r2": None}]
    loaded, _ = load_report(path)
    assert isinstance(loaded, FakeCam) and np.array_equal(loaded.heatmap, heatmap)
    style = OverlayStyle(display="heatmap")
    assert np.array_equal(render(image, loaded, 281, style), render(image, cam, 281, style))


# --- Naming -----------------------------------------------------------------------------------

def test_output_paths_follow_the_naming_scheme(tmp_path):
    paths = output_paths(tmp_path, "photos/my.cat.jpg", "Golden retriever (dog)", 207, "lime")
    assert {k: p.name for k, p in paths.items()} == {
        "image": "my.cat_golden_retriever_dog_207_lime.png", "json": "my.cat_golden_retriever_dog_207_lime.json",
        "arrays": "my.cat_golden_retriever_dog_207_lime.npz",
        "figure": "my.cat_golden_retriever_dog_207_lime_figure.png"}
    assert all(p.parent == tmp_path for p in paths.values())
    assert output_paths(tmp_path, "a.png", "crane", 134, "gradcam++", extension="jpg")["image"].name == (
        "a_crane_134_gradcampp.jpg")
    assert output_paths(tmp_path, "a.png", "???", 0, "scorecam")["json"].name == "a_class_0_scorecam.json"
    with pytest.raises(ReportError, match="cannot save annotated images as '.gif'"):
        output_paths(tmp_path, "a.png", "cat", 1, "lime", extension=".gif")


def test_classes_with_the_same_name_get_files_of_their_own(tmp_path):
    # ImageNet's 264 and 474, and a labels file "cat,cat,dog".
    names = {output_name("a.jpg", "Cardigan", 264, "lime"), output_name("a.jpg", "cardigan", 474, "lime"),
             output_name("a.jpg", "cat", 0, "lime"), output_name("a.jpg", "cat", 1, "lime")}
    assert len(names) == 4


def test_output_paths_feed_save_report_and_its_arrays(tmp_path, lime):
    paths = output_paths(tmp_path, "cat.jpg", "tabby", 281, "lime")
    save_report(paths["json"], lime, image_path="cat.jpg", model_name="m", preprocessing="tf", label_names=None)
    assert paths["arrays"].exists()
    assert load_report(paths["json"])[1]["arrays"]["file"] == paths["arrays"].name


@pytest.mark.slow
def test_a_real_grad_cam_report_round_trips(tmp_path, image):
    cam_module = pytest.importorskip("limelight.core.cam")  # imports TensorFlow: a few seconds
    heatmap = np.random.default_rng(1).random((7, 7)).astype(np.float32)
    full = np.asarray(Image.fromarray(heatmap).resize((32, 32), Image.Resampling.BILINEAR))
    from limelight.core.scores import Faithfulness

    curves = Faithfulness(fractions=[0, 1], deletion=[0.75, 0.1], insertion=[0.1, 0.75], random=[0.1, 0.75])
    cam = cam_module.CamExplanation(method="gradcam", heatmap=heatmap, input_heatmap=full, layer="conv/last",
                                    target=4, class_score=2.5, probability=0.75, timings={"total": 0.2},
                                    params={"counterfactual": True, "relu": True}, faithfulness={4: curves})
    style = OverlayStyle(display="outline", show_negative=True)
    path = save_report(tmp_path / "cam.json", cam, image_path="x.png", model_name="m", preprocessing="tf",
                       label_names=None, style=style)
    loaded, info = load_report(path)
    assert isinstance(loaded, cam_module.CamExplanation) and loaded.layer == "conv/last"
    assert np.array_equal(loaded.weight_map(4), cam.weight_map(4))  # negated: counterfactual survives
    assert info["labels"] == [{"index": 4, "name": None, "probability": 0.75, "fit_r2": None,
                               "faithfulness": {"deletion_auc": 0.425, "insertion_auc": 0.425, "random_auc": 0.425}}]
    assert dict(loaded.faithfulness) == {4: curves}
    assert np.array_equal(render(image, loaded, 4, info["style"]), render(image, cam, 4, style))


def test_a_report_records_tensorflow_when_it_is_installed_as_tensorflow_cpu(tmp_path, lime, monkeypatch):
    from importlib import metadata

    installed = {"numpy": "2.0", "tensorflow-cpu": "2.20.0"}

    def version(name):
        if name not in installed:
            raise metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(metadata, "version", version)
    info = json.loads(save(tmp_path, lime).read_text())
    assert info["versions"]["tensorflow-cpu"] == "2.20.0" and "tensorflow" not in info["versions"]
