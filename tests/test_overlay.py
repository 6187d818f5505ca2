"""Overlays: exact pixels for each display mode, at any display size, without touching the inputs."""
from dataclasses import dataclass
from typing import ClassVar

import matplotlib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limelight.core.errors import ExplanationError
from limelight.core.lime import LimeExplanation
from limelight.core.overlay import OverlayStyle, clear_cache, line_thickness, render, shown_mask
from limelight.core.segmentation import segment_boundaries, upscale_segments

GREY = (100, 100, 100)
GREEN, RED = (0, 255, 0), (255, 0, 0)


def _frozen(array, dtype):
    array = np.array(array, dtype=dtype)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class FakeLime:
    """A superpixel explanation as the contract describes it, independent of the LIME code."""

    kind: ClassVar[str] = "lime"
    smooth: ClassVar[bool] = False
    segments: np.ndarray
    weights: dict

    @property
    def labels(self):
        return tuple(self.weights)

    def weight_map(self, label):
        return np.asarray(self.weights[label], np.float32)[self.segments]


@dataclass(frozen=True, eq=False)
class FakeCam:
    """A per-pixel explanation (no superpixels, bilinear upscaling), as Grad-CAM gives."""

    kind: ClassVar[str] = "cam"
    smooth: ClassVar[bool] = True
    segments: ClassVar[None] = None
    heatmap: np.ndarray
    target: int = 3

    @property
    def labels(self):
        return (self.target,)

    def weight_map(self, label):
        return self.heatmap


def quadrants(size=64):
    """Four superpixels: 0 top left, 1 top right, 2 bottom left, 3 bottom right."""
    half = size // 2
    segments = np.zeros((size, size), np.int32)
    segments[:, half:] += 1
    segments[half:] += 2
    return _frozen(segments, np.int32)


@pytest.fixture
def lime():
    # Region 0 supports the class most, 1 half as much, 2 speaks against it, 3 does nothing.
    return FakeLime(quadrants(), {5: [1.0, 0.5, -0.8, 0.0]})


@pytest.fixture
def cam():
    heatmap = np.zeros((64, 64), np.float32)
    heatmap[16:48, 16:48] = 2.0
    return FakeCam(_frozen(heatmap, np.float32))


def grey(shape):
    return np.full((*shape, 3), GREY, np.uint8)


def photo(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def blend(image, colour, opacity):
    return image * (1.0 - opacity) + np.asarray(colour, float) * opacity


# --- Outline -----------------------------------------------------------------------------------

def test_outline_draws_positive_regions_borders_and_leaves_negative_ones_alone(lime):
    out = render(grey((128, 128)), lime, 5, OverlayStyle(threshold=0.1, alpha=0.0))
    # Display pixels 0-63 are region 0's rows/cols; its border pixels are col 63 and row 63.
    assert tuple(out[10, 63]) == GREEN and tuple(out[63, 10]) == GREEN
    assert tuple(out[10, 64]) == GREEN  # region 1's own border
    assert tuple(out[64, 10]) == GREY and tuple(out[100, 63]) == GREY  # region 2 (negative)
    assert tuple(out[100, 64]) == GREY  # region 3 (zero weight)
    assert tuple(out[10, 10]) == GREY and tuple(out[10, 62]) == GREY  # inside, off the line


def test_show_negative_outlines_opposing_regions_in_the_negative_colour(lime):
    out = render(grey((128, 128)), lime, 5, OverlayStyle(threshold=0.1, alpha=0.0, show_negative=True))
    assert tuple(out[64, 10]) == RED and tuple(out[100, 63]) == RED
    assert tuple(out[10, 63]) == GREEN
    assert tuple(out[100, 64]) == GREY


def test_alpha_zero_changes_nothing_but_the_lines(lime):
    image = photo((128, 128))
    out = render(image, lime, 5, OverlayStyle(threshold=0.1, alpha=0.0))
    display = upscale_segments(lime.segments, (128, 128))
    lines = segment_boundaries(display) & np.isin(display, [0, 1])
    assert np.array_equal(out[~lines], image[~lines])
    assert np.all(out[lines] == GREEN)


def test_outline_fill_blends_chosen_regions_with_alpha(lime):
    image = photo((128, 128))
    out = render(image, lime, 5, OverlayStyle(threshold=0.1, alpha=0.4))
    expected = blend(image[20:40, 20:40], GREEN, 0.4)
    assert np.abs(out[20:40, 20:40] - expected).max() <= 1
    assert np.array_equal(out[80:120, 80:120], image[80:120, 80:120])


def test_hide_rest_fades_what_the_outline_does_not_show(lime):
    image = photo((128, 128))
    style = OverlayStyle(threshold=0.1, alpha=0.0, hide_rest=True, fade=0.5, block_colour=(0, 0, 255))
    out = render(image, lime, 5, style)
    assert np.array_equal(out[20:40, 20:40], image[20:40, 20:40])
    assert np.abs(out[80:120, 10:50] - blend(image[80:120, 10:50], (0, 0, 255), 0.5)).max() <= 1


def test_outlines_thicken_on_big_images(lime):
    assert [line_thickness(s) for s in [(301, 457), (1024, 768), (2048, 2048), (3000, 4000)]] == [1, 1, 2, 4]
    out = render(grey((2000, 2000)), lime, 5, OverlayStyle(threshold=0.1, alpha=0.0))
    # Region 0 spans display columns 0-999; a 2-pixel line runs along its inside.
    assert [tuple(p) for p in out[500, 996:1001]] == [GREY, GREY, GREEN, GREEN, GREEN]
    assert tuple(out[500, 1002]) == GREY


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), rows=st.integers(1, 200), cols=st.integers(1, 200),
       negative=st.booleans())
def test_outlines_and_fills_land_exactly_on_upscaled_superpixels(seed, rows, cols, negative):
    rng = np.random.default_rng(seed)
    # Random blobs: a coarse random grid, so regions have irregular staircase borders.
    segments = np.kron(rng.integers(0, 6, (6, 5)), np.ones((5, 7), np.int32)).astype(np.int32)
    weights = rng.normal(size=6)
    explanation = FakeLime(_frozen(segments, np.int32), {0: weights})
    style = OverlayStyle(threshold=0.0, num_features=None, alpha=0.0, show_negative=negative)
    image = photo((rows, cols), seed=seed % 1000)
    display = upscale_segments(segments, (rows, cols))
    shown = (weights > 0) | (negative & (weights < 0))
    lines = segment_boundaries(display) & shown[display]
    out = render(image, explanation, 0, style)
    assert np.array_equal(out[~lines], image[~lines])
    assert np.all(out[lines & (weights[display] > 0)] == GREEN)
    assert np.all(out[lines & (weights[display] < 0)] == RED)
    block = render(np.full_like(image, 255), explanation, 0,
                   OverlayStyle(display="block", threshold=0.0, num_features=None, fade=1.0, alpha=0.0,
                                block_colour=(0, 0, 0), show_negative=negative))
    assert np.array_equal(block.any(axis=2), shown[display])


# --- Selection: threshold and num_features ----------------------------------------------------------

def test_threshold_one_shows_nothing_and_zero_shows_every_supporting_region(lime):
    image = photo((96, 96))
    for display in ("outline", "heatmap"):
        assert np.array_equal(render(image, lime, 5, OverlayStyle(display=display, threshold=1.0)), image)
    display = upscale_segments(lime.segments, (96, 96))
    assert np.array_equal(shown_mask(lime, 5, OverlayStyle(threshold=1.0), shape=(96, 96)), np.zeros((96, 96), bool))
    assert np.array_equal(shown_mask(lime, 5, OverlayStyle(threshold=0.0), shape=(96, 96)), np.isin(display, [0, 1]))
    everything = OverlayStyle(threshold=0.0, show_negative=True)
    assert np.array_equal(shown_mask(lime, 5, everything, shape=(96, 96)), np.isin(display, [0, 1, 2]))


def test_threshold_is_a_fraction_of_the_largest_weight_and_strict(lime):
    def shown(threshold):
        mask = shown_mask(lime, 5, OverlayStyle(threshold=threshold, show_negative=True))
        return sorted(set(lime.segments[mask].tolist()))

    assert shown(0.49) == [0, 1, 2]
    assert shown(0.5) == [0, 2]
    assert shown(0.79) == [0, 2]
    assert shown(0.8) == [0]


def test_num_features_keeps_the_strongest_regions(lime):
    def shown(**options):
        mask = shown_mask(lime, 5, OverlayStyle(threshold=0.0, **options))
        return sorted(set(lime.segments[mask].tolist()))

    assert shown(num_features=1) == [0]
    assert shown(num_features=3) == [0, 1]
    assert shown(num_features=2, show_negative=True) == [0, 2]


def test_a_map_without_any_weight_shows_nothing():
    explanation = FakeLime(quadrants(), {0: [0.0, 0.0, 0.0, 0.0]})
    image = photo((64, 64))
    for display in ("outline", "heatmap"):
        assert np.array_equal(render(image, explanation, 0, OverlayStyle(display=display, threshold=0.0)), image)


# --- Block -----------------------------------------------------------------------------------

def test_block_keeps_chosen_regions_and_fades_the_rest(lime):
    image = photo((128, 128))
    style = OverlayStyle(display="block", threshold=0.1, fade=0.75, block_colour=(128, 128, 128))
    out = render(image, lime, 5, style)
    assert np.array_equal(out[:64], image[:64])
    assert np.abs(out[64:] - blend(image[64:], (128, 128, 128), 0.75)).max() <= 1


def test_block_tints_shown_opposing_regions(lime):
    image = photo((128, 128))
    style = OverlayStyle(display="block", threshold=0.1, alpha=0.5, show_negative=True)
    out = render(image, lime, 5, style)
    assert np.abs(out[64:, :64] - blend(image[64:, :64], RED, 0.5)).max() <= 1
    assert np.array_equal(out[:64], image[:64])


def test_block_with_a_solid_fade_matches_upscale_segments_at_an_odd_size(lime):
    # 301x457 from 64x64 is a non-integer scale in both directions.
    white = np.full((301, 457, 3), 255, np.uint8)
    style = OverlayStyle(display="block", threshold=0.1, fade=1.0, block_colour=(0, 0, 0))
    out = render(white, lime, 5, style)
    assert out.shape == (301, 457, 3) and out.dtype == np.uint8
    kept = np.isin(upscale_segments(lime.segments, (301, 457)), [0, 1])
    assert np.array_equal(out.any(axis=2), kept)


# --- Heatmap ---------------------------------------------------------------------------------

def colormap_end(name):
    return np.rint(np.array(matplotlib.colormaps[name](1.0)[:3]) * 255)


def test_heatmap_colour_at_the_strongest_weight_is_the_colormaps_end_blended_by_alpha(lime):
    image = photo((128, 128))
    out = render(image, lime, 5, OverlayStyle(display="heatmap", threshold=0.1, alpha=0.6))
    # Signed LIME weights use a diverging map centred at zero: the largest weight takes its end.
    assert np.abs(out[:64, :64] - blend(image[:64, :64], colormap_end("RdYlGn"), 0.6)).max() <= 1
    # Half the largest weight: three quarters along the map, at half the opacity.
    half = np.rint(np.array(matplotlib.colormaps["RdYlGn"](0.75)[:3]) * 255)
    assert np.abs(out[:64, 64:] - blend(image[:64, 64:], half, 0.3)).max() <= 2
    assert np.array_equal(out[64:], image[64:])


def test_heatmap_uses_the_chosen_colormap(lime):
    image = photo((64, 64))
    out = render(image, lime, 5, OverlayStyle(display="heatmap", alpha=1.0, colormap="viridis"))
    assert np.abs(out[:32, :32] - colormap_end("viridis")).max() <= 1


def test_cam_heatmap_at_its_peak_is_the_colormaps_end_blended_by_alpha(cam):
    image = photo((128, 128))
    out = render(image, cam, 3, OverlayStyle(display="heatmap", alpha=0.5))
    # Grad-CAM maps have one sign, so the default is 'jet' from zero to the peak.
    assert np.abs(out[40:90, 40:90] - blend(image[40:90, 40:90], colormap_end("jet"), 0.5)).max() <= 1
    assert np.array_equal(out[:20], image[:20])


# --- Per-pixel maps (Grad-CAM) in outline and block mode ---------------------------------------------

def test_cam_outline_is_the_contour_of_the_thresholded_heatmap(cam):
    image = grey((128, 128))
    out = render(image, cam, 3, OverlayStyle(threshold=0.5, alpha=0.25))
    shown = shown_mask(cam, 3, OverlayStyle(threshold=0.5), shape=(128, 128))
    assert shown[64, 64] and not shown[5, 5]
    line = np.all(out == GREEN, axis=2)
    inner = shown & ~line
    # The line is drawn just inside the shown area and closes around it.
    assert line.any() and not (line & ~shown).any()
    rows, cols = np.nonzero(shown)
    assert line[rows.min(), 64] and line[rows.max(), 64] and line[64, cols.min()] and line[64, cols.max()]
    assert np.abs(out[inner] - blend(image[inner], GREEN, 0.25)).max() <= 1
    assert np.array_equal(out[~shown], image[~shown])


def test_cam_block_fades_outside_the_thresholded_heatmap(cam):
    image = photo((128, 128))
    style = OverlayStyle(display="block", threshold=0.5, fade=1.0, block_colour=(0, 0, 0))
    out = render(image, cam, 3, style)
    shown = shown_mask(cam, 3, style, shape=(128, 128))
    assert np.array_equal(out[shown], image[shown])
    assert not out[~shown].any()


def test_negative_cam_weights_show_only_with_show_negative():
    heatmap = np.zeros((32, 32), np.float32)
    heatmap[:, :16] = -1.0
    heatmap[:, 16:] = 0.5
    cam = FakeCam(_frozen(heatmap, np.float32))
    image = grey((64, 64))
    plain = render(image, cam, 3, OverlayStyle(threshold=0.2, alpha=0.0))
    assert np.array_equal(plain[:, :28], image[:, :28])
    both = render(image, cam, 3, OverlayStyle(threshold=0.2, alpha=0.0, show_negative=True))
    # Each side's contour runs along the sign change (the image border is no contour).
    red, green = np.all(both == RED, axis=2), np.all(both == GREEN, axis=2)
    assert red[:, 24:32].any(axis=1).all() and green[:, 32:40].any(axis=1).all()
    assert not red[:, 32:].any() and not green[:, :32].any()


# --- Any size, no mutation, validation -----------------------------------------------------------

@pytest.mark.parametrize("display", ["outline", "block", "heatmap"])
@pytest.mark.parametrize("which", ["lime", "cam"])
def test_output_has_the_display_shape_for_a_non_integer_scale(display, which, lime, cam):
    explanation, label = (lime, 5) if which == "lime" else (cam, 3)
    out = render(photo((301, 457)), explanation, label, OverlayStyle(display=display, show_negative=True))
    assert out.shape == (301, 457, 3) and out.dtype == np.uint8


@pytest.mark.parametrize("display", ["outline", "block", "heatmap"])
def test_render_does_not_touch_its_inputs(display, lime, cam):
    image = photo((90, 70))
    kept = image.copy()
    weights = lime.weight_map(5).copy()
    style = OverlayStyle(display=display, hide_rest=True, show_negative=True)
    for explanation, label in ((lime, 5), (cam, 3)):
        out = render(image, explanation, label, style)
        assert out is not image and not np.shares_memory(out, image)
    assert np.array_equal(image, kept)
    assert np.array_equal(lime.weight_map(5), weights)
    assert style == OverlayStyle(display=display, hide_rest=True, show_negative=True)


def test_cached_maps_do_not_cache_pixels(lime):
    style = OverlayStyle(threshold=0.1, alpha=0.5)
    first = render(photo((100, 100), seed=1), lime, 5, style)
    second = render(photo((100, 100), seed=2), lime, 5, style)
    clear_cache()
    assert np.array_equal(render(photo((100, 100), seed=2), lime, 5, style), second)
    assert not np.array_equal(first, second)


def test_writable_segments_render_the_same_as_frozen_ones(lime):
    writable = FakeLime(np.array(lime.segments), dict(lime.weights))
    style = OverlayStyle(display="heatmap", show_negative=True)
    image = photo((77, 91))
    assert np.array_equal(render(image, writable, 5, style), render(image, lime, 5, style))


def test_a_real_lime_explanation_renders_like_the_contract_fake(lime):
    n = 4
    real = LimeExplanation(segments=lime.segments, labels=(5,), weights={5: np.array(lime.weights[5])},
                           intercepts={5: 0.1}, scores={5: 0.9}, local_predictions={5: 0.8},
                           probabilities={5: 0.7}, params={}, masks=np.ones((2, n), bool),
                           predictions=np.zeros((2, 1), np.float32))
    image = photo((150, 120))
    for display in ("outline", "block", "heatmap"):
        style = OverlayStyle(display=display, show_negative=True)
        assert np.array_equal(render(image, real, 5, style), render(image, lime, 5, style))


@pytest.mark.parametrize("options, words", [
    ({"display": "dots"}, "display must be one of"),
    ({"threshold": 1.5}, "threshold must be a number from 0 to 1"),
    ({"alpha": -0.1}, "alpha must be a number from 0 to 1"),
    ({"fade": "half"}, "fade must be a number from 0 to 1"),
    ({"num_features": 0}, "num_features must be a whole number of at least 1"),
    ({"positive_colour": (300, 0, 0)}, "positive colour (300, 0, 0) is not a colour"),
    ({"negative_colour": "not-a-colour"}, "negative colour 'not-a-colour' is not a colour"),
    ({"colormap": "rainbowish"}, "unknown colormap 'rainbowish'"),
])
def test_bad_styles_are_refused_with_a_sentence(options, words):
    with pytest.raises(ExplanationError, match=None) as caught:
        OverlayStyle(**options)
    assert words in str(caught.value)


def test_colour_names_become_rgb_tuples():
    style = OverlayStyle(positive_colour="lime", negative_colour="#ff0000", block_colour=[1, 2, 3])
    assert (style.positive_colour, style.negative_colour, style.block_colour) == ((0, 255, 0), RED, (1, 2, 3))


def test_bad_render_inputs_are_refused(lime):
    with pytest.raises(ExplanationError, match="RGB image of shape"):
        render(np.zeros((10, 10), np.uint8), lime, 5)
    with pytest.raises(ExplanationError, match="dtype uint8"):
        render(np.zeros((10, 10, 3), np.float32), lime, 5)
    with pytest.raises(ExplanationError, match="class 7 was not explained; choose one of 5"):
        render(photo((10, 10)), lime, 7)
    with pytest.raises(ExplanationError, match="style must be an OverlayStyle"):
        render(photo((10, 10)), lime, 5, {"display": "block"})


# --- The heatmap's scale and captions ----------------------------------------------------------

def test_each_method_reads_best_in_its_own_display():
    from limelight.core.overlay import natural_display

    assert natural_display("lime") == "outline"
    assert [natural_display(m) for m in ("gradcam", "gradcam++", "scorecam")] == ["heatmap"] * 3


def test_the_heatmap_scale_gives_the_colour_each_weight_is_drawn_in(lime, cam):
    from limelight.core.overlay import heatmap_scale

    # LIME: zero in the middle of RdYlGn, from minus to plus the strongest weight.
    scale = heatmap_scale(lime, 5, OverlayStyle(display="heatmap"))
    assert (scale.colormap, scale.low, scale.high, scale.signed) == ("RdYlGn", -1.0, 1.0, True)
    # A CAM of one sign: jet from 0 to its largest value, as its pixels are drawn.
    scale = heatmap_scale(cam, 3)
    assert (scale.colormap, scale.low, scale.high, scale.signed) == ("jet", 0.0, 2.0, False)
    opaque = render(photo((64, 64)), cam, 3, OverlayStyle(display="heatmap", alpha=1.0))
    # (At full opacity the heatmap keeps 1/256 of the photo.)
    assert np.abs(opaque[32, 32].astype(int) - scale.colours()[-1]).max() <= 1
    # The region of weight 1.0 (the strongest) is drawn in the scale's last colour, -0.8 near its start.
    image = photo((64, 64))
    opaque = render(image, lime, 5, OverlayStyle(display="heatmap", alpha=1.0, threshold=0.0,
                                                 show_negative=True, colormap="viridis"))
    colours = heatmap_scale(lime, 5, OverlayStyle(colormap="viridis")).colours()
    assert np.abs(opaque[5, 5].astype(int) - colours[-1]).max() <= 1
    # (A weaker weight is drawn more transparently: at 0.8 of the strongest, 80 % opaque.)
    expected = blend(image[60, 5], colours[int(round((1 - 0.8) * 127.5))], 0.8)
    assert np.abs(opaque[60, 5] - expected).max() <= 1.5


def test_a_caption_names_method_class_probability_and_trust_under_the_image(lime):
    from limelight.core.caption import caption_lines, class_title, render_with_caption
    from limelight.core.overlay import heatmap_scale
    from limelight.core.scores import Stability

    real = LimeExplanation(segments=lime.segments, labels=(5,), weights={5: np.array(lime.weights[5])},
                           intercepts={5: 0.1}, scores={5: 0.355}, local_predictions={5: 1.195},
                           probabilities={5: 0.821}, params={"seed": 4}, masks=np.ones((2, 4), bool),
                           predictions=np.zeros((2, 1), np.float32), stability={5: Stability(0.93, 5, 2)})
    lines = caption_lines(real, 5, label_name="tabby", model_name="demo")
    assert lines[0] == "LIME of tabby (class 5) · probability 82.1%"
    assert lines[1].startswith("fit R² 0.35 weak · stability 0.93 stable · 2 samples · 4 superpixels · seed 4")
    assert lines[-1] == "model demo"
    assert class_title(6, "class 6") == "class 6" and class_title(6) == "class 6"

    image = photo((60, 300))
    plain = render_with_caption(image, lines)
    assert plain.shape[0] > 60 and plain.shape[1] == 300 and np.array_equal(plain[:60], image)
    # Dark text on white under the image.
    assert (plain[60:] < 100).all(axis=2).sum() > 100 and (plain[60:] == 255).all(axis=2).mean() > 0.6
    # A heatmap's colour bar runs from the scale's first colour to its last.
    scale = heatmap_scale(real, 5, OverlayStyle(display="heatmap"))
    with_bar = render_with_caption(image, lines, scale=scale)
    assert with_bar.shape[0] > plain.shape[0]
    colours = scale.colours()
    bar_row = next(r for r in range(60, with_bar.shape[0]) if not (with_bar[r] == 255).all())
    row = with_bar[bar_row + 2].astype(int)
    coloured = np.flatnonzero((row != 255).any(axis=1))
    assert coloured.size > 250
    assert np.abs(row[coloured[0]] - colours[0]).max() <= 2 and np.abs(row[coloured[-1]] - colours[-1]).max() <= 2


# --- Ties for the last place shown ---------------------------------------------------------------

def strip_of_eight():
    """Eight superpixels side by side, each 16 columns wide, 64 rows tall."""
    return _frozen(np.repeat(np.arange(8)[None], 64, axis=0).repeat(16, axis=1), np.int32)


def test_the_default_shows_the_top_five_plus_the_superpixels_tied_with_the_fifth_dashed():
    # The fifth place is shared by superpixels 4, 5 and 6 (within 0.1 of the largest weight); 7 is clear.
    tied = FakeLime(strip_of_eight(), {0: [1.0, 0.9, 0.8, 0.7, 0.5, 0.45, 0.42, 0.3]})
    style = OverlayStyle(alpha=0.0)
    assert style.num_features == 5 and style.ties
    assert np.array_equal(np.unique(tied.segments[shown_mask(tied, 0, style)]), [0, 1, 2, 3, 4, 5, 6])
    out = render(grey((64, 128)), tied, 0, style)
    # Each region's line runs down its last column (the first for the last region).
    borders = {region: out[:, 16 * region + (15 if region < 7 else 0)] for region in range(8)}
    solid = [np.all(borders[region] == GREEN, axis=-1).mean() for region in range(8)]
    assert solid[:4] == [1.0] * 4  # the clear places: solid lines
    assert all(0.3 < solid[region] < 0.7 for region in (4, 5, 6))  # the shared fifth place: dashed
    assert solid[7] == 0.0
    untied = render(grey((64, 128)), tied, 0, OverlayStyle(alpha=0.0, ties=False))
    assert np.array_equal(np.unique(tied.segments[shown_mask(tied, 0, OverlayStyle(ties=False))]), [0, 1, 2, 3, 4])
    assert np.all(untied[:, 16 * 4 + 15] == GREEN) and np.all(untied[:, 16 * 5 + 15] == GREY)
