"""Image loading: every format a user drops on the window, and every broken file, fails cleanly."""
import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from limelight.core.errors import ImageError
from limelight.core.images import list_images, load_image


@pytest.fixture
def photo():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)


@pytest.mark.parametrize("extension", [".jpg", ".png", ".bmp", ".tif", ".webp", ".gif"])
def test_common_formats_load_as_rgb_uint8(tmp_path, photo, extension):
    path = tmp_path / f"photo{extension}"
    Image.fromarray(photo).save(path)
    image = load_image(path)
    assert image.dtype == np.uint8 and image.shape == (40, 60, 3)
    if extension in (".png", ".bmp", ".tif"):
        np.testing.assert_array_equal(image, photo)


def test_rgba_is_composited_onto_white(tmp_path):
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[:, :5] = (255, 0, 0, 255)  # opaque red
    rgba[:, 5:] = (0, 0, 255, 0)  # fully transparent blue
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert tuple(image[0, 0]) == (255, 0, 0)
    assert tuple(image[0, 9]) == (255, 255, 255)


def test_palette_with_transparency(tmp_path):
    palette = Image.new("P", (10, 10), 1)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.info["transparency"] = 0
    palette.paste(0, (0, 0, 5, 10))
    palette.save(tmp_path / "p.png", transparency=0)
    image = load_image(tmp_path / "p.png")
    assert tuple(image[0, 0]) == (255, 255, 255)
    assert tuple(image[0, 9]) == (0, 255, 0)


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.full((10, 10), 32768, dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    image = load_image(tmp_path / "deep.png")
    assert image.shape == (10, 10, 3)
    assert abs(int(image[0, 0, 0]) - 128) <= 1


def test_cmyk_jpeg_loads_as_rgb(tmp_path):
    Image.new("CMYK", (12, 12), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    image = load_image(tmp_path / "cmyk.jpg")
    assert image.shape == (12, 12, 3)
    assert image[6, 6, 0] > 200 and image[6, 6, 1] < 60  # red


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (10, 10), c) for c in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    image = load_image(tmp_path / "anim.gif")
    assert image[5, 5, 0] > 200 and image[5, 5, 2] < 50


def test_exif_orientation_is_applied(tmp_path):
    wide = np.zeros((10, 20, 3), dtype=np.uint8)
    wide[:, :10] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(wide).save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    image = load_image(tmp_path / "rotated.jpg")
    assert image.shape == (20, 10, 3)
    assert image[2, 5].mean() > 200 and image[18, 5].mean() < 50  # white on top after rotation


def _error(path) -> str:
    with pytest.raises(ImageError) as caught:
        load_image(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def test_missing_file(tmp_path):
    assert "not found" in _error(tmp_path / "nope.jpg")


def test_directory(tmp_path):
    assert "folder" in _error(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    assert "empty" in _error(tmp_path / "empty.png")


def test_text_renamed_to_png(tmp_path):
    (tmp_path / "notes.png").write_text("hello, I am not a picture")
    assert "not an image" in _error(tmp_path / "notes.png")


def test_truncated_jpeg(tmp_path, photo):
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert "corrupt or truncated" in _error(tmp_path / "cut.jpg")


def test_one_pixel_image(tmp_path):
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    assert "1x1" in _error(tmp_path / "dot.png")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_png_decompression_bomb(tmp_path):
    # A tiny file that declares 20000x20000 pixels: refused before anything is decoded.
    side = 20000
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (side + 1) * 16)
    data = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", rows)
            + _png_chunk(b"IEND", b""))
    (tmp_path / "bomb.png").write_bytes(data)
    assert "decompression bomb" in _error(tmp_path / "bomb.png")


def test_list_images_finds_supported_files_recursively(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ["a.jpg", "sub/b.PNG", "notes.txt", "sub/c.webp"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.webp"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2048), suffix=st.sampled_from([".png", ".jpg", ".gif", ".bmp", ".tif"]))
def test_arbitrary_bytes_give_the_clean_error_or_an_image(tmp_path, data, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        image = load_image(path)
    except ImageError as error:
        assert "\n" not in str(error)
    else:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=1, max_value=400), flip=st.integers(min_value=0, max_value=10**6))
def test_damaged_real_images_give_the_clean_error_or_an_image(tmp_path, photo, cut, flip):
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "PNG")
    data = bytearray(buffer.getvalue()[:-cut] if cut < len(buffer.getvalue()) else buffer.getvalue())
    data[flip % len(data)] ^= 0xFF
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(data))
    try:
        load_image(path)
    except ImageError as error:
        assert "\n" not in str(error)
