"""Hostile photos, labels and reports: each ends as one line naming the file, without running, hanging or
allocating what the file declares. Models have their own file, tests/test_hostile_models.py."""
import hashlib
import json
import re
import threading
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import EpsImagePlugin, Image

from limelight.core.errors import ImageError, LabelsError, ReportError
from limelight.core.files import MAX_ARRAY_BYTES, open_regular_file
from limelight.core.images import load_image
from limelight.core.labels import Labels, imagenet_labels, load_labels
from limelight.core.lime import LimeExplanation
from limelight.core.overlay import line_thickness
from limelight.core.report import load_report, save_report
from tests.hostile_files import POSTSCRIPT, fifo, nested_json, npy_declaring

ROOT = Path(__file__).resolve().parents[1]


def one_line(error, path) -> str:
    message = str(error.value)
    assert "\n" not in message and message.startswith(str(path).replace("\n", "\\n")), message
    return message


def finishes(call, *args, seconds=60):
    """Run `call` in a thread; fail (instead of hanging the suite) when it blocks."""
    outcome = {}

    def run():
        try:
            outcome["value"] = call(*args)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{call.__name__} blocked on a file that is not a file"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# --- 2. Photos never reach an outside program ---------------------------------------------------

@pytest.fixture
def ghostscript_tripwire(monkeypatch, tmp_path):
    """Make Pillow's way to Ghostscript leave a marker, proving a refusal came first."""
    marker = tmp_path / "ghostscript_ran"

    def reached(*args, **kwargs):
        marker.touch()
        raise AssertionError("Pillow handed the file to Ghostscript")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", reached)
    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", lambda: True)
    return marker


@pytest.mark.parametrize("name", ["holiday.jpg", "scan.png", "page.tif"])
def test_postscript_named_as_a_photo_is_refused_without_ghostscript(tmp_path, ghostscript_tripwire, name):
    path = tmp_path / name
    path.write_bytes(POSTSCRIPT)
    with pytest.raises(ImageError) as caught:
        load_image(path)
    assert "not an image file that can be read" in one_line(caught, path)
    assert not ghostscript_tripwire.exists()


def test_every_image_is_read_through_the_one_gate():
    # Thumbnails, the self-test, reports: anything that decodes an image file goes through
    # core.images.open_image, which allows only Limelight's decoders.
    offenders = [f"{path.relative_to(ROOT)}:{number}"
                 for folder in ("core", "gui") for path in (ROOT / folder).rglob("*.py")
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"\bImage\.open\(", line) and path != ROOT / "core" / "images.py"]
    assert offenders == []
    assert (ROOT / "core" / "images.py").read_text().count("Image.open(") == 1


# --- 4. Files that are not files ----------------------------------------------------------------

@pytest.mark.parametrize("loader, error, name", [(load_image, ImageError, "photo.jpg"),
                                                 (load_labels, LabelsError, "labels.txt"),
                                                 (load_report, ReportError, "report.json")])
def test_a_fifo_is_refused_at_once(tmp_path, loader, error, name):
    path = fifo(tmp_path / name)
    with pytest.raises(error) as caught:
        finishes(loader, path)
    assert "named pipe" in one_line(caught, path)


@pytest.mark.parametrize("loader, error", [(load_image, ImageError), (load_labels, LabelsError)])
def test_a_link_to_a_device_is_refused(tmp_path, loader, error):
    path = tmp_path / ("zero.png" if loader is load_image else "zero.txt")
    path.symlink_to("/dev/zero")
    with pytest.raises(error) as caught:
        finishes(loader, path)
    assert "is a device" in one_line(caught, path)


def test_a_link_to_a_regular_file_is_read(tmp_path):
    target = tmp_path / "names.txt"
    target.write_text("a\nb\n")
    (tmp_path / "link.txt").symlink_to(target)
    assert load_labels(tmp_path / "link.txt").names == ("a", "b")


def test_a_file_larger_than_its_kind_may_be_is_refused_unread(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 2000)
    with pytest.raises(LabelsError) as caught:
        with open_regular_file(path, error=LabelsError, max_bytes=1000):
            pass
    assert "over the" in one_line(caught, path)


def test_outlines_on_a_strip_of_a_photo_stay_thin():
    assert line_thickness((8, 11_000_000)) == 1
    assert line_thickness((11_000_000, 8)) == 1
    assert line_thickness((3000, 4000)) == 4


# --- Reports -----------------------------------------------------------------------------------

@pytest.fixture
def report(tmp_path):
    segments = np.zeros((32, 32), np.int32)
    segments[:, 16:] = 1
    explanation = LimeExplanation(
        segments=segments, labels=(1,), weights={1: np.array([0.3, -0.1])}, intercepts={1: 0.1},
        scores={1: 0.8}, local_predictions={1: 0.7}, probabilities={1: 0.9},
        params={"num_samples": 4, "hide": (0, 0, 0), "seed": 1},
        masks=np.ones((4, 2), bool), predictions=np.full((4, 2), 0.5, np.float32), timings={"total": 1.0})
    path = tmp_path / "cat_tabby_1_lime.json"
    save_report(path, explanation, image_path="cat.jpg", model_name="m", preprocessing="unit",
                label_names=["a", "b"])
    return path


def reseal(report_path, packed: bytes, shapes: dict):
    """Put `packed` in place of a report's arrays, with a matching digest and listing."""
    info = json.loads(report_path.read_text())
    arrays = report_path.with_name(info["arrays"]["file"])
    arrays.write_bytes(packed)
    info["arrays"]["sha256"] = hashlib.sha256(packed).hexdigest()
    info["arrays"]["shapes"] = shapes
    report_path.write_text(json.dumps(info))
    return arrays


def test_report_arrays_declaring_gigabytes_are_refused_before_loading(report, tmp_path):
    # 3.75 GiB declared in a .npy header, 16 bytes stored.
    packed_path = tmp_path / "packed.zip"
    with zipfile.ZipFile(packed_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("segments.npy", npy_declaring((1_006_632_960,), "<f4", b"\0" * 16))
    arrays = reseal(report, packed_path.read_bytes(), {"segments": [[1_006_632_960], "<f4"]})
    with pytest.raises(ReportError) as caught:
        load_report(report)
    message = one_line(caught, arrays)
    assert "3.8 GB" in message and f"{MAX_ARRAY_BYTES / 1024**3:.1f} GB limit" in message


def test_report_arrays_that_are_a_fifo_or_a_device_are_refused(report):
    info = json.loads(report.read_text())
    arrays = report.with_name(info["arrays"]["file"])
    arrays.unlink()
    fifo(arrays)
    with pytest.raises(ReportError) as caught:
        finishes(load_report, report)
    assert "named pipe" in one_line(caught, arrays)
    arrays.unlink()
    arrays.symlink_to("/dev/zero")
    with pytest.raises(ReportError) as caught:
        finishes(load_report, report)
    assert "is a device" in one_line(caught, arrays)


def test_report_arrays_with_an_encrypted_member_are_refused_in_one_line(report):
    from tests.hostile_files import patched_zip

    info = json.loads(report.read_text())
    arrays = report.with_name(info["arrays"]["file"])
    name = zipfile.ZipFile(arrays).namelist()[0]
    arrays.write_bytes(patched_zip(arrays.read_bytes(), name, encrypted=True))
    reseal(report, arrays.read_bytes(), info["arrays"]["shapes"])
    with pytest.raises(ReportError) as caught:
        load_report(report)
    assert "encrypted" in one_line(caught, arrays)


# --- 5. One line, whatever the file holds -------------------------------------------------------

def test_labels_json_nested_100000_deep_is_one_line(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(nested_json(100_000))
    with pytest.raises(LabelsError) as caught:
        load_labels(path)
    assert "nested too deeply" in one_line(caught, path)


def test_labels_csv_with_a_huge_field_is_one_line(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("index,name\n0," + "x" * 200_000 + "\n")
    with pytest.raises(LabelsError) as caught:
        load_labels(path)
    assert "not a readable CSV file" in one_line(caught, path)


def test_float_tiff_with_nan_and_infinities_loads_without_warnings(tmp_path):
    values = np.full((16, 16), 100.0, np.float32)
    values[0, 0], values[0, 1], values[0, 2] = np.nan, np.inf, -np.inf
    path = tmp_path / "float.tif"
    Image.fromarray(values).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb = load_image(path)
    assert rgb[0, 0].tolist() == [0, 0, 0] and rgb[0, 2].tolist() == [0, 0, 0]
    assert rgb[0, 1].tolist() == [255, 255, 255]


def test_a_newline_or_escape_in_a_file_name_stays_one_line(tmp_path):
    path = tmp_path / "photo\n\x1b[2Jcleared.jpg"
    with pytest.raises(ImageError) as caught:
        load_image(path)
    message = str(caught.value)
    assert message == f"{tmp_path}/photo\\n\\x1b[2Jcleared.jpg: file not found"


def test_cli_messages_stay_one_line_for_an_out_path_with_a_newline(tmp_path, capsys):
    from limelight.core.cli import main
    from limelight.resources import resource_path

    blocker = tmp_path / "out\nput"
    blocker.write_text("a file where the folder should go")
    code = main(["explain", str(resource_path("samples", "chelsea.jpg")), "--model", "demo_shapes",
                 "--method", "gradcam", "--out", str(blocker / "inner")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "out\\nput" in err


# --- 6. Classes that share a name ---------------------------------------------------------------

def test_a_name_shared_by_two_classes_asks_for_the_index():
    labels = Labels(("cat", "cat", "dog"), source="test")
    with pytest.raises(LabelsError, match=r"'cat' names 2 classes \(0 'cat', 1 'cat'\); give the class index"):
        labels.find("cat")
    assert labels.find("1") == 1 and labels.find("dog") == 2
    with pytest.raises(LabelsError, match="264 'Cardigan', 474 'cardigan'"):
        imagenet_labels().find("cardigan")


def test_two_photos_with_one_stem_never_overwrite_each_other_in_a_run(tmp_path, capsys):
    from limelight.core.cli import main
    from limelight.resources import resource_path

    first, second = tmp_path / "a" / "photo.jpg", tmp_path / "b" / "photo.jpg"
    for path, turn in ((first, 0), (second, 1)):
        path.parent.mkdir()
        with Image.open(resource_path("samples", "chelsea.jpg")) as photo:
            photo.rotate(90 * turn).save(path)
    out = tmp_path / "out"
    code = main(["explain", str(first), str(second), "--model", "demo_shapes", "--method", "gradcam",
                 "--label", "0", "--force", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "earlier in this run" in err and str(first) in err
    report = json.loads((out / "photo_circle_0_gradcam.json").read_text())
    assert report["image"]["name"] == "photo.jpg" and report["image"]["path"] == str(first)


def test_a_nul_in_a_file_name_is_one_line_not_a_traceback(tmp_path):
    path = f"{tmp_path}/photo\x00.jpg"
    with pytest.raises(ImageError) as caught:
        load_image(path)
    assert str(caught.value) == f"{tmp_path}/photo\\x00.jpg: cannot be opened (its name holds a NUL character)"
