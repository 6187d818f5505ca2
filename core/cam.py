"""Grad-CAM, Grad-CAM++, HiResCAM, Layer-CAM and Score-CAM heatmaps for Keras image classifiers, nested models included."""
from __future__ import annotations

import dataclasses
import inspect
import re
import time
import weakref
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Mapping

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from limelight.core.errors import Cancelled, ExplanationError
from limelight.core.scores import SAMPLE_BATCH_SIZE, Faithfulness, frozen_scores

__all__ = ["CAM_METHODS", "RESAMPLE", "LayerInfo", "CamExplanation", "candidate_layers", "explain_cam",
           "layercam_layers"]

#: The class activation map methods `explain_cam` makes (keys of `limelight.core.methods.METHODS`).
CAM_METHODS = ("gradcam", "gradcam++", "hirescam", "layercam", "scorecam")
#: Layer-CAM fuses the maps of this many stages (resolutions) by default, and scales each map with
#: tanh(LAYERCAM_GAMMA * map / max) before fusing, as Jiang et al. (2021) do with gamma 2.
LAYERCAM_STAGES = 3
LAYERCAM_GAMMA = 2.0
RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR,
    "box": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}
# How the score that the gradients start from was obtained; recorded in CamExplanation.params.
CLASS_SCORE_SOURCES = {
    "model-logits": "the model outputs logits",
    "dense-logits": "the final Dense layer's kernel and bias applied without its activation",
    "activation-input": "the input of the final softmax/sigmoid layer",
    "log-probability": "the log of the model's probability (the softmax is not separable), or a "
                       "sigmoid's log-odds",
    "probability": "the model's probability",
}
# Keeps Score-CAM's min-max normalisation finite.
_EPS = 1e-7
# The name scope layers run in; any valid top-level scope name would do.
_SCOPE = "limelight"
# Longest list of layer names an error message spells out.
_MAX_LISTED = 30


@dataclass(frozen=True)
class LayerInfo:
    """A layer whose output is a 4-D feature map, so it can host a class activation map.

    Attributes
    ----------
    name : str
        The layer's own name.
    path : str
        Names from the outermost nested model down to the layer, joined by "/", e.g.
        "mobilenetv2_1.00_224/block_16_project"; equal to `name` for a top-level layer.
    output_shape : tuple of int
        (rows, cols, channels) of the feature map, without the batch axis.
    leading_tokens : int or None
        None for a 4-D feature map. For a transformer block's tokens, of shape
        (batch, leading_tokens + rows * cols, channels), how many tokens come before the patch
        tokens (1 for a class token); the patch tokens are reshaped to (rows, cols), as
        pytorch-grad-cam's ``reshape_transform`` does.
    """

    name: str
    path: str
    output_shape: tuple[int, int, int]
    leading_tokens: int | None = None


@dataclass(frozen=True, eq=False)
class CamExplanation:
    """A class activation map and the parameters that made it; arrays are read-only.

    Attributes
    ----------
    method : str
        One of `METHODS`.
    heatmap : ndarray of shape (h, w), float32
        The map at the layer's resolution (a fused Layer-CAM's at its finest layer's);
        non-negative unless made with ``relu=False``.
        With ``counterfactual=True`` it is large where the image speaks against the class.
    input_heatmap : ndarray of shape (rows, cols), float32
        `heatmap` resampled to the model's input resolution.
    layer : str
        Path of the layer used (see `LayerInfo.path`).
    target : int
        The explained class index.
    class_score : float
        The value of the class score the map follows, obtained as ``params["class_score_source"]``
        says: the logit, or the probability (with ``use_logits=False``, and always for Score-CAM,
        which weighs its masks by the probability).
    probability : float
        The model's probability for `target` on the unmasked image.
    timings : mapping of str to float
        Seconds spent in forward (activations and gradients) and total.
    params : mapping
        The options that made the map, JSON-safe, with ``class_score_source`` saying how the score
        was obtained (one of `CLASS_SCORE_SOURCES`).
    faithfulness : mapping of int to Faithfulness
        The deletion and insertion curves of `target` over superpixels, when measured with
        `limelight.core.scores.add_faithfulness` (they cost about 100 model calls).
    """

    kind: ClassVar[str] = "cam"
    smooth: ClassVar[bool] = True
    segments: ClassVar[None] = None

    method: str
    heatmap: np.ndarray
    input_heatmap: np.ndarray
    layer: str
    target: int
    class_score: float
    probability: float
    timings: Mapping[str, float] = dataclasses.field(default_factory=dict)
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    faithfulness: Mapping[int, Faithfulness] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for name in ("heatmap", "input_heatmap"):
            array = np.array(getattr(self, name), dtype=np.float32)
            if array.ndim != 2:
                raise ExplanationError(f"a CAM {name} must be 2-D, not of shape {array.shape}")
            array.flags.writeable = False
            object.__setattr__(self, name, array)
        object.__setattr__(self, "target", int(self.target))
        object.__setattr__(self, "timings", MappingProxyType(dict(self.timings)))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "faithfulness", frozen_scores(self.faithfulness, Faithfulness))

    @property
    def labels(self) -> tuple[int, ...]:
        """The explained class indices: only `target`."""
        return (self.target,)

    def weight_map(self, label: int) -> np.ndarray:
        """Per-pixel weight for `label` at model-input resolution, positive where it supports the class.

        Parameters
        ----------
        label : int
            Must be `target`; a CAM explains one class.

        Returns
        -------
        ndarray of shape (rows, cols), float32
            `input_heatmap`, negated for a counterfactual map so that evidence against the
            class is negative, as for every other explanation.
        """
        if int(label) != self.target:
            raise ExplanationError(
                f"this Grad-CAM explains class {self.target}, not {label}; run it again with target={label}")
        if self.params.get("counterfactual"):
            negated = -self.input_heatmap
            negated.flags.writeable = False
            return negated
        return self.input_heatmap

    def to_record(self) -> tuple[dict, dict[str, np.ndarray]]:
        """Split into JSON-safe metadata and named arrays, for saving."""
        meta = {
            "kind": self.kind,
            "method": self.method,
            "layer": self.layer,
            "target": self.target,
            "class_score": float(self.class_score),
            "probability": float(self.probability),
            "timings": {k: float(v) for k, v in self.timings.items()},
            "params": dict(self.params),
            "faithfulness": {str(k): v.to_record() for k, v in self.faithfulness.items()},
        }
        return meta, {"heatmap": np.array(self.heatmap), "input_heatmap": np.array(self.input_heatmap)}

    @classmethod
    def from_record(cls, meta: dict, arrays: dict[str, np.ndarray]) -> CamExplanation:
        """Rebuild an explanation saved with `to_record`."""
        if meta.get("kind") != cls.kind:
            raise ExplanationError(f"the saved explanation is of kind {meta.get('kind')!r}, not {cls.kind!r}")
        meta, arrays = _with_current_names(meta, arrays)
        try:
            return cls(method=meta["method"], heatmap=arrays["heatmap"], input_heatmap=arrays["input_heatmap"],
                       layer=meta["layer"], target=meta["target"], class_score=meta["class_score"],
                       probability=meta["probability"], timings=dict(meta.get("timings", {})),
                       params=dict(meta.get("params", {})), faithfulness=meta.get("faithfulness", {}))
        except KeyError as missing:
            raise ExplanationError(f"the saved Grad-CAM explanation lacks {missing}; save it again") from None


def _with_current_names(meta: dict, arrays: dict) -> tuple[dict, dict]:
    """A saved CAM record in today's names: older reports say "score", "score_source" and "heatmap_full"."""
    meta, arrays = dict(meta), dict(arrays)
    if "score" in meta and "class_score" not in meta:
        meta["class_score"] = meta.pop("score")
    params = dict(meta.get("params", {}))
    if "score_source" in params and "class_score_source" not in params:
        params["class_score_source"] = params.pop("score_source")
    meta["params"] = params
    if "heatmap_full" in arrays and "input_heatmap" not in arrays:
        arrays["input_heatmap"] = arrays.pop("heatmap_full")
    return meta, arrays


# --- Walking the model graph ---------------------------------------------------------------
# Keras cannot build a model from the input of an outer model to a layer inside a nested one
# ("Graph disconnected"), and a Sequential that was never called has no symbolic inputs at all.
# So we execute the graph ourselves on real tensors: Sequential models layer by layer, functional
# ones through their own node order, descending into every nested model. A hook sees each leaf
# layer's output and can watch or record it. Calling layers on real tensors adds no nodes to the
# user's model, unlike calling them on symbolic ones.

def _is_functional(op) -> bool:
    return isinstance(op, keras.Model) and hasattr(op, "_run_through_graph") and hasattr(op, "_nodes_by_depth")


def _is_graph(op) -> bool:
    return isinstance(op, keras.Sequential) or _is_functional(op)


def _accepts_training(op) -> bool:
    try:
        return "training" in inspect.signature(op.call).parameters
    except (AttributeError, TypeError, ValueError):
        return False


def _run_model(keras_model, inputs: list, hook):
    """Run a whole model layer by layer (see `_run`), inside Limelight's own name scope.

    Each layer called on its own opens a name scope of its name. In a traced function a top-level
    scope may not start with "_", as PyTorch conversions name their layers ("_conv_stem"), so
    every layer runs inside one scope of ours.
    """
    with tf.name_scope(_SCOPE):
        return _run(keras_model, inputs, hook)


def _run(model, inputs: list, hook, prefix: str = ""):
    """Run `model` on its `inputs` in inference mode, passing every leaf layer's output through `hook`."""
    if isinstance(model, keras.Sequential):
        x, = inputs
        for layer in model.layers:
            x = _call(layer, prefix + layer.name, (x,), {}, hook)
        return x

    def operation_fn(op):
        return lambda *args, **kwargs: _call(op, prefix + op.name, args, kwargs, hook)

    outputs = keras.tree.flatten(model._run_through_graph(inputs, operation_fn=operation_fn))
    if len(outputs) != 1:
        raise ExplanationError(f"model {model.name!r} has {len(outputs)} outputs; "
                               "class activation maps need a classifier with one output")
    return outputs[0]


def _call(op, path: str, args, kwargs, hook):
    if _is_graph(op):
        inputs = list(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else list(args)
        if (len(inputs) != 1 and isinstance(op, keras.Sequential)) or any(isinstance(a, dict) for a in args):
            raise ExplanationError(f"Grad-CAM cannot follow the inputs of nested model {path!r}; "
                                   "use LIME instead")
        return _run(op, inputs, hook, path + "/")
    if _accepts_training(op):
        # Inference mode, so that BatchNormalization uses its moving statistics and Dropout is off.
        kwargs = {**kwargs, "training": False}
    return hook(path, op, args, op(*args, **kwargs))


def _reason(error: BaseException) -> str:
    """The line of an exception that says what went wrong, without Keras' framing or colour codes."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line and not line.startswith("Exception encountered when calling")]
    return lines[0][:200] if lines else type(error).__name__


def _activation_name(op) -> str:
    activation = getattr(op, "activation", None)
    if isinstance(op, keras.layers.Softmax):
        return "softmax"
    return getattr(activation, "__name__", "") if activation is not None else ""


@dataclass(frozen=True)
class _Survey:
    """What one inference pass tells about a model; holds no reference to it."""

    layers: tuple[LayerInfo, ...]
    final_path: str
    class_score_source: str  # for a model with probability outputs: how its logits are recovered
    padding: frozenset = frozenset()  # paths of layers that only pad or crop a feature map


_SURVEYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _input_shape(model) -> tuple[int, int, int]:
    rows, cols = (int(n) for n in model.input_size)
    return rows, cols, int(model.channels)


def _survey(model) -> _Survey:
    keras_model = model.keras_model
    surveys = _SURVEYS.setdefault(keras_model, {})
    # Keyed by input shape too: a model with free input dimensions may be wrapped at several sizes.
    if _input_shape(model) in surveys:
        return surveys[_input_shape(model)]
    found: dict[str, LayerInfo] = {}
    padding: set = set()
    last: list = []

    def hook(path, op, args, out):
        shape = getattr(out, "shape", None)
        if shape is not None and len(shape) == 4 and path not in found:
            found[path] = LayerInfo(op.name, path, tuple(int(n) for n in shape[1:]))
            if isinstance(op, (keras.layers.ZeroPadding2D, keras.layers.Cropping2D)):
                padding.add(path)
        elif shape is not None and len(shape) == 3 and path not in found:
            grid = _token_grid(int(shape[1]))
            if grid is not None:
                side, leading = grid
                found[path] = LayerInfo(op.name, path, (side, side, int(shape[2])), leading)
        last[:] = [path, op, args, out]
        return out

    # One eager pass on a blank image gives every feature map's shape, even where a never-called
    # Sequential has no symbolic shapes to read.
    try:
        output = _run_model(keras_model, [tf.zeros((1, *_input_shape(model)), tf.float32)], hook)
    except ExplanationError:
        raise
    except Exception as error:  # Whatever a custom layer raises, the user gets one actionable line.
        raise ExplanationError(f"Grad-CAM could not run the model layer by layer ({_reason(error)}); "
                               "use LIME instead") from error
    final_path, final_op, final_args, final_out = last
    if final_out is not output:
        source = "log-probability"
    elif (isinstance(final_op, keras.layers.Dense) and _activation_name(final_op) in ("softmax", "sigmoid")
          and getattr(final_op, "quantization_mode", None) is None):
        source = "dense-logits"
    elif (isinstance(final_op, (keras.layers.Softmax, keras.layers.Activation))
          and _activation_name(final_op) in ("softmax", "sigmoid") and len(final_args) == 1):
        source = "activation-input"
    else:
        source = "log-probability"
    survey = _Survey(tuple(found.values()), final_path, source, frozenset(padding))
    surveys[_input_shape(model)] = survey
    return survey


def _token_grid(tokens: int):
    """(side, leading tokens) when `tokens` patch tokens, after 0 or 1 class token, fill a square grid of at
    least 2x2; else None."""
    for leading in (1, 0):
        side = int(round(np.sqrt(tokens - leading)))
        if side >= 2 and side * side == tokens - leading:
            return side, leading
    return None


def _as_map(tensor, info: LayerInfo):
    """A layer's output as a (batch, rows, cols, channels) map: transformer tokens reshaped to their grid."""
    if info.leading_tokens is None:
        return tensor
    rows, cols, channels = info.output_shape
    return tf.reshape(tensor[:, info.leading_tokens:, :], (-1, rows, cols, channels))


def candidate_layers(model) -> list[LayerInfo]:
    """List the layers that can host a class activation map, in execution order.

    Parameters
    ----------
    model : ClassifierModel
        A loaded classifier (see `limelight.core.models`).

    Returns
    -------
    list of LayerInfo
        Every layer with a 4-D output, layers of nested models included; a nested model is
        listed through its own layers, not as a whole. A transformer layer whose tokens (after
        at most one class token) fill a square grid is listed too, as that grid.
    """
    return list(_survey(model).layers)


def _resolve_layer(survey: _Survey, layer) -> LayerInfo:
    layers = survey.layers
    if not layers:
        raise ExplanationError("the model has no layer with a 4-D feature map, so Grad-CAM cannot "
                               "explain it; use LIME instead")
    if layer is None:
        spatial = [info for info in layers if info.output_shape[0] * info.output_shape[1] > 1]
        if not spatial:
            raise ExplanationError("every feature map of the model is 1x1, so Grad-CAM cannot localise "
                                   "anything; use LIME instead")
        return spatial[-1]
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if -len(layers) <= layer < len(layers):
            return layers[int(layer)]
        raise ExplanationError(f"layer index {layer} is out of range; the model has {len(layers)} "
                               f"candidate layers (0 to {len(layers) - 1})")
    if isinstance(layer, str):
        by_path = [info for info in layers if info.path == layer]
        by_name = [info for info in layers if info.name == layer]
        if by_path or len(by_name) == 1:
            return (by_path or by_name)[0]
        if len(by_name) > 1:
            raise ExplanationError(f"layer name {layer!r} is ambiguous; pass one of the paths "
                                   + ", ".join(info.path for info in by_name))
        paths = [info.path for info in layers]
        listed = ", ".join(paths[-_MAX_LISTED:])
        if len(paths) > _MAX_LISTED:
            listed = (f"{listed} (the last {_MAX_LISTED} of {len(paths)}; `limelight layers` lists all)")
        raise ExplanationError(f"the model has no 4-D layer named {layer!r}; choose one of: {listed}")
    raise ExplanationError(f"layer must be a name, an index into candidate_layers() or None, "
                           f"not {type(layer).__name__}")


def _resolve_layers(survey: _Survey, layer, method: str) -> tuple[LayerInfo, ...]:
    """The layers `method` takes its map from: Layer-CAM's stages by default (see `layercam_layers`), else one."""
    if isinstance(layer, (list, tuple)):
        if method != "layercam":
            raise ExplanationError(f"only Layer-CAM fuses several layers; pass one layer for {method}")
        if not layer:
            raise ExplanationError("pass at least one layer for Layer-CAM to fuse, or None for its default")
        return tuple(dict.fromkeys(_resolve_layer(survey, one) for one in layer))
    if layer is None and method == "layercam":
        return _stages(survey)
    return (_resolve_layer(survey, layer),)


def _stages(survey: _Survey) -> tuple[LayerInfo, ...]:
    """The last feature map of each of the last `LAYERCAM_STAGES` resolutions, in execution order.

    A stage is a run of consecutive feature maps larger than 1x1 at one resolution; its last map
    is what the stage hands on. Padding before a strided convolution (MobileNet's "block_13_pad",
    7x7 between two stages at 6x6 and 3x3) is no stage. A model with one resolution gives its last
    feature map alone.
    """
    spatial = [info for info in survey.layers
               if info.output_shape[0] * info.output_shape[1] > 1 and info.path not in survey.padding]
    if not spatial:
        return (_resolve_layer(survey, None),)
    ends = [info for info, following in zip(spatial, spatial[1:])
            if info.output_shape[:2] != following.output_shape[:2]] + [spatial[-1]]
    return tuple(ends[-LAYERCAM_STAGES:])


def layercam_layers(model) -> list[LayerInfo]:
    """The layers Layer-CAM fuses by default: the last feature map of each of the last `LAYERCAM_STAGES` resolutions."""
    return list(_stages(_survey(model)))


def _fuse(heatmaps: list[np.ndarray], resample: str) -> np.ndarray:
    """Layer-CAM's maps of several layers as one (Jiang et al. 2021, eq. 9 and the element-wise maximum).

    Each map is scaled to ``tanh(gamma * map / max |map|)``, so that an earlier layer's small values
    count as much as a later one's, resampled to the finest map's resolution, and the largest value
    at each pixel is kept.
    """
    size = max((heatmap.shape for heatmap in heatmaps), key=lambda shape: shape[0] * shape[1])
    scaled = []
    for heatmap in heatmaps:
        largest = float(np.abs(heatmap).max())
        unit = heatmap / largest if largest > 0 else np.zeros_like(heatmap)
        scaled.append(_resample(np.tanh(LAYERCAM_GAMMA * unit), size, resample))
    return np.maximum.reduce(scaled).astype(np.float32)


# --- Compiled computations -----------------------------------------------------------------
# One tf.function per (model, layer, computation), traced once thanks to a fixed input signature
# and kept in a weak dictionary keyed by the Keras model. The functions reach the model through a
# weak reference, so the cache never keeps a model alive.

def _probabilities(output, head: str):
    """The class probabilities of a model's output, as `ClassifierModel.predict` gives them."""
    output = tf.cast(output, tf.float32)
    if head == "logits":
        return tf.nn.softmax(output)
    if head == "binary":
        return tf.concat([1.0 - output, output], axis=1)
    return output


def _logits_and_probabilities(output, final, source: str, head: str):
    """The per-class scores the gradients start from, and the class probabilities.

    A binary model's single logit z scores the positive class and -z the negative one, as
    sigmoid(-z) = 1 - p (pytorch-grad-cam's ``BinaryClassifierOutputTarget`` does the same).
    """
    probabilities = _probabilities(output, head)
    if head == "logits":
        return tf.cast(output, tf.float32), probabilities
    op, args = final
    if source == "dense-logits":
        # The logits the Dense layer computes before its activation; the layer itself is left alone.
        logits = keras.ops.matmul(args[0], op.kernel)
        if op.bias is not None:
            logits = logits + op.bias
    elif source == "activation-input":
        logits = args[0]
    elif head == "softmax":
        logits = tf.math.log(tf.maximum(tf.cast(output, tf.float32), np.finfo(np.float32).tiny))
    else:
        # A sigmoid's input is its output's log-odds.
        p = tf.clip_by_value(tf.cast(output, tf.float32), _EPS, 1.0 - _EPS)
        logits = tf.math.log(p) - tf.math.log1p(-p)
    logits = tf.cast(logits, tf.float32)
    if head == "binary":
        logits = tf.concat([-logits, logits], axis=1)
    return logits, probabilities


def _cached(model, key, build):
    functions = _FUNCTIONS.setdefault(model.keras_model, {})
    key = (*key, _input_shape(model), model.head)
    if key not in functions:
        functions[key] = build()
    return functions[key]


def _forward(keras_model, x, survey: _Survey, paths: tuple[str, ...], head: str, *, tape=None):
    """Run the model once, catching the layers at `paths` (watched by `tape`, if given).

    Returns (activations, logits, probabilities); activations is a tuple, one per path.
    """
    seen, final = {}, {}

    def hook(p, op, args, out):
        if p in paths:
            if tape is not None:
                tape.watch(out)
            seen[p] = out
        if p == survey.final_path:
            final["final"] = (op, args)
        return out

    output = _run_model(keras_model, [x], hook)
    logits, probabilities = _logits_and_probabilities(
        output, final.get("final"), survey.class_score_source, head)
    return tuple(seen[p] for p in paths), logits, probabilities


def _gradient_function(model, survey: _Survey, infos: tuple[LayerInfo, ...], use_logits: bool):
    """Return f(x, target) -> (activations, gradients of the score, logits, probabilities).

    A negative target stands for the top prediction. Activations and gradients are tuples with
    one map per layer of `infos`, of shape (batch, rows, cols, channels), a transformer's tokens
    reshaped after differentiating.
    """
    model_ref = weakref.ref(model.keras_model)
    head = model.head
    paths = tuple(info.path for info in infos)
    signature = (tf.TensorSpec((None, *_input_shape(model)), tf.float32), tf.TensorSpec((None,), tf.int32))

    @tf.function(input_signature=signature)
    def activations_and_gradients(x, target):
        with tf.GradientTape() as tape:
            activations, logits, probabilities = _forward(model_ref(), x, survey, paths, head, tape=tape)
            scores = logits if use_logits else probabilities
            top = tf.argmax(probabilities, axis=1, output_type=tf.int32)
            target = tf.where(target < 0, top, target)
            score = tf.gather(scores, target, axis=1, batch_dims=1)
        gradients = tape.gradient(score, activations)
        return (tuple(_as_map(a, info) for a, info in zip(activations, infos)),
                tuple(_as_map(g, info) for g, info in zip(gradients, infos)), logits, probabilities)

    return activations_and_gradients


def _activation_function(model, survey: _Survey, info: LayerInfo):
    """Return f(x) -> (activations as a map, logits, probabilities), with no gradients."""
    model_ref = weakref.ref(model.keras_model)
    head = model.head

    @tf.function(input_signature=(tf.TensorSpec((None, *_input_shape(model)), tf.float32),))
    def activations(x):
        (activations,), logits, probabilities = _forward(model_ref(), x, survey, (info.path,), head)
        return _as_map(activations, info), logits, probabilities

    return activations


def _masked_function(model, map_shape: tuple[int, int]):
    """Return f(x, maps) -> x masked by each upsampled, min-max normalised map."""
    rows, cols, channels = _input_shape(model)

    @tf.function(input_signature=(tf.TensorSpec((1, rows, cols, channels), tf.float32),
                                  tf.TensorSpec((None, *map_shape), tf.float32)))
    def masked_inputs(x, maps):
        masks = tf.image.resize(maps[..., None], (rows, cols), method="bilinear")
        low = tf.reduce_min(masks, axis=(1, 2, 3), keepdims=True)
        high = tf.reduce_max(masks, axis=(1, 2, 3), keepdims=True)
        return x * (masks - low) / tf.maximum(high - low, _EPS)

    return masked_inputs


def _runtime_probabilities(model, inputs) -> np.ndarray:
    """The model's probabilities for model-ready inputs, through its perturbation runtime (LiteRT where it agrees)."""
    return model.as_probabilities(model.runtime(inputs.numpy()))


def _tracing_count(keras_model) -> int:
    """How many times the cached functions of `keras_model` were traced (for tests and benchmarks)."""
    return sum(f.experimental_get_tracing_count() for f in _FUNCTIONS.get(keras_model, {}).values())


# --- The methods ---------------------------------------------------------------------------

def _gradcam_weights(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    # Selvaraju et al., eq. 1: channel weight = spatial mean of the score's gradient.
    return gradients.mean(axis=(0, 1))


def _gradcam_plus_plus_weights(activations: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    # Chattopadhyay et al., eq. 19 with the exponential score, as the authors' code and tf-keras-vis
    # compute it: alpha = g^2 / (2 g^2 + sum(A) g^3) at every pixel, normalised to sum to 1 over
    # each channel's pixels, and weight = sum(alpha * relu(exp(S) g)). exp(S) scales every channel
    # alike and overflows float32 for a score above 88, so it is left out: the map is theirs divided
    # by exp(S), the same shape. Dividing alpha by g^2 gives 1 / (2 + sum(A) g), which needs no
    # epsilon, so tiny gradients (common with logits of large models) keep their alpha.
    denominator = 2.0 + activations.sum(axis=(0, 1)) * gradients
    usable = (gradients != 0) & (denominator != 0)
    alpha = np.divide(1.0, denominator, out=np.zeros_like(denominator), where=usable)
    total = alpha.sum(axis=(0, 1))
    alpha = alpha / np.where(total != 0, total, 1.0)
    return (alpha * np.maximum(gradients, 0.0)).sum(axis=(0, 1))


# HiResCAM (Draelos & Carin 2020) multiplies each activation by its own gradient, pixel by pixel:
# for a CNN that ends in global average pooling and one dense layer, its map sums exactly to the
# score less the bias, where Grad-CAM's spatially averaged weights can point at pixels that lower
# the score. Layer-CAM (Jiang et al. 2021) does the same with the positive gradients only, which
# keeps maps from earlier, finer layers readable. Both give per-pixel weights of shape (h, w, c).
_ELEMENTWISE = {"hirescam": lambda gradients: gradients,
                "layercam": lambda gradients: np.maximum(gradients, 0.0)}


def _resample(heatmap: np.ndarray, size: tuple[int, int], resample: str) -> np.ndarray:
    rows, cols = size
    full = Image.fromarray(np.ascontiguousarray(heatmap, dtype=np.float32)).resize((cols, rows), RESAMPLE[resample])
    return np.asarray(full, dtype=np.float32)


def _validate(image, model, method, target, resample, batch_size) -> np.ndarray:
    if method not in CAM_METHODS:
        raise ExplanationError(f"unknown CAM method {method!r}; choose one of {', '.join(CAM_METHODS)}")
    if resample not in RESAMPLE:
        raise ExplanationError(f"unknown resampling {resample!r}; choose one of {', '.join(RESAMPLE)}")
    if int(batch_size) < 1:
        raise ExplanationError(f"batch_size must be at least 1, not {batch_size}")
    return _validate_image(image, model, target, "Grad-CAM")


def _validate_image(image, model, target, needed_by: str) -> np.ndarray:
    image = np.asarray(image)
    rows, cols = (int(n) for n in model.input_size)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ExplanationError(f"{needed_by} takes an RGB uint8 image of shape (rows, cols, 3), not "
                               f"{image.dtype} of shape {image.shape}; pass model.prepare(image)")
    if image.shape[:2] != (rows, cols):
        raise ExplanationError(f"the image is {image.shape[0]}x{image.shape[1]} but the model takes "
                               f"{rows}x{cols}; pass model.prepare(image)")
    if target is not None and not 0 <= int(target) < int(model.num_classes):
        raise ExplanationError(f"target class {target} does not exist; the model has classes 0 to "
                               f"{int(model.num_classes) - 1}")
    return image


def explain_cam(image: np.ndarray, model, *, method: str = "gradcam", target: int | None = None,
                layer: str | int | None = None, use_logits: bool = True, relu: bool = True,
                counterfactual: bool = False, resample: str = "bilinear", batch_size: int = SAMPLE_BATCH_SIZE,
                progress: Callable[[int, int], Any] | None = None,
                cancelled: Callable[[], bool] | None = None) -> CamExplanation:
    """Explain one prediction with a class activation map.

    Parameters
    ----------
    image : ndarray of shape (rows, cols, 3), uint8
        The image at the model's input resolution (see ``model.prepare``).
    model : ClassifierModel
        A loaded classifier; it is not modified.
    method : {"gradcam", "gradcam++", "hirescam", "layercam", "scorecam"}
        Grad-CAM (Selvaraju et al. 2017) weighs each feature map by its mean gradient;
        Grad-CAM++ (Chattopadhyay et al. 2018) weighs positive gradients pixel by pixel, which
        covers several instances of a class better; HiResCAM (Draelos & Carin 2020) multiplies
        each activation by its own gradient, which for a network ending in pooling and one dense
        layer shows exactly which pixels raise the score; Layer-CAM (Jiang et al. 2021) does so
        with positive gradients only, which stays sharp on earlier layers, and by default fuses
        the maps of the last three stages (see `layercam_layers`) for a finer map; Score-CAM (Wang et al. 2020) uses no
        gradients: each feature map masks the image, and the rise in the class probability over
        a blank image weighs it. Score-CAM costs one forward pass per non-constant feature map.
    target : int, optional
        The class to explain; by default the top prediction.
    layer : str, int or sequence of them, optional
        A layer path or unique name, or an index into `candidate_layers`; by default the last
        feature map larger than 1x1, and for Layer-CAM those of `layercam_layers`. Layer-CAM also
        takes several layers and fuses their maps (scaled with tanh, resampled to the finest
        one's resolution, the maximum at each pixel); `CamExplanation.layer` then joins their
        paths with " + " and ``params["layers"]`` lists them.
    use_logits : bool
        Differentiate the pre-softmax score, which does not saturate when the model is sure.
        For a softmax Dense output the logits are the layer's kernel and bias applied without
        the activation; for a Softmax/Activation output, that layer's input; otherwise the log
        probability. Score-CAM compares masked images, whose logits are not comparable, so it
        always weighs by probability.
    relu : bool
        Keep only positive evidence, as in the papers; False keeps the signed map.
    counterfactual : bool
        Map what speaks against the class instead (the gradients, or Score-CAM's weights, negated).
    resample : {"bilinear", "box", "lanczos"}
        How the map is resized to the model's input resolution.
    batch_size : int
        Masked images per forward pass (Score-CAM).
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch.
    cancelled : callable, optional
        Polled before each batch; when it returns True, `Cancelled` is raised.

    Returns
    -------
    CamExplanation

    Raises
    ------
    ExplanationError
        For an unknown method, layer or class, an image of the wrong shape, or a model with no
        4-D feature map.
    Cancelled
        When `cancelled` returned True.
    """
    started = time.perf_counter()
    image = _validate(image, model, method, target, resample, batch_size)
    if cancelled is not None and cancelled():
        raise Cancelled(f"{method} cancelled before it started.")
    survey = _survey(model)
    infos = _resolve_layers(survey, layer, method)
    paths = tuple(info.path for info in infos)
    x = tf.constant(np.asarray(model.preprocess(image[None]), dtype=np.float32))
    timings = {}

    if method == "scorecam":
        info, = infos
        compute = _cached(model, ("activations", info.path), lambda: _activation_function(model, survey, info))
        activations, logits, probabilities = (t.numpy() for t in compute(x))
        activations = (activations,)
    else:
        compute = _cached(model, ("gradients", paths, bool(use_logits)),
                          lambda: _gradient_function(model, survey, infos, bool(use_logits)))
        # -1 asks the function for the top prediction, so that one pass finds and explains it.
        chosen = -1 if target is None else int(target)
        activations, gradients, logits, probabilities = compute(x, tf.constant([chosen], tf.int32))
        logits, probabilities = logits.numpy(), probabilities.numpy()
    timings["forward"] = time.perf_counter() - started
    target = int(np.argmax(probabilities[0])) if target is None else int(target)

    heatmaps = []
    for index, layer_activations in enumerate(activations):
        layer_activations = np.asarray(layer_activations)[0].astype(np.float32)
        if method == "scorecam":
            weights = _scorecam_weights(model, x, layer_activations, target, batch_size, progress, cancelled)
            weights = -weights if counterfactual else weights
        else:
            layer_gradients = np.asarray(gradients[index])[0].astype(np.float32)
            layer_gradients = -layer_gradients if counterfactual else layer_gradients
            if method in _ELEMENTWISE:
                weights = _ELEMENTWISE[method](layer_gradients)
            else:
                rule = _gradcam_weights if method == "gradcam" else _gradcam_plus_plus_weights
                weights = rule(layer_activations, layer_gradients)
        if weights.ndim == 3:
            heatmap = (layer_activations * weights).sum(axis=2, dtype=np.float32)
        else:
            heatmap = np.tensordot(layer_activations, weights.astype(np.float32), axes=([2], [0])).astype(np.float32)
        heatmaps.append(np.maximum(heatmap, 0.0) if relu else heatmap)
    if method != "scorecam" and progress is not None:
        progress(1, 1)
    heatmap = heatmaps[0] if len(heatmaps) == 1 else _fuse(heatmaps, resample)
    input_heatmap = _resample(heatmap, tuple(model.input_size), resample)
    if relu:
        # Lanczos overshoots below zero near sharp edges.
        input_heatmap = np.maximum(input_heatmap, 0.0)
    timings["total"] = time.perf_counter() - started

    # Score-CAM weighs its masks by the probability whatever use_logits says (see explain_cam).
    by_logits = use_logits and method != "scorecam"
    class_score_source = (survey.class_score_source if model.head != "logits" else "model-logits") \
        if by_logits else "probability"
    class_score = logits[0, target] if by_logits else probabilities[0, target]
    layer = " + ".join(paths)
    params = {"method": method, "layer": layer, "target": target, "use_logits": bool(use_logits),
              "relu": bool(relu), "counterfactual": bool(counterfactual), "resample": resample,
              "class_score_source": class_score_source}
    if method == "scorecam":
        params["batch_size"] = int(batch_size)
    if len(paths) > 1:
        params["layers"] = list(paths)
    return CamExplanation(method=method, heatmap=heatmap, input_heatmap=input_heatmap, layer=layer,
                          target=target, class_score=float(class_score), probability=float(probabilities[0, target]),
                          timings=timings, params=params)


def _scorecam_weights(model, x, activations: np.ndarray, target: int, batch_size: int,
                      progress, cancelled) -> np.ndarray:
    """Wang et al., eq. 4: each map's weight is the class probability of the image it masks,
    less that of a blank (all-masked) image."""
    maps = np.moveaxis(activations, 2, 0)
    # A constant map has no min-max normalisation and masks nothing; it keeps weight zero.
    informative = np.flatnonzero(maps.max(axis=(1, 2)) > maps.min(axis=(1, 2)))
    masked = _cached(model, ("masked", maps.shape[1:]), lambda: _masked_function(model, maps.shape[1:]))
    weights = np.zeros(maps.shape[0], np.float32)
    total = len(informative) + 1
    # The blank image has every pixel masked: a constant map normalises to zero, so this is the
    # image multiplied by zero in the model's input space, as for the masked-out parts of the others.
    baseline = _runtime_probabilities(model, masked(x, tf.zeros((1, *maps.shape[1:]), tf.float32)))[0, target]
    done = 1
    for start in range(0, len(informative), batch_size):
        if cancelled is not None and cancelled():
            raise Cancelled(f"Score-CAM cancelled after {done} of {total} masked images.")
        chosen = informative[start:start + batch_size]
        probabilities = _runtime_probabilities(model, masked(x, tf.constant(maps[chosen])))
        weights[chosen] = probabilities[:, target] - baseline
        done += len(chosen)
        if progress is not None:
            progress(done, total)
    if progress is not None and not len(informative):
        progress(total, total)
    return weights
