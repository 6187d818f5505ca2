"""Hostile model files, made here and never downloaded: each is refused before any of its code runs.

Every payload would create a marker file if it ran, and the Keras and TensorFlow entry points are
rigged to create it too, so a file that reached them unchecked would be caught as well. Where the
payload is live in the installed Keras, a test loads it trusted and sees the marker appear: the
refusal is what stops it.
"""
import base64
import json
import marshal
import struct
import warnings
import zipfile
import zlib

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.saving import serialization_lib

from limelight.core.errors import ModelError, UntrustedModelError
from limelight.core.files import MAX_UNPACKED_BYTES
from limelight.core.models import load_model

TRUST_ADVICE = "--trust-model"


@pytest.fixture
def marker(tmp_path):
    """The file a payload creates when it runs; it must never exist after a refusal."""
    return tmp_path / "payload_ran"


@pytest.fixture
def tripwire(marker, monkeypatch):
    """Make every way into Keras or TensorFlow create the marker, proving refusals come first."""
    def reached(*args, **kwargs):
        marker.touch()
        raise AssertionError("the hostile file reached Keras or TensorFlow")

    for module, name in [(keras.saving, "load_model"), (keras.models, "load_model"),
                         (tf.saved_model, "load")]:
        monkeypatch.setattr(module, name, reached)


def refusal(path, marker, *, error=UntrustedModelError) -> str:
    """Load `path` untrusted; return the one-line refusal after checking nothing ran."""
    with pytest.raises(error) as caught:
        load_model(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    assert not marker.exists(), "the hostile file ran code while it was being refused"
    return message


def payload_lambda(marker):
    """A lambda whose body creates the marker; the path is a constant of its code."""
    return eval(f"lambda t: (open({str(marker)!r}, 'w').close(), t)[1]")  # noqa: S307


def classifier(*, with_lambda=None):
    inputs = keras.Input((16, 16, 3))
    x = inputs if with_lambda is None else keras.layers.Lambda(with_lambda)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(x))


def save_with_lambda(path, marker):
    classifier(with_lambda=payload_lambda(marker)).save(path)
    # Building the model ran the lambda once on symbolic tensors; only a load may run it now.
    marker.unlink()
    return path


def edit_keras_archive(source, target, edit, *, text=lambda text: text):
    """Copy a .keras archive, changing its config.json with `edit(config)`, then `text(json)`."""
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as copy:
        for info in archive.infolist():
            data = archive.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = text(json.dumps(config)).encode("utf-8")
            copy.writestr(info, data)
    return target


def layer_config(config, name):
    return next(layer for layer in config["config"]["layers"] if layer["config"]["name"] == name)


@pytest.fixture
def plain_keras(tmp_path):
    path = tmp_path / "plain.keras"
    classifier().save(path)
    return path


# --- Code in the config ------------------------------------------------------------------------

# The .h5 case is CVE-2025-9905's legacy format, where the Lambda's code is marshalled.
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_model_file_with_a_lambda_layer(tmp_path, marker, tripwire, suffix):
    path = save_with_lambda(tmp_path / f"lambda{suffix}", marker)
    message = refusal(path, marker)
    assert "Lambda layer" in message and TRUST_ADVICE in message


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_the_lambda_payload_is_live_when_trusted(tmp_path, marker, suffix):
    path = save_with_lambda(tmp_path / f"lambda{suffix}", marker)
    assert load_model(path, trust=True).num_classes == 3
    assert marker.exists()


def payload_module(tmp_path, marker, monkeypatch):
    """An importable module whose import, or whose function, creates the marker."""
    name = "limelight_hostile_payload"
    (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'w').close()\n\n"
                                         f"def run(*args, **kwargs):\n"
                                         f"    open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


@pytest.mark.parametrize("module, function", [("payload", "run"), ("os", "system"),
                                              ("builtins", "exec"), ("subprocess", "getoutput")])
def test_keras_file_naming_a_function_outside_keras(tmp_path, marker, tripwire, plain_keras,
                                                    monkeypatch, module, function):
    if module == "payload":
        module = payload_module(tmp_path, marker, monkeypatch)

    def point_activation_outside(config):
        layer_config(config, "predictions")["config"]["activation"] = {
            "module": module, "class_name": "function", "config": function,
            "registered_name": function}

    path = edit_keras_archive(plain_keras, tmp_path / "outside.keras", point_activation_outside)
    message = refusal(path, marker)
    assert f"{module}.{function}" in message and "not part of Keras" in message
    assert TRUST_ADVICE in message


def test_keras_file_naming_a_layer_class_outside_keras(tmp_path, marker, tripwire, plain_keras,
                                                       monkeypatch):
    module = payload_module(tmp_path, marker, monkeypatch)

    def swap_class(config):
        layer_config(config, "conv").update(module=module, class_name="Evil")

    path = edit_keras_archive(plain_keras, tmp_path / "outside_class.keras", swap_class)
    message = refusal(path, marker)
    assert f"{module}.Evil" in message and TRUST_ADVICE in message


class _RegisteredPayload(keras.layers.Dense):
    """A custom object some library registered in this process; its loading code creates a file."""

    marker = None

    @classmethod
    def from_config(cls, config):
        open(cls.marker, "w").close()
        return super().from_config(config)


@pytest.fixture
def registered_payload(marker, monkeypatch):
    name = "hostile>RegisteredPayload"
    monkeypatch.setattr(_RegisteredPayload, "marker", str(marker))
    monkeypatch.setitem(keras.saving.get_custom_objects(), name, _RegisteredPayload)
    return name


def registered_payload_file(tmp_path, plain_keras, name):
    def point_at_registered(config):
        layer_config(config, "predictions")["registered_name"] = name

    return edit_keras_archive(plain_keras, tmp_path / "registered.keras", point_at_registered)


def test_keras_file_naming_a_registered_custom_object(tmp_path, marker, tripwire, plain_keras,
                                                      registered_payload):
    path = registered_payload_file(tmp_path, plain_keras, registered_payload)
    message = refusal(path, marker)
    assert registered_payload in message and TRUST_ADVICE in message


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_the_registered_object_runs_even_in_keras_safe_mode(tmp_path, marker, plain_keras,
                                                            registered_payload):
    # Why the config's names are checked against Keras' own modules: safe mode alone lets
    # this through.
    path = registered_payload_file(tmp_path, plain_keras, registered_payload)
    # The swapped class's weights are stored under another name, but its code ran before that.
    with pytest.raises(ValueError, match="could not be loaded"):
        keras.saving.load_model(path, safe_mode=True, compile=False)
    assert marker.exists()


@pytest.mark.parametrize("escaped", [False, True])
def test_config_that_switches_off_safe_mode(tmp_path, marker, tripwire, escaped):
    path = save_with_lambda(tmp_path / "lambda.keras", marker)

    def switch_off_safe_mode_first(config):
        # CVE-2025-9906: a function reference that turns safe mode off before the Lambda loads.
        layer_config(config, "conv")["config"]["activation"] = {
            "module": "keras.config", "class_name": "function",
            "config": "enable_unsafe_deserialization",
            "registered_name": "enable_unsafe_deserialization"}

    path = edit_keras_archive(path, tmp_path / "unsafe.keras", switch_off_safe_mode_first)
    if escaped:
        # The same name spelled with a JSON escape, which a search of the raw text would miss.
        path = edit_keras_archive(path, tmp_path / "escaped.keras", lambda config: None,
                                  text=lambda text: text.replace("deserialization\"",
                                                                 "deserializatio\\u006e\""))
    message = refusal(path, marker)
    assert "enable_unsafe_deserialization" in message and "safe mode" in message
    assert TRUST_ADVICE in message
    assert serialization_lib.in_safe_mode() is not False


def test_lambda_in_any_other_place_of_the_config(tmp_path, marker, tripwire, plain_keras):
    code = base64.b64encode(marshal.dumps(payload_lambda(marker).__code__)).decode("ascii")

    def lambda_activation(config):
        layer_config(config, "conv")["config"]["activation"] = {
            "class_name": "__lambda__", "config": {"code": code, "defaults": None,
                                                   "closure": None}}

    path = edit_keras_archive(plain_keras, tmp_path / "lambda_activation.keras", lambda_activation)
    assert "Lambda" in refusal(path, marker)


# --- Legacy HDF5 -----------------------------------------------------------------------------

def test_keras_2_h5_file_with_a_marshalled_lambda(tmp_path, marker, tripwire):
    # Keras 2 wrote a Lambda's function as [marshalled code, defaults, closure] (CVE-2025-9905).
    path = tmp_path / "keras2.h5"
    classifier().save(path)
    code = base64.b64encode(marshal.dumps(payload_lambda(marker).__code__)).decode("ascii")
    with h5py.File(path, "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        config["config"]["layers"].insert(1, {
            "class_name": "Lambda", "config": {"name": "lambda", "function": [code, None, None],
                                               "function_type": "lambda", "arguments": {}}})
        handle.attrs["model_config"] = json.dumps(config)
        handle.attrs["keras_version"] = "2.15.0"
    message = refusal(path, marker)
    assert "Lambda layer" in message and TRUST_ADVICE in message


@pytest.fixture
def secret(tmp_path):
    """A local file a hostile model would read into its weights."""
    path = tmp_path / "secret.txt"
    path.write_bytes(b"my password is swordfish".ljust(3 * 4 * 4, b"."))
    return path


def point_kernel_at(handle, secret):
    """Store the Dense kernel (4 x 3 float32 = 48 bytes) in the secret file instead; its name."""
    names = []
    handle.visititems(lambda name, item: names.append(name)
                      if isinstance(item, h5py.Dataset) and item.shape == (4, 3) else None)
    name, = names
    shape, dtype = handle[name].shape, handle[name].dtype
    del handle[name]
    handle.create_dataset(name, shape=shape, dtype=dtype,
                          external=[(str(secret), 0, int(np.prod(shape)) * dtype.itemsize)])
    return name


def test_h5_file_with_external_storage_reading_a_local_file(tmp_path, marker, tripwire, secret):
    # CVE-2026-1669: the weights' bytes come from another file on the user's computer.
    path = tmp_path / "external.h5"
    classifier().save(path)
    with h5py.File(path, "r+") as handle:
        point_kernel_at(handle, secret)
    message = refusal(path, marker)
    assert "external file" in message and str(secret) in message and TRUST_ADVICE in message


def test_the_external_storage_reads_the_local_file(tmp_path, secret):
    # What any HDF5 reader gets from that weight: the secret. (Keras 3.13.2 and later refuse it
    # too, even unsafe; earlier releases read it into the model.)
    path = tmp_path / "external.h5"
    classifier().save(path)
    with h5py.File(path, "r+") as handle:
        name = point_kernel_at(handle, secret)
    with h5py.File(path, "r") as handle:
        assert handle[name][()].tobytes() == secret.read_bytes()


def test_h5_file_with_an_external_link(tmp_path, marker, tripwire):
    other = tmp_path / "elsewhere.h5"
    with h5py.File(other, "w") as handle:
        handle["data"] = np.arange(10)
    path = tmp_path / "linked.h5"
    classifier().save(path)
    with h5py.File(path, "a") as handle:
        handle["model_weights/borrowed"] = h5py.ExternalLink(str(other), "/")
    message = refusal(path, marker)
    assert "external link" in message and str(other) in message and TRUST_ADVICE in message


def test_keras_archive_whose_weights_have_external_storage(tmp_path, marker, tripwire, secret,
                                                          plain_keras):
    weights = tmp_path / "model.weights.h5"
    with zipfile.ZipFile(plain_keras) as archive:
        weights.write_bytes(archive.read("model.weights.h5"))
    with h5py.File(weights, "r+") as handle:
        point_kernel_at(handle, secret)
    path = tmp_path / "external.keras"
    with zipfile.ZipFile(plain_keras) as archive, zipfile.ZipFile(path, "w") as copy:
        for info in archive.infolist():
            copy.writestr(info, weights.read_bytes() if info.filename == weights.name
                          else archive.read(info))
    message = refusal(path, marker)
    assert "external file" in message and str(secret) in message


# --- Files that read other files ---------------------------------------------------------------

@pytest.mark.parametrize("layer", ["StringLookup", "TextVectorization"])
def test_keras_file_with_a_vocabulary_file_path(tmp_path, marker, tripwire, plain_keras, secret,
                                                layer):
    def add_vocabulary_layer(config):
        config["config"]["layers"].append({
            "module": "keras.layers", "class_name": layer, "registered_name": None,
            "config": {"name": "lookup", "vocabulary": str(secret)}, "inbound_nodes": []})

    path = edit_keras_archive(plain_keras, tmp_path / "vocabulary.keras", add_vocabulary_layer)
    message = refusal(path, marker)
    assert "vocabulary" in message and str(secret) in message and TRUST_ADVICE in message


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A SavedModel whose serving function writes a marker file each time it runs."""
    folder = tmp_path_factory.mktemp("saved")
    marker = folder / "graph_ran"

    class Payload(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((None, 16, 16, 3), tf.float32)])
        def serve(self, images):
            tf.io.write_file(str(marker), "ran")
            return {"probabilities": tf.nn.softmax(tf.reduce_mean(images, axis=[1, 2]))}

    module = Payload()
    tf.saved_model.save(module, str(folder / "model"), signatures={"serving_default": module.serve})
    return folder / "model", marker


def test_saved_model_folder_needs_trust(saved_model, tripwire):
    path, marker = saved_model
    message = refusal(path, marker)
    assert "SavedModel" in message and "runs its own code" in message and TRUST_ADVICE in message


def test_the_saved_model_payload_is_live_when_trusted(saved_model):
    path, marker = saved_model
    model = load_model(path, trust=True)
    model.predict(np.zeros((1, 16, 16, 3), np.uint8))
    assert marker.exists()
    marker.unlink()


def test_keras_file_with_a_tfsm_layer_pointing_at_a_saved_model(tmp_path, saved_model, tripwire,
                                                                plain_keras):
    # CVE-2026-1462: a layer that loads and runs another SavedModel from the user's disk.
    folder, marker = saved_model

    def add_tfsm_layer(config):
        config["config"]["layers"].append({
            "module": "keras.layers", "class_name": "TFSMLayer", "registered_name": None,
            "config": {"name": "borrowed", "filepath": str(folder),
                       "call_endpoint": "serving_default"}, "inbound_nodes": []})

    path = edit_keras_archive(plain_keras, tmp_path / "tfsm.keras", add_tfsm_layer)
    message = refusal(path, marker)
    assert "TFSMLayer" in message and str(folder) in message and TRUST_ADVICE in message


# --- Archives --------------------------------------------------------------------------------

def overlapping_zip_bomb(path, config: bytes, *, copies: int, member_bytes: int):
    """A small .keras archive whose directory lists `copies` members sharing one compressed block.

    The members overlap (D. Fifield's non-recursive zip bomb): unpacked, they fill
    copies * member_bytes, while the file stays a few kilobytes.
    """
    kernel = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = kernel.compress(b"\0" * member_bytes) + kernel.flush()
    crc = zlib.crc32(b"\0" * member_bytes)
    local, central = bytearray(), bytearray()

    def local_header(name, method, crc, compressed, size):
        return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, compressed,
                           size, len(name), 0) + name

    def central_header(name, method, crc, compressed, size, offset):
        return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc,
                           compressed, size, len(name), 0, 0, 0, 0, 0, offset) + name

    local += local_header(b"config.json", 0, zlib.crc32(config), len(config), len(config)) + config
    central += central_header(b"config.json", 0, zlib.crc32(config), len(config), len(config), 0)
    shared = len(local)
    local += local_header(b"model.weights.h5", 8, crc, len(block), member_bytes) + block
    for index in range(copies):
        name = b"model.weights.h5" if index == 0 else f"assets/{index}.bin".encode()
        central += central_header(name, 8, crc, len(block), member_bytes, shared)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, copies + 1, copies + 1, len(central),
                      len(local), 0)
    path.write_bytes(bytes(local + central + end))
    return path


def test_zip_bomb_disguised_as_keras(tmp_path, marker, tripwire):
    lambda_file = save_with_lambda(tmp_path / "lambda.keras", marker)
    with zipfile.ZipFile(lambda_file) as archive:
        config = archive.read("config.json")
    member = 16 * 1024**2
    copies = MAX_UNPACKED_BYTES // member + 2
    path = overlapping_zip_bomb(tmp_path / "bomb.keras", config, copies=copies,
                                member_bytes=member)
    assert path.stat().st_size < 2 * 1024**2
    with zipfile.ZipFile(path) as archive:
        assert sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES
    message = refusal(path, marker, error=ModelError)
    assert "zip bomb" in message and "GB" in message
    # Trusting the file is no way round it: nothing unpacks gigabytes to look at a model.
    with pytest.raises(ModelError, match="zip bomb"):
        load_model(path, trust=True)
    assert not marker.exists()


def test_huge_config_is_refused_unread(tmp_path, marker, tripwire, monkeypatch):
    import limelight.core.models as models

    monkeypatch.setattr(models, "MAX_CONFIG_BYTES", 1000)
    path = tmp_path / "padded.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", " " * 5000 + "{}")
    assert "config.json is" in refusal(path, marker, error=ModelError)


def test_configs_that_are_not_model_configs(tmp_path, marker, tripwire, plain_keras):
    deep = edit_keras_archive(plain_keras, tmp_path / "deep.keras", lambda config: None,
                              text=lambda text: "[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in refusal(deep, marker, error=ModelError)
    legacy = tmp_path / "binary_config.h5"
    classifier().save(legacy)
    with h5py.File(legacy, "r+") as handle:
        handle.attrs["model_config"] = np.void(b"\xff\xfe not text")
    assert "not valid JSON" in refusal(legacy, marker, error=ModelError)


def test_a_safe_model_still_loads(plain_keras, tmp_path):
    assert load_model(plain_keras).num_classes == 3
    legacy = tmp_path / "plain.h5"
    classifier().save(legacy)
    assert load_model(legacy).num_classes == 3


def test_a_bare_keras_module_names_only_keras_own_classes(tmp_path, saved_model, tripwire, plain_keras):
    # "keras" + "layers.TFSMLayer" is looked up across Keras' whole public API; the allow-list
    # must refuse it itself, with its trust hint, not leave it to each Keras release.
    folder, marker = saved_model

    def add_dotted_tfsm_layer(config):
        config["config"]["layers"].append({
            "module": "keras", "class_name": "layers.TFSMLayer", "registered_name": None,
            "config": {"name": "borrowed", "filepath": str(folder),
                       "call_endpoint": "serving_default"}, "inbound_nodes": []})

    path = edit_keras_archive(plain_keras, tmp_path / "dotted.keras", add_dotted_tfsm_layer)
    message = refusal(path, marker)
    assert "'keras.layers.TFSMLayer'" in message and TRUST_ADVICE in message


# --- Declared sizes: refused before anything is allocated -----------------------------------------

def set_units(config, units):
    layer_config(config, "predictions")["config"]["units"] = units


def test_a_billion_unit_head_is_refused_before_keras_builds_it(tmp_path, marker, tripwire, plain_keras):
    import resource

    path = edit_keras_archive(plain_keras, tmp_path / "huge_head.keras", lambda c: set_units(c, 10**9))
    assert path.stat().st_size < 100_000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    message = refusal(path, marker, error=ModelError)
    # 4 features into 10**9 units, plus their biases and the 112 of the convolution.
    assert "declares 5,000,000,112 parameters, over the limit of 500,000,000" in message
    # Counted without storage: the peak memory of the process has not grown by the 16 GB declared.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 500_000
    with pytest.raises(ModelError, match="parameters"):
        load_model(path, trust=True)


def test_counting_parameters_leaves_no_variable_for_keras_to_fill_later(tmp_path, plain_keras):
    from keras.src.backend.common import global_state

    path = edit_keras_archive(plain_keras, tmp_path / "huge_head.keras", lambda c: set_units(c, 10**9))
    with pytest.raises(ModelError):
        load_model(path)
    assert not global_state.get_global_attribute("uninitialized_variables")
    with keras.StatelessScope():  # would give every pending variable its storage on exit
        pass


def test_a_legacy_h5_model_with_a_billion_unit_head_is_refused(tmp_path, marker, tripwire):
    path = tmp_path / "huge_head.h5"
    classifier().save(path)
    with h5py.File(path, "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        set_units(config, 10**9)
        handle.attrs["model_config"] = json.dumps(config)
    assert "parameters" in refusal(path, marker, error=ModelError)


def test_an_input_of_40000_pixels_a_side_is_refused(tmp_path, marker, tripwire, plain_keras):
    def widen(config):
        inputs = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "InputLayer")
        inputs["config"]["batch_shape"] = [None, 40000, 40000, 3]

    path = edit_keras_archive(plain_keras, tmp_path / "wide.keras", widen)
    assert "model input is 40000x40000 pixels; Limelight explains inputs up to 2048" in refusal(
        path, marker, error=ModelError)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_hdf5_weights_declaring_gigabytes_are_refused_unread(tmp_path, marker, tripwire, plain_keras, suffix):
    from tests.hostile_files import hdf5_declaring

    weights = tmp_path / ("model.weights.h5" if suffix == ".keras" else "huge.h5")
    if suffix == ".keras":
        with zipfile.ZipFile(plain_keras) as archive:
            weights.write_bytes(archive.read("model.weights.h5"))
    else:
        classifier().save(weights)
    with h5py.File(weights, "r+") as handle:
        hdf5_declaring(handle, "padding", int(3.9 * 1024**3))
    assert weights.stat().st_size < 1024**2
    path = weights
    if suffix == ".keras":
        path = tmp_path / "huge.keras"
        with zipfile.ZipFile(plain_keras) as archive, zipfile.ZipFile(path, "w") as copy:
            for info in archive.infolist():
                copy.writestr(info, weights.read_bytes() if info.filename == weights.name
                              else archive.read(info))
    message = refusal(path, marker, error=ModelError)
    assert "HDF5 data would take 3.9 GB or more in memory, over the 2.0 GB limit" in message


def test_the_weights_member_is_inspected_in_place_not_read_whole(plain_keras, monkeypatch):
    read = []
    original = zipfile.ZipFile.read
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda self, name, *a: read.append(str(name)) or original(
        self, name, *a))
    assert load_model(plain_keras).num_classes == 3
    assert "model.weights.h5" not in read


# --- Files that are not files, and archives Limelight cannot read ---------------------------------

def test_a_fifo_named_like_a_model_is_refused_at_once(tmp_path, marker, tripwire):
    from tests.hostile_files import fifo
    from tests.test_hostile_inputs import finishes

    path = fifo(tmp_path / "model.keras")
    with pytest.raises(ModelError) as caught:
        finishes(load_model, path)
    assert str(caught.value) == f"{path}: is a named pipe (FIFO), not a file"


@pytest.mark.parametrize("how, reason", [({"encrypted": True}, "is encrypted"),
                                         ({"method": 9}, "uses compression method 9")])
def test_keras_members_zipfile_cannot_read_give_one_line(tmp_path, marker, tripwire, plain_keras, how, reason):
    from tests.hostile_files import patched_zip

    path = tmp_path / "odd.keras"
    path.write_bytes(patched_zip(plain_keras.read_bytes(), "model.weights.h5", **how))
    message = refusal(path, marker, error=ModelError)
    assert f"archive member 'model.weights.h5' {reason}" in message


def test_keras_members_climbing_out_of_the_archive_give_one_line_and_no_warnings(tmp_path, marker, tripwire,
                                                                                   plain_keras):
    from tests.hostile_files import add_zip_member

    path = add_zip_member(plain_keras, tmp_path / "climbing.keras", "../../outside.txt", b"x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        message = refusal(path, marker, error=ModelError)
    assert "'../../outside.txt' points outside the archive" in message


# --- Sidecars name files beside the model only ----------------------------------------------------

@pytest.mark.parametrize("where", ["../private/notes.txt", "absolute", "link"])
def test_a_sidecar_cannot_read_labels_from_elsewhere(tmp_path, where):
    from limelight.core.errors import LabelsError

    private = tmp_path / "private"
    private.mkdir()
    notes = private / "notes.txt"
    notes.write_text("my bank pin is 1234\nsecond line\nthird line\n")
    models = tmp_path / "models"
    models.mkdir()
    path = models / "net.keras"
    classifier().save(path)
    if where == "absolute":
        where = str(notes)
    elif where == "link":
        (models / "names.txt").symlink_to(notes)
        where = "names.txt"
    (models / "net.keras.limelight.json").write_text(json.dumps({"preprocessing": "unit", "labels": where}))
    with pytest.raises(LabelsError) as caught:
        load_model(path)
    message = str(caught.value)
    assert "not a file in its own folder" in message and "bank pin" not in message


def test_labels_chosen_from_elsewhere_are_copied_beside_the_model(tmp_path):
    from limelight.core.models import ModelSettings, write_sidecar

    names = tmp_path / "elsewhere" / "names.csv"
    names.parent.mkdir()
    names.write_text("index,name\n0,ant\n1,bee\n2,cow\n")
    path = tmp_path / "models" / "net.keras"
    path.parent.mkdir()
    classifier().save(path)
    write_sidecar(path, ModelSettings(preprocessing="unit", labels_path=str(names)))
    assert json.loads((path.parent / "net.keras.limelight.json").read_text())["labels"] == "net.keras.labels.csv"
    assert load_model(path).labels.names == ("ant", "bee", "cow")


def test_a_labels_file_beside_the_model_that_links_elsewhere_is_passed_over(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("secret one\nsecret two\nsecret three\n")
    models = tmp_path / "models"
    models.mkdir()
    classifier().save(models / "net.keras")
    (models / "labels.txt").symlink_to(notes)
    assert load_model(models / "net.keras").labels.names == ("class 0", "class 1", "class 2")
