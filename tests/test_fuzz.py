"""Fuzzing the loaders of files that come from strangers, images, labels and reports: only the clean error may come out.

How many cases each test runs comes from the hypothesis profile in tests/conftest.py: a thousand
in `make test`, ten thousand in `make fuzz`; the run ends with how many ran.
"""
import hashlib
import io
import json
import os
import struct
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import example, given, strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from limelight.core.errors import ImageError, LabelsError, ReportError
from limelight.core.images import MIN_SIDE, SUPPORTED_EXTENSIONS, load_image
from limelight.core.labels import load_labels
from limelight.core.report import load_report, save_report
from tests.hostile_files import npy_declaring, patched_zip

# Pillow warns about the odd metadata these cases are made of; that is expected, not news.
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")]

EXTENSIONS = [*SUPPORTED_EXTENSIONS, ".txt", ".keras", ""]
FORMATS = ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]
MODES = ["RGB", "RGBA", "L", "LA", "P", "1", "CMYK", "I;16", "I", "F"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One folder for every case of a test: the files are rewritten, never piled up."""
    return tmp_path_factory.mktemp("fuzz")


def rewrite(path, data: bytes) -> None:
    """Put `data` in the file, in place: truncating on open costs milliseconds a case on some disks."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with os.fdopen(descriptor, "wb", closefd=False) as stream:
            stream.write(data)
        os.ftruncate(descriptor, len(data))
    finally:
        os.close(descriptor)


# --- Images ----------------------------------------------------------------------------------

def check_image(path, fuzz_cases, target):
    """Load a fuzzed file: an RGB uint8 image, or one line naming the file. Nothing else."""
    fuzz_cases[f"image ({target})"] += 1
    try:
        image = load_image(path)
    except ImageError as error:
        message = str(error)
        assert "\n" not in message and message.startswith(str(path)), message
    else:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert min(image.shape[:2]) >= MIN_SIDE


@st.composite
def pictures(draw, *, max_side=40):
    """A small Pillow image in any mode a file can hold."""
    rows, cols = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mode = draw(st.sampled_from(MODES))
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 2**16, (rows, cols), dtype=np.uint16))
    if mode == "I":
        return Image.fromarray(rng.integers(-2**31, 2**31, (rows, cols), dtype=np.int32))
    if mode == "F":
        return Image.fromarray(rng.normal(0, draw(st.sampled_from([1.0, 300.0, 1e30])),
                                          (rows, cols)).astype(np.float32))
    return Image.fromarray(rng.integers(0, 256, (rows, cols, 3), dtype=np.uint8)).convert(mode)


def encode(image, file_format, **options) -> bytes:
    """The image as file bytes; modes the format cannot hold are converted first."""
    try:
        return _save(image, file_format, **options)
    except (OSError, ValueError, KeyError, TypeError):
        return _save(image.convert("RGB"), file_format, **options)


def _save(image, file_format, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, file_format, **options)
    return buffer.getvalue()


@st.composite
def damaged(draw, data: bytes) -> bytes:
    """`data` cut short, with bytes flipped, or with random bytes spliced in (or as it is)."""
    data = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(["cut", "flip", "splice"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if how == "cut":
            del data[at:]
        elif how == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


@given(data=st.data(), picture=pictures(), file_format=st.sampled_from(FORMATS),
       extension=st.sampled_from(EXTENSIONS))
def test_fuzz_damaged_images_and_wrong_extensions(folder, fuzz_cases, data, picture, file_format,
                                                  extension):
    path = folder / f"damaged{extension}"
    rewrite(path, data.draw(damaged(encode(picture, file_format))))
    check_image(path, fuzz_cases, "damaged, truncated, wrong extension")


ORIENTATION, EXIF_IFD, GPS_IFD = 0x0112, 0x8769, 0x8825
exif_values = st.one_of(st.integers(-2**31, 2**32), st.text(max_size=12), st.binary(max_size=24),
                        st.floats(), st.tuples(st.integers(0, 2**16), st.integers(0, 2**16)),
                        st.lists(st.integers(0, 255), max_size=6).map(tuple))


@st.composite
def exif_blocks(draw) -> bytes:
    """EXIF that lies: random bytes behind a valid header, or tags of the wrong type and size."""
    if draw(st.booleans()):
        header = draw(st.sampled_from([b"Exif\x00\x00MM\x00*", b"Exif\x00\x00II*\x00", b"Exif\x00\x00",
                                       b"MM\x00*", b"II*\x00", b""]))
        return header + draw(st.binary(max_size=200))
    exif = Image.Exif()
    tags = st.one_of(st.sampled_from([ORIENTATION, EXIF_IFD, GPS_IFD, 0x010F, 0x0132, 0x0201]),
                     st.integers(0, 2**16 - 1))
    for tag, value in draw(st.lists(st.tuples(tags, exif_values), min_size=1, max_size=5)):
        exif[tag] = value
    try:
        return exif.tobytes()
    except Exception:  # noqa: BLE001 - Pillow refuses to write some of these; write raw bytes instead
        return b"Exif\x00\x00" + draw(st.binary(max_size=100))


def with_exif(data: bytes, file_format: str, exif: bytes) -> bytes:
    """EXIF spliced into a JPEG (an APP1 segment) or a PNG (an eXIf chunk), as a camera writes it."""
    if file_format == "JPEG":
        return data[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + data[2:]
    return data[:33] + png_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00")) + data[33:]


@given(data=st.data(), picture=pictures(), exif=exif_blocks(),
       file_format=st.sampled_from(["JPEG", "PNG"]))
def test_fuzz_malformed_exif(folder, fuzz_cases, data, picture, exif, file_format):
    encoded = with_exif(encode(picture, file_format), file_format, exif)
    path = folder / f"exif.{file_format.lower()}"
    rewrite(path, data.draw(st.one_of(st.just(encoded), damaged(encoded))))
    check_image(path, fuzz_cases, "malformed EXIF")


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


@given(picture=pictures(), profile=st.binary(max_size=600), raw_png=st.booleans(),
       file_format=st.sampled_from(["JPEG", "PNG", "WEBP", "TIFF"]))
def test_fuzz_odd_icc_profiles(folder, fuzz_cases, picture, profile, raw_png, file_format):
    if raw_png:
        # An iCCP chunk whose compressed profile is random bytes, not zlib data at all.
        png = encode(picture, "PNG")
        chunk = png_chunk(b"iCCP", b"odd\x00\x00" + profile)
        data, file_format = png[:33] + chunk + png[33:], "PNG"
    else:
        data = encode(picture, file_format, icc_profile=profile)
    path = folder / f"icc.{file_format.lower()}"
    rewrite(path, data)
    check_image(path, fuzz_cases, "odd ICC profile")


# The largest size each format's header can state.
LARGEST_SIDE = {"PNG": 2**31 - 1, "GIF": 2**16 - 1, "JPEG": 2**16 - 1, "BMP": 2**31 - 1}


def with_dimensions(data: bytes, file_format: str, rows: int, cols: int) -> bytes:
    """The file's header rewritten to declare another size; the pixel data stays small."""
    data = bytearray(data)
    if file_format == "PNG":
        data[8:33] = png_chunk(b"IHDR", struct.pack(">II", cols, rows) + bytes(data[24:29]))
    elif file_format == "GIF":
        data[6:10] = struct.pack("<HH", cols, rows)
        block = data.find(b"\x2c", 13)
        if block > 0:
            data[block + 5:block + 9] = struct.pack("<HH", cols, rows)
    elif file_format == "BMP":
        data[18:26] = struct.pack("<ii", cols, -rows)  # negative: stored top row first
    elif file_format == "JPEG":
        frame = data.find(b"\xff\xc0")
        if frame > 0:
            data[frame + 5:frame + 9] = struct.pack(">HH", rows, cols)
    return bytes(data)


@given(picture=pictures(max_side=16), file_format=st.sampled_from(sorted(LARGEST_SIDE)),
       rows=st.integers(0, 2**31 - 1), cols=st.integers(0, 2**31 - 1))
@example(picture=Image.new("RGB", (8, 8)), file_format="PNG", rows=2**31 - 1, cols=2**31 - 1)
@example(picture=Image.new("RGB", (8, 8)), file_format="PNG", rows=9000, cols=9000)
def test_fuzz_huge_dimensions(folder, fuzz_cases, picture, file_format, rows, cols):
    largest = LARGEST_SIDE[file_format]
    rows, cols = rows % (largest + 1), cols % (largest + 1)
    if 10**5 < rows * cols <= Image.MAX_IMAGE_PIXELS and (rows, cols) != (9000, 9000):
        # Under the limit, Pillow fills memory for the whole claim before it finds the data
        # short; the example above does that once, more cases would only time memset.
        rows = cols = largest
    path = folder / f"huge.{file_format.lower()}"
    rewrite(path, with_dimensions(encode(picture, file_format), file_format, rows, cols))
    check_image(path, fuzz_cases, "huge dimensions")


SIGNATURES = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"GIF87a", b"BM", b"II*\x00",
              b"MM\x00*", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"RIFF\xff\xff\xff\xffWEBPVP8L"]


@given(signature=st.sampled_from(SIGNATURES), rest=st.binary(max_size=1024),
       extension=st.sampled_from(EXTENSIONS))
@example(signature=b"", rest=b"", extension=".png")  # a 0-byte file
@example(signature=b"\xff\xd8\xff", rest=b"", extension=".jpg")
def test_fuzz_random_bytes_behind_image_signatures(folder, fuzz_cases, signature, rest, extension):
    path = folder / f"random{extension}"
    rewrite(path, signature + rest)
    check_image(path, fuzz_cases, "random bytes, 0-byte")


# --- Reports ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Two valid reports, LIME and Grad-CAM, as {kind: (JSON text, npz bytes)}."""
    from limelight.core.cam import explain_cam
    from limelight.core.lime import explain_lime
    from limelight.core.zoo import load_builtin

    model = load_builtin("demo_shapes")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    segments = np.repeat(np.repeat(np.arange(16).reshape(4, 4), 16, axis=0), 16, axis=1)
    lime = explain_lime(image, model.predict, segments=segments, labels=[0, 1], num_samples=40,
                        batch_size=20, random_state=0)
    cam = explain_cam(image, model)
    saved = {}
    for kind, explanation in (("lime", lime), ("cam", cam)):
        # Saved under the name every case is written to, so the JSON names its arrays right.
        path = save_report(tmp_path_factory.mktemp(kind) / "report.json", explanation,
                           image_path="photo.png", model_name="demo", preprocessing="unit",
                           label_names=model.labels)
        saved[kind] = (path.read_text(encoding="utf-8"), path.with_suffix(".npz").read_bytes())
    return Templates(saved)


class Templates(dict):
    """Saved reports by kind; shown by name only when hypothesis reports a failing case."""

    def __repr__(self):
        return f"<reports: {', '.join(self)}>"


def load_report_from(folder, text, packed):
    """Write a report and its arrays (None: no arrays) and load it."""
    path = folder / "report.json"
    rewrite(path, text.encode("utf-8", "surrogateescape"))
    if packed is None:
        path.with_suffix(".npz").unlink(missing_ok=True)
    else:
        rewrite(path.with_suffix(".npz"), packed)
    return load_report(path)


def check_report(folder, fuzz_cases, target, text, packed):
    """Load a fuzzed report: an explanation whose maps fit its superpixels, or a ReportError."""
    fuzz_cases[f"report ({target})"] += 1
    try:
        explanation, info = load_report_from(folder, text, packed)
    except ReportError as error:
        message = str(error)
        assert "\n" not in message and message.startswith(str(folder)), message
        return None
    for label in explanation.labels:
        weights = np.asarray(explanation.weight_map(label))
        if explanation.segments is not None:
            assert weights.shape == np.asarray(explanation.segments).shape
    return explanation


def pack(arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def unpack(packed) -> dict:
    with np.load(io.BytesIO(packed), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def sealed(info: dict, arrays: dict, *, list_shapes=True) -> tuple[str, bytes]:
    """Report text and arrays that agree on the digest, so the loader looks deeper."""
    packed = pack(arrays)
    info = json.loads(json.dumps(info))
    info["arrays"]["sha256"] = hashlib.sha256(packed).hexdigest()
    if list_shapes:
        info["arrays"]["shapes"] = {n: [list(a.shape), a.dtype.str] for n, a in arrays.items()}
    return json.dumps(info), packed


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                       max_size=4),
    max_leaves=6)


def mutated(data, node, depth=0):
    """`node` with one part replaced, deleted or given a new key, chosen by hypothesis."""
    if isinstance(node, (dict, list)) and node and depth < 12:
        keys = sorted(node) if isinstance(node, dict) else list(range(len(node)))
        key = data.draw(st.sampled_from(keys))
        action = data.draw(st.sampled_from(["descend", "descend", "replace", "delete", "add"]))
        if action == "descend":
            node[key] = mutated(data, node[key], depth + 1)
        elif action == "replace":
            node[key] = data.draw(json_values)
        elif action == "delete":
            del node[key]
        elif isinstance(node, dict):
            node[data.draw(st.text(max_size=10))] = data.draw(json_values)
        else:
            node.append(data.draw(json_values))
        return node
    return data.draw(json_values)


@given(data=st.data(), kind=st.sampled_from(["lime", "cam"]), edits=st.integers(1, 4))
def test_fuzz_report_json(reports, folder, fuzz_cases, data, kind, edits):
    text, packed = reports[kind]
    info = json.loads(text)
    for _ in range(edits):
        info = mutated(data, info)
    check_report(folder, fuzz_cases, "JSON edited", json.dumps(info), packed)


array_dtypes = st.sampled_from([np.int8, np.int32, np.int64, np.uint8, np.uint64, np.float32,
                                np.float64, np.bool_, np.complex64, np.dtype("<U3"),
                                np.dtype("S2"), np.dtype("<M8[s]")])


@st.composite
def changed_arrays(draw, arrays: dict) -> dict:
    """The report's arrays with one replaced by a random array, reshaped, retyped or dropped."""
    arrays = dict(arrays)
    name = draw(st.sampled_from(sorted(arrays) + ["extra"]))
    original = arrays.get(name, np.zeros(3))
    how = draw(st.sampled_from(["random", "reshape", "retype", "shift", "drop"]))
    if how == "random":
        arrays[name] = draw(hnp.arrays(array_dtypes, hnp.array_shapes(min_dims=0, max_dims=3,
                                                                        min_side=0, max_side=6)))
    elif how == "reshape":
        arrays[name] = original.reshape(-1)[: draw(st.integers(0, original.size))]
    elif how == "retype":
        arrays[name] = original.astype(draw(array_dtypes))
    elif how == "shift":
        # Values moved out of their range: superpixel labels past the weights, negative labels.
        arrays[name] = original + draw(st.sampled_from([-1, 1, 7, -10**6]))
    else:
        arrays.pop(name, None)
    return arrays


@given(data=st.data(), kind=st.sampled_from(["lime", "cam"]), list_shapes=st.booleans())
def test_fuzz_report_arrays(reports, folder, fuzz_cases, data, kind, list_shapes):
    text, packed = reports[kind]
    arrays = data.draw(changed_arrays(unpack(packed)))
    check_report(folder, fuzz_cases, "arrays changed",
                 *sealed(json.loads(text), arrays, list_shapes=list_shapes))


@given(data=st.data(), kind=st.sampled_from(["lime", "cam"]),
       which=st.sampled_from(["json", "npz", "npz, digest fixed", "npz missing"]))
def test_fuzz_report_bytes(reports, folder, fuzz_cases, data, kind, which):
    text, packed = reports[kind]
    if which == "json":
        text = data.draw(damaged(text.encode("utf-8"))).decode("utf-8", "surrogateescape")
    elif which == "npz missing":
        packed = None
    else:
        packed = data.draw(damaged(packed))
        if which == "npz, digest fixed":
            info = json.loads(text)
            info["arrays"]["sha256"] = hashlib.sha256(packed).hexdigest()
            text = json.dumps(info)
    check_report(folder, fuzz_cases, "bytes damaged", text, packed)


# --- Reports: cases chosen by hand ------------------------------------------------------------

def test_report_whose_segment_map_does_not_match_its_json(reports, folder, fuzz_cases):
    text, packed = reports["lime"]
    info, arrays = json.loads(text), unpack(packed)
    assert all(len(entry["superpixel_weights"]) == 16 for entry in info["labels"])
    # The arrays are rebuilt for 9 superpixels, consistently among themselves; the JSON says 16.
    arrays["segments"] = np.repeat(np.repeat(np.arange(9).reshape(3, 3), 22, axis=0), 22, axis=1)[:64, :64]
    arrays["masks"] = arrays["masks"][:, :9]
    arrays["weights"] = arrays["weights"][:, :9]
    with pytest.raises(ReportError, match="superpixel"):
        load_report_from(folder, *sealed(info, arrays))


def test_the_unchanged_reports_load(reports, folder, fuzz_cases):
    # The cases above start from these: they must get past every check to test anything.
    for kind, (text, packed) in reports.items():
        assert check_report(folder, fuzz_cases, "unchanged", text, packed).kind == kind


@pytest.mark.parametrize("text", ["[" * 100_000, '{"format": ' * 50_000])
def test_report_nested_too_deep(folder, text):
    with pytest.raises(ReportError, match="not valid JSON"):
        load_report_from(folder, text, b"")


class _Payload:
    """Unpickling this would create the marker file: pickles can run code."""

    marker = None

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_report_arrays_are_never_unpickled(reports, folder, tmp_path, monkeypatch):
    marker = tmp_path / "unpickled"
    monkeypatch.setattr(_Payload, "marker", marker)
    text, packed = reports["lime"]
    arrays = unpack(packed)
    arrays["weights"] = np.array([_Payload()], dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    info = json.loads(text)
    info["arrays"]["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    info["arrays"]["shapes"]["weights"] = [[1], "|O"]
    with pytest.raises(ReportError, match="not a readable array archive"):
        load_report_from(folder, json.dumps(info), buffer.getvalue())
    assert not marker.exists()


def test_report_messages_quoting_the_file_stay_one_line(reports, folder):
    # Found by make fuzz: a style key with a newline in it, quoted back in the message.
    text, packed = reports["lime"]
    info = json.loads(text)
    info["style"] = {"\n": None}
    with pytest.raises(ReportError, match="display settings") as caught:
        load_report_from(folder, json.dumps(info), packed)
    assert "\n" not in str(caught.value)


def test_report_arrays_named_with_a_nul_a_newline_or_a_folder(reports, folder):
    text, packed = reports["lime"]
    for name in ["bad\x00.npz", "\n", "a\nb.npz", "../elsewhere.npz", "/etc/passwd"]:
        info = json.loads(text)
        info["arrays"]["file"] = name
        with pytest.raises(ReportError, match="not a file beside it") as caught:
            load_report_from(folder, json.dumps(info), packed)
        assert "\n" not in str(caught.value)


# --- Declared sizes, archive members and files that are not files ----------------------------

@st.composite
def hostile_archives(draw, arrays: dict) -> bytes:
    """The report's arrays re-zipped with headers declaring other shapes, odd member names,
    compression methods zipfile cannot read, or the encryption flag."""
    buffer = io.BytesIO()
    names = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            data = io.BytesIO()
            np.save(data, array)
            data = data.getvalue()
            if draw(st.booleans()):
                # A header that declares up to petabytes, over whatever bytes follow it.
                shape = draw(st.lists(st.integers(0, 2**40), max_size=3))
                data = npy_declaring(shape, array.dtype.str, data[len(data) - draw(st.integers(0, 64)):])
            member = draw(st.sampled_from([f"{name}.npy"] * 4 + [f"../{name}.npy", f"/{name}.npy",
                                                                 f"a/../../{name}.npy", names[-1] if names else "x"]))
            names.append(member)
            archive.writestr(member, data)
    packed = buffer.getvalue()
    for member in set(draw(st.lists(st.sampled_from(names), max_size=2))):
        how = draw(st.sampled_from([{"encrypted": True}, {"method": 9}, {"method": 99}, {"method": 0}]))
        packed = patched_zip(packed, member, **how)
    return packed


@given(data=st.data(), kind=st.sampled_from(["lime", "cam"]))
def test_fuzz_report_archive_members_and_declared_sizes(reports, folder, fuzz_cases, data, kind):
    text, packed = reports[kind]
    info = json.loads(text)
    packed = data.draw(hostile_archives(unpack(packed)))
    info["arrays"]["sha256"] = hashlib.sha256(packed).hexdigest()
    check_report(folder, fuzz_cases, "archive members, declared sizes", json.dumps(info), packed)


SPECIAL_FILES = ["fifo", "folder", "link to a device", "link loop", "dangling link", "empty"]


def make_special(path, kind):
    if path.is_symlink() or path.is_file() or path.is_fifo():
        path.unlink()
    elif path.is_dir():
        path.rmdir()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "link to a device":
        path.symlink_to(os.devnull)
    elif kind == "link loop":
        path.symlink_to(path.name)
    elif kind == "dangling link":
        path.symlink_to(path.with_name("nowhere"))
    else:
        path.write_bytes(b"")


@given(kind=st.sampled_from(SPECIAL_FILES), target=st.sampled_from(["image", "labels", "report", "arrays"]))
def test_fuzz_files_that_are_not_files(reports, folder, fuzz_cases, kind, target):
    fuzz_cases["special files"] += 1
    if target == "arrays":
        path = folder / "special_report.npz"
        text, _ = reports["lime"]
        info = json.loads(text)
        info["arrays"]["file"] = path.name
        rewrite(folder / "special_report.json", json.dumps(info).encode("utf-8"))
        make_special(path, kind)
        load, error = (lambda: load_report(folder / "special_report.json")), ReportError
    else:
        path = folder / {"image": "special.png", "labels": "special.txt", "report": "special.json"}[target]
        make_special(path, kind)
        loader, error = {"image": (load_image, ImageError), "labels": (load_labels, LabelsError),
                         "report": (load_report, ReportError)}[target]
        load = lambda: loader(path)  # noqa: E731
    with pytest.raises(error) as caught:
        load()
    assert "\n" not in str(caught.value) and str(caught.value).startswith(str(folder))
