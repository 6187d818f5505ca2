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
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its pixel limit; refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_image(path) as image:
                image.seek(0)
                image = ImageOps.exif_transpose(image)
                image.load()
                rgb = _to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"image is larger than the safety limit of {Image.MAX_IMAGE_PIXELS:,} pixels "
            "(possible decompression bomb)", path=path) from None
    except (OSError, SyntaxError, ValueError, TypeError, IndexError, KeyError, struct.error,
            EOFError, ZeroDivisionError, MemoryError, OverflowError) as error:
        # Pillow signals truncated and malformed data with many exception types.
        raise ImageError(f"image data is corrupt or truncated ({_first_line(error)})",
                         path=path) from None
    rows, cols = rgb.shape[:2]
    if min(rows, cols) < MIN_SIDE:
        raise ImageError(f"image is only {cols}x{rows} pixels; at least {MIN_SIDE}x{MIN_SIDE} "
                         "is needed", path=path)
    return rgb


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


def list_images(folder, *, recursive=True) -> list[Path]:
    """Return the supported image files in a folder, sorted by path."""
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in Path(folder).glob(pattern)
                  if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS)


def is_supported_image(path) -> bool:
    """Whether a file name has an image extension Limelight reads."""
    return Path(path).suffix.lower() in SUPPORTED_EXTENSIONS


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # NaN and infinities (float TIFFs) have no gray level: NaN and -inf are black, +inf white.
        values = np.asarray(image, dtype=np.float64)
        values = np.nan_to_num(values, nan=0.0, posinf=np.finfo(np.float32).max, neginf=0.0)
        top = 65535.0 if image.mode != "F" or values.max(initial=0) > 255 else 255.0
        gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.array(image.convert("RGB"), dtype=np.uint8)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
