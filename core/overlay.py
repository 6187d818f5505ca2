"""Draw an explanation over the image it explains, as outlines, blocks or a heatmap, at the image's own size."""
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PIL import Image

from limelight.core.images import as_rgb_image
from limelight.core.errors import ExplanationError
from limelight.core.scores import TOP_K, tied_places
from limelight.core.segmentation import segment_boundaries, upscale_segments

__all__ = ["DISPLAYS", "SIGNED_COLORMAP", "ONE_SIGN_COLORMAP", "OverlayStyle", "HeatmapScale", "render",
           "shown_mask", "natural_display", "colormap_name", "weight_scale", "heatmap_scale", "line_thickness",
           "clear_cache"]

DISPLAYS = ("outline", "block", "heatmap")
#: The default heatmap colours for weights of both signs (zero in the middle) and of one sign.
SIGNED_COLORMAP, ONE_SIGN_COLORMAP = "RdYlGn", "jet"

# Opacities are whole numbers out of 256, so a blend (pixel * (256 - a) + colour * a + 128) >> 8
# fits uint16 and a 2048x2048 render stays in 16-bit SIMD arithmetic.
_OPAQUE = 256
# Levels of a per-pixel (CAM) map's strength, one byte: the threshold works in steps of 1/255.
_LEVELS = 255
# Display rows blended per step on per-pixel maps: small enough that the temporaries stay in cache.
_CHUNK_ROWS = 32
# Bytes of display-size arrays kept between renders; a 2048x2048 CAM entry takes about 65 MB.
_CACHE_BYTES = 512 * 2 ** 20


def _colour(value, name):
    """Normalise a colour to an RGB tuple of ints from 0 to 255."""
    if isinstance(value, str):
        # matplotlib (and scipy below) load when first needed: the window imports this module at start-up.
        import matplotlib.colors

        try:
            return tuple(int(round(c * 255)) for c in matplotlib.colors.to_rgb(value))
        except ValueError:
            raise ExplanationError(f"{name} {value!r} is not a colour; give a name such as 'lime', a hex "
                                   f"code such as '#00ff00' or three numbers from 0 to 255.") from None
    try:
        rgb = tuple(value)
    except TypeError:
        rgb = ()
    if (len(rgb) != 3 or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in rgb)
            or not all(0 <= c <= 255 for c in rgb)):
        raise ExplanationError(f"{name} {value!r} is not a colour; give three whole numbers from 0 to 255, "
                               f"such as (0, 255, 0), or a colour name.")
    return tuple(int(c) for c in rgb)


def _fraction(value, name, meaning):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
            0.0 <= float(value) <= 1.0):
        raise ExplanationError(f"{name} must be a number from 0 to 1 ({meaning}), not {value!r}.")
    return float(value)


@dataclass(frozen=True)
class OverlayStyle:
    """How to draw an explanation; every renderer option in one immutable value.

    Attributes
    ----------
    display : {"outline", "block", "heatmap"}
        ``outline`` draws the chosen regions' borders and tints them lightly; ``block`` shows the
        chosen regions and fades the rest toward `block_colour` (R lime's ``display='block'``);
        ``heatmap`` colours every shown region by its weight through `colormap`.
    threshold : float
        Fraction from 0 to 1 of the largest absolute weight: regions whose absolute weight is at
        most this fraction of it are not shown, so one slider works for LIME and Grad-CAM alike.
        0 shows every region with a non-zero weight of the shown sign(s), 1 shows nothing.
    num_features : int or None
        Show at most this many superpixels, the strongest first, among those over the threshold
        (``lime``'s ``num_features``; by default its examples' 5, the places the stability score
        follows). None shows every superpixel over the threshold. Per-pixel maps such as Grad-CAM
        have no superpixels and ignore it.
    alpha : float
        Opacity from 0 to 1 of the tint over chosen regions; in heatmap mode the opacity at the
        strongest weight (weaker regions are proportionally more transparent, as ELI5's
        ``alpha_limit``).
    show_negative : bool
        Also show regions that speak against the class, in `negative_colour`.
    positive_colour, negative_colour : tuple of 3 int or str
        Colours of supporting and opposing regions, as RGB from 0 to 255 or a matplotlib colour
        name; stored as RGB tuples.
    hide_rest : bool
        Fade everything not shown toward `block_colour`, as ``block`` does, in the other modes too.
    block_colour : tuple of 3 int or str
        The colour hidden regions fade toward.
    fade : float
        How far hidden regions fade toward `block_colour`, from 0 (not at all) to 1 (solid, as R lime).
    ties : bool
        With `num_features`: also show the superpixels tied with the last place shown (within
        ``TIE_DELTA`` of the largest absolute weight, see `limelight.core.scores.tied_places`),
        and outline every superpixel of a shared last place dashed.
    colormap : str or None
        A matplotlib colormap name for the heatmap. None picks ``"RdYlGn"`` centred at zero for
        signed weights (LIME), so support is green and opposition red as in the outline colours,
        and ``"jet"`` for maps that only ever have one sign (Grad-CAM), as in the Grad-CAM paper.
        ``"PiYG"`` or ``"RdBu_r"`` read better for red-green colour blindness.
    """

    display: str = "outline"
    threshold: float = 0.2
    num_features: int | None = TOP_K
    alpha: float = 0.3
    show_negative: bool = False
    positive_colour: tuple = (0, 255, 0)
    negative_colour: tuple = (255, 0, 0)
    hide_rest: bool = False
    block_colour: tuple = (128, 128, 128)
    fade: float = 0.75
    ties: bool = True
    colormap: str | None = None

    def __post_init__(self):
        set_ = object.__setattr__
        if self.display not in DISPLAYS:
            raise ExplanationError(f"display must be one of {', '.join(map(repr, DISPLAYS))}, "
                                   f"not {self.display!r}.")
        set_(self, "threshold", _fraction(self.threshold, "threshold",
                                          "a fraction of the largest absolute weight"))
        set_(self, "alpha", _fraction(self.alpha, "alpha", "the tint's opacity"))
        set_(self, "fade", _fraction(self.fade, "fade", "how far hidden regions fade"))
        if self.num_features is not None:
            if isinstance(self.num_features, bool) or not isinstance(self.num_features, (int, np.integer)) or (
                    self.num_features < 1):
                raise ExplanationError(f"num_features must be a whole number of at least 1, or None to use "
                                       f"the threshold alone, not {self.num_features!r}.")
            set_(self, "num_features", int(self.num_features))
        for name in ("positive_colour", "negative_colour", "block_colour"):
            set_(self, name, _colour(getattr(self, name), name.replace("_", " ")))
        if self.colormap is not None and self.colormap not in _colormaps():
            raise ExplanationError(f"unknown colormap {self.colormap!r}; use a matplotlib name such as "
                                   f"'jet', 'viridis' or 'RdBu_r', or None for the default.")
        set_(self, "show_negative", bool(self.show_negative))
        set_(self, "hide_rest", bool(self.hide_rest))
        set_(self, "ties", bool(self.ties))


def natural_display(method):
    """Return the display an explanation method reads best in: "outline" for LIME, "heatmap" otherwise.

    Superpixel outlines show LIME's few chosen regions; an outline of a smooth class activation map
    is one big blob, so CAM methods are drawn as a heatmap.
    """
    return "outline" if method == "lime" else "heatmap"


@dataclass(frozen=True)
class HeatmapScale:
    """Which weight each heatmap colour stands for: the legend of a heatmap.

    Attributes
    ----------
    colormap : str
        The matplotlib colormap the heatmap is drawn with.
    low, high : float
        The weights drawn in the colormap's first and last colour; ``low`` is ``-high`` for
        signed weights (zero in the middle) and 0 for maps of one sign.
    """

    colormap: str
    low: float
    high: float

    @property
    def signed(self):
        return self.low < 0

    def colours(self, n=256):
        """Return the colours from `low` to `high`: ndarray of shape (n, 3), uint8."""
        lut = _colormaps()[self.colormap].resampled(n)(np.linspace(0.0, 1.0, n))[:, :3]
        return np.rint(lut * 255).astype(np.uint8)


def _colormaps():
    import matplotlib

    return matplotlib.colormaps


def weight_scale(explanation, label):
    """Return (low, high): the weights a heatmap of `label` spans, zero-centred when signed.

    Superpixel weights (LIME) are always drawn on a signed scale; a per-pixel map (Grad-CAM) only
    when it has negative weights.
    """
    _check_label(explanation, label)
    weights = np.asarray(explanation.weight_map(label), dtype=np.float32)
    largest = float(np.max(np.abs(weights))) if weights.size else 0.0
    signed = explanation.segments is not None or bool((weights < 0).any())
    return (-largest if signed else 0.0), largest


def heatmap_scale(explanation, label, style=None):
    """Return the `HeatmapScale` a heatmap of `label` is drawn with under `style`."""
    style = _check_style(style)
    low, high = weight_scale(explanation, label)
    return HeatmapScale(colormap_name(style, signed=low < 0), low, high)


def line_thickness(shape):
    """Return the outline width in pixels for a display of `shape`: 1 px up to 1500 px, then wider.

    It grows with the longer side but stays under a hundredth of the shorter one, so a strip of a
    photo (8 x 11,000,000) gets 1 px lines, not a filter 11,000 pixels wide.

    Parameters
    ----------
    shape : tuple of int
        (rows, cols) of the displayed image.
    """
    # About 1 px per 1000 px of the longer side keeps lines visible on a 4000x3000 photo scaled to
    # a screen, without hiding detail on small images.
    return max(1, min(int(round(max(shape[:2]) / 1000)), min(shape[:2]) // 100))


def render(image, explanation, label, style=None):
    """Draw `explanation` for class `label` over `image`.

    The explanation was computed at model resolution; it is resized to the image, so the image may
    be the original photo at any size. Nothing is recomputed: the display-size maps an explanation
    needs are cached per explanation and image size, so changing the style re-renders quickly.

    Parameters
    ----------
    image : ndarray of shape (rows, cols, 3), uint8
        The image to draw on; it is not modified.
    explanation : LimeExplanation, CamExplanation or similar
        Anything with ``labels``, ``segments`` (superpixel numbers or None), ``smooth`` and
        ``weight_map(label)``.
    label : int
        The class to show; one of ``explanation.labels``.
    style : OverlayStyle, optional
        How to draw; the defaults when omitted.

    Returns
    -------
    ndarray of shape (rows, cols, 3), uint8
        A new image.

    Raises
    ------
    ExplanationError
        For an image that is not RGB uint8, a class that was not explained, or a style that is not an
        `OverlayStyle`.
    """
    image = as_rgb_image(image, needed_by="the overlay", hint="load it with limelight.core.images.load_image.")
    style = _check_style(style)
    _check_label(explanation, label)
    shape = image.shape[:2]
    if explanation.segments is not None:
        entry = _region_entry(explanation.segments, shape)
        weights = _region_weights(explanation, label, entry)
        return _render_regions(image, entry, weights, style)
    entry = _pixel_entry(explanation, label, shape)
    return _render_pixels(image, entry, style)


def shown_mask(explanation, label, style=None, *, shape=None):
    """Return which pixels `style` shows for `label`: the regions an overlay highlights.

    Parameters
    ----------
    explanation, label, style
        As for `render`.
    shape : tuple of int, optional
        (rows, cols) of the display; the explanation's own resolution by default.

    Returns
    -------
    ndarray of shape `shape`, bool
    """
    style = _check_style(style)
    _check_label(explanation, label)
    weights = np.asarray(explanation.weight_map(label), dtype=np.float32)
    shape = tuple(int(n) for n in (shape or weights.shape)[:2])
    if explanation.segments is not None:
        entry = _region_entry(explanation.segments, shape)
        status = _status(_region_weights(explanation, label, entry), style)
        return upscale_segments(status[entry.segments] != 0, shape)
    entry = _pixel_entry(explanation, label, shape)
    level = entry.level[:, ::3]
    shown = level > _threshold_level(style)
    if entry.negative is not None and not style.show_negative:
        shown &= ~entry.negative[:, ::3]
    return shown


def clear_cache():
    """Forget every cached display-size map (for tests and to free memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()


# --- Validation ------------------------------------------------------------------------------


def _check_style(style):
    if style is None:
        return OverlayStyle()
    if not isinstance(style, OverlayStyle):
        raise ExplanationError(f"style must be an OverlayStyle, not {type(style).__name__}.")
    return style


def _check_label(explanation, label):
    if int(label) not in tuple(explanation.labels):
        raise ExplanationError(f"class {label} was not explained; choose one of "
                               f"{', '.join(map(str, explanation.labels))}.")


# --- A small LRU of display-size maps ----------------------------------------------------------

_CACHE = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _cached(key, source, build):
    # The entry keeps `source` alive, so its id() cannot be reused by another object while cached.
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] is source:
            _CACHE.move_to_end(key)
            return hit[1]
    entry = build()
    if not _read_only(source):
        # A writable array could change under its id; such a map is built for this render only.
        return entry
    with _CACHE_LOCK:
        _CACHE[key] = (source, entry)
        total = sum(e.nbytes for _, e in _CACHE.values())
        while total > _CACHE_BYTES and len(_CACHE) > 1:
            _, (_, old) = _CACHE.popitem(last=False)
            total -= old.nbytes
    return entry


def _read_only(source):
    return not isinstance(source, np.ndarray) or not source.flags.writeable


# --- Superpixel explanations (LIME): one row of colours per model row, repeated --------------

@dataclass(frozen=True, eq=False)
class _RegionEntry:
    segments: np.ndarray      # (h, w) int, model resolution
    n_regions: int
    runs: tuple               # ((model row, first display row, end display row), ...)
    columns: np.ndarray       # (cols * 3,) index into a model row flattened with its channels
    line_starts: np.ndarray   # (n,) flat index of each outline pixel's red byte, grouped by region
    line_offsets: np.ndarray  # (n_regions + 1,) region r's outline is line_starts[offsets[r]:offsets[r + 1]]

    @property
    def nbytes(self):
        return self.columns.nbytes + self.line_starts.nbytes + self.line_offsets.nbytes


def _region_entry(segments, shape):
    return _cached(("regions", id(segments), shape), segments, lambda: _build_region_entry(segments, shape))


def _build_region_entry(segments, shape):
    segments = np.asarray(segments)
    if segments.ndim != 2 or not np.issubdtype(segments.dtype, np.integer) or segments.size == 0:
        raise ExplanationError(f"the explanation's superpixels must be a 2-D integer array, got shape "
                               f"{segments.shape} and dtype {segments.dtype}; compute the explanation again.")
    if segments.min() < 0:
        raise ExplanationError("the explanation's superpixel numbers are negative; compute the explanation "
                               "again with limelight.core.segmentation.")
    rows, cols = shape
    h, w = segments.shape
    # Which model row and column each display row and column samples, exactly as upscale_segments does.
    row_of = upscale_segments(np.arange(h)[:, None], (rows, 1))[:, 0]
    col_of = upscale_segments(np.arange(w)[None, :], (1, cols))[0]
    starts = np.flatnonzero(np.r_[True, row_of[1:] != row_of[:-1]])
    ends = np.r_[starts[1:], rows]
    runs = tuple(zip(row_of[starts].tolist(), starts.tolist(), ends.tolist()))
    columns = (col_of[:, None] * 3 + np.arange(3)).ravel()
    # Lines are drawn inside each region: pixels within `thickness` of another superpixel.
    display = upscale_segments(segments, shape)
    lines = segment_boundaries(display, mode="thick")
    thickness = line_thickness(shape)
    if thickness > 1:
        from scipy.ndimage import binary_dilation

        lines = binary_dilation(lines, np.ones((2 * thickness - 1,) * 2, bool))
    pixels = np.flatnonzero(lines)
    region = display.ravel()[pixels]
    # Grouped by region, a render gathers its chosen regions' outlines as a few contiguous slices.
    order = np.argsort(region, kind="stable")
    n_regions = int(segments.max()) + 1
    line_starts = pixels[order] * 3
    line_offsets = np.r_[0, np.cumsum(np.bincount(region, minlength=n_regions))]
    for array in (columns, line_starts, line_offsets):
        array.flags.writeable = False
    return _RegionEntry(segments, n_regions, runs, columns, line_starts, line_offsets)


def _region_weights(explanation, label, entry):
    weight_map = np.asarray(explanation.weight_map(label), dtype=np.float32)
    if weight_map.shape != entry.segments.shape:
        raise ExplanationError(f"the weight map has shape {weight_map.shape} but the superpixels "
                               f"{entry.segments.shape}; compute the explanation again.")
    if not np.all(np.isfinite(weight_map)):
        raise ExplanationError("the explanation's weights are not finite numbers; compute it again.")
    weights = np.zeros(entry.n_regions, np.float32)
    # Every pixel of a superpixel carries its weight, so any pixel gives it.
    weights[entry.segments.ravel()] = weight_map.ravel()
    return weights


def _status(weights, style):
    """Return +1 for each shown supporting region, -1 for each shown opposing one, else 0.

    With `num_features` and `ties`, the supporting regions that share the last place shown are
    +2 (shown, outlined dashed).
    """
    status = np.zeros(weights.shape, np.int8)
    largest = float(np.max(np.abs(weights))) if weights.size else 0.0
    if largest == 0.0:
        return status
    cut = style.threshold * largest
    status[weights > cut] = 1
    if style.show_negative:
        status[weights < -cut] = -1
    if style.num_features is not None:
        shown = np.flatnonzero(status)
        strongest = shown[np.argsort(-np.abs(weights[shown]), kind="stable")]
        status[strongest[style.num_features:]] = 0
        tied = tied_places(weights, style.num_features) if style.ties else ()
        if len(tied) > 1:
            status[tied[weights[tied] > cut]] = 2
    return status


def colormap_name(style, *, signed):
    """Return the colormap a heatmap is drawn with under `style`, for signed weights or weights of one sign."""
    return style.colormap or (SIGNED_COLORMAP if signed else ONE_SIGN_COLORMAP)


def _colormap_lut(style, signed):
    return HeatmapScale(colormap_name(style, signed=signed), -1.0 if signed else 0.0, 1.0).colours().astype(np.int16)


def _opacity(fraction):
    return int(round(fraction * _OPAQUE))


def _region_tables(weights, status, style):
    """Per region: opacity (out of 256) and the colour it blends toward."""
    n = weights.shape[0]
    opacity = np.zeros(n, np.uint16)
    colour = np.zeros((n, 3), np.uint16)
    shown, positive, negative = status != 0, status > 0, status < 0
    if style.display == "heatmap":
        largest = float(np.max(np.abs(weights))) or 1.0
        strength = weights / largest
        lut = _colormap_lut(style, signed=True)
        colour[:] = lut[np.rint((strength + 1.0) * 127.5).astype(np.intp)]
        opacity[shown] = np.rint(np.abs(strength[shown]) * style.alpha * _OPAQUE)
    elif style.display == "outline":
        opacity[shown] = _opacity(style.alpha)
        colour[positive] = style.positive_colour
        colour[negative] = style.negative_colour
    else:
        # Block: supporting regions show as they are; opposing ones keep a tint to tell them apart.
        opacity[negative] = _opacity(style.alpha)
        colour[negative] = style.negative_colour
    if style.display == "block" or style.hide_rest:
        opacity[~shown] = _opacity(style.fade)
        colour[~shown] = style.block_colour
    return opacity, colour


def _render_regions(image, entry, weights, style):
    status = _status(weights, style)
    opacity, colour = _region_tables(weights, status, style)
    # Tables of 256 - a and colour * a + 128 per region, laid out per display row: every display
    # pixel then costs one multiply, one add and one shift.
    keep = _OPAQUE - opacity
    lifted = colour * opacity[:, None] + _OPAQUE // 2
    segments = entry.segments
    # take() keeps each row contiguous; fancy indexing [:, columns] would not.
    row_keep = np.take(np.repeat(keep[segments], 3, axis=1), entry.columns, axis=1)
    row_lifted = np.take(lifted[segments].reshape(segments.shape[0], -1), entry.columns, axis=1)
    active = (row_keep != _OPAQUE).any(axis=1)
    rows, cols = image.shape[:2]
    source = image.reshape(rows, cols * 3)
    out = np.empty_like(source)
    # One step per run of display rows that sample the same model row, broadcasting that row;
    # runs with nothing to draw are plain copies.
    for model_row, start, end in entry.runs:
        if active[model_row]:
            blend = source[start:end] * row_keep[model_row]
            blend += row_lifted[model_row]
            blend >>= 8
            out[start:end] = blend
        else:
            out[start:end] = source[start:end]
    if style.display == "outline":
        _draw_lines(out.reshape(-1), entry, status, style)
    return out.reshape(image.shape)


def _draw_lines(flat, entry, status, style):
    """Paint the outlines of shown regions opaque, one colour channel at a time."""
    starts, offsets = entry.line_starts, entry.line_offsets
    for sign, colour in ((1, style.positive_colour), (2, style.positive_colour), (-1, style.negative_colour)):
        regions = np.flatnonzero(status == sign)
        if regions.size == 0:
            continue
        index = np.concatenate([starts[offsets[r]:offsets[r + 1]] for r in regions])
        if sign == 2:
            # Dashed: diagonal bands of dashes as long as four line widths, every other one drawn.
            cols = len(entry.columns) // 3
            row, col = np.divmod(index // 3, cols)
            index = index[(row + col) // (4 * line_thickness((len(flat) // 3 // cols, cols))) % 2 == 0]
        for channel in range(3):
            flat[index] = colour[channel]
            index += 1


# --- Per-pixel explanations (Grad-CAM): display-size maps, thresholded per render ------------

@dataclass(eq=False)
class _PixelEntry:
    level: np.ndarray         # (rows, cols * 3) uint8: |weight| / max |weight| in 0..255, per channel
    edge: np.ndarray          # (rows, cols * 3) uint8: weakest same-sign level within the line width
    negative: np.ndarray      # (rows, cols * 3) bool, or None when no weight is negative
    chunk_peak: np.ndarray    # (n_chunks,) the strongest level in each block of _CHUNK_ROWS rows
    strength: np.ndarray      # (rows, cols) float32 in -1..1, kept to colour the heatmap
    colours: dict             # colormap name -> (rows, cols * 3) uint8

    @property
    def nbytes(self):
        arrays = [self.level, self.edge, self.strength, *self.colours.values()]
        if self.negative is not None:
            arrays.append(self.negative)
        return sum(a.nbytes for a in arrays)


def _pixel_entry(explanation, label, shape):
    return _cached(("pixels", id(explanation), int(label), shape), explanation,
                   lambda: _build_pixel_entry(explanation, label, shape))


def _build_pixel_entry(explanation, label, shape):
    weights = np.asarray(explanation.weight_map(label), dtype=np.float32)
    if weights.ndim != 2 or weights.size == 0:
        raise ExplanationError(f"the weight map must be 2-D, got shape {weights.shape}; "
                               f"compute the explanation again.")
    if not np.all(np.isfinite(weights)):
        raise ExplanationError("the explanation's weights are not finite numbers; compute it again.")
    rows, cols = shape
    largest = float(np.max(np.abs(weights)))
    strength = weights / largest if largest > 0 else np.zeros_like(weights)
    resample = Image.Resampling.BILINEAR if explanation.smooth else Image.Resampling.NEAREST
    strength = np.asarray(Image.fromarray(strength.astype(np.float32)).resize((cols, rows), resample))
    strength = np.clip(strength, -1.0, 1.0)
    level = np.rint(np.abs(strength) * _LEVELS).astype(np.uint8)
    negative = strength < 0
    # A pixel is on the outline when some pixel within the line width is weaker or of the other
    # sign: a minimum filter, taken once, turns any later threshold into one comparison.
    size = 2 * line_thickness(shape) + 1
    from scipy.ndimage import minimum_filter

    if negative.any():
        edge = np.where(negative, minimum_filter(np.where(negative, level, 0), size),
                        minimum_filter(np.where(negative, 0, level), size)).astype(np.uint8)
        negative = np.repeat(negative, 3, axis=1)
    else:
        edge = minimum_filter(level, size)
        negative = None
    padded = np.zeros(-(-rows // _CHUNK_ROWS) * _CHUNK_ROWS, np.uint8)
    padded[:rows] = level.max(axis=1)
    chunk_peak = padded.reshape(-1, _CHUNK_ROWS).max(axis=1)
    return _PixelEntry(np.repeat(level, 3, axis=1), np.repeat(edge, 3, axis=1), negative, chunk_peak,
                       strength.astype(np.float32), {})


def _pixel_colours(entry, style):
    signed = entry.negative is not None
    name = colormap_name(style, signed=signed)
    colours = entry.colours.get(name)
    if colours is None:
        position = (entry.strength + 1.0) * 127.5 if signed else entry.strength * 255.0
        index = np.rint(position).astype(np.uint8)
        colours = _colormap_lut(style, signed).astype(np.uint8)[index].reshape(index.shape[0], -1)
        with _CACHE_LOCK:
            if len(entry.colours) >= 2:
                entry.colours.pop(next(iter(entry.colours)))
            entry.colours[name] = colours
    return colours


def _threshold_level(style):
    return int(round(style.threshold * _LEVELS))


def _render_pixels(image, entry, style):
    rows, cols = image.shape[:2]
    cut = _threshold_level(style)
    fill = np.uint16(_opacity(style.alpha))
    fade = np.uint16(_opacity(style.fade))
    hides = style.display == "block" or style.hide_rest
    heatmap = style.display == "heatmap"
    colours = _pixel_colours(entry, style) if heatmap else None
    # (level * scale) >> 8 maps level 255 to alpha * 256.
    scale = np.uint16(round(style.alpha * _OPAQUE * 256 / _LEVELS))
    positive_row = np.tile(np.array(style.positive_colour, np.uint8), cols)
    negative_row = np.tile(np.array(style.negative_colour, np.uint8), cols)
    block_lifted = np.tile(np.array(style.block_colour, np.uint16) * fade, cols)
    source = image.reshape(rows, cols * 3)
    out = np.empty_like(source)
    for chunk, start in enumerate(range(0, rows, _CHUNK_ROWS)):
        end = min(start + _CHUNK_ROWS, rows)
        if not hides and entry.chunk_peak[chunk] <= cut:
            out[start:end] = source[start:end]
            continue
        level = entry.level[start:end]
        shown = level > cut
        negative = None
        if entry.negative is not None:
            if style.show_negative:
                negative = shown & entry.negative[start:end]
            else:
                shown &= ~entry.negative[start:end]
        # Opacity and colour * opacity are sums of masked terms: np.where with broadcast rows
        # is some fifty times slower than a multiply.
        if heatmap:
            opacity = level * scale
            opacity >>= 8
            opacity *= shown
            lifted = colours[start:end] * opacity
        elif style.display == "outline":
            opacity = shown * fill
            opacity += (shown & (entry.edge[start:end] <= cut)) * np.uint16(_OPAQUE - fill)
            if negative is None:
                lifted = positive_row * opacity
            else:
                against = negative * opacity
                lifted = negative_row * against
                lifted += positive_row * (opacity - against)
        elif negative is None:
            # Block: supporting pixels show as they are ...
            opacity = np.zeros(shown.shape, np.uint16)
            lifted = np.zeros(shown.shape, np.uint16)
        else:
            # ... and opposing ones keep a tint to tell them apart.
            opacity = negative * fill
            lifted = negative_row * opacity
        if hides:
            hidden = ~shown
            opacity += hidden * fade
            lifted += hidden * block_lifted
        lifted += _OPAQUE // 2
        np.subtract(np.uint16(_OPAQUE), opacity, out=opacity)
        blend = source[start:end] * opacity
        blend += lifted
        blend >>= 8
        out[start:end] = blend
    return out.reshape(image.shape)
