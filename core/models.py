"""Load Keras image classifiers safely, inspect them, and turn photos into predictions."""
import functools
import hashlib
import json
import os
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from limelight.core.errors import LabelsError, ModelError, UntrustedModelError
from limelight.core.files import (cache_dir, check_hdf5_sizes, check_model_size, check_zip_members,
                                   file_in_folder, open_regular_file, read_text, seekable_member)
from limelight.core.images import fit_to_input, frame_image
from limelight.core.labels import Labels, labels_for_model
from limelight.core.runtime import PerturbationRuntime, silenced_stderr, softmax

PREPROCESSING_MODES = {
    "none": "pixel values 0..255 as they are",
    "unit": "x / 255, values 0..1",
    "symmetric": "x / 127.5 - 1, values -1..1 (MobileNet, Inception, Xception)",
    "caffe": "BGR with the ImageNet mean subtracted (VGG, ResNet50)",
    "torch": "x / 255, then the ImageNet mean and std (DenseNet)",
    "effnet_lite": "(x - 127) / 128 (EfficientNet-Lite)",
}
#: What a model is fed when nothing says how it was trained (marked as guessed, and asked about).
ASSUMED_PREPROCESSING = "unit"
RESIZE_MODES = ("stretch", "crop")
MODEL_FILE_TYPES = (".keras", ".h5", ".hdf5")
SIDECAR_SUFFIX = ".limelight.json"
# Far above any real model config (EfficientNet-B7's is under 1 MB).
MAX_CONFIG_BYTES = 64 * 1024**2
WEIGHTS_MEMBER = "model.weights.h5"
# How every HDF5 file Keras writes begins.
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# The Keras function that turns safe mode off for the rest of the process (CVE-2025-9906).
UNSAFE_SWITCH = "enable_unsafe_deserialization"
# Where a model config may name Keras classes, and the narrower set it may name functions from;
# keras.config, keras.saving, keras.utils and anything outside Keras are refused.
_KERAS_CLASS_MODULES = frozenset({
    "layers", "models", "initializers", "regularizers", "constraints", "activations", "losses",
    "metrics", "optimizers", "ops", "dtype_policies", "quantizers", "random", "applications"})
_KERAS_FUNCTION_MODULES = frozenset({"activations", "losses", "metrics", "ops"})
#: What a model's last layer outputs, and so how Limelight reads it as class probabilities.
HEAD_KINDS = {
    "softmax": "probabilities that sum to 1 (a softmax ending)",
    "logits": "scores a softmax turns into probabilities",
    "binary": "one sigmoid output: the positive class's probability p, and 1 - p for the other",
    "multilabel": "one sigmoid per class: independent probabilities that need not sum to 1",
}
#: Names of a binary model's two classes when no labels file names them.
BINARY_LABELS = ("negative", "positive")
# The classes Keras itself names under the bare module "keras". Any other name there, such as
# "layers.TFSMLayer", would be looked up anywhere in Keras' public API.
_KERAS_TOP_CLASSES = frozenset({"Functional", "Sequential", "Model", "DTypePolicy", "FloatDTypePolicy",
                                "QuantizedDTypePolicy", "QuantizedFloat8DTypePolicy"})
#: Images per forward pass in `ClassifierModel.predict`, however many it is given: measured fastest for
#: EfficientNet-Lite0 on a 2-core CPU (make bench); larger gains nothing.
FORWARD_BATCH_SIZE = 16

_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
_TORCH_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_TORCH_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def import_tensorflow():
    """Import TensorFlow once, hiding the C++ start-up chatter it prints whatever the log level.

    Only file descriptor 2 is silenced, and only during the import: Python
    exceptions still propagate, and later warnings still reach the user.
    """

    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with silenced_stderr():
        import tensorflow

        # Device discovery prints its own CUDA chatter on machines without a GPU.
        tensorflow.config.list_physical_devices()
    return tensorflow


def preprocess(batch: np.ndarray, mode: str, *, channels: int = 3) -> np.ndarray:
    """Turn uint8 RGB images into what a model takes.

    Parameters
    ----------
    batch : ndarray of shape (N, rows, cols, 3), uint8
    mode : str
        One of ``PREPROCESSING_MODES``.
    channels : {1, 3}
        1 converts to gray (luma) for models trained on gray images.

    Returns
    -------
    ndarray of shape (N, rows, cols, channels), float32
    """
    if mode not in PREPROCESSING_MODES:
        raise ModelError(f"unknown preprocessing '{mode}'; choose one of "
                         f"{', '.join(PREPROCESSING_MODES)}")
    x = np.asarray(batch, dtype=np.float32)
    if mode == "caffe":
        x = x[..., ::-1] - _CAFFE_MEAN_BGR
    elif mode == "torch":
        x = (x / 255.0 - _TORCH_MEAN) / _TORCH_STD
    elif mode == "unit":
        x = x / 255.0
    elif mode == "symmetric":
        x = x / 127.5 - 1.0
    elif mode == "effnet_lite":
        x = (x - 127.0) / 128.0
    if channels == 1:
        # Gray after normalisation is the same linear map as before it, except for caffe's BGR order.
        weights = _LUMA[::-1] if mode == "caffe" else _LUMA
        x = (x @ weights)[..., None]
    return np.ascontiguousarray(x, dtype=np.float32)


@dataclass(frozen=True)
class ModelSettings:
    """How Limelight feeds a model: chosen once per model file and kept in its sidecar."""

    preprocessing: str
    resize: str = "stretch"
    labels_path: str | None = None
    preprocessing_guessed: bool = False


class ClassifierModel:
    """A loaded image classifier, ready to take uint8 RGB images.

    Attributes
    ----------
    keras_model : keras.Model
    name : str
    source : str
        The file path, or ``builtin:<name>``.
    input_size : tuple of int
        (rows, cols) the model sees.
    channels : {1, 3}
    num_classes : int
        Two for a binary (single sigmoid) model.
    head : str
        A key of `HEAD_KINDS`: how the model's output becomes class probabilities.
    preprocessing, resize : str
    labels : Labels
    runtime : PerturbationRuntime
        Runs the forward passes: LiteRT where it agrees with Keras, else Keras.
    """

    def __init__(self, keras_model, *, name, source, settings: ModelSettings, labels: Labels,
                 input_size, channels, num_classes, head, batch_size=FORWARD_BATCH_SIZE):
        self.keras_model = keras_model
        self.name = name
        self.source = source
        self.settings = settings
        self.labels = labels
        self.input_size = tuple(input_size)
        self.channels = channels
        self.num_classes = num_classes
        self.head = head
        self.batch_size = batch_size
        # Every forward pass without gradients (predictions, LIME, Score-CAM) goes through it.
        self.runtime = PerturbationRuntime(keras_model, input_shape=(*self.input_size, channels),
                                           outputs_probabilities=head != "logits",
                                           cache_dir=cache_dir())

    @property
    def preprocessing(self) -> str:
        return self.settings.preprocessing

    @property
    def independent(self) -> bool:
        """True when the classes are independent (multi-label): probabilities need not sum to 1."""
        return self.head == "multilabel"

    @property
    def parameter_count(self) -> int:
        return int(self.keras_model.count_params())

    def frame(self, image: np.ndarray) -> np.ndarray:
        """The part of a photo the model sees: all of it, or its centre at the model's aspect."""
        return frame_image(image, self.input_size, self.settings.resize)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """Resize a photo to the model's input.

        Parameters
        ----------
        image : ndarray of shape (H, W, 3), uint8

        Returns
        -------
        ndarray of shape (rows, cols, 3), uint8
        """
        framed = self.frame(image)
        if framed.shape[:2] == self.input_size:
            return np.ascontiguousarray(framed)
        return fit_to_input(Image.fromarray(framed), self.input_size, "stretch")

    def preprocess(self, batch: np.ndarray, *, preprocessing: str | None = None) -> np.ndarray:
        """uint8 RGB images at model resolution -> the float32 batch the Keras model takes.

        `preprocessing` overrides the model's own, to compare modes when it is unknown.
        """
        return preprocess(batch, preprocessing or self.preprocessing, channels=self.channels)

    def predict(self, batch: np.ndarray, *, preprocessing: str | None = None) -> np.ndarray:
        """Class probabilities for uint8 RGB images at model resolution.

        A softmax or logits model's probabilities sum to 1; a binary model's two are 1 - p and p;
        a multi-label model's are its independent sigmoid outputs.

        Parameters
        ----------
        batch : ndarray of shape (N, rows, cols, 3), uint8
        preprocessing : str, optional
            A key of `PREPROCESSING_MODES` to use instead of the model's own.

        Returns
        -------
        ndarray of shape (N, num_classes), float32
        """
        batch = np.asarray(batch)
        if batch.ndim == 3:
            batch = batch[None]
        expected = (*self.input_size, 3)
        if batch.ndim != 4 or batch.shape[1:] != expected:
            raise ModelError(f"{self.name} expects images of shape {expected}; got "
                             f"{batch.shape[1:]} (use model.prepare(image) first)")
        outputs = np.empty((len(batch), 1 if self.head == "binary" else self.num_classes),
                           dtype=np.float32)
        for start in range(0, len(batch), self.batch_size):
            chunk = self.preprocess(batch[start:start + self.batch_size], preprocessing=preprocessing)
            outputs[start:start + len(chunk)] = self.runtime(chunk)
        return self.as_probabilities(outputs)

    def as_probabilities(self, outputs: np.ndarray) -> np.ndarray:
        """Read the model's raw outputs for a batch as class probabilities, as its `head` says."""
        if self.head == "logits":
            return softmax(outputs)
        if self.head == "binary":
            return np.concatenate([1.0 - outputs, outputs], axis=1)
        return outputs

    def top_classes(self, image: np.ndarray, k: int = 5, *,
                    preprocessing: str | None = None) -> list[tuple[int, str, float]]:
        """The k most probable classes of one photo: (index, name, probability).

        `preprocessing` overrides the model's own, as in `predict`.
        """
        probabilities = self.predict(self.prepare(image)[None], preprocessing=preprocessing)[0]
        order = np.argsort(probabilities)[::-1][:k]
        return [(int(i), self.labels.name(int(i)), float(probabilities[i])) for i in order]


def load_model(path, *, trust=False, preprocessing=None, labels_path=None, resize=None,
               input_size=None) -> ClassifierModel:
    """Load a Keras image classifier from a file or SavedModel folder.

    Parameters
    ----------
    path : str or Path
        A ``.keras`` or ``.h5`` file, or a SavedModel folder.
    trust : bool
        Allow the file to run code while loading (Lambda layers, custom
        functions, SavedModel graphs). Off by default: such files are refused.
    preprocessing, resize, labels_path : optional
        Override what the model's sidecar file says. Without either, a model with a Rescaling
        or Normalization layer near its input takes "none"; any other is assumed to take
        `ASSUMED_PREPROCESSING`, marked as guessed so that the user is told and asked.
    input_size : tuple of int, optional
        (rows, cols) for a model whose input size is not fixed.

    Raises
    ------
    UntrustedModelError
        The file would run code and ``trust`` is false.
    ModelError
        The file is unreadable, or the model is not an image classifier.
    """
    path = Path(path)
    if not path.exists():
        raise ModelError("model file not found", path=path)
    if path.is_dir():
        keras_model = _load_saved_model(path, trust)
    elif path.suffix.lower() == ".keras":
        keras_model = _load_keras_file(path, trust)
    elif path.suffix.lower() in (".h5", ".hdf5"):
        keras_model = _load_h5_file(path, trust)
    else:
        raise ModelError(f"not a model file; Limelight loads {', '.join(MODEL_FILE_TYPES)} files "
                         "and SavedModel folders", path=path)
    sidecar = read_sidecar(path)
    known = preprocessing or sidecar.get("preprocessing") or built_in_preprocessing(keras_model)
    settings = ModelSettings(
        preprocessing=known or ASSUMED_PREPROCESSING,
        resize=resize or sidecar.get("resize") or "stretch",
        labels_path=str(labels_path) if labels_path else sidecar.get("labels"),
        preprocessing_guessed=known is None,
    )
    return wrap_model(keras_model, name=path.stem if path.is_file() else path.name,
                      source=str(path), settings=settings, model_path=path, input_size=input_size)


def wrap_model(keras_model, *, name, source, settings: ModelSettings, model_path=None,
               input_size=None, labels: Labels | None = None) -> ClassifierModel:
    """Check that a Keras model is an image classifier and wrap it for Limelight."""
    if settings.resize not in RESIZE_MODES:
        raise ModelError(f"unknown resize mode '{settings.resize}'; choose "
                         f"{' or '.join(RESIZE_MODES)}")
    if settings.preprocessing not in PREPROCESSING_MODES:
        raise ModelError(f"unknown preprocessing '{settings.preprocessing}'; choose one of "
                         f"{', '.join(PREPROCESSING_MODES)}", path=model_path)
    inputs, outputs = keras_model.inputs, keras_model.outputs
    if len(inputs) != 1:
        raise ModelError(f"model has {len(inputs)} inputs; Limelight explains models with one "
                         "image input", path=model_path)
    if len(outputs) != 1:
        raise ModelError(f"model has {len(outputs)} outputs; Limelight explains models with one "
                         "class-probability output", path=model_path)
    in_shape = tuple(inputs[0].shape)
    if len(in_shape) != 4 or in_shape[-1] not in (1, 3):
        raise ModelError(f"model input has shape {_shape_text(in_shape)}, which is not an image; "
                         "expected (rows, cols, 1 or 3 channels)", path=model_path)
    rows, cols = in_shape[1:3]
    if rows is None or cols is None:
        if input_size is None:
            input_size = (224, 224)
        rows, cols = input_size
    out_shape = tuple(outputs[0].shape)
    if len(out_shape) != 2 or out_shape[-1] is None:
        raise ModelError(f"model output has shape {_shape_text(out_shape)}; Limelight explains "
                         "classifiers with one score per class", path=model_path)
    head = head_kind(keras_model)
    if out_shape[-1] == 1 and head != "multilabel":
        raise ModelError("model has a single output without a sigmoid, which is a regression; "
                         "Limelight explains classifiers (a binary classifier ends in "
                         "Dense(1, activation='sigmoid'))", path=model_path)
    if out_shape[-1] == 1:
        head, num_classes = "binary", 2
    else:
        num_classes = int(out_shape[-1])
    if labels is None:
        labels = labels_for_model(num_classes, labels_path=settings.labels_path,
                                  model_path=model_path)
        if head == "binary" and labels.source == "indices":
            labels = Labels(BINARY_LABELS, source="binary")
    return ClassifierModel(keras_model, name=name, source=source, settings=settings,
                           labels=labels, input_size=(int(rows), int(cols)),
                           channels=int(in_shape[-1]), num_classes=num_classes, head=head)


def head_kind(keras_model) -> str:
    """How a Keras model's output reads as probabilities: "softmax", "multilabel" or "logits".

    Read from the last layer's activation (a Dense activation, or a Softmax or Activation
    layer); sigmoid outputs are independent, so a single one is told apart from several by the
    caller, which knows the output's width. Anything else is taken for logits.
    """
    layers = _flat_layers(keras_model)
    last = layers[-1] if layers else None
    if type(last).__name__ == "Softmax":
        return "softmax"
    name = getattr(getattr(last, "activation", None), "__name__", "")
    return {"softmax": "softmax", "sigmoid": "multilabel"}.get(name, "logits")


def built_in_preprocessing(keras_model) -> str | None:
    """'none' when the model rescales its own input, else None: its preprocessing is unknown.

    A Rescaling or Normalization layer among the first few (nested models included) means the
    model takes pixel values 0..255 as they are.
    """
    for layer in _flat_layers(keras_model)[:6]:
        if type(layer).__name__ in ("Rescaling", "Normalization"):
            return "none"
    return None


def sidecar_path(model_path) -> Path:
    model_path = Path(model_path)
    return model_path.parent / (model_path.name + SIDECAR_SUFFIX)


def read_sidecar(model_path) -> dict:
    """The remembered settings of a model file, or {} when there are none.

    Its labels may only be a file in the model's own folder: a sidecar comes with the model, and
    one naming ``../private/notes.txt`` would print that file's lines as class names.
    """
    path = sidecar_path(model_path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(read_text(path, error=ModelError))
    except (ModelError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    labels = data.get("labels")
    if isinstance(labels, str) and labels:
        data["labels"] = str(file_in_folder(path.parent, labels, error=LabelsError, named_by=path))
    return {k: v for k, v in data.items() if isinstance(v, str)}


def write_sidecar(model_path, settings: ModelSettings) -> Path:
    """Remember how to feed a model file, next to it, so the choice is made once.

    Labels from another folder are copied beside the model first, since a sidecar only names
    files in its own folder.
    """
    path = sidecar_path(model_path)
    data = {"preprocessing": settings.preprocessing, "resize": settings.resize}
    if settings.labels_path:
        labels = Path(settings.labels_path)
        if labels.resolve().parent != path.parent.resolve():
            copy = path.parent / f"{Path(model_path).name}.labels{labels.suffix}"
            shutil.copyfile(labels, copy)
            labels = copy
        data["labels"] = labels.name
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


def content_sha256(path) -> str:
    """The SHA-256 of a model's content: a file's bytes, or a SavedModel folder's names and files.

    Trust is remembered per content, never per path: a renamed or copied file stays trusted,
    and a file changed in place is asked about again.
    """
    path = Path(path)
    if not path.is_dir():
        with open_regular_file(path, error=ModelError) as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        with open_regular_file(item, error=ModelError) as stream:
            digest.update(item.relative_to(path).as_posix().encode("utf-8") + b"\0")
            digest.update(hashlib.file_digest(stream, "sha256").digest())
    return digest.hexdigest()


def _load_keras_file(path: Path, trust: bool):
    with open_regular_file(path, error=ModelError) as stream:
        if not zipfile.is_zipfile(stream):
            raise ModelError("not a Keras model file (a .keras file is a zip archive)", path=path)
        try:
            with zipfile.ZipFile(stream) as archive:
                # Sizes first, from the archive's directory: reading a member of a zip bomb is the harm.
                infos = check_zip_members(archive, path=path, error=ModelError)
                if "config.json" not in infos:
                    raise ModelError("Keras archive has no config.json; it holds no model", path=path)
                if infos["config.json"].file_size > MAX_CONFIG_BYTES:
                    raise ModelError(f"config.json is {infos['config.json'].file_size / 1024**2:.0f} MB; "
                                     "a model config is a few MB at most", path=path)
                config_text = archive.read("config.json").decode("utf-8")
                if not trust:
                    _refuse_unsafe_config(config_text, path)
                if WEIGHTS_MEMBER in infos:
                    # Never read whole into memory: the member may be gigabytes.
                    with seekable_member(archive, WEIGHTS_MEMBER) as weights:
                        _check_weights(weights, path, trust)
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError, NotImplementedError, RuntimeError) as error:
            raise ModelError(f"Keras archive is damaged ({_first_line(error)})", path=path) from None
    _check_declared_size(config_text, path, trust)
    return _keras_load(path, trust)


def _load_h5_file(path: Path, trust: bool):
    import h5py

    with open_regular_file(path, error=ModelError) as stream:
        if stream.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            raise ModelError("not an HDF5 file", path=path)
        try:
            with h5py.File(stream, "r") as handle:
                config = handle.attrs.get("model_config")
            if isinstance(config, bytes):
                config = config.decode("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ModelError(f"HDF5 file is damaged ({_first_line(error)})", path=path) from None
        if config is None:
            raise ModelError("HDF5 file holds no Keras model (weights only?); save the whole model "
                             "with model.save()", path=path)
        if not trust:
            _refuse_unsafe_config(config, path)
        stream.seek(0)
        _check_weights(stream, path, trust)
    _check_declared_size(config, path, trust, legacy=True)
    return _keras_load(path, trust)


def _check_weights(source, path: Path, trust: bool) -> None:
    """HDF5 weights: within the size limit always, and reading no other file unless trusted."""
    import h5py

    try:
        with h5py.File(source, "r") as handle:
            check_hdf5_sizes(handle, path=path, error=ModelError)
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise ModelError(f"model weights are damaged ({_first_line(error)})", path=path) from None
    if not trust:
        source.seek(0)
        _refuse_other_files(source, path)


def _check_declared_size(config_text: str, path: Path, trust: bool, *, legacy=False) -> None:
    """Refuse a model that declares too many parameters or too large an input, before Keras builds it."""
    try:
        config = json.loads(config_text)
    except (ValueError, RecursionError):
        raise ModelError("model config is not valid JSON, or is nested too deeply", path=path) from None
    if isinstance(config, dict) and "config" in config and "class_name" in config:
        check_model_size(config, path=path, error=ModelError, safe_mode=not trust, legacy=legacy)


def _refuse_unsafe_config(config_text: str, path: Path) -> None:
    """Refuse a model config that would run code or read other files, before Keras sees it.

    Keras' safe mode refuses most of these too; checking the config first keeps the refusal
    independent of how each Keras release handles each file format. Names are checked against
    an allow-list of Keras' own modelling modules, so a new way to name outside code is refused
    rather than missed.
    """
    try:
        nodes = list(_walk_dicts(json.loads(config_text)))
    except (TypeError, ValueError, RecursionError):
        raise ModelError("model config is not valid JSON, or is nested too deeply", path=path) from None
    # The safe-mode switch first: it is why the rest of a file like that would get through.
    switch = any(UNSAFE_SWITCH in str(key) or (isinstance(value, str) and UNSAFE_SWITCH in value)
                 for node in nodes for key, value in node.items())
    problems = [f"calls keras.config.{UNSAFE_SWITCH}, which would switch off Keras' safe mode "
                "and let the file run code"] if switch else []
    problems += filter(None, map(_unsafe_entry, nodes))
    if problems:
        raise UntrustedModelError(f"model config {problems[0]}; load it only if you trust its "
                                  "source (--trust-model)", path=path)


def _unsafe_entry(node: dict) -> str | None:
    """What is unsafe about one entry of a model config, or None."""
    class_name = node.get("class_name")
    if class_name in ("Lambda", "__lambda__") or node.get("function_type") == "lambda":
        return "contains a Lambda layer, which runs code when loaded"
    if class_name == "TFSMLayer":
        inner = node.get("config")
        target = inner.get("filepath") if isinstance(inner, dict) else None
        return f"contains a TFSMLayer, which loads and runs the TensorFlow SavedModel {target!r}"
    if isinstance(node.get("vocabulary"), str):
        return (f"reads a vocabulary from the file {node['vocabulary']!r}, which would read a "
                "file on this computer")
    if "module" not in node or not isinstance(class_name, str):
        return None
    module = node["module"]
    name = node.get("config") if class_name == "function" else class_name
    where = f"{module}.{name}" if isinstance(module, str) else str(name)
    if not (isinstance(name, str) and name.isidentifier()):
        return f"names {where!r}, which is not a plain Keras name and could reach code outside its modelling modules"
    if not _is_keras_module(module, function=class_name == "function", name=name):
        return f"names {where}, which is not part of Keras and would run code from outside it"
    registered = node.get("registered_name")
    if registered not in (None, class_name, name):
        return (f"names the custom object {registered!r}, whose code is not part of Keras and "
                "would run when loaded")
    return None


def _is_keras_module(module, *, function: bool, name) -> bool:
    """Whether a config's module is one of Keras' modelling modules (functions: a narrower set)."""
    if module == "builtins":
        # Keras writes its own built-in functions (relu, mse...) under "builtins"; older
        # releases looked the name up in Python's builtins, so only Keras' names pass.
        return function and isinstance(name, str) and name in _keras_builtin_functions()
    if not isinstance(module, str) or not (module == "keras" or module.startswith("keras.")):
        return False
    parts = module.split(".")[1:]
    if parts[:1] == ["src"]:
        parts = parts[1:]
    if not parts:
        return not function and name in _KERAS_TOP_CLASSES
    allowed = _KERAS_FUNCTION_MODULES if function else _KERAS_CLASS_MODULES
    return parts[0] in allowed


@functools.cache
def _keras_builtin_functions() -> frozenset:
    import keras

    return frozenset(name for module in ("activations", "losses", "metrics")
                     for name in dir(getattr(keras, module)) if not name.startswith("_"))


def _walk_dicts(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk_dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_dicts(value)


def _refuse_other_files(source, path: Path) -> None:
    """Refuse HDF5 weights that point at other files: external links, external or virtual data.

    Keras never writes these; a file that has them reads files on this computer when loaded.
    """
    import h5py

    problems = []

    def check(name, link):
        if isinstance(link, h5py.ExternalLink):
            problems.append(f"an HDF5 external link '{name}' to {link.filename!r}")
        elif isinstance(link, h5py.HardLink):
            item = handle.get(name)
            if isinstance(item, h5py.Dataset) and item.external:
                problems.append(f"HDF5 dataset '{name}' stored in the external file "
                                f"{_text(item.external[0][0])!r}")
            elif isinstance(item, h5py.Dataset) and item.is_virtual:
                problems.append(f"HDF5 virtual dataset '{name}', which reads other files")
        return True if problems else None  # anything but None stops the walk

    try:
        with h5py.File(source, "r") as handle:
            handle.visititems_links(check)
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise ModelError(f"model weights are damaged ({_first_line(error)})", path=path) from None
    if problems:
        raise UntrustedModelError(f"model weights have {problems[0]}, which would read a file on "
                                  "this computer; load it only if you trust its source "
                                  "(--trust-model)", path=path)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _keras_load(path: Path, trust: bool):
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=not trust, compile=False)
    except Exception as error:  # Keras raises many types for bad files; all end here as one line.
        message = _first_line(error)
        if "safe_mode" in message or "unsafe" in message.lower():
            raise UntrustedModelError(
                "model would run code when loaded (Keras safe mode refused it); load it only if "
                "you trust its source (--trust-model)", path=path) from None
        raise ModelError(f"cannot load model ({message})", path=path) from None


def _load_saved_model(path: Path, trust: bool):
    if not (path / "saved_model.pb").is_file():
        raise ModelError("folder is not a SavedModel (no saved_model.pb)", path=path)
    if not trust:
        raise UntrustedModelError(
            "a SavedModel folder is a TensorFlow program and runs its own code; load it only if "
            "you trust its source (--trust-model)", path=path)
    import keras
    import tensorflow as tf

    try:
        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        specs = list(signature.structured_input_signature[1].values())
        layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
    except Exception as error:  # TensorFlow raises many types for bad folders.
        raise ModelError(f"cannot load SavedModel ({_first_line(error)})", path=path) from None
    if len(specs) != 1:
        raise ModelError(f"SavedModel takes {len(specs)} inputs; Limelight explains models with "
                         "one image input", path=path)
    inputs = keras.Input(shape=tuple(specs[0].shape[1:]), dtype=specs[0].dtype.name)
    outputs = layer(inputs)
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise ModelError(f"SavedModel has {len(outputs)} outputs; Limelight explains models "
                             "with one class-probability output", path=path)
        outputs = next(iter(outputs.values()))
    return keras.Model(inputs, outputs, name=path.name)


def _flat_layers(model) -> list:
    layers = []
    for layer in getattr(model, "layers", []):
        if hasattr(layer, "layers") and layer.layers:
            layers.extend(_flat_layers(layer))
        else:
            layers.append(layer)
    return layers


def _shape_text(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:200] if lines else type(error).__name__
