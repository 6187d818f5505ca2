"""Save what an explanation shows, as annotated images, side-by-side figures and re-renderable JSON reports."""
import datetime
import hashlib
import importlib
import io
import json
import math
import os
import platform
import re
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

from limelight.core.errors import ExplanationError, LimelightError, ReportError
from limelight.core.files import MAX_ARRAY_BYTES, check_npz_arrays, check_zip_members, open_regular_file, read_text
from limelight.core.methods import method_file_part
from limelight.core.overlay import OverlayStyle, heatmap_scale, render, shown_mask
from limelight.core.scores import describe_tie, tied_places

__all__ = ["IMAGE_FORMATS", "FIGURE_FORMATS", "REPORT_FORMAT", "REPORT_VERSION", "save_annotated", "save_figure",
           "save_report", "load_report", "output_name", "output_paths"]

#: Extensions `save_annotated` writes, and the Pillow format for each.
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}
#: Extensions `save_figure` writes, and the matplotlib format for each.
FIGURE_FORMATS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".pdf": "pdf", ".svg": "svg"}
REPORT_FORMAT = "limelight-report"
REPORT_VERSION = 1

# Pillow options per format: overlays have hard coloured edges, so keep JPEG chroma at full
# resolution and WebP lossless.
_SAVE_OPTIONS = {"JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"lossless": True},
                 "TIFF": {"compression": "tiff_lzw"}, "PNG": {}}
# Packages whose versions a report records; looked up in the installed metadata, never imported.
# The Linux bundle ships TensorFlow as the "tensorflow-cpu" distribution.
_PACKAGES = ("limelight", "numpy", "scikit-learn", "scikit-image", "scipy", "pillow", "matplotlib", "tensorflow",
             "tensorflow-cpu", "keras")
# Longest side of the images drawn in a figure: a figure is a few inches wide, so more pixels
# only cost time.
_FIGURE_PIXELS = 1200
# The .npz names of a sanity check's arrays start with this, beside the explanation's own.
_SANITY_PREFIX = "sanity_"
# How the explanation's own record spells NaN and infinities, which JSON lacks.
_FLOAT_TAG = "__float__"
# The explanation classes `load_report` knows, imported only when a report needs them (CAM
# pulls in TensorFlow).
_KINDS = {"lime": ("limelight.core.lime", "LimeExplanation"), "cam": ("limelight.core.cam", "CamExplanation"),
          "gradient": ("limelight.core.gradients", "GradientExplanation")}


def save_annotated(path, image, *, force=False):
    """Save a rendered overlay (or any RGB image) at its own resolution.

    Parameters
    ----------
    path : str or Path
        The file to write; its extension picks the format: .png, .jpg/.jpeg, .webp or .tif/.tiff.
    image : ndarray of shape (rows, cols, 3), uint8
        Usually the result of `limelight.core.overlay.render`.
    force : bool
        Overwrite an existing file.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ReportError
        For an unknown extension, an existing file without `force`, a missing or read-only folder,
        or an image that is not RGB uint8. Nothing is left behind on failure.
    """
    path = Path(path)
    image_format = _format(path, IMAGE_FORMATS, "image")
    image = _check_rgb(image, path)

    def write(stream):
        Image.fromarray(image).save(stream, format=image_format, **_SAVE_OPTIONS[image_format])

    _write_files([(path, write)], force=force)
    return path


def save_figure(path, image, explanation, label, style=None, *, label_name=None, probability=None, fit_r2=None,
                model_name=None, force=False):
    """Save a side-by-side figure: the image, the explanation over it, and the regions it shows.

    The title gives the class name, the model's probability and, for LIME, how well the linear
    model fits (weighted R^2). Values left out are read from the explanation where it has them.

    Parameters
    ----------
    path : str or Path
        The file to write: .png, .jpg/.jpeg, .pdf or .svg.
    image : ndarray of shape (rows, cols, 3), uint8
        The original image at any size.
    explanation, label, style
        As for `limelight.core.overlay.render`.
    label_name : str, optional
        The class's name; "class <label>" by default.
    probability, fit_r2 : float, optional
        The model's probability for the class and, for LIME, the weighted R^2 of its linear fit.
    model_name : str, optional
        Shown under the title.
    force : bool
        Overwrite an existing file.

    Returns
    -------
    Path

    Raises
    ------
    ReportError
        As for `save_annotated`, and for an explanation that cannot be drawn.
    """
    # The object-oriented API with the Agg canvas: no pyplot state, safe off the GUI thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    figure_format = _format(path, FIGURE_FORMATS, "figure")
    image = _check_rgb(image, path)
    style = style or OverlayStyle()
    known_probability, known_fit = _label_numbers(explanation, label)
    probability = known_probability if probability is None else probability
    fit_r2 = known_fit if fit_r2 is None else fit_r2
    small = _shrink(image, _FIGURE_PIXELS)
    try:
        overlay = render(small, explanation, label, style)
        shown = shown_mask(explanation, label, style, shape=small.shape[:2])
    except ExplanationError as exc:
        raise ReportError(f"cannot draw the figure: {exc}", path=path) from exc
    # Regions not shown are dimmed to a quarter, as lime's hide_rest does with black.
    masked = np.where(shown[..., None], small, small // 4)

    # Three panels of 4 inches across, as tall as the image's shape needs, plus room for the titles.
    figure = Figure(figsize=(12, 4 * small.shape[0] / small.shape[1] + 1.1), layout="constrained")
    FigureCanvasAgg(figure)
    panels = figure.subplots(1, 3)
    titles = ("Image", f"Explanation ({style.display})", f"Shown regions ({_share(shown)} of the image)")
    for axes, picture, title in zip(panels, (small, overlay, masked), titles):
        axes.imshow(picture, interpolation="antialiased")
        axes.set_title(title, fontsize=11)
        axes.set_axis_off()
    if style.display == "heatmap":
        # The heatmap's legend: which weight each colour stands for.
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        scale = heatmap_scale(explanation, label, style)
        figure.colorbar(ScalarMappable(Normalize(scale.low, scale.high), scale.colormap), ax=panels[1],
                        orientation="horizontal", fraction=0.06, pad=0.02, label="weight")
    heading = label_name if label_name is not None else f"class {label}"
    numbers = [f"p = {probability:.3f}" if _is_number(probability) else None,
               f"fit R\u00b2 = {fit_r2:.2f}" if _is_number(fit_r2) else None]
    figure.suptitle(" \u2014 ".join([heading, ", ".join(n for n in numbers if n)]) if any(numbers) else heading,
                    fontsize=14)
    if model_name:
        figure.text(0.5, 0.005, f"{model_name}, {explanation.kind.upper()}", ha="center", va="bottom",
                    fontsize=9, color="0.35")

    def write(stream):
        figure.savefig(stream, format=figure_format, dpi=120)

    _write_files([(path, write)], force=force)
    return path


def save_report(json_path, explanation, *, image_path, model_name, preprocessing, label_names, model_source=None,
                style=None, extra=None, sanity=None, force=False):
    """Save an explanation as a JSON report with its arrays in a .npz beside it.

    Together the two files hold everything needed to draw the explanation again without the model
    (see `load_report`). Both are written atomically, and neither is written unless both can be.

    Parameters
    ----------
    json_path : str or Path
        The report to write; the arrays go to the same name with the extension .npz.
    explanation : LimeExplanation or CamExplanation
        What to save; anything with ``kind``, ``labels``, ``segments``, ``weight_map`` and
        ``to_record()`` works.
    image_path : str or Path
        The explained image, recorded by name.
    model_name : str
        What the model that made the predictions is called (a built-in's title, a file's name).
    preprocessing : str
        How the model's inputs were prepared (e.g. "tf", "torch", "none").
    label_names : sequence of str or mapping of int to str, optional
        Class names by index; the explained classes' names are recorded.
    model_source : str, optional
        Where that model came from (a file path, or a built-in's key), recorded when given.
    style : OverlayStyle, optional
        The display settings to restore with the report.
    extra : mapping, optional
        More JSON-safe facts to record under "extra" (e.g. the command line).
    sanity : Sanity, optional
        The sanity check of one of the explained classes (`limelight.core.sanity.check_sanity`),
        recorded under "sanity" with its maps in the .npz.
    force : bool
        Overwrite existing files.

    Returns
    -------
    Path
        The JSON report.

    Raises
    ------
    ReportError
        For a path that does not end in .json, existing files without `force`, a missing or
        read-only folder, `extra` that is not JSON-safe, or a sanity check of a class the
        explanation does not explain.
    """
    json_path = Path(json_path)
    if json_path.suffix.lower() != ".json":
        raise ReportError("a report must end in .json; its arrays are saved beside it as .npz.", path=json_path)
    arrays_path = json_path.with_suffix(".npz")
    meta, arrays = explanation.to_record()
    arrays = {name: np.asarray(array) for name, array in arrays.items()}
    sanity_meta = None
    if sanity is not None:
        if int(sanity.target) not in [int(label) for label in explanation.labels]:
            raise ReportError(f"cannot record the sanity check of class {sanity.target}: the explanation does not "
                              f"explain it.", path=json_path)
        sanity_meta, sanity_arrays = sanity.to_record()
        arrays.update({_SANITY_PREFIX + name: np.asarray(array) for name, array in sanity_arrays.items()})
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    packed = buffer.getvalue()

    labels = [int(label) for label in explanation.labels]
    names = _label_names(label_names, labels)
    entries = []
    for label in labels:
        probability, fit_r2 = _label_numbers(explanation, label)
        # "fit_r2": how well LIME's linear model fits (weighted R^2); null where there is no fit (CAM).
        # Reports before this name called it "score".
        entry = {"index": label, "name": names.get(label), "probability": probability, "fit_r2": fit_r2}
        if explanation.segments is not None:
            entry["superpixel_weights"] = _superpixel_weights(explanation, label).tolist()
        entry.update(_trust(explanation, label))
        entries.append(entry)
    report = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "kind": explanation.kind,
        "image": {"path": str(image_path), "name": Path(image_path).name},
        "model": {"name": str(model_name), "preprocessing": str(preprocessing),
                  **({} if model_source is None else {"source": str(model_source)})},
        "labels": entries,
        "parameters": meta.get("params", {}),
        "timings": meta.get("timings", dict(getattr(explanation, "timings", {}) or {})),
        "warnings": list(meta.get("warnings", getattr(explanation, "warnings", ()) or ())),
        "style": None if style is None else asdict(style),
        "extra": None if extra is None else dict(extra),
        "sanity": sanity_meta,
        "versions": _versions(),
        "explanation": _tag_floats(meta),
        "arrays": {"file": arrays_path.name, "sha256": hashlib.sha256(packed).hexdigest(),
                   "shapes": {name: [list(a.shape), a.dtype.str] for name, a in arrays.items()}},
    }
    try:
        text = json.dumps(_json_safe(report), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ReportError(f"cannot be written: a value is not JSON-safe ({exc}); pass plain numbers, "
                          f"strings, lists and dicts in extra.", path=json_path) from None
    # The arrays go first so that a report never names arrays that are not there yet.
    _write_files([(arrays_path, lambda stream: stream.write(packed)),
                  (json_path, lambda stream: stream.write(text.encode("utf-8")))], force=force)
    return json_path


def load_report(json_path):
    """Read a report written by `save_report` back, without the model.

    Parameters
    ----------
    json_path : str or Path

    Returns
    -------
    explanation : LimeExplanation or CamExplanation
        Equal in weights and maps to the saved one, so it renders identically.
    info : dict
        The report's JSON, with ``info["style"]`` as an `OverlayStyle` (or None) and
        ``info["sanity"]`` as a `limelight.core.sanity.Sanity` (or None).

    Raises
    ------
    ReportError
        Naming the file, for a missing or unreadable report, a file that is not a Limelight report
        or comes from a newer version, or arrays that are missing, corrupt or belong to another
        report.
    """
    json_path = Path(json_path)
    try:
        text = read_text(json_path, error=ReportError)
    except ReportError as exc:
        if exc.reason == "file not found":
            raise ReportError("no such report; check the path.", path=json_path) from None
        raise ReportError(f"{exc.reason}; check that it is a Limelight .json report.", path=json_path) from None
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"is not valid JSON ({exc.msg} at line {exc.lineno}); it is damaged or not a "
                          f"Limelight report.", path=json_path) from None
    except RecursionError:
        raise ReportError("is not valid JSON (nested too deeply); it is damaged or not a Limelight report.",
                          path=json_path) from None
    if not isinstance(info, dict) or info.get("format") != REPORT_FORMAT:
        raise ReportError("is not a Limelight report; open a .json file saved by Limelight.", path=json_path)
    if not isinstance(info.get("version"), int) or info["version"] > REPORT_VERSION:
        raise ReportError(f"was saved by a newer Limelight (report version {info.get('version')!r}); "
                          f"update Limelight to open it.", path=json_path)
    try:
        kind, meta, arrays_info = info["kind"], info["explanation"], info["arrays"]
        arrays_name, digest, shapes = arrays_info["file"], arrays_info["sha256"], arrays_info["shapes"]
    except (KeyError, TypeError):
        raise ReportError("lacks its explanation or arrays entry; it is damaged, save it again.",
                          path=json_path) from None
    if not isinstance(meta, dict):
        raise ReportError("holds no readable explanation record; it is damaged, save it again.", path=json_path)
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ReportError(f"holds an explanation of unknown kind {kind!r}; update Limelight to open it.",
                          path=json_path)
    # Arrays must sit beside the report: a name with a folder in it could point anywhere, and one
    # with control characters would break the one-line messages that name it.
    if (not isinstance(arrays_name, str) or Path(arrays_name).name != arrays_name
            or arrays_name in ("", ".", "..") or not arrays_name.isprintable()):
        raise ReportError(f"names its arrays {arrays_name!r}, which is not a file beside it; it is damaged.",
                          path=json_path)
    arrays_path = json_path.with_name(arrays_name)
    arrays = _read_arrays(arrays_path, digest, shapes)
    sanity_arrays = {name[len(_SANITY_PREFIX):]: arrays.pop(name) for name in list(arrays)
                     if name.startswith(_SANITY_PREFIX)}
    module_name, class_name = _KINDS[kind]
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        explanation = cls.from_record(_untag_floats(meta), arrays)
        for label in explanation.labels:
            # Weights that cannot be drawn over their own superpixels mean mismatched arrays.
            weights = np.asarray(explanation.weight_map(label))
            segments = explanation.segments
            if segments is not None and weights.shape != segments.shape:
                raise ReportError("its weight map does not fit its superpixels.")
        # The JSON's per-superpixel weights are what people and other tools read: they must
        # describe the same superpixels as the arrays.
        count = getattr(explanation, "num_segments", None)
        listed = [entry["superpixel_weights"] for entry in info.get("labels", [])
                  if isinstance(entry, dict) and "superpixel_weights" in entry]
        if count is not None and any(len(weights) != count for weights in listed):
            raise ReportError(f"its JSON lists superpixel weights that do not match its {count} "
                              f"superpixels; it is damaged, save it again.")
    except (LimelightError, KeyError, TypeError, ValueError, IndexError, AttributeError,
            RecursionError) as exc:
        if isinstance(exc, LimelightError):
            # The explanation class's own sentence already says what to do.
            raise ReportError(f"does not hold a usable {kind} explanation: {exc.reason}", path=json_path) from None
        raise ReportError(f"does not hold a usable {kind} explanation ({exc!r}); compute the explanation "
                          f"again and save it anew.", path=json_path) from None
    info["style"] = _style(info.get("style"), json_path)
    info["sanity"] = _sanity(info.get("sanity"), sanity_arrays, json_path)
    return explanation, info


def output_name(image_path, label_name, label_index, method):
    """The one name of what is saved for an image, class and method: ``<stem>_<class slug>_<index>_<method>``.

    The class index is always in it: two classes may share a name ("crane" twice in ImageNet,
    "Cardigan" and "cardigan"), and a name alone would let one overwrite the other.

    Parameters
    ----------
    image_path : str or Path
        The explained image; its name without extension starts the name.
    label_name : str
        The class name, turned into a file-name-safe slug ("Golden retriever" -> "golden_retriever").
    label_index : int
    method : str
        A key of `limelight.core.methods.METHODS`, written as `method_file_part` gives it.
    """
    slug = re.sub(r"[^0-9a-z]+", "_", str(label_name).lower()).strip("_") or "class"
    method = re.sub(r"[^0-9a-z]+", "_", method_file_part(str(method).lower())).strip("_")
    return f"{Path(image_path).stem}_{slug}_{int(label_index)}_{method}"


def output_paths(out_dir, image_path, label_name, label_index, method, *, extension=".png"):
    """The files saved for one image, class and method, all named by `output_name`.

    Parameters
    ----------
    out_dir : str or Path
        The output folder.
    image_path, label_name, label_index, method
        As for `output_name`.
    extension : str
        The annotated image's format, one of `IMAGE_FORMATS`.

    Returns
    -------
    dict of str to Path
        ``image`` (annotated overlay), ``json`` (report), ``arrays`` (.npz beside the report) and
        ``figure`` (side-by-side PNG).
    """
    extension = extension if extension.startswith(".") else f".{extension}"
    if extension.lower() not in IMAGE_FORMATS:
        raise ReportError(f"cannot save annotated images as {extension!r}; choose one of "
                          f"{', '.join(IMAGE_FORMATS)}.")
    base = Path(out_dir) / output_name(image_path, label_name, label_index, method)
    return {"image": base.with_name(base.name + extension), "json": base.with_name(base.name + ".json"),
            "arrays": base.with_name(base.name + ".npz"), "figure": base.with_name(base.name + "_figure.png")}


# --- Writing files atomically ------------------------------------------------------------------

def _write_files(targets, *, force):
    """Write each (path, write(stream)) through a temporary file and os.replace, all or nothing."""
    for path, _ in targets:
        _check_target(path, force)
    temps, replaced = [], []
    path = targets[0][0]
    try:
        for path, write in targets:
            # A hidden name in the same folder, so os.replace is a rename on one file system; opened
            # with "x" so it never clobbers anything and gets the user's normal permissions.
            temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
            try:
                stream = open(temp, "xb")
            except OSError as exc:
                raise ReportError(f"cannot write in this folder ({exc.strerror or exc}); choose another "
                                  f"output folder.", path=path.parent) from None
            temps.append(temp)
            with stream:
                try:
                    write(stream)
                except OSError as exc:
                    raise ReportError(f"could not be written ({exc.strerror or exc}); check the free "
                                      f"disk space.", path=path) from None
                except Exception as exc:
                    raise ReportError(f"could not be written ({exc}).", path=path) from exc
        for (path, _), temp in zip(targets, temps):
            existed = path.exists()
            os.replace(temp, path)
            if not existed:
                replaced.append(path)
    except BaseException as exc:
        # Leave nothing half-done: no temporaries, and none of this save's new files.
        for name in [*temps, *replaced]:
            try:
                os.unlink(name)
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise ReportError(f"could not be written ({exc.strerror or exc}); choose another output folder.",
                              path=path) from None
        raise


def _check_target(path, force):
    folder = path.parent
    if not folder.is_dir():
        raise ReportError("this folder does not exist; create it or choose another output folder.", path=folder)
    if path.is_dir():
        raise ReportError("is a folder; choose a file name.", path=path)
    if path.exists() and not force:
        raise ReportError("already exists; pass --force to overwrite.", path=path)
    if not os.access(folder, os.W_OK):
        raise ReportError("this folder is not writable; choose another output folder.", path=folder)


def _format(path, formats, what):
    extension = path.suffix.lower()
    if extension not in formats:
        raise ReportError(f"cannot save a {what} as {extension or 'a file without extension'!r}; use one of "
                          f"{', '.join(formats)}.", path=path)
    return formats[extension]


def _check_rgb(image, path):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape:
        raise ReportError(f"cannot save an image of shape {image.shape} and dtype {image.dtype}; it must be "
                          f"RGB (rows, cols, 3) uint8, as render() returns.", path=path)
    return np.ascontiguousarray(image)


# --- Reading ----------------------------------------------------------------------------------

def _read_arrays(path, digest, shapes):
    try:
        stream = open_regular_file(path, error=ReportError, max_bytes=MAX_ARRAY_BYTES)
    except ReportError as exc:
        if exc.reason == "file not found":
            raise ReportError("the report's arrays are missing; keep the .npz beside its .json.", path=path) from None
        raise
    with stream:
        try:
            matches = hashlib.file_digest(stream, "sha256").hexdigest() == digest
        except OSError as exc:
            raise ReportError(f"cannot be read ({exc.strerror or exc}).", path=path) from None
        if not matches:
            raise ReportError("does not match its report (it was changed, damaged or belongs to another report); "
                              "save the report again.", path=path)
        try:
            # Sizes from the zip directory and the .npy headers first: a few KB may declare gigabytes.
            with zipfile.ZipFile(stream) as archive:
                members = check_zip_members(archive, path=path, error=ReportError, max_unpacked=MAX_ARRAY_BYTES)
                check_npz_arrays(archive, members, path=path, error=ReportError)
            stream.seek(0)
            with np.load(stream, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except ReportError:
            raise
        except Exception as exc:  # zipfile, pickle refusals and format errors all mean a damaged file
            raise ReportError(f"is not a readable array archive ({exc}); save the report again.", path=path) from None
    try:
        expected = {name: (tuple(shape), dtype) for name, (shape, dtype) in shapes.items()}
    except (AttributeError, TypeError, ValueError):
        raise ReportError("the report lists its arrays wrongly; it is damaged, save it again.", path=path) from None
    found = {name: (a.shape, a.dtype.str) for name, a in arrays.items()}
    if found != expected:
        raise ReportError("holds other arrays than its report lists; save the report again.", path=path)
    return arrays


def _style(saved, json_path):
    if saved is None:
        return None
    try:
        return OverlayStyle(**{name: tuple(value) if isinstance(value, list) else value
                               for name, value in saved.items()})
    except (TypeError, AttributeError, ExplanationError) as exc:
        # The reason can quote the file's own keys, newlines and all: keep the message one line.
        raise ReportError(f"holds display settings this version cannot use ({' '.join(str(exc).split())}); "
                          f"delete its 'style' entry to open it with the defaults.", path=json_path) from None


def _sanity(saved, arrays, json_path):
    if saved is None:
        return None
    from limelight.core.sanity import Sanity

    try:
        return Sanity.from_record(saved, arrays)
    except (LimelightError, KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        reason = exc.reason if isinstance(exc, LimelightError) else repr(exc)
        raise ReportError(f"holds a sanity check this version cannot read ({' '.join(reason.split())}); delete its "
                          f"'sanity' entry to open it without.", path=json_path) from None


# --- Report contents ------------------------------------------------------------------------

def _label_numbers(explanation, label):
    """Return the model's probability for `label` and the fit's R^2, None where unknown."""
    def lookup(name):
        value = getattr(explanation, name, None)
        if isinstance(value, Mapping):
            value = value.get(int(label))
        return float(value) if _is_number(value) else None

    probability = lookup("probabilities")
    if probability is None:
        probability = lookup("probability")
    return probability, lookup("scores")


def _trust(explanation, label):
    """The explanation's stability and faithfulness for `label`, in words and numbers people read.

    The full scores (curves included) are in the explanation's own record; this is the summary.
    """
    trust = {}
    stability = (getattr(explanation, "stability", None) or {}).get(int(label))
    if stability is not None:
        trust["stability"] = {"value": stability.value, "word": stability.word, "hint": stability.hint,
                              "k": stability.k, "num_samples": stability.num_samples,
                              "num_segments": stability.num_segments, "jaccard": stability.jaccard,
                              "tie_delta": stability.tie_delta}
        weights = getattr(explanation, "weights", {}).get(int(label))
        if weights is not None:
            trust["stability"]["tied_superpixels"] = [int(i) for i in tied_places(weights, stability.k,
                                                                                 tie_delta=stability.tie_delta)]
            trust["stability"]["tie"] = describe_tie(weights, stability.k, tie_delta=stability.tie_delta)
        stopped = (explanation.params.get("auto") or {}).get("stopped")
        if stopped:
            trust["stability"]["stopped"] = stopped
    elif getattr(explanation, "stability_note", ""):
        # A deterministic map: a rerun repeats it exactly, so there is no stability to measure.
        trust["stability"] = {"value": None, "word": "n/a", "note": explanation.stability_note}
    curves = (getattr(explanation, "faithfulness", None) or {}).get(int(label))
    if curves is not None:
        trust["faithfulness"] = {"deletion_auc": curves.deletion_auc, "insertion_auc": curves.insertion_auc,
                                 "random_auc": curves.random_auc}
    return trust


def _superpixel_weights(explanation, label):
    segments = np.asarray(explanation.segments)
    weights = getattr(explanation, "weights", None)
    if isinstance(weights, Mapping) and int(label) in weights:
        return np.asarray(weights[int(label)], dtype=np.float64)
    per_pixel = np.asarray(explanation.weight_map(label), dtype=np.float64)
    table = np.zeros(int(segments.max()) + 1)
    table[segments.ravel()] = per_pixel.ravel()
    return table


def _label_names(label_names, labels):
    if label_names is None:
        return {}
    if isinstance(label_names, Mapping):
        return {label: str(label_names[label]) for label in labels if label in label_names}
    names = list(getattr(label_names, "names", label_names))
    return {label: str(names[label]) for label in labels if 0 <= label < len(names)}


def _versions():
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _json_safe(value):
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        # JSON has no NaN: an undefined R^2 is saved as null.
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _tag_floats(value):
    """Spell non-finite floats as {"__float__": "nan"}, so the explanation round-trips in strict JSON."""
    if isinstance(value, Mapping):
        return {str(k): _tag_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tag_floats(v) for v in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return {_FLOAT_TAG: repr(float(value))}
    return value


def _untag_floats(value):
    if isinstance(value, dict):
        if set(value) == {_FLOAT_TAG} and value[_FLOAT_TAG] in ("nan", "inf", "-inf"):
            return float(value[_FLOAT_TAG])
        return {k: _untag_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag_floats(v) for v in value]
    return value


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and math.isfinite(
        float(value))


def _share(mask):
    return f"{100.0 * float(np.mean(mask)):.0f}%"


def _shrink(image, longest):
    rows, cols = image.shape[:2]
    if max(rows, cols) <= longest:
        return image
    scale = longest / max(rows, cols)
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
