"""Superpixels: every method labels the whole image 0..n-1, and label maps resize like skimage does."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import data
from skimage.transform import resize

from limelight.core.errors import ExplanationError
from limelight.core.segmentation import (SEGMENTATION_DEFAULTS, segment, segment_boundaries, segment_count,
                                         segmentation_params, upscale_segments)


@pytest.fixture(scope="module")
def photo():
    """The cat photo at a model-like resolution: real texture, so every method has work to do."""
    return (resize(data.chelsea(), (96, 96), anti_aliasing=True) * 255).round().astype(np.uint8)


@pytest.mark.parametrize("method", sorted(SEGMENTATION_DEFAULTS))
def test_each_method_labels_every_pixel_contiguously_from_zero(photo, method):
    labels = segment(photo, method=method)
    assert labels.shape == (96, 96) and labels.dtype == np.int32
    n = segment_count(labels)
    assert n >= 4
    assert np.array_equal(np.unique(labels), np.arange(n))


@pytest.mark.parametrize("method", sorted(SEGMENTATION_DEFAULTS))
def test_the_documented_defaults_are_the_ones_used(photo, method):
    assert np.array_equal(segment(photo, method=method, **SEGMENTATION_DEFAULTS[method]),
                          segment(photo, method=method))


@pytest.mark.parametrize("n_segments", [20, 50, 100])
def test_slic_roughly_respects_the_requested_count(photo, n_segments):
    n = segment_count(segment(photo, method="slic", n_segments=n_segments))
    assert 0.6 * n_segments <= n <= 1.3 * n_segments


def test_slic_more_segments_give_smaller_superpixels(photo):
    counts = [segment_count(segment(photo, method="slic", n_segments=k)) for k in (10, 40, 160)]
    assert counts[0] < counts[1] < counts[2]


def test_quickshift_follows_lime_defaults_and_its_seed(photo):
    assert SEGMENTATION_DEFAULTS["quickshift"] == {"kernel_size": 4, "max_dist": 200, "ratio": 0.2,
                                                   "random_seed": 42}
    assert np.array_equal(segment(photo, random_seed=7), segment(photo, random_seed=7))
    # A smaller kernel finds finer regions.
    assert segment_count(segment(photo, kernel_size=1, max_dist=6)) > segment_count(
        segment(photo, kernel_size=2, max_dist=20))


def test_lime_defaults_are_kept_from_160_pixels():
    photo = (resize(data.chelsea(), (160, 200), anti_aliasing=True) * 255).round().astype(np.uint8)
    assert segmentation_params(photo) == SEGMENTATION_DEFAULTS["quickshift"]
    assert np.array_equal(segment(photo), quickshift_labels(photo, kernel_size=4, max_dist=200))


def quickshift_labels(image, **params):
    from skimage.segmentation import quickshift

    return quickshift(image, ratio=0.2, rng=42, **params)


@pytest.mark.parametrize("size", [20, 28, 48, 64, 96, 128])
def test_small_images_get_25_to_100_superpixels_by_default(size):
    # lime's defaults, tuned for ~224 px, make 1 to 12 superpixels at these sizes.
    photo = (resize(data.chelsea(), (size, size), anti_aliasing=True) * 255).round().astype(np.uint8)
    assert segment_count(quickshift_labels(photo, kernel_size=4, max_dist=200)) < 15
    params = segmentation_params(photo)
    assert 25 <= segment_count(segment(photo)) <= 100
    assert np.array_equal(segment(photo), segment(photo, **params))
    # Given settings are the user's own: they are not scaled.
    assert segmentation_params(photo, kernel_size=2, max_dist=20)["kernel_size"] == 2


def test_a_28_pixel_grayscale_image_gets_at_least_15_superpixels():
    gray = (resize(data.camera(), (28, 28), anti_aliasing=True) * 255).round().astype(np.uint8)
    assert segment_count(segment(np.stack([gray] * 3, -1))) >= 15


def test_felzenszwalb_scale_controls_the_size(photo):
    fine = segment_count(segment(photo, method="felzenszwalb", scale=10, min_size=5))
    coarse = segment_count(segment(photo, method="felzenszwalb", scale=500, min_size=50))
    assert fine > 2 * coarse


@pytest.mark.parametrize("shape, n_segments, expected", [((64, 64), 49, 49), ((64, 64), 16, 16),
                                                         ((60, 120), 50, 50), ((64, 64), 1, 1)])
def test_grid_cells_are_square_ish_and_as_many_as_asked(shape, n_segments, expected):
    image = np.zeros(shape + (3,), np.uint8)
    labels = segment(image, method="grid", n_segments=n_segments)
    assert segment_count(labels) == expected
    areas = np.bincount(labels.ravel())
    assert areas.max() <= 1.35 * areas.min()
    # Each cell is a rectangle: its pixel count equals its bounding box.
    for cell in range(expected):
        rows, cols = np.nonzero(labels == cell)
        assert areas[cell] == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)


def test_unknown_method_names_the_valid_ones(photo):
    with pytest.raises(ExplanationError, match="unknown segmentation method 'watershed'; choose one of "
                                               "quickshift, slic, felzenszwalb, grid"):
        segment(photo, method="watershed")


def test_unknown_parameter_names_the_valid_ones(photo):
    with pytest.raises(ExplanationError, match="slic has no parameter 'n_superpixels'; valid parameters are "
                                               "n_segments, compactness, sigma"):
        segment(photo, method="slic", n_superpixels=50)


def test_rejected_values_become_an_explanation_error(photo):
    with pytest.raises(ExplanationError, match="grid cannot segment .* n_segments must be at least 1"):
        segment(photo, method="grid", n_segments=0)


@pytest.mark.parametrize("image, message", [
    (np.zeros((8, 8), np.uint8), r"shape \(rows, cols, 3\) and dtype uint8, got shape \(8, 8\)"),
    (np.zeros((8, 8, 4), np.uint8), r"got shape \(8, 8, 4\)"),
    (np.zeros((8, 8, 3), np.float32), "dtype float32; convert grayscale"),
])
def test_wrong_images_are_refused_with_a_fix(image, message):
    with pytest.raises(ExplanationError, match=message):
        segment(image, method="grid")


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 40), out_rows=st.integers(1, 120),
       out_cols=st.integers(1, 120), seed=st.integers(0, 2 ** 16))
def test_upscale_segments_matches_skimage_nearest_resize(rows, cols, out_rows, out_cols, seed):
    segments = np.random.default_rng(seed).integers(0, 500, (rows, cols)).astype(np.int32)
    expected = resize(segments, (out_rows, out_cols), order=0, preserve_range=True, anti_aliasing=False)
    got = upscale_segments(segments, (out_rows, out_cols))
    assert got.dtype == np.int32
    assert np.array_equal(got, expected.astype(np.int32))


def test_upscale_segments_by_an_integer_factor_repeats_pixels():
    segments = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert np.array_equal(upscale_segments(segments, (4, 6)), np.kron(segments, np.ones((2, 2), np.int32)))


def test_boundaries_lie_on_both_sides_of_a_border():
    labels = np.zeros((5, 6), np.int32)
    labels[:, 3:] = 1
    boundaries = segment_boundaries(labels)
    assert boundaries.dtype == bool
    assert np.array_equal(np.nonzero(boundaries.any(axis=0))[0], [2, 3])
    assert boundaries[:, 2:4].all()
    inner = segment_boundaries(labels, mode="inner")
    assert np.array_equal(np.nonzero(inner.any(axis=0))[0], [2, 3]) and inner.sum() == 10


def test_a_single_region_has_no_boundaries():
    assert not segment_boundaries(np.zeros((4, 4), np.int32)).any()


def test_segment_count():
    assert segment_count(np.array([[0, 1], [2, 2]])) == 3
    assert segment_count(np.zeros((0, 0), np.int32)) == 0
