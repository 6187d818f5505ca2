"""The one explain, export and reopen path that the command line, the window and batch runs all call."""
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from limelight.core.caption import caption_lines, method_of, render_with_caption
from limelight.core.errors import ExplanationError, LimelightError, ReportError
from limelight.core.images import frame_image, load_image
from limelight.core.methods import DEFAULT_NOISE, GRADIENT_METHODS, METHODS, NOISY_METHODS, SUPERPIXEL_METHODS
from limelight.core.overlay import heatmap_scale, render
from limelight.core.report import load_report, output_paths, save_annotated, save_figure, save_report
from limelight.core.scores import MAX_SAMPLES, SAMPLE_BATCH_SIZE
from limelight.core.segmentation import SEGMENTATION_DEFAULTS, segment, segmentation_params

__all__ = ["BUILTIN_PREFIX", "MIN_SAMPLES", "SAMPLED_DEFAULTS", "ExplainRequest", "ModelInfo", "model_info",
           "PredictionCaches", "explain", "extend", "check_sanity", "export_paths", "export", "captioned", "write_report",
           "OpenedReport",
           "open_report"]

#: A model source naming a built-in model rather than a file: this prefix and the model's name.
BUILTIN_PREFIX = "builtin:"
#: The fewest samples a fixed LIME run may use (the engine refuses fewer).
MIN_SAMPLES = 10
#: What num_samples="auto" means for the methods that draw a fixed number of masks or noisy copies:
#: 1000 masks (LIME's "auto" stops at 250 to 4000), and SmoothGrad's 50 copies (Smilkov et al.).
SAMPLED_DEFAULTS = {"kernelshap": 1000, "rise": 1000, "smoothgrad": 50, "smoothgrad-squared": 50, "vargrad": 50}
#: Prediction caches kept, one per (model, image, segmentation, hide mode): the last few images.
#: Each holds every class's probability per sample, 16 MB for 1000 classes and 4000 samples.
MAX_PREDICTION_CACHES = 4


# --- What to explain with --------------------------------------------------------------------

@dataclass(frozen=True)
class ExplainRequest:
    """What to explain with: the method and all its parameters, an immutable value.

    Attributes
    ----------
    method : str
        One of `limelight.core.methods.METHODS`.
    segmentation : str
        The superpixel algorithm (LIME's regions, and the regions faithfulness hides), a key of
        ``SEGMENTATION_DEFAULTS``.
    segmentation_params : tuple of (str, value) pairs
        The algorithm's parameters; a dict is accepted and stored as its items, so the request
        stays hashable. Parameters left out take the algorithm's defaults for the image's size.
    num_samples : int or "auto"
        LIME's perturbed images: a fixed number, or "auto" to sample until the top superpixels
        are stable (see `limelight.core.lime.explain_lime`). KernelSHAP's and RISE's masks, and
        SmoothGrad's, SmoothGrad²'s and VarGrad's noisy copies, likewise; "auto" gives them their
        defaults (`SAMPLED_DEFAULTS`).
    max_samples : int
        The most samples "auto" draws.
    batch_size : int
        How many perturbed images go to the model at once (LIME, Score-CAM, faithfulness).
    hide : str or (int, int, int)
        How a switched-off superpixel is hidden, one of ``limelight.core.lime.HIDE_MODES`` or a colour.
    kernel_width : float
        Width of LIME's proximity kernel.
    seed : int or None
        LIME's random seed; None draws a new one each run.
    layer : str, int or None
        The CAM layer (a path, a unique name or an index); None picks the last convolutional layer.
    use_logits, relu, counterfactual : bool
        CAM: explain the pre-softmax score, keep only positive evidence, and map the evidence
        against the class instead.
    resample : {"bilinear", "box", "lanczos"}
        CAM: how the layer-resolution map is upscaled.
    baseline : str or (int, int, int)
        Integrated Gradients' starting image, one of ``limelight.core.methods.BASELINES`` or a colour.
    noise : float
        SmoothGrad's, SmoothGrad²'s and VarGrad's noise, a share of the input's range, at least 0
        (0 gives the plain gradients); their number of copies is `num_samples`.
    faithfulness : bool or None
        Also measure the deletion and insertion curves (about 100 model calls). None takes the
        method's default, on for LIME and off for CAM; a value equal to the default is stored as
        None, so that equal requests compare equal. `measures_faithfulness` says which applies.

    Raises
    ------
    ExplanationError
        For an unknown method or segmentation, or sample counts the engine refuses.
    """

    method: str = "lime"
    segmentation: str = "quickshift"
    segmentation_params: tuple = tuple(SEGMENTATION_DEFAULTS["quickshift"].items())
    num_samples: int | str = "auto"
    max_samples: int = MAX_SAMPLES
    batch_size: int = SAMPLE_BATCH_SIZE
    hide: str | tuple = "mean"
    kernel_width: float = 0.25
    seed: int | None = 0
    layer: str | int | None = None
    use_logits: bool = True
    relu: bool = True
    counterfactual: bool = False
    resample: str = "bilinear"
    baseline: str | tuple = "black"
    noise: float = DEFAULT_NOISE
    faithfulness: bool | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ExplanationError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}.")
        if self.segmentation not in SEGMENTATION_DEFAULTS:
            raise ExplanationError(f"segmentation must be one of {', '.join(SEGMENTATION_DEFAULTS)}, "
                                   f"not {self.segmentation!r}.")
        # The engine's own words (limelight.core.lime), so a refusal reads the same from every caller.
        samples = self.num_samples
        if samples != "auto" and not _whole(samples, MIN_SAMPLES):
            raise ExplanationError(f"num_samples must be 'auto' or a whole number of at least {MIN_SAMPLES}, "
                                   f"got {samples!r}.")
        if not _whole(self.max_samples, MIN_SAMPLES):
            raise ExplanationError(f"max_samples must be a whole number of at least {MIN_SAMPLES}, "
                                   f"got {self.max_samples!r}.")
        # The engine's own words (limelight.core.gradients).
        if isinstance(self.noise, bool) or not (isinstance(self.noise, (int, float, np.number))
                                                and np.isfinite(self.noise) and self.noise >= 0):
            raise ExplanationError(f"noise must be a share of the input range of at least 0, not {self.noise!r}; "
                                   "the SmoothGrad paper uses 0.1 to 0.2")
        params = self.segmentation_params
        items = params.items() if isinstance(params, dict) else params
        object.__setattr__(self, "segmentation_params", tuple((str(k), v) for k, v in items))
        if self.faithfulness is not None and bool(self.faithfulness) == (self.method in SUPERPIXEL_METHODS):
            object.__setattr__(self, "faithfulness", None)

    @property
    def measures_faithfulness(self) -> bool:
        """Whether the deletion and insertion curves are measured: the request's choice or the method's default."""
        return self.method in SUPERPIXEL_METHODS if self.faithfulness is None else bool(self.faithfulness)

    def params(self) -> dict:
        """Return the segmentation parameters as a dict."""
        return dict(self.segmentation_params)

    def key(self) -> tuple:
        """Return a hashable value that is equal for requests giving the same explanation.

        Only the chosen method's parameters count, so changing a LIME seed does not make a cached
        Grad-CAM map stale; batch sizes change speed, not results, and are left out.
        """
        regions = (self.segmentation, self.segmentation_params, self.hide)
        if self.method in SUPERPIXEL_METHODS:
            return (self.method, *regions, self.num_samples, self.max_samples if self.is_auto() else None,
                    self.kernel_width if self.method == "lime" else None, self.seed, self.measures_faithfulness)
        if self.method in GRADIENT_METHODS:
            return (self.method, self.use_logits, self.num_samples, self.seed, self.baseline,
                    self.noise if self.method in NOISY_METHODS else None,
                    self.measures_faithfulness, regions if self.measures_faithfulness else None)
        return (self.method, self.layer, self.use_logits, self.relu, self.counterfactual, self.resample,
                self.measures_faithfulness, regions if self.measures_faithfulness else None)

    def is_auto(self) -> bool:
        """Return whether this is a LIME run that samples until stable."""
        return self.method == "lime" and self.num_samples == "auto"


def _whole(value, least) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= least


# --- What is known of a model ----------------------------------------------------------------

@dataclass(frozen=True)
class ModelInfo:
    """What callers need to know about a loaded model, read once, without touching TensorFlow again."""

    source: str
    """Where the model came from: a file path or folder, or `BUILTIN_PREFIX` and a built-in's name."""
    name: str
    """What the model is called: a built-in's title or the file's name. Reports record it as the model's name."""
    input_size: tuple
    channels: int
    num_classes: int
    parameter_count: int
    class_names: tuple
    preprocessing: str
    preprocessing_guessed: bool
    resize: str
    labels_path: str | None
    labels_assumed: bool
    layers: tuple
    trusted: bool = False
    sha256: str | None = None
    """The content hash of a model that needed trust to load."""
    runtime: str = ""
    """What runs the forward passes, e.g. "LiteRT" or "Keras (why not LiteRT)"."""
    seconds: float = field(default=0.0, compare=False)
    """How long loading took, its first trace included."""

    @property
    def builtin(self) -> bool:
        return self.source.startswith(BUILTIN_PREFIX)

    def class_name(self, index: int) -> str:
        """The name of class `index`, or "class <index>" where the model names none."""
        index = int(index)
        return self.class_names[index] if 0 <= index < len(self.class_names) else f"class {index}"


def model_info(model, *, sha256=None) -> ModelInfo:
    """Everything there is to show and record about a loaded `model` (a ClassifierModel)."""
    try:
        from limelight.core.cam import candidate_layers

        layers = tuple(info.path for info in candidate_layers(model))
    except LimelightError:
        layers = ()
    settings = model.settings
    return ModelInfo(
        source=model.source, name=model.name, input_size=tuple(model.input_size),
        channels=model.channels, num_classes=model.num_classes,
        parameter_count=model.parameter_count, class_names=tuple(model.labels.names),
        preprocessing=settings.preprocessing,
        preprocessing_guessed=bool(settings.preprocessing_guessed), resize=settings.resize,
        labels_path=settings.labels_path, labels_assumed=bool(getattr(model.labels, "assumed", False)),
        layers=layers, trusted=sha256 is not None, sha256=sha256, runtime=model.runtime.description)


# --- Explaining ----------------------------------------------------------------------------

class PredictionCaches:
    """The model's predictions on perturbed copies of the last few images, so none is predicted twice.

    One `limelight.core.lime.PredictionCache` per (model, image, segmentation, hide mode); the
    oldest goes when there are more than `size`. Not thread-safe: one thread uses it.
    """

    def __init__(self, size: int = MAX_PREDICTION_CACHES):
        self._size = size
        self._caches: OrderedDict = OrderedDict()

    def __len__(self) -> int:
        return len(self._caches)

    def get(self, model, prepared, segments, segmentation, params, hide):
        """Return the cache for `model` and the model-ready image `prepared` cut into `segments`.

        `segmentation` and `params` are how `segments` were made: the same ones always give the
        same segments, so they (not the segments) identify the cache.
        """
        from limelight.core.lime import PredictionCache

        # The model by its predict, as the cache itself checks it; the image by content, not by path.
        key = (model.predict, hashlib.sha256(np.ascontiguousarray(prepared)).hexdigest(), segmentation,
               tuple(params), hide)
        cache = self._caches.get(key)
        if cache is None:
            cache = self._caches[key] = PredictionCache(model.predict, prepared, segments, hide=hide)
            while len(self._caches) > self._size:
                self._caches.popitem(last=False)
        self._caches.move_to_end(key)
        return cache


def explain(photo, model, request: ExplainRequest, *, target=None, also_top_classes=0, caches=None,
            progress=None, cancelled=None) -> dict:
    """Explain a photo's prediction with the method and parameters of `request`.

    Parameters
    ----------
    photo : ndarray of shape (rows, cols, 3), uint8
        The whole photo; the model sees `model.frame(photo)` at its input size.
    model : ClassifierModel
    request : ExplainRequest
    target : int, sequence of int or None
        The classes to explain, the first one foremost (LIME's "auto" stops when it is stable);
        None explains the most probable class.
    also_top_classes : int
        LIME, KernelSHAP and RISE also explain this many of the most probable classes, from the
        same samples and so at almost no cost, which lets a viewer switch class without a new run.
        The maps ignore it.
    caches : PredictionCaches, optional
        Keeps the model's predictions for later runs on the same photo.
    progress, cancelled : callable, optional
        ``progress(done, total)`` after each batch; ``cancelled()`` polled before each batch.

    Returns
    -------
    dict of int to explanation
        Each class asked for, in order, and its explanation. One LIME run explains them all, so
        they share one `LimeExplanation`; CAM makes one `CamExplanation` per class. Faithfulness
        is measured for these classes when ``request.measures_faithfulness``.

    Raises
    ------
    ExplanationError
        For parameters the engine refuses; `limelight.core.errors.Cancelled` when cancelled.
    """
    if not isinstance(request, ExplainRequest):
        raise ExplanationError(f"request must be an ExplainRequest, not {type(request).__name__}.")
    caches = caches if caches is not None else PredictionCaches(1)
    prepared = model.prepare(photo)
    targets = [] if target is None else [int(target)] if np.ndim(target) == 0 else [int(t) for t in target]
    if not targets and target is not None:
        raise ExplanationError("target is empty; give the classes to explain, or None for the most probable.")

    def regions():
        """The request's superpixels, every parameter that made them, and the predictions cached on them."""
        # Quickshift's parameters scaled to a small image included, so the report says them.
        params = segmentation_params(prepared, method=request.segmentation, **request.params())
        segments = segment(prepared, method=request.segmentation, **params)
        return params, segments, caches.get(model, prepared, segments, request.segmentation,
                                            request.segmentation_params, request.hide)

    if request.method in SUPERPIXEL_METHODS:
        from limelight.core.lime import explain_lime
        from limelight.core.perturbation import explain_kernelshap, explain_rise

        top = []
        if not targets or also_top_classes:
            probabilities = model.predict(prepared[None])[0]
            top = [int(i) for i in np.argsort(probabilities)[::-1][:max(1, also_top_classes)]]
        targets = targets or top[:1]
        params, segments, cache = regions()
        if request.method == "lime":
            explain_superpixels = explain_lime
            options = {"num_samples": request.num_samples, "max_samples": request.max_samples,
                       "kernel_width": request.kernel_width}
        else:
            explain_superpixels = explain_kernelshap if request.method == "kernelshap" else explain_rise
            options = {"num_samples": _sampled(request)}
        explanation = explain_superpixels(
            prepared, model.predict, segments=segments,
            labels=[*targets, *(label for label in top[:also_top_classes] if label not in targets)],
            batch_size=request.batch_size, hide=request.hide, random_state=request.seed,
            segmentation={"method": request.segmentation, **params},
            faithfulness=list(targets) if request.measures_faithfulness else False,
            cache=cache, progress=progress, cancelled=cancelled, **options)
        return dict.fromkeys(targets, explanation)

    from limelight.core.scores import add_faithfulness

    if request.method in GRADIENT_METHODS:
        from limelight.core.gradients import explain_gradients

        sampled = {"num_samples": _sampled(request), "noise": request.noise} if request.method in NOISY_METHODS else {}

        def explain_map(label):
            return explain_gradients(prepared, model, method=request.method, target=label,
                                     use_logits=request.use_logits, baseline=request.baseline, random_state=request.seed, progress=progress,
                                     cancelled=cancelled, **sampled)
    else:
        from limelight.core.cam import explain_cam

        def explain_map(label):
            return explain_cam(prepared, model, method=request.method, target=label, layer=request.layer,
                               use_logits=request.use_logits, relu=request.relu,
                               counterfactual=request.counterfactual, resample=request.resample,
                               batch_size=request.batch_size, progress=progress, cancelled=cancelled)

    cache = regions()[2] if request.measures_faithfulness else None
    explanations = {}
    for label in targets or [None]:
        explanation = explain_map(label)
        if cache is not None:
            # The request's superpixels, ranked by the map's mean inside each.
            explanation = add_faithfulness(explanation, cache, [explanation.target], cancelled=cancelled)
        explanations[explanation.target] = explanation
    return explanations


def extend(photo, model, explanation, request: ExplainRequest, *, target, num_samples, caches=None,
           progress=None, cancelled=None):
    """Go on from a LIME explanation of a photo with its own samples: `num_samples` in all, `target` explained too.

    What `explain` gives for the same request with `num_samples`, but samples predicted before (kept
    in `caches`) are not sent to the model again: with as many samples and a class already
    explained, only the class's faithfulness is measured.

    Parameters
    ----------
    photo : ndarray of shape (rows, cols, 3), uint8
        The photo `explanation` explains.
    model : ClassifierModel
    explanation : LimeExplanation
        A LIME explanation that `explain` made from `request`.
    request : ExplainRequest
    target : int
        The class to explain; its faithfulness is measured.
    num_samples : int
        The samples in all, at least the explanation's.
    caches : PredictionCaches, optional
        The caches `explain` used, so that its samples cost nothing.
    progress, cancelled : callable, optional
        As `explain`'s.

    Returns
    -------
    LimeExplanation
        Explaining the explanation's classes and `target`.
    """
    from limelight.core.lime import explain_lime
    from limelight.core.scores import add_faithfulness

    if explanation.method != "lime" or request.method != "lime":
        raise ExplanationError("samples can be added to a LIME explanation only.")
    if num_samples < explanation.num_samples:
        raise ExplanationError(f"num_samples must be at least the explanation's {explanation.num_samples}, "
                               f"got {num_samples}.")
    caches = caches if caches is not None else PredictionCaches(1)
    prepared = model.prepare(photo)
    cache = caches.get(model, prepared, explanation.segments, request.segmentation, request.segmentation_params,
                       request.hide)
    target = int(target)
    same_samples = num_samples == explanation.num_samples
    if same_samples and target in explanation.labels:
        return add_faithfulness(explanation, cache, [target], cancelled=cancelled)
    extended = explain_lime(
        prepared, model.predict, segments=explanation.segments,
        labels=[*explanation.labels, *([] if target in explanation.labels else [target])],
        num_samples=num_samples, batch_size=request.batch_size, hide=request.hide,
        kernel_width=explanation.params["kernel_width"], random_state=explanation.params["seed"],
        segmentation=explanation.params.get("segmentation"), faithfulness=[target], cache=cache,
        progress=progress, cancelled=cancelled)
    if same_samples:
        # The same samples give the other classes the same weights, so their curves still hold.
        extended = replace(extended, faithfulness={**explanation.faithfulness, **extended.faithfulness})
    return extended


def _sampled(request):
    """The masks or noisy copies a KernelSHAP, RISE or SmoothGrad-family request asks for."""
    return SAMPLED_DEFAULTS[request.method] if request.num_samples == "auto" else request.num_samples


# --- Exporting -----------------------------------------------------------------------------

def export_paths(folder, photo_path, target, model: ModelInfo, method, *, image_format="png", figure=True,
                 force=False, written_for=None) -> dict:
    """The files `export` writes for one photo and class, checked before anything is computed or written.

    Named by `limelight.core.report.output_paths`: ``image``, ``json``, ``arrays`` and, with
    `figure`, ``figure``.

    Raises
    ------
    ReportError
        When a file was written for another photo earlier in this run (`written_for` maps each
        file written to its photo: two photos called cat.jpg in two folders), even with `force`;
        or exists already and `force` is off.
    """
    paths = output_paths(folder, photo_path, model.class_name(target), target, method, extension=image_format)
    if not figure:
        del paths["figure"]
    for path in paths.values():
        if written_for and path in written_for:
            raise ReportError(f"was written for {written_for[path]} earlier in this run; give the photos "
                              "different names or save them to separate folders", path=path)
        if not force and path.exists():
            raise ReportError("already exists; pass --force to overwrite", path=path)
    return paths


def export(photo, explanation, model: ModelInfo, *, target, photo_path, folder, style, image_format="png",
           caption=False, figure=True, sanity=None, force=False, written_for=None) -> list:
    """Write what one explanation shows to `folder`: the annotated image, the report and its arrays, the figure.

    Parameters
    ----------
    photo : ndarray of shape (rows, cols, 3), uint8
        The whole photo; the annotated image and figure show the part the model saw.
    explanation : LimeExplanation or CamExplanation
    model : ModelInfo
        The model that made it (`model_info`).
    target : int
        The class to show.
    photo_path : str or Path
        The photo's file, recorded in the report; its name starts the files' names.
    folder : str or Path
    style : OverlayStyle
    image_format : str
        The annotated image's extension, one of `limelight.core.report.IMAGE_FORMATS`.
    caption : bool
        Write the method, class, probability and trust scores (and a heatmap's colour scale)
        under the annotated image.
    figure : bool
        Also write the side-by-side figure.
    sanity : Sanity, optional
        The sanity check of `target` (`check_sanity`), recorded in the report.
    force : bool
        Overwrite files of earlier runs.
    written_for : dict, optional
        The files this run has written so far and their photos, updated here; see `export_paths`.

    Returns
    -------
    list of Path
        The files written: image, report, arrays and figure.
    """
    paths = export_paths(folder, photo_path, target, model, method_of(explanation), image_format=image_format,
                         figure=figure, force=force, written_for=written_for)
    frame = frame_image(photo, model.input_size, model.resize)
    annotated = render(frame, explanation, target, style)
    if caption:
        annotated = captioned(annotated, explanation, target, style, label_name=model.class_name(target),
                              model_name=model.name)
    save_annotated(paths["image"], annotated, force=force)
    write_report(paths["json"], explanation, model, target=target, photo_path=photo_path, style=style,
                 sanity=sanity, force=force)
    if figure:
        save_figure(paths["figure"], frame, explanation, target, style, label_name=model.class_name(target),
                    model_name=model.name, force=force)
    if written_for is not None:
        written_for.update(dict.fromkeys(paths.values(), str(photo_path)))
    return list(paths.values())


def captioned(annotated, explanation, target, style, *, label_name, model_name):
    """`annotated` with the method, class, probability and trust scores (and a heatmap's colour scale) under it."""
    lines = caption_lines(explanation, target, label_name=label_name, model_name=model_name)
    scale = heatmap_scale(explanation, target, style) if style.display == "heatmap" else None
    return render_with_caption(annotated, lines, scale=scale)


def write_report(json_path, explanation, model: ModelInfo, *, target, photo_path, style, sanity=None, force=False):
    """Save the JSON report (its arrays beside it) with all `open_report` needs to show it again.

    The report's ``model.name`` is the model's name (`ModelInfo.name`) and ``model.source`` where
    it came from; ``extra`` holds how the photo was framed (``resize``) and the class shown (``target``).
    """
    return save_report(json_path, explanation, image_path=str(photo_path), model_name=model.name,
                       model_source=model.source, preprocessing=model.preprocessing,
                       label_names=list(model.class_names), style=style,
                       extra={"resize": model.resize, "target": int(target)}, sanity=sanity, force=force)


# --- Sanity --------------------------------------------------------------------------------

def check_sanity(photo, model, explanation, request: ExplainRequest, *, target, steps=None, random_state=None,
                 caches=None, progress=None, cancelled=None, step=None):
    """The sanity check of `explanation`'s method for class `target` (see `limelight.core.sanity`).

    Each step explains the photo again through `explain`, with `request` as it made `explanation`:
    its seed and, for LIME, its number of samples (so "auto" does not stop elsewhere on a random
    model and every step sees the same samples), without faithfulness curves.

    Parameters
    ----------
    photo : ndarray of shape (rows, cols, 3), uint8
        The whole photo the explanation was made from.
    model : ClassifierModel
        The model that made it; it is not changed.
    explanation : explanation
        As `explain` returned it.
    request : ExplainRequest
        The request that made it.
    target : int
        One of the explanation's classes.
    steps : int, optional
        How many times the cascade stops; `limelight.core.sanity.STEPS` by default.
    caches : PredictionCaches, optional
        The predictions `explain` kept: the random-class map on the unchanged model reuses them
        (a LIME run on the explanation's own samples then costs no model call).
    random_state, progress, cancelled, step
        As for `limelight.core.sanity.check_sanity`.

    Returns
    -------
    Sanity
    """
    from limelight.core.sanity import STEPS
    from limelight.core.sanity import check_sanity as check

    target = int(target)
    if target not in explanation.labels:
        raise ExplanationError(f"the explanation does not explain class {target}; check one of "
                               f"{', '.join(map(str, explanation.labels))}.")
    samples = explanation.num_samples if request.method == "lime" else request.num_samples
    again = replace(request, faithfulness=False, seed=explanation.params.get("seed", request.seed), num_samples=samples)

    def explain_map(randomised, label, *, progress=None, cancelled=None):
        # A randomised copy's predictions are of no use later: they would only push the kept ones out.
        kept = caches if randomised is model else None
        return explain(photo, randomised, again, target=label, caches=kept, progress=progress,
                       cancelled=cancelled)[label].weight_map(label)

    return check(model, explain_map, target=target, method=request.method, original=explanation.weight_map(target),
                 steps=STEPS if steps is None else steps, random_state=random_state, progress=progress,
                 cancelled=cancelled, step=step)


# --- Reopening -----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class OpenedReport:
    """A report read back: its explanation of class `target` and the photo, whole and as the model saw it."""

    path: str
    info: dict
    image: np.ndarray
    frame: np.ndarray
    explanation: object
    target: int


def open_report(path) -> OpenedReport:
    """Read a report written by `write_report`, with the photo it explains; no model needed.

    The photo is looked for where the report says, then beside the report, and framed as the
    model saw it (the report's ``extra.resize``; reports without it were stretched).

    Raises
    ------
    ReportError
        For a report that cannot be read, or whose photo is missing.
    """
    explanation, info = load_report(path)
    image_info = info.get("image") if isinstance(info.get("image"), dict) else {}
    extra = info.get("extra") if isinstance(info.get("extra"), dict) else {}
    saved = Path(str(image_info.get("path") or image_info.get("name") or ""))
    folder = Path(path).parent
    candidates = [saved if saved.is_absolute() else folder / saved, folder / saved.name]
    photo = next((c for c in candidates if saved.name and c.is_file()), None)
    if photo is None:
        raise ReportError(f"the photo it explains ({saved.name or 'not named'}) is missing; put it back "
                          f"where it was or beside the report.", path=path)
    image = load_image(photo)
    target = extra.get("target", explanation.labels[0])
    if target not in explanation.labels:
        target = explanation.labels[0]
    frame = frame_image(image, np.shape(explanation.weight_map(target)), extra.get("resize", "stretch"))
    info = dict(info, image=dict(image_info, path=str(photo)))
    return OpenedReport(str(path), info, image, frame, explanation, int(target))
