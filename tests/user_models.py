"""Small models shaped as users make them: built in seconds, saved as .keras (and some as .h5).

Each builder returns an untrained Keras model with fixed-seed weights, except the detectors, whose
weights are set by hand so that the truth is known: `bright_square_detector` says "positive" for a
bright region and `colour_detectors` says, per output, how red and how blue an image is.
"""
import keras
import numpy as np

#: Models saved in the legacy .h5 format too.
FORMATS = {"fashion_mnist": (".keras", ".h5"), "binary": (".keras", ".h5"), "pytorch_names": (".keras", ".h5")}


def fashion_mnist():
    """The Fashion-MNIST tutorial's CNN: 28x28 grayscale in, ten softmax classes out."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ], name="fashion_mnist")


def fruits_20():
    """A fruits CNN on 20x20 RGB thumbnails, with its own Rescaling."""
    keras.utils.set_random_seed(1)
    return keras.Sequential([
        keras.Input((20, 20, 3)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(6, activation="softmax"),
    ], name="fruits_20")


def transfer_mobilenet():
    """Transfer learning: MobileNetV2 nested in a Sequential behind a Rescaling layer."""
    keras.utils.set_random_seed(2)
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(64, 64, 3), alpha=0.35)
    return keras.Sequential([
        keras.Input((64, 64, 3)),
        keras.layers.Rescaling(1 / 127.5, offset=-1),
        base,
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(4, activation="softmax"),
    ], name="transfer_mobilenet")


def transfer_efficientnet():
    """EfficientNetB0, which rescales and normalises its own input, nested in a functional model."""
    keras.utils.set_random_seed(3)
    base = keras.applications.EfficientNetB0(weights=None, include_top=False, input_shape=(64, 64, 3))
    inputs = keras.Input((64, 64, 3))
    x = keras.layers.GlobalAveragePooling2D()(base(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x), name="transfer_efficientnet")


def augmented():
    """Data augmentation layers in front, as Keras' image classification tutorial has them."""
    keras.utils.set_random_seed(4)
    return keras.Sequential([
        keras.Input((48, 48, 3)),
        keras.layers.RandomFlip("horizontal"),
        keras.layers.RandomRotation(0.1),
        keras.layers.RandomZoom(0.1),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(5, activation="softmax"),
    ], name="augmented")


def _cnn(name, head, *, size=32, seed=5):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((size, size, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        *head,
    ], name=name)


def logits_head():
    """A head trained with from_logits=True: a Dense layer with no activation."""
    return _cnn("logits_head", [keras.layers.Dense(5)])


def softmax_layer():
    """A head that ends in an explicit Softmax layer after a linear Dense."""
    return _cnn("softmax_layer", [keras.layers.Dense(3), keras.layers.Softmax()])


def multilabel_untrained():
    """A multi-label head: six independent sigmoids."""
    return _cnn("multilabel", [keras.layers.Dense(6, activation="sigmoid")])


def regression():
    """One linear output: a regression, which Limelight refuses."""
    return _cnn("regression", [keras.layers.Dense(1)])


def pytorch_names():
    """Layers named as a PyTorch conversion names them (EfficientNet-Lite via nobuco or onnx2keras)."""
    keras.utils.set_random_seed(6)
    inputs = keras.Input((32, 32, 3), name="input.1")
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="_conv_stem")(inputs)
    x = keras.layers.BatchNormalization(name="_bn0")(x)
    x = keras.layers.ReLU(6.0, name="_relu0")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="_blocks.0._depthwise_conv")(x)
    x = keras.layers.BatchNormalization(name="_blocks.0._bn1")(x)
    x = keras.layers.ReLU(6.0, name="_blocks.0._relu")(x)
    x = keras.layers.Conv2D(24, 1, use_bias=False, name="_blocks.0._project_conv")(x)
    x = keras.layers.BatchNormalization(name="_blocks.0._bn2")(x)
    x = keras.layers.Conv2D(32, 1, use_bias=False, name="_conv_head")(x)
    x = keras.layers.ReLU(6.0, name="_relu1")(x)
    x = keras.layers.GlobalAveragePooling2D(name="_avg_pooling")(x)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax", name="_fc")(x), name="efficientnet_lite0")


def any_size():
    """A fully convolutional model with `Input((None, None, 3))`."""
    keras.utils.set_random_seed(7)
    return keras.Sequential([
        keras.Input((None, None, 3)),
        keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax"),
    ], name="any_size")


def residual():
    """A residual block with BatchNormalization, in the functional API."""
    keras.utils.set_random_seed(8)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(16, 3, padding="same")(inputs)
    shortcut = x
    y = keras.layers.Conv2D(16, 3, padding="same")(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.Activation("relu")(y)
    y = keras.layers.Conv2D(16, 3, padding="same")(y)
    y = keras.layers.BatchNormalization()(y)
    x = keras.layers.Activation("relu")(keras.layers.Add()([shortcut, y]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x), name="residual")


def resnet50():
    """A Keras application used directly, with its own classifier."""
    keras.utils.set_random_seed(9)
    return keras.applications.ResNet50(weights=None, classes=3, input_shape=(32, 32, 3))


def bright_square_detector():
    """A single-sigmoid binary classifier whose positive class is "a bright region": p rises with
    the brightest 3x3 patch's mean, so the evidence for "positive" is where that patch is."""
    inputs = keras.Input((32, 32, 3))
    brightness = keras.layers.Conv2D(1, 3, padding="same", activation="relu", name="brightness")(inputs)
    pooled = keras.layers.GlobalMaxPooling2D()(brightness)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="positive")(pooled),
                        name="bright_square")
    # On x / 255 input: mean of a 3x3 patch over all channels, less 0.5.
    model.get_layer("brightness").set_weights([np.full((3, 3, 3, 1), 1 / 27, np.float32),
                                               np.array([-0.5], np.float32)])
    model.get_layer("positive").set_weights([np.array([[12.0]], np.float32), np.array([-1.0], np.float32)])
    return model


def colour_detectors():
    """A multi-label model with two sigmoid outputs: "red" and "blue", each from its own colour map."""
    inputs = keras.Input((32, 32, 3))
    colours = keras.layers.Conv2D(2, 1, activation="relu", name="colours")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(colours)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="sigmoid", name="labels")(pooled),
                        name="colour_detectors")
    # Channel 0: red minus the others; channel 1: blue minus the others (on x / 255 input).
    kernel = np.array([[1.0, -0.5], [-0.5, -0.5], [-0.5, 1.0]], np.float32)[None, None]
    model.get_layer("colours").set_weights([kernel, np.zeros(2, np.float32)])
    model.get_layer("labels").set_weights([np.eye(2, dtype=np.float32) * 20, np.full(2, -2.0, np.float32)])
    return model


#: Every model a user might bring that Limelight explains, by name.
EXPLAINED = {
    "fashion_mnist": fashion_mnist,
    "fruits_20": fruits_20,
    "transfer_mobilenet": transfer_mobilenet,
    "transfer_efficientnet": transfer_efficientnet,
    "augmented": augmented,
    "logits_head": logits_head,
    "softmax_layer": softmax_layer,
    "binary": bright_square_detector,
    "multilabel": colour_detectors,
    "multilabel_untrained": multilabel_untrained,
    "pytorch_names": pytorch_names,
    "any_size": any_size,
    "residual": residual,
    "resnet50": resnet50,
}


def save_all(folder):
    """Save every model of `EXPLAINED` as .keras, some as .h5 too, and the regression; return the paths."""
    paths = {}
    for name, build in {**EXPLAINED, "regression": regression}.items():
        model = build()
        for suffix in FORMATS.get(name, (".keras",)):
            path = folder / f"{name}{suffix}"
            model.save(path)
            paths[name if suffix == ".keras" else name + suffix] = str(path)
    return paths
