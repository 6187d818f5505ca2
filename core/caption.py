"""Words that describe an explanation (its method, caption lines) and an image saved with them under it."""
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from limelight.core.images import as_rgb_image
from limelight.core.methods import METHOD_TITLES
from limelight.core.scores import fit_word

__all__ = ["method_of", "class_title", "caption_lines", "render_with_caption"]

# Caption text height as a share of the image's width, within readable bounds in pixels.
_FONT_SHARE, _MIN_FONT, _MAX_FONT = 1 / 45, 11, 32
_BACKGROUND, _INK, _MUTED = (255, 255, 255), (20, 20, 20), (90, 90, 90)


def method_of(explanation):
    """Return the method key ("lime", "gradcam", ...) that made `explanation`."""
    return explanation.method


def class_title(label, label_name=None):
    """Return how a class is named once: "Egyptian cat (class 285)", or "class 6" when it has no name."""
    plain = f"class {label}"
    return plain if label_name in (None, "", plain) else f"{label_name} ({plain})"


def caption_lines(explanation, label, *, label_name=None, model_name=None):
    """Return the lines that say what an explanation shows and how far to trust it.

    Parameters
    ----------
    explanation : LimeExplanation or CamExplanation
    label : int
        The class shown.
    label_name : str, optional
        The class's name.
    model_name : str, optional
        The model that was explained.

    Returns
    -------
    list of str
        The method, class and probability first; then LIME's fit, stability and parameters, or the
        CAM's layer and score; the faithfulness when measured; the model last.
    """
    method = METHOD_TITLES.get(method_of(explanation), method_of(explanation))
    first = [f"{method} of {class_title(label, label_name)}"]
    if explanation.kind == "lime":
        probability = explanation.probabilities.get(label)
        fit = explanation.scores.get(label)
        stability = explanation.stability.get(label)
        params = explanation.params
        trust = [f"fit R² {fit:.2f} {fit_word(fit)}" if fit is not None else None,
                 f"stability {stability.value:.2f} {stability.word}" if stability is not None else None,
                 f"{explanation.num_samples:,} samples", f"{explanation.num_segments} superpixels",
                 f"seed {params['seed']}" if params.get("seed") is not None else None]
    else:
        probability = explanation.probability
        trust = [f"layer {explanation.layer}", f"class score {explanation.class_score:.3g}"]
        if explanation.kind == "gradient":
            stability = explanation.stability.get(label)
            trust.append(f"stability {stability.value:.2f} {stability.word}" if stability is not None
                         else f"stability {explanation.stability_note}")
    if probability is not None:
        first.append(f"probability {probability:.1%}")
    lines = [" · ".join(first), " · ".join(part for part in trust if part)]
    curves = explanation.faithfulness.get(label)
    if curves is not None:
        lines.append(f"deletion AUC {curves.deletion_auc:.2f} · insertion AUC {curves.insertion_auc:.2f} "
                     f"(random order {curves.random_auc:.2f})")
    if model_name:
        lines.append(f"model {model_name}")
    return lines


def render_with_caption(image, lines, *, scale=None):
    """Return `image` with `lines` of text under it and, for a heatmap, its colour scale.

    Parameters
    ----------
    image : ndarray of shape (rows, cols, 3), uint8
        Usually a rendered overlay; it is not modified.
    lines : list of str
        The caption, one entry per line; a line too long for the width wraps at " · ".
    scale : HeatmapScale, optional
        Draws a colour bar from ``scale.low`` to ``scale.high`` above the text
        (`limelight.core.overlay.heatmap_scale`).

    Returns
    -------
    ndarray of shape (rows + caption, cols, 3), uint8
    """
    image = as_rgb_image(image, needed_by="the caption", hint="pass a rendered overlay.")
    rows, cols = image.shape[:2]
    size = int(np.clip(round(cols * _FONT_SHARE), _MIN_FONT, _MAX_FONT))
    font = _font(size)
    small = _font(max(_MIN_FONT - 2, size * 3 // 4))
    margin, gap = size // 2, size // 3
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    wrapped = [piece for line in lines for piece in _wrap(line, font, cols - 2 * margin, measure)]
    bar_height = size if scale is not None else 0
    scale_height = bar_height + small.size + 2 * gap if scale is not None else 0
    height = margin + scale_height + len(wrapped) * (size + gap) + margin
    canvas = Image.new("RGB", (cols, rows + height), _BACKGROUND)
    canvas.paste(Image.fromarray(image), (0, 0))
    draw = ImageDraw.Draw(canvas)
    top = rows + margin
    if scale is not None:
        width = cols - 2 * margin
        colours = scale.colours(max(width, 2))
        bar = np.broadcast_to(colours[None, :width], (bar_height, width, 3))
        canvas.paste(Image.fromarray(np.ascontiguousarray(bar)), (margin, top))
        ticks = [(0.0, scale.low), (0.5, (scale.low + scale.high) / 2), (1.0, scale.high)]
        for position, value in ticks:
            text = "0" if value == 0 else f"{value:.3g}"
            anchor = {0.0: "la", 0.5: "ma", 1.0: "ra"}[position]
            draw.text((margin + position * width, top + bar_height + gap // 2), text, fill=_MUTED,
                      font=small, anchor=anchor)
        top += scale_height
    for index, line in enumerate(wrapped):
        draw.text((margin, top), line, fill=_INK if index == 0 else _MUTED, font=font)
        top += size + gap
    return np.asarray(canvas)


def _font(size):
    # DejaVu Sans comes with matplotlib and has the glyphs a caption needs (R², ·, “”); Pillow's
    # own default font lacks some.
    import matplotlib

    return ImageFont.truetype(f"{matplotlib.get_data_path()}/fonts/ttf/DejaVuSans.ttf", size)


def _wrap(line, font, width, measure):
    """Split `line` at " · " into pieces that fit `width` pixels (a single piece may still overflow)."""
    pieces, current = [], ""
    for part in line.split(" · "):
        candidate = f"{current} · {part}" if current else part
        if current and measure.textlength(candidate, font=font) > width:
            pieces.append(current)
            current = part
        else:
            current = candidate
    return pieces + [current] if current else pieces
