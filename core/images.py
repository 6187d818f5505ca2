"""Read image files from disk into RGB uint8 arrays, refusing anything unsafe or broken."""
import os
import struct
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from limelight.core.errors import ExplanationError, ImageError
from limelight.core.files import open_regular_file

SUPPORTED_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")
# The only Pillow decoders Limelight lets read a file, whatever its name says: with all of them on,
# a file starting with "%!PS" goes to Ghostscript, an outside program. (The JPEG decoder also
# reads cameras' multi-picture JPEGs.)
IMAGE_DECODERS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP", "GIF")
# Smaller images carry too little for a superpixel explanation to mean anything.
MIN_SIDE = 8


def load_image(path) -> np.ndarray:
    """Load an image file as RGB.

    The EXIF orientation is applied, transparency is composited onto white,
    16-bit and float images are scaled to 8 bits, and only the first frame of
    an animation is read.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    ndarray of shape (rows, cols, 3), uint8

    Raises
    ------
    ImageError
        With a one-line reason, for a missing, empty, corrupt, tiny or
        oversized (decompression bomb) file.
    """
    return _read_rgb(path, lambda image: np.array(image, dtype=np.uint8))


def load_model_input(path, input_size, resize: str) -> np.ndarray:
    """Load an image file straight into a model's input: `load_image`'s photo, fitted by `fit_to_input`.

    The same pixels as fitting `load_image`'s array, without that array in between: a dataset
    decodes thousands of photos, and each copy of one costs a tenth of a millisecond.

    Returns
    -------
    ndarray of shape (input_size[0], input_size[1], 3), uint8, read-only

    Raises
    ------
    ImageError
        As `load_image`.
    """
    return _read_rgb(path, lambda image: fit_to_input(image, input_size, resize))


def _read_rgb(path, finish):
    """`finish(image)` of the file's first frame as an RGB Pillow image, turned by its EXIF tag."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its pixel limit; refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_image(path) as image:
                image.seek(0)
                image.load()
                # In place: a photo without an orientation tag is not copied (a dataset decodes thousands).
                ImageOps.exif_transpose(image, in_place=True)
                cols, rows = image.size
                if min(rows, cols) < MIN_SIDE:
                    raise ImageError(f"image is only {cols}x{rows} pixels; at least {MIN_SIDE}x{MIN_SIDE} "
                                     "is needed", path=path)
                return finish(_to_rgb(image))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"image is larger than the safety limit of {Image.MAX_IMAGE_PIXELS:,} pixels "
            "(possible decompression bomb)", path=path) from None
    except (OSError, SyntaxError, ValueError, TypeError, IndexError, KeyError, struct.error,
            EOFError, ZeroDivisionError, MemoryError, OverflowError) as error:
        # Pillow signals truncated and malformed data with many exception types.
        raise ImageError(f"image data is corrupt or truncated ({_first_line(error)})",
                         path=path) from None


@contextmanager
def open_image(path):
    """Open an image file with Pillow, through the only gate Limelight reads images by.

    Only regular files are opened (no FIFO, device or folder), and only with `IMAGE_DECODERS`.

    Yields
    ------
    PIL.Image.Image

    Raises
    ------
    ImageError
        For a file that is not a regular file, is empty, or is not in a supported format.
    """
    with open_regular_file(path, error=ImageError) as stream:
        if os.fstat(stream.fileno()).st_size == 0:
            raise ImageError("file is empty", path=path)
        try:
            image = Image.open(stream, formats=IMAGE_DECODERS)
        except UnidentifiedImageError:
            raise ImageError("not an image file that can be read (unknown or corrupt format; Limelight "
                             f"reads {', '.join(SUPPORTED_EXTENSIONS)})", path=path) from None
        with image:
            yield image


def as_rgb_image(image, *, needed_by: str, hint: str) -> np.ndarray:
    """Check that an array is an RGB uint8 image, or say what is wrong and how to fix it.

    Parameters
    ----------
    image : array_like
    needed_by : str
        Who needs it, to start the message ("LIME", "the overlay"...).
    hint : str
        How the caller gets a right image.

    Returns
    -------
    ndarray of shape (rows, cols, 3), uint8
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape:
        raise ExplanationError(f"{needed_by} needs an RGB image of shape (rows, cols, 3) and dtype "
                               f"uint8, got shape {image.shape} and dtype {image.dtype}; {hint}")
    return image


# --- Framing: the part of a photo a model sees -------------------------------------------------

def frame_box(shape, frame_shape) -> tuple[int, int]:
    """Top-left (row, col) of a centred frame of `frame_shape` inside an image of `shape`.

    The one place a crop's centring is computed: `frame_image` cuts there, `place_in_photo` and
    `scale_photo_and_frame` put a rendering back there.
    """
    return (shape[0] - frame_shape[0]) // 2, (shape[1] - frame_shape[1]) // 2


def frame_image(image: np.ndarray, input_size, resize: str) -> np.ndarray:
    """The part of a photo a model with this input size (rows, cols) and resize mode sees.

    "stretch" keeps the whole photo; "crop" keeps its centre at the input's aspect ratio. Also
    frames a saved report's photo when no model is at hand.
    """
    kept = frame_shape(image.shape, input_size, resize)
    top, left = frame_box(image.shape, kept)
    return image[top:top + kept[0], left:left + kept[1]]


def frame_shape(shape, input_size, resize: str) -> tuple[int, int]:
    """(rows, cols) of the part of a photo of `shape` that `frame_image` keeps."""
    rows, cols = shape[:2]
    if resize == "stretch":
        return rows, cols
    want = input_size[1] / input_size[0]
    if cols / rows > want:
        return rows, max(1, round(rows * want))
    return max(1, round(cols / want)), cols


def fit_to_input(image: Image.Image, input_size, resize: str) -> np.ndarray:
    """A photo as a model with this input size (rows, cols) and resize mode takes it.

    Framed as `frame_image` frames it, then resized bilinearly to the input size: the one
    definition of a model's input, for one photo (`ClassifierModel.prepare`) and for a dataset
    (`load_model_input`).

    Parameters
    ----------
    image : PIL.Image.Image, RGB

    Returns
    -------
    ndarray of shape (rows, cols, 3), uint8, read-only
    """
    shape = (image.height, image.width)
    kept = frame_shape(shape, input_size, resize)
    if kept != shape:
        top, left = frame_box(shape, kept)
        image = image.crop((left, top, left + kept[1], top + kept[0]))
    rows, cols = input_size
    if image.size != (cols, rows):
        image = image.resize((cols, rows), Image.BILINEAR)
    return np.asarray(image)


def place_in_photo(photo: np.ndarray, framed: np.ndarray) -> np.ndarray:
    """Put a rendering of the centred frame a model saw back into the whole photo.

    The parts the model never saw are dimmed, so the overlay lines up with the photo and
    the view can show both at the same size.
    """
    if framed.shape == photo.shape:
        return framed
    top, left = frame_box(photo.shape, framed.shape)
    out = (photo.astype(np.uint16) * 2 // 5 + 77).astype(np.uint8)
    out[top:top + framed.shape[0], left:left + framed.shape[1]] = framed
    return out


def scale_photo_and_frame(photo: np.ndarray, frame: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Scale a photo down by `scale`, and return it with the centred frame a model saw, cut from it.

    The frame is cut where `place_in_photo` puts a rendering of it back, so an overlay rendered on
    the smaller frame lines up with the smaller photo. At scale 1 both come back as they are.
    """
    if scale >= 1.0:
        return photo, frame
    rows, cols = photo.shape[:2]
    small = np.asarray(Image.fromarray(photo).resize(
        (max(1, round(cols * scale)), max(1, round(rows * scale))), Image.Resampling.BICUBIC))
    framed = (max(1, round(frame.shape[0] * scale)), max(1, round(frame.shape[1] * scale)))
    top, left = frame_box(small.shape, framed)
    return small, small[top:top + framed[0], left:left + framed[1]]


def list_images(folder, *, recursive=True) -> list[Path]:
    """Return the supported image files in a folder, sorted by path."""
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in Path(folder).glob(pattern)
                  if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS)


def is_supported_image(path) -> bool:
    """Whether a file name has an image extension Limelight reads."""
    return Path(path).suffix.lower() in SUPPORTED_EXTENSIONS


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # NaN and infinities (float TIFFs) have no gray level: NaN and -inf are black, +inf white.
        values = np.asarray(image, dtype=np.float64)
        values = np.nan_to_num(values, nan=0.0, posinf=np.finfo(np.float32).max, neginf=0.0)
        top = 65535.0 if image.mode != "F" or values.max(initial=0) > 255 else 255.0
        gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[..., None], 3, axis=2))
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    # Converting an RGB image to RGB would copy it once more for nothing.
    return image if image.mode == "RGB" else image.convert("RGB")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
