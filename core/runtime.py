"""The runtime that runs a model's forward passes on perturbed images: LiteRT where it agrees with Keras, else Keras."""
import contextlib
import hashlib
import os
import sys
import threading

import numpy as np

#: The largest difference of probabilities from Keras that a converted model may show on the probe batch.
PROBE_TOLERANCE = 1e-4
# LiteRT was 1.8-2.3x faster than Keras on models of up to a few million parameters, and no faster
# on InceptionV3 or VGG16, which also take one to five minutes to convert (shared measurements).
_MAX_PARAMETERS = 10_000_000
_PROBE_IMAGES = 4


class PerturbationRuntime:
    """Runs one Keras model's forward pass on batches of model-ready inputs, through LiteRT when it can.

    LiteRT (with XNNPACK) runs small convolutional networks about twice as fast as Keras on a CPU.
    The model is converted once and the converted file kept in the cache folder under a hash of
    the model's architecture, weights and input shape; at every load a probe batch must give the
    probabilities Keras gives (within `PROBE_TOLERANCE`), or Keras is used. Gradients (Grad-CAM)
    always stay in TensorFlow: this is only for the many forward passes of LIME and Score-CAM.

    Parameters
    ----------
    keras_model : keras.Model
    input_shape : tuple of int
        (rows, cols, channels) of one model input.
    outputs_probabilities : bool
        False for a logits head: the probe compares probabilities after a softmax.
    cache_dir : Path or None
        Where converted models are kept; None converts without keeping the file.

    Attributes
    ----------
    name : {"LiteRT", "Keras"}
        The runtime in use.
    note : str
        Why Keras is used, when it is (empty for LiteRT).
    """

    def __init__(self, keras_model, *, input_shape, outputs_probabilities, cache_dir=None):
        import tensorflow as tf

        self._keras_model = keras_model
        spec = tf.TensorSpec((None, *input_shape), tf.float32)
        self._keras_forward = tf.function(lambda x: keras_model(x, training=False), input_signature=[spec])
        self._lock = threading.Lock()
        self._interpreter = None
        self._batch = None
        self.name, self.note = "Keras", ""
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            self.note = "LiteRT (ai-edge-litert) is not installed for this platform"
            return
        if keras_model.count_params() > _MAX_PARAMETERS:
            self.note = "LiteRT is no faster than Keras for a model this large"
            return
        # The converter and the interpreter's XNNPACK delegate print their progress on stderr.
        with silenced_stderr():
            try:
                content = _converted(self._keras_forward, keras_model, input_shape, cache_dir)
                self._interpreter = Interpreter(model_content=content, num_threads=os.cpu_count())
            except Exception as error:  # the converter raises many kinds; any of them means Keras
                self.note = f"the model could not be converted to LiteRT ({_first_line(error)})"
                return
            difference = _probe_difference(self._run_litert, self.keras, input_shape, outputs_probabilities)
        if not difference <= PROBE_TOLERANCE:
            self._interpreter = None
            self.note = (f"LiteRT's probabilities differ from Keras's by {difference:.1e} on a probe batch "
                         f"(at most {PROBE_TOLERANCE:.0e} allowed)")
            return
        self.name = "LiteRT"

    @property
    def description(self):
        """The runtime in one line, for the model's info: "LiteRT" or "Keras (why)"."""
        return f"{self.name} ({self.note})" if self.note else self.name

    def __call__(self, x):
        """Return the model's outputs for `x`.

        Parameters
        ----------
        x : ndarray of shape (N, rows, cols, channels), float32
            Model-ready inputs.

        Returns
        -------
        ndarray of shape (N, num_classes), float32
        """
        if self._interpreter is None:
            return self.keras(x)
        return self._run_litert(x)

    def keras(self, x):
        """Return the model's outputs for `x` through Keras, which reads the Keras model's weights as they are now
        (LiteRT's converted file keeps those of the conversion)."""
        return np.asarray(self._keras_forward(x), dtype=np.float32)

    def _run_litert(self, x):
        # One interpreter serves every thread in turn (it is not thread-safe). Resizing its input
        # costs nothing measurable, so each batch size gets its own shape.
        with self._lock:
            interpreter = self._interpreter
            if self._batch != len(x):
                index = interpreter.get_input_details()[0]["index"]
                interpreter.resize_tensor_input(index, x.shape, strict=False)
                interpreter.allocate_tensors()
                self._batch = len(x)
                self._input = interpreter.get_input_details()[0]["index"]
                self._output = interpreter.get_output_details()[0]["index"]
            interpreter.set_tensor(self._input, np.ascontiguousarray(x, dtype=np.float32))
            interpreter.invoke()
            return np.array(interpreter.get_tensor(self._output), dtype=np.float32)


def model_digest(keras_model, input_shape):
    """A SHA-256 of what the converted model depends on: architecture, weights and input shape."""
    digest = hashlib.sha256(keras_model.to_json().encode("utf-8"))
    digest.update(repr(tuple(input_shape)).encode("ascii"))
    for weights in keras_model.weights:
        digest.update(np.ascontiguousarray(weights.numpy()).tobytes())
    return digest.hexdigest()


def _converted(forward, keras_model, input_shape, cache_dir):
    """The LiteRT flatbuffer of the model, from the cache folder or freshly converted (and then kept)."""
    path = None
    if cache_dir is not None:
        path = cache_dir / "runtimes" / f"{model_digest(keras_model, input_shape)}.tflite"
        if path.is_file():
            return path.read_bytes()
    import logging

    import tensorflow as tf

    # Keras 3 models cannot go through from_keras_model, and passing the model as the second
    # argument of from_concrete_functions leaves the weights out of the file (NaN, no error).
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)  # it warns that this path is deprecated: it is the one that works
    try:
        concrete = forward.get_concrete_function()
        content = tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert()
    finally:
        absl.setLevel(level)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.part")
            temporary.write_bytes(content)
            os.replace(temporary, path)
        except OSError:
            pass  # an unwritable cache costs a conversion next time, nothing else
    return content


def _probe_difference(first, second, input_shape, outputs_probabilities):
    """The largest difference of probabilities between two forward functions on a fixed random batch."""
    x = np.random.default_rng(0).uniform(-1, 1, (_PROBE_IMAGES, *input_shape)).astype(np.float32)
    outputs = [first(x), second(x)]
    if not outputs_probabilities:
        outputs = [softmax(o) for o in outputs]
    return float(np.max(np.abs(outputs[0] - outputs[1])))


def _first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


@contextlib.contextmanager
def silenced_stderr():
    """Silence file descriptor 2 (C++ libraries' chatter) for the duration; Python exceptions still propagate."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)
