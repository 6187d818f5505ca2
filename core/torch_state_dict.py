"""Read a PyTorch state dict saved in torch's legacy (non-zip) format into numpy arrays, without torch."""
import collections
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

from limelight.core.errors import ModelError, UntrustedModelError
from limelight.core.files import open_regular_file

# The first pickle in a legacy file; anything else is not a torch.save file.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

#: The torch storage types a state dict may hold, and the numpy dtype of their elements.
#: bfloat16 is missing because numpy has no such type.
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


def read_state_dict(path):
    """Read the tensors of a PyTorch state dict saved with torch's legacy serialisation.

    The file is unpickled with an allow-list of the few names a state dict needs (an ordered
    dict, torch's tensor rebuild function and its storage types), each mapped to a local
    stand-in, so reading weights never runs code named in the file.

    Parameters
    ----------
    path : str or path-like
        A ``.pth`` or ``.pt`` file written by ``torch.save(model.state_dict(), path,
        _use_new_zipfile_serialization=False)`` (or by torch before 1.6).

    Returns
    -------
    dict of str to ndarray
        Each tensor, by its state dict key, as a C-contiguous array of its torch dtype in native
        byte order. Entries that are not tensors (such as counters stored as plain ints) are
        left out.

    Raises
    ------
    UntrustedModelError
        If the file names any other Python object, which a plain weights file never needs.
    ModelError
        If the file is missing, not a legacy torch file, truncated or inconsistent.
    """
    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        raise ModelError("is a torch zip-format file; this reader supports only the legacy format, so "
                         "re-save it with torch.save(..., _use_new_zipfile_serialization=False).", path=path)
    try:
        with open_regular_file(path, error=ModelError) as f:
            return _read_legacy(f, path)
    except OSError as exc:
        raise ModelError(f"cannot be read ({exc.strerror or exc}); check the path and permissions.",
                         path=path) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            RecursionError, struct.error) as exc:
        # A damaged pickle can fail in any of these ways; to the user they all mean the same thing.
        raise ModelError(f"is not a readable torch legacy weights file ({exc}).", path=path) from None


class _Storage:
    """A torch storage named in the pickle, whose bytes follow the pickle in the file."""

    def __init__(self, dtype, numel):
        self.dtype = dtype
        self.numel = numel
        self.data = None  # filled in once the raw records after the pickle have been read


class _StorageView:
    """A slice of a storage (old torch files can share one storage between several views)."""

    def __init__(self, root, offset, numel):
        self.root, self.offset, self.numel = root, offset, numel


class _TensorRef:
    """A tensor waiting for its storage's bytes: the arguments of ``_rebuild_tensor_v2``."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.size = tuple(int(n) for n in size)
        self.stride = tuple(int(n) for n in stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, (_Storage, _StorageView)):
        raise pickle.UnpicklingError("a tensor refers to something that is not a storage")
    return _TensorRef(storage, storage_offset, size, stride)


class _StorageType:
    """Stands in for ``torch.FloatStorage`` and friends: only ever used as a marker of the dtype."""

    def __init__(self, name):
        self.dtype = STORAGE_DTYPES[name]

    def __call__(self, *args, **kwargs):
        # A real storage type is callable; a weights file never needs to call one.
        raise pickle.UnpicklingError("a torch storage type may not be called while loading weights")


_STORAGE_TYPES = {name: _StorageType(name) for name in STORAGE_DTYPES}
_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    **{("torch", name): stand_in for name, stand_in in _STORAGE_TYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only the names a state dict needs, and collects the storages it refers to."""

    def __init__(self, file, storages, path):
        super().__init__(file)
        self._storages = storages
        self._path = path

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UntrustedModelError(f"names the Python object {module}.{name}, which a weights file never "
                                      "needs; it was not loaded because it could run code.",
                                      path=self._path) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        storage_type, key, _location, numel = pid[1:5]
        view = pid[5] if len(pid) == 6 else None
        if not isinstance(storage_type, _StorageType) or not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError(f"malformed storage record {pid!r:.80}")
        key = str(key)
        storage = self._storages.setdefault(key, _Storage(storage_type.dtype, numel))
        if view is None:
            return storage
        view_key, offset, view_numel = view
        root = self._storages.get(str(view_key))
        if root is not storage or offset < 0 or view_numel < 0 or offset + view_numel > storage.numel:
            raise pickle.UnpicklingError("a storage view lies outside its storage")
        return _StorageView(storage, int(offset), int(view_numel))


def _read_legacy(f, path):
    storages = {}

    def load():
        return _RestrictedUnpickler(f, storages, path).load()

    if load() != _LEGACY_MAGIC:
        raise ModelError("is not a torch weights file (its header is wrong).", path=path)
    if load() != _LEGACY_PROTOCOL:
        raise ModelError("uses a torch serialisation protocol this reader does not know.", path=path)
    sys_info = load()
    byte_order = "<" if not isinstance(sys_info, dict) or sys_info.get("little_endian", True) else ">"
    state = load()
    keys = load()
    if not isinstance(keys, list) or set(map(str, keys)) != set(storages):
        raise ModelError("lists storages that its tensors do not match; the file is damaged.", path=path)

    for key in map(str, keys):
        storage = storages[key]
        itemsize = np.dtype(storage.dtype).itemsize
        (numel,) = struct.unpack(byte_order + "q", _read_exactly(f, 8, path))
        if numel != storage.numel:
            raise ModelError(f"has storage {key} with {numel} elements where its header says "
                             f"{storage.numel}; the file is damaged.", path=path)
        raw = _read_exactly(f, numel * itemsize, path)
        storage.data = np.frombuffer(raw, dtype=np.dtype(storage.dtype).newbyteorder(byte_order))

    if not isinstance(state, dict):
        raise ModelError("does not hold a state dict (a mapping of names to tensors); save "
                         "model.state_dict() rather than the model.", path=path)
    return {str(name): _materialise(ref, path, name) for name, ref in state.items()
            if isinstance(ref, _TensorRef)}


def _read_exactly(f, n, path):
    # Check the size first: a damaged count must not make read() allocate terabytes.
    here = f.tell()
    if n > f.seek(0, 2) - here:
        raise ModelError("ends before all its tensors' data; the file is truncated.", path=path)
    f.seek(here)
    data = f.read(n)
    if len(data) != n:
        raise ModelError("ends before all its tensors' data; the file is truncated.", path=path)
    return data


def _materialise(ref, path, name):
    storage, offset = ref.storage, ref.offset
    if isinstance(storage, _StorageView):
        storage, offset = storage.root, storage.offset + offset
    data = storage.data
    if len(ref.size) != len(ref.stride) or min(ref.size + ref.stride + (offset,), default=0) < 0:
        raise ModelError(f"has tensor {name!r} with an impossible shape or stride; the file is damaged.",
                         path=path)
    # as_strided reads raw memory, so prove every element lies inside the storage first.
    if 0 not in ref.size:
        last = offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
        if last >= data.size:
            raise ModelError(f"has tensor {name!r} reaching past the end of its storage; the file is "
                             "damaged.", path=path)
        view = np.lib.stride_tricks.as_strided(data[offset:], shape=ref.size,
                                               strides=[s * data.itemsize for s in ref.stride],
                                               writeable=False)
    else:
        view = np.empty(ref.size, dtype=data.dtype)
    # np.array rather than ascontiguousarray, which would turn a 0-d tensor into shape (1,).
    return np.array(view, dtype=data.dtype.newbyteorder("="), order="C", copy=True)
