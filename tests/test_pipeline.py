"""The one explain, export and reopen path (core/pipeline.py), as the CLI and the window use it, without Qt."""
import json
from dataclasses import replace
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from limelight.core.cli import main
from limelight.core.errors import ExplanationError, ReportError
from limelight.resources import resource_path


@pytest.fixture(scope="module")
def demo():
    from limelight.core.zoo import load_builtin

    return load_builtin("demo_shapes")


@pytest.fixture
def crop_model(tmp_path):
    """The demo model as a file whose sidecar says to crop the photo's centre (as the window's picker writes it)."""
    folder = tmp_path / "model"
    folder.mkdir()
    path = folder / "shapes.keras"
    shutil.copyfile(resource_path("models", "demo_shapes.keras"), path)
    shutil.copyfile(resource_path("models", "demo_shapes.labels.txt"), folder / "shapes.txt")
    (folder / "shapes.keras.limelight.json").write_text(
        json.dumps({"preprocessing": "unit", "resize": "crop", "labels": "shapes.txt"}))
    return path


@pytest.fixture
def wide_photo(tmp_path):
    """A 100 x 200 photo: a circle in the centre square, noise on the sides the crop cuts off."""
    from limelight.core.demo import make_scene

    scene = np.asarray(Image.fromarray(make_scene(np.random.default_rng(5), label=0).image).resize((100, 100)))
    photo = np.random.default_rng(0).integers(0, 256, (100, 200, 3), dtype=np.uint8)
    photo[:, 50:150] = scene
    path = tmp_path / "wide.png"
    Image.fromarray(photo).save(path)
    return path, photo


def test_a_cli_report_of_a_crop_model_reopens_framed_as_the_model_saw_it(crop_model, wide_photo, tmp_path, capsys):
    path, photo = wide_photo
    out = tmp_path / "out"
    assert main(["explain", str(path), "--model", str(crop_model), "--method", "gradcam", "--label", "circle",
                 "--out", str(out)]) == 0
    report = json.loads((out / "wide_circle_0_gradcam.json").read_text())
    # The CLI records how the photo was framed and the class shown, as the window does.
    assert report["extra"] == {"resize": "crop", "target": 0}
    assert report["model"]["name"] == "shapes" and report["model"]["source"] == str(crop_model)

    from limelight.core.pipeline import open_report

    opened = open_report(out / "wide_circle_0_gradcam.json")
    assert opened.frame.shape == (100, 100, 3)
    np.testing.assert_array_equal(opened.frame, photo[:, 50:150])
    np.testing.assert_array_equal(opened.image, photo)
    assert opened.target == 0
    # The annotated image is the crop the model saw, at the photo's resolution.
    assert Image.open(out / "wide_circle_0_gradcam.png").size == (100, 100)


def test_explain_returns_each_class_asked_for_and_lime_explains_them_in_one_run(demo):
    from limelight.core.pipeline import ExplainRequest, explain

    photo = _scene()
    lime = ExplainRequest(segmentation="grid", segmentation_params={"n_segments": 16}, num_samples=100, seed=1)
    explanations = explain(photo, demo, lime, target=[1, 0])
    assert list(explanations) == [1, 0]
    one = explanations[1]
    assert one is explanations[0] and one.labels == (1, 0)
    # Faithfulness is LIME's default, measured for the classes asked for.
    assert set(one.faithfulness) == {1, 0}
    # The top classes ride along for free when asked for, after the target.
    more = explain(photo, demo, lime, target=1, also_top_classes=3)
    assert list(more) == [1] and more[1].labels[0] == 1 and len(more[1].labels) in (3, 4)

    cams = explain(photo, demo, ExplainRequest(method="gradcam"), target=[2, 0])
    assert list(cams) == [2, 0] and [cams[k].target for k in cams] == [2, 0]
    assert cams[2].faithfulness == {}
    top = explain(photo, demo, ExplainRequest(method="gradcam", faithfulness=True))
    (target, explanation), = top.items()
    assert target == demo.top_classes(photo, 1)[0][0] and set(explanation.faithfulness) == {target}


def test_export_writes_one_name_per_file_and_never_over_another_photos_files(demo, tmp_path):
    from limelight.core.overlay import OverlayStyle
    from limelight.core.pipeline import ExplainRequest, explain, export, model_info

    info = model_info(demo)
    photo = _scene()
    explanation = explain(photo, demo, ExplainRequest(method="gradcam++"), target=0)[0]
    written_for = {}
    files = export(photo, explanation, info, target=0, photo_path="a/cat.png", folder=tmp_path, style=OverlayStyle(),
                   written_for=written_for)
    assert [f.name for f in files] == ["cat_circle_0_gradcampp.png", "cat_circle_0_gradcampp.json",
                                       "cat_circle_0_gradcampp.npz", "cat_circle_0_gradcampp_figure.png"]
    assert all(f.is_file() for f in files)
    with pytest.raises(ReportError, match="was written for a/cat.png earlier in this run"):
        export(photo, explanation, info, target=0, photo_path="b/cat.png", folder=tmp_path, style=OverlayStyle(),
               force=True, written_for=written_for)
    with pytest.raises(ReportError, match="already exists; pass --force"):
        export(photo, explanation, info, target=0, photo_path="b/cat.png", folder=tmp_path, style=OverlayStyle())


def test_a_request_is_checked_in_core_with_the_engines_words():
    from limelight.core.pipeline import ExplainRequest

    with pytest.raises(ExplanationError, match="method must be one of lime, kernelshap, rise, gradcam"):
        ExplainRequest(method="shap")
    with pytest.raises(ExplanationError, match="segmentation must be one of"):
        ExplainRequest(segmentation="watershed")
    with pytest.raises(ExplanationError, match="num_samples must be 'auto' or a whole number of at least 10, got 5"):
        ExplainRequest(num_samples=5)
    # Faithfulness left at the method's default compares equal to it spelled out, and follows a change of method.
    assert ExplainRequest(method="gradcam", faithfulness=False) == ExplainRequest(method="gradcam")
    assert ExplainRequest(faithfulness=True).measures_faithfulness
    assert not ExplainRequest(method="scorecam").measures_faithfulness
    assert ExplainRequest(method="gradcam", faithfulness=True).key() != ExplainRequest(method="gradcam").key()


@pytest.mark.parametrize("noise", [-0.1, float("nan"), "0.2", True])
def test_smoothgrads_noise_is_checked_in_core_with_the_engines_words(noise):
    from limelight.core.pipeline import ExplainRequest

    with pytest.raises(ExplanationError) as refused:
        ExplainRequest(method="smoothgrad", noise=noise)
    assert str(refused.value) == (f"noise must be a share of the input range of at least 0, not {noise!r}; "
                                  "the SmoothGrad paper uses 0.1 to 0.2")


def test_smoothgrads_noise_and_copies_reach_the_map_and_only_noisy_maps_depend_on_the_noise():
    from limelight.core.pipeline import ExplainRequest, explain
    from limelight.core.zoo import load_builtin

    demo = load_builtin("demo_shapes")
    request = ExplainRequest(method="vargrad", num_samples=12, noise=0.3, seed=2)
    (explanation,) = explain(_scene(), demo, request).values()
    assert explanation.params["noise"] == 0.3 and explanation.params["num_samples"] == 12
    assert explanation.stability[explanation.target].num_samples == 12
    assert request.key() != ExplainRequest(method="vargrad", num_samples=12, seed=2).key()
    integrated = ExplainRequest(method="integrated-gradients")
    assert integrated.key() == ExplainRequest(method="integrated-gradients", noise=0.3).key()


def _scene():
    from limelight.core.demo import make_scene

    return make_scene(np.random.default_rng(5), label=0).image


OLD_REPORTS = Path(__file__).parent / "data" / "old_reports"


def test_reports_written_before_the_names_were_settled_still_open():
    """Written by `limelight explain` at commit c8b9df1 (reports said "score", "score_source" and "heatmap_full")."""
    from limelight.core.overlay import OverlayStyle, render
    from limelight.core.pipeline import open_report

    lime = open_report(OLD_REPORTS / "circle_circle_0_lime.json")
    assert lime.explanation.kind == "lime" and lime.target == 0 and lime.explanation.labels == (0,)
    assert lime.explanation.scores[0] == pytest.approx(json.loads(
        (OLD_REPORTS / "circle_circle_0_lime.json").read_text())["labels"][0]["score"])
    # No extra.resize then: the photo was stretched, so the frame is the whole photo.
    assert lime.frame.shape == lime.image.shape == (64, 64, 3)

    cam = open_report(OLD_REPORTS / "circle_circle_0_scorecam.json")
    explanation = cam.explanation
    assert explanation.method == "scorecam" and cam.target == 0
    assert explanation.class_score == pytest.approx(17.0626, abs=1e-3)
    assert explanation.params["class_score_source"] == "probability" and "score_source" not in explanation.params
    assert explanation.input_heatmap.shape == (64, 64) and explanation.heatmap.shape == (16, 16)
    assert render(cam.frame, explanation, 0, OverlayStyle(display="heatmap")).shape == (64, 64, 3)


def test_score_cams_class_score_is_the_probability_it_weighs_by(demo):
    from limelight.core.pipeline import ExplainRequest, explain

    explanation = explain(_scene(), demo, ExplainRequest(method="scorecam"), target=0)[0]
    assert explanation.params["class_score_source"] == "probability"
    assert explanation.class_score == pytest.approx(explanation.probability)
    gradcam = explain(_scene(), demo, ExplainRequest(method="gradcam"), target=0)[0]
    assert gradcam.params["class_score_source"] != "probability" and gradcam.class_score > 1


def test_the_new_methods_measure_faithfulness_and_key_requests_as_their_family_does():
    from limelight.core.pipeline import ExplainRequest

    # The superpixel methods measure faithfulness by default, the gradient maps on request, as LIME and CAM do.
    assert ExplainRequest(method="rise").measures_faithfulness
    assert not ExplainRequest(method="smoothgrad").measures_faithfulness
    # The key of a gradient map follows its baseline; a superpixel method's ignores LIME's kernel width.
    assert (ExplainRequest(method="integrated-gradients", baseline="blur").key()
            != ExplainRequest(method="integrated-gradients").key())
    assert ExplainRequest(method="kernelshap", kernel_width=0.5).key() == ExplainRequest(method="kernelshap").key()


def test_adding_samples_gives_what_explaining_with_them_all_gives(demo):
    from limelight.core.pipeline import ExplainRequest, PredictionCaches, explain, extend

    photo = _scene()
    request = ExplainRequest(segmentation="grid", segmentation_params={"n_segments": 16}, num_samples=100, seed=3)
    caches = PredictionCaches()
    first = explain(photo, demo, request, target=1, also_top_classes=2, caches=caches)[1]
    more = extend(photo, demo, first, request, target=1, num_samples=250, caches=caches)
    whole = explain(photo, demo, replace(request, num_samples=250), target=1, also_top_classes=2)[1]

    assert more.num_samples == whole.num_samples == 250 and more.labels == whole.labels
    np.testing.assert_array_equal(more.masks, whole.masks)
    for label in whole.labels:
        np.testing.assert_allclose(more.weights[label], whole.weights[label], atol=1e-6)
    assert more.stability == whole.stability and more.faithfulness == whole.faithfulness
    # Another class, with as many samples: the same weights, its curves measured too.
    other = extend(photo, demo, more, request, target=more.labels[-1], num_samples=250, caches=caches)
    assert set(other.faithfulness) == {1, more.labels[-1]}
    np.testing.assert_array_equal(other.weights[1], more.weights[1])
    with pytest.raises(ExplanationError, match="at least the explanation's 100"):
        extend(photo, demo, first, request, target=1, num_samples=50)
