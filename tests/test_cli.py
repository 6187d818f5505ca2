"""The command line: predictions on real photos, and one-line errors with exit code 2."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from limelight.core.cli import main
from limelight.core.methods import METHOD_TITLES
from limelight.resources import resource_path

CHELSEA = str(resource_path("samples", "chelsea.jpg"))


def test_predict_chelsea_prints_egyptian_cat_first(capsys):
    assert main(["predict", CHELSEA, "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "1. Egyptian cat" in lines[1]
    assert len([line for line in lines if line.strip()[:2] in ("1.", "2.", "3.")]) == 3


def test_predict_json(capsys):
    assert main(["predict", CHELSEA, "--json", "--top", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [p["index"] for p in result[0]["predictions"]][0] == 285
    assert {p["index"] for p in result[0]["predictions"]} <= {281, 282, 283, 284, 285, 287}


def test_bad_image_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "notes.png").write_text("not a picture")
    assert main(["predict", str(tmp_path / "notes.png"), "--model", "demo_shapes"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("limelight: ") and str(tmp_path / "notes.png") in err
    assert len(err.splitlines()) == 1


def test_untrusted_model_is_refused_with_a_hint(tmp_path, capsys):
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Lambda(lambda t: t + 1.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x)).save(tmp_path / "m.keras")
    Image.new("RGB", (20, 20)).save(tmp_path / "a.png")
    assert main(["predict", str(tmp_path / "a.png"), "--model", str(tmp_path / "m.keras")]) == 2
    err = capsys.readouterr().err
    assert "Lambda" in err and "--trust-model" in err
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "a.png"), "--model", str(tmp_path / "m.keras"),
                 "--trust-model"]) == 0


def test_models_lists_the_builtins(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "efficientnet_lite0" in out and "demo_shapes" in out and "vgg16" in out


def test_console_script_gives_no_traceback(tmp_path):
    missing = tmp_path / "missing.jpg"
    done = subprocess.run([sys.executable, "-m", "limelight.gui.launcher", "predict", str(missing),
                           "--model", "demo_shapes"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"limelight: {missing}: file not found" in done.stderr


@pytest.fixture
def demo_scene(tmp_path):
    import numpy as np

    from limelight.core.demo import make_scene

    scene = make_scene(np.random.default_rng(5), label=0)
    path = tmp_path / "circle.png"
    # A photo bigger than the model's input: outputs must come back at the photo's size.
    Image.fromarray(scene.image).resize((192, 128)).save(path)
    return path


def test_explain_lime_writes_image_report_and_arrays(demo_scene, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["explain", str(demo_scene), "--model", "demo_shapes", "--samples", "200",
            "--segmentation", "grid", "--segments", "16", "--seed", "3", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    written = printed.split()
    names = sorted(p.name for p in out.iterdir())
    assert names == ["circle_circle_0_lime.json", "circle_circle_0_lime.npz", "circle_circle_0_lime.png"]
    assert str(out / "circle_circle_0_lime.png") in written
    assert Image.open(out / "circle_circle_0_lime.png").size == (192, 128)
    report = json.loads((out / "circle_circle_0_lime.json").read_text())
    assert report["parameters"]["seed"] == 3 and report["parameters"]["num_samples"] == 200
    assert report["parameters"]["segmentation"] == {"method": "grid", "n_segments": 16}
    # How far to trust it is printed and saved with it.
    stability = report["labels"][0]["stability"]
    faithfulness = report["labels"][0]["faithfulness"]
    assert stability["word"] in ("stable", "borderline", "unstable") and stability["num_samples"] == 200
    assert (f"circle.png  circle  LIME  200 samples  stability {stability['value']:.2f} {stability['word']}"
            in printed)
    assert f"deletion AUC {faithfulness['deletion_auc']:.3f}" in printed

    from limelight.core.report import load_report

    explanation, _ = load_report(out / "circle_circle_0_lime.json")
    assert explanation.labels == (0,) and explanation.num_segments == 16

    # Nothing is overwritten without --force, and the refusal names the file.
    before = (out / "circle_circle_0_lime.png").read_bytes()
    assert main(args[:-2] + ["--seed", "4", "--out", str(out)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert (out / "circle_circle_0_lime.png").read_bytes() == before
    assert main(args + ["--force", "--seed", "4"]) == 0
    assert json.loads((out / "circle_circle_0_lime.json").read_text())["parameters"]["seed"] == 4


def test_explain_samples_auto_by_default(demo_scene, tmp_path, capsys):
    out = tmp_path / "auto"
    assert main(["explain", str(demo_scene), "--model", "demo_shapes", "--segmentation", "grid",
                 "--segments", "16", "--seed", "1", "--max-samples", "400", "--no-faithfulness",
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    report = json.loads((out / "circle_circle_0_lime.json").read_text())
    used = report["parameters"]["num_samples"]
    stopped = report["parameters"]["auto"].pop("stopped")
    assert report["parameters"]["auto"] == {"target_stability": 0.9, "max_samples": 400}
    assert 250 <= used <= 400 and report["labels"][0]["stability"]["num_samples"] == used
    # Stopped early only when stable; otherwise it says why, in one line, and what would help.
    stability = report["labels"][0]["stability"]
    assert stability["stopped"] == stopped
    if stability["word"] == "stable":
        assert stopped.startswith("stable: tie-aware agreement") and not captured.err
    else:
        assert stopped.endswith("; use fewer, larger superpixels")
        assert captured.err.endswith(f"\nlimelight: {demo_scene}: {stopped}\n")
    assert f"{used} samples  stability {stability['value']:.2f}" in printed
    assert "faithfulness" not in report["labels"][0] and "deletion AUC" not in printed


def test_explain_gradcam_with_faithfulness(demo_scene, tmp_path, capsys):
    out = tmp_path / "cam"
    assert main(["explain", str(demo_scene), "--model", "demo_shapes", "--method", "gradcam",
                 "--faithfulness", "--segmentation", "grid", "--segments", "16", "--out", str(out)]) == 0
    report = json.loads((out / "circle_circle_0_gradcam.json").read_text())
    curves = report["labels"][0]["faithfulness"]
    assert set(curves) == {"deletion_auc", "insertion_auc", "random_auc"}
    assert all(0 <= value <= 1 for value in curves.values())
    assert "deletion AUC" in capsys.readouterr().out


def test_explain_gradcam_with_a_named_label_and_figure(demo_scene, tmp_path, capsys):
    out = tmp_path / "cam"
    assert main(["explain", str(demo_scene), "--model", "demo_shapes", "--method", "gradcam",
                 "--label", "square", "--figure", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "circle_square_1_gradcam.json", "circle_square_1_gradcam.npz", "circle_square_1_gradcam.png",
        "circle_square_1_gradcam_figure.png"]


def test_explain_caption_writes_method_class_and_trust_under_the_image(demo_scene, tmp_path, capsys):
    out = tmp_path / "captioned"
    common = ["explain", str(demo_scene), "--model", "demo_shapes", "--out", str(out)]
    assert main(common + ["--samples", "200", "--segmentation", "grid", "--segments", "16", "--seed", "3",
                          "--no-faithfulness"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "circle_circle_0_lime.json").read_text())
    fit = report["labels"][0]["fit_r2"]
    assert f"fit R² {fit:.2f} {'good' if fit >= 0.5 else 'weak'}" in printed
    plain = np.asarray(Image.open(out / "circle_circle_0_lime.png"))
    assert main(common + ["--samples", "200", "--segmentation", "grid", "--segments", "16", "--seed", "3",
                          "--no-faithfulness", "--caption", "--force"]) == 0
    captioned = np.asarray(Image.open(out / "circle_circle_0_lime.png"))
    # The same picture with lines of dark text on white under it.
    assert captioned.shape[1] == 192 and captioned.shape[0] > 128 + 30
    assert np.array_equal(captioned[:128], plain)
    under = captioned[128:]
    assert (under < 100).all(axis=2).sum() > 200 and (under == 255).all(axis=2).mean() > 0.6
    # A Grad-CAM heatmap gets its colour bar too: a row that runs through the colormap.
    assert main(common + ["--method", "gradcam", "--caption"]) == 0
    cam = np.asarray(Image.open(out / "circle_circle_0_gradcam.png"))
    assert cam.shape[0] > 128 + 40
    colourful = [r for r in range(128, cam.shape[0]) if (np.ptp(cam[r].astype(int), axis=1) > 100).sum() > 100]
    assert colourful


@pytest.mark.parametrize("extra, message", [
    (["--label", "circel"], "no class named 'circel'; did you mean 'circle'"),
    (["--samples", "5"], "at least 10"),
    (["--samples", "lots"], "num_samples must be 'auto' or a whole number of at least 10, got 'lots'"),
    (["--method", "gradcam", "--layer", "nope"], "no 4-D layer named 'nope'"),
    (["--hide", "1,2"], "three numbers 0-255"),
])
def test_explain_bad_options_are_one_line_errors(demo_scene, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    assert main(["explain", str(demo_scene), "--model", "demo_shapes", "--out", str(out),
                 *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_explain_into_an_uncreatable_folder(demo_scene, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["explain", str(demo_scene), "--model", "demo_shapes", "--out",
                 str(blocker / "sub")]) == 2
    assert "cannot create the output folder" in capsys.readouterr().err


def test_layers_lists_the_demo_models_feature_maps(capsys):
    assert main(["layers", "--model", "demo_shapes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].split() == ["last_conv", "16x16x64"]


@pytest.mark.parametrize("method, extra, trust", [
    ("integrated-gradients", ["--baseline", "200,30,30", "--faithfulness"], "deletion AUC"),
    ("smoothgrad", ["--samples", "12", "--noise", "0.25"], "12 noisy copies  stability 0."),
    ("gradients", [], "Gradients  stability n/a, deterministic\n"),
    ("kernelshap", ["--samples", "200"], "fit R²"),
    ("rise", ["--samples", "200"], "stability"),
])
def test_explain_with_the_new_methods_writes_their_report(demo_scene, tmp_path, capsys, method, extra, trust):
    out = tmp_path / method
    assert main(["explain", str(demo_scene), "--model", "demo_shapes", "--method", method, "--segmentation", "grid",
                 "--segments", "16", "--seed", "1", "--out", str(out), *extra]) == 0
    report = json.loads((out / f"circle_circle_0_{method.replace('-', '_')}.json").read_text())
    assert report["parameters"]["method"] == method
    if method == "integrated-gradients":
        assert report["kind"] == "gradient" and report["parameters"]["baseline"] == [200, 30, 30]
    if method == "integrated-gradients":
        assert report["labels"][0]["stability"]["note"].startswith("n/a, deterministic; attributions add up")
    if method == "smoothgrad":
        assert report["parameters"]["num_samples"] == 12 and report["parameters"]["noise"] == 0.25
        stability = report["labels"][0]["stability"]
        assert stability["num_samples"] == 12 and stability["word"] in ("stable", "borderline", "unstable")
    printed = capsys.readouterr().out
    assert trust in printed and (method != "rise" or "fit R²" not in printed)
    # The trust line names the method as the window does, not its family ("LIME" for KernelSHAP).
    assert f"circle.png  circle  {METHOD_TITLES[method]}" in printed


def test_a_bad_baseline_is_one_line(demo_scene, tmp_path, capsys):
    assert main(["explain", str(demo_scene), "--model", "demo_shapes", "--method", "integrated-gradients",
                 "--baseline", "1,2", "--out", str(tmp_path)]) == 2
    assert "--baseline colour '1,2' must be three numbers 0-255" in capsys.readouterr().err
