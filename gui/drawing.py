"""Drawing explanations over photos in image views, at the resolution each view shows (the window's and Compare's)."""
import numpy as np

from limelight.core.images import place_in_photo, scale_photo_and_frame
from limelight.gui.image_view import ImageView

#: Scaled-down photos kept for drawing overlays at the size shown: the window's and Compare's two.
VIEW_COPIES = 3


class OverlayPainter:
    """Draws an explanation over its photo in a view; keeps the last few scaled-down photos it drew on."""

    def __init__(self, copies: int = VIEW_COPIES):
        self._copies = copies
        # (id(photo), id(frame), scale) -> (photo, frame, scaled photo, scaled frame); the arrays
        # are kept with their ids, so an id is never reused while its entry lives.
        self._scaled: dict[tuple, tuple] = {}

    def draw(self, view: ImageView, photo: np.ndarray, result, style) -> None:
        """Draw `result` (an ExplainResult) over `photo` in `view` with `style`, at the resolution the view shows.

        Zoomed out, that is less than the photo's, so a style change on a large photo repaints
        within a frame; copying from the view asks for the photo's resolution.
        """
        from limelight.core.overlay import render

        scaled_photo, scaled_frame = self._scaled_for_view(photo, result.frame, view.overlay_scale())
        rendered = render(scaled_frame, result.explanation, result.target, style)

        def full_size():
            return place_in_photo(photo, render(result.frame, result.explanation, result.target, style))

        view.set_overlay(place_in_photo(scaled_photo, rendered), full_size=full_size)

    def _scaled_for_view(self, photo: np.ndarray, frame: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """The photo and frame at an overlay scale, kept for the last few photos, frames and scales."""
        key = (id(photo), id(frame), scale)
        kept = self._scaled.get(key)
        if kept is None:
            kept = self._scaled[key] = (photo, frame, *scale_photo_and_frame(photo, frame, scale))
            while len(self._scaled) > self._copies:
                del self._scaled[next(iter(self._scaled))]
        return kept[2], kept[3]


def rendered_frame(result, style) -> np.ndarray:
    """`result` drawn over the part of the photo it covers, at full resolution."""
    from limelight.core.overlay import render

    return render(result.frame, result.explanation, result.target, style)
