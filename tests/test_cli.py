"""The command line: predictions on real photos, and one-line errors with exit code 2."""
import json
import subprocess
import sys

import pytest
from PIL import Image

from limelight.core.cli import main
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
