"""Superpixels: split an image into the regions that LIME switches on and off, and map them to display size."""
from functools import lru_cache

import numpy as np

from limelight.core.images import as_rgb_image
from limelight.core.errors import ExplanationError

#: Each method's parameters and their defaults; the GUI builds its settings panel from this.
#: quickshift and slic follow the Python and R ``lime`` packages, so results are comparable.
SEGMENTATION_DEFAULTS = {
    "quickshift": {"kernel_size": 4, "max_dist": 200, "ratio": 0.2, "random_seed": 42},
    "slic": {"n_segments": 50, "compactness": 10.0, "sigma": 0.0},
    "felzenszwalb": {"scale": 100.0, "sigma": 0.5, "min_size": 50},
    "grid": {"n_segments": 49},
}
#: Images whose shorter side is under this many pixels get quickshift settings scaled to them;
#: lime's defaults are tuned for ~224 px and make 1 to 7 superpixels at 20 to 96 px.
SMALL_IMAGE_SIDE = 160
#: quickshift's (kernel_size, max_dist) for small images, coarsest first; the first that makes at
#: least TARGET_SUPERPIXELS is used (measured on the sample photos from 20 to 159 px: 25 to 100).
SMALL_IMAGE_QUICKSHIFT = ((3, 40), (2, 20), (2, 10), (1, 10), (1, 6), (1, 4), (1, 3), (1, 2.5),
                          (1, 2), (1, 1.5), (1, 1))
TARGET_SUPERPIXELS = 25
#: An explanation over fewer superpixels than this says little, and is flagged wherever it is shown.
MIN_SUPERPIXELS = 8


def segment(image, *, method="quickshift", **params):
    """Split an image into superpixels, with the parameters `segmentation_params` chooses.

    Parameters
    ----------
    image : ndarray of shape (rows, cols, 3), uint8
        The image at the model's input resolution.
    method : {"quickshift", "slic", "felzenszwalb", "grid"}
        The segmentation algorithm. ``grid`` cuts a regular grid of square-ish cells, a quick look
        that ignores the image content.
    **params
        The method's parameters; see ``SEGMENTATION_DEFAULTS[method]`` for names and defaults. On
        an image under `SMALL_IMAGE_SIDE` pixels quickshift's default kernel_size and max_dist are
        scaled to the image (see `segmentation_params`).

    Returns
    -------
    ndarray of shape (rows, cols), int32
        The superpixel each pixel belongs to, numbered contiguously from 0.

    Raises
    ------
    ExplanationError
        For an unknown method or parameter, parameter values the algorithm rejects, or an image
        that is not (rows, cols, 3) uint8.
    """
    image = as_rgb_image(image, needed_by="segmentation", hint="convert grayscale images with np.stack([gray] * 3, -1).")
    return _segment(image, method, segmentation_params(image, method=method, **params))


def segmentation_params(image, *, method="quickshift", **params):
    """Return every parameter `segment` uses on this image: the given ones, then the defaults.

    On an image whose shorter side is under `SMALL_IMAGE_SIDE`, quickshift with lime's default
    kernel_size and max_dist (given or not) uses instead the coarsest `SMALL_IMAGE_QUICKSHIFT`
    setting that makes at least `TARGET_SUPERPIXELS` superpixels, as one tunes it by hand for
    Fashion-MNIST. Explanations record these parameters, so a report says what was used.

    Parameters
    ----------
    image : ndarray of shape (rows, cols, 3), uint8
    method : str
    **params
        As for `segment`.

    Returns
    -------
    dict
    """
    if method not in SEGMENTATION_DEFAULTS:
        raise ExplanationError(f"unknown segmentation method {method!r}; "
                               f"choose one of {', '.join(SEGMENTATION_DEFAULTS)}.")
    defaults = SEGMENTATION_DEFAULTS[method]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ExplanationError(f"{method} has no parameter {', '.join(map(repr, unknown))}; "
                               f"valid parameters are {', '.join(defaults)}.")
    options = {**defaults, **params}
    image = np.asarray(image)
    scaled = (method == "quickshift" and min(image.shape[:2]) < SMALL_IMAGE_SIDE
              and (options["kernel_size"], options["max_dist"]) == (defaults["kernel_size"], defaults["max_dist"]))
    if not scaled:
        return options
    image = as_rgb_image(image, needed_by="segmentation", hint="convert grayscale images with np.stack([gray] * 3, -1).")
    for kernel_size, max_dist in SMALL_IMAGE_QUICKSHIFT:
        options = {**options, "kernel_size": kernel_size, "max_dist": max_dist}
        if segment_count(_segment(image, method, options)) >= TARGET_SUPERPIXELS:
            break
    return options


def _segment(image, method, options):
    """Run one segmentation algorithm with all its parameters; superpixels numbered contiguously from 0."""
    # skimage's segmentation loads scipy (a second of start-up): it loads here, on first use.
    from skimage.segmentation import felzenszwalb, quickshift, relabel_sequential, slic

    defaults = SEGMENTATION_DEFAULTS[method]
    options = dict(options)
    try:
        if method == "quickshift":
            seed = options.pop("random_seed")
            segments = quickshift(image, rng=seed, **options)
        elif method == "slic":
            segments = slic(image, start_label=0, **options)
        elif method == "felzenszwalb":
            segments = felzenszwalb(image, **options)
        else:
            segments = _grid(image.shape[:2], options["n_segments"])
    except (ValueError, TypeError) as exc:
        raise ExplanationError(f"{method} cannot segment with {options}: {exc}; "
                               f"try its defaults {defaults}.") from exc
    # skimage may skip label values (slic after enforcing connectivity) and LIME indexes by label.
    # relabel_sequential keeps 0 fixed, so shift the smallest label to 0 first.
    segments = np.asarray(segments)
    segments, _, _ = relabel_sequential(segments - segments.min())
    return segments.astype(np.int32, copy=False)


def segment_count(segments):
    """Return the number of superpixels in a labelling that is contiguous from 0.

    Parameters
    ----------
    segments : ndarray of shape (rows, cols), int
    """
    return int(segments.max()) + 1 if segments.size else 0


def upscale_segments(segments, shape):
    """Resize superpixels (or any per-pixel values) with nearest-neighbour sampling, as ``resize(order=0)`` does.

    Parameters
    ----------
    segments : ndarray of shape (rows, cols)
        Superpixel numbers (or any per-pixel values) at explanation resolution.
    shape : tuple of int
        The wanted (rows, cols), usually the displayed photo's.

    Returns
    -------
    ndarray of shape `shape`, same dtype as `segments`
    """
    rows, cols = (int(n) for n in shape[:2])
    row_index, col_index = _nearest_indices(segments.shape[0], segments.shape[1], rows, cols)
    return segments[row_index[:, None], col_index[None, :]]


def segment_boundaries(segments, *, mode="thick"):
    """Return the pixels on the border between two superpixels.

    Parameters
    ----------
    segments : ndarray of shape (rows, cols), int
    mode : {"thick", "inner", "outer", "subpixel"}
        As in ``skimage.segmentation.find_boundaries``.

    Returns
    -------
    ndarray of shape (rows, cols), bool
    """
    from skimage.segmentation import find_boundaries

    # Superpixel 0 is a region like any other, not background, so no label is passed as background.
    return find_boundaries(segments, mode=mode, background=-1)


@lru_cache(maxsize=32)
def _nearest_indices(rows, cols, out_rows, out_cols):
    # Index arrays are cached: a display re-renders at the same size on every slider move.
    def axis(n_in, n_out):
        # Sample each output pixel's centre in input coordinates (pixel-area alignment).
        index = np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.intp)
        index = np.clip(index, 0, n_in - 1)
        index.flags.writeable = False
        return index
    return axis(rows, out_rows), axis(cols, out_cols)


def _grid(shape, n_segments):
    rows, cols = shape
    if int(n_segments) < 1:
        raise ValueError("n_segments must be at least 1")
    side = np.sqrt(rows * cols / int(n_segments))
    grid_rows = int(np.clip(round(rows / side), 1, rows))
    grid_cols = int(np.clip(round(cols / side), 1, cols))
    row_cell = np.arange(rows) * grid_rows // rows
    col_cell = np.arange(cols) * grid_cols // cols
    return row_cell[:, None] * grid_cols + col_cell[None, :]
