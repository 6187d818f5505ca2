"""Open files that come from strangers: regular files only, and what they declare checked against limits first.

Every loader (images, models, labels, reports) goes through these gates, so a FIFO, a device, a
zip bomb or a file that declares a huge array is refused in one line, before anything blocks or
allocates.
"""
import os
import shutil
import stat
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from limelight.core.errors import LimelightError

# The limits a user can check a file against; the README's Safety section states them.
#: Parameters a model may declare: 500 million float32 weights are 2 GB.
MAX_PARAMETERS = 500_000_000
#: The longest input side a model may declare, in pixels.
MAX_INPUT_SIDE = 2048
#: Bytes all the datasets of an HDF5 model file (or a .keras archive's weights) may declare.
MAX_HDF5_BYTES = 2 * 1024**3
#: Bytes a .keras archive may unpack to.
MAX_UNPACKED_BYTES = 2 * 1024**3
#: Members a zip archive (.keras model, report arrays) may hold.
MAX_ZIP_MEMBERS = 1000
#: Bytes a report's arrays may declare, all together.
MAX_ARRAY_BYTES = 1024**3
#: Bytes of a text file Limelight reads whole: labels, sidecars, reports.
MAX_TEXT_BYTES = 64 * 1024**2

# Python's zipfile inflates these; any other method (deflate64, say) it cannot read.
_ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
                zipfile.ZIP_LZMA: "lzma"}
# The .npy header versions numpy writes for plain arrays.
_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_KINDS = {stat.S_ISDIR: "is a folder, not a file", stat.S_ISFIFO: "is a named pipe (FIFO), not a file",
          stat.S_ISCHR: "is a device, not a file", stat.S_ISBLK: "is a device, not a file",
          stat.S_ISSOCK: "is a socket, not a file"}


def open_regular_file(path, *, error=LimelightError, max_bytes=None):
    """Open a file for reading in binary, refusing anything that is not a regular file.

    Links are followed, and what they lead to is checked: a link to ``/dev/zero`` is a device.
    The file is opened non-blocking, so a FIFO is refused at once instead of waiting for a writer.

    Parameters
    ----------
    path : str or Path
    error : type of LimelightError
        What to raise, so each loader keeps its own error class.
    max_bytes : int, optional
        Refuse a larger file.

    Returns
    -------
    file object opened "rb"
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise error("file not found", path=path) from None
    except OSError as exc:
        # Windows refuses to open a folder with "permission denied".
        reason = _KINDS[stat.S_ISDIR] if os.path.isdir(path) else f"cannot be opened ({exc.strerror or exc})"
        raise error(reason, path=path) from None
    except ValueError:
        raise error("cannot be opened (its name holds a NUL character)", path=path) from None
    try:
        status = os.fstat(descriptor)
        for is_kind, reason in _KINDS.items():
            if is_kind(status.st_mode):
                raise error(reason, path=path)
        if not stat.S_ISREG(status.st_mode):
            raise error("is not a regular file", path=path)
        size = status.st_size
        if max_bytes is not None and size > max_bytes:
            raise error(f"is {_size(size)}, over the {_size(max_bytes)} a file of this kind may have", path=path)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_text(path, *, error=LimelightError, max_bytes=MAX_TEXT_BYTES, encoding="utf-8") -> str:
    """The text of a small regular file, or one line saying why not."""
    with open_regular_file(path, error=error, max_bytes=max_bytes) as stream:
        data = stream.read(max_bytes + 1)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise error("is not UTF-8 text", path=path) from None


def file_in_folder(folder, name, *, error=LimelightError, named_by=None) -> Path:
    """The file `name` inside `folder`, refusing a name that leads elsewhere (absolute, ``..``, a link out)."""
    folder = Path(folder).resolve()
    target = (folder / name).resolve()
    if Path(name).is_absolute() or target.parent != folder:
        raise error(f"names {name!r}, which is not a file in its own folder; Limelight reads only files "
                    "beside it (copy the file there)", path=named_by)
    return target


def check_zip_members(archive: zipfile.ZipFile, *, path, error=LimelightError, max_unpacked=MAX_UNPACKED_BYTES,
                      max_members=MAX_ZIP_MEMBERS) -> dict:
    """Check a zip archive's directory before any member is read, and return its members by name.

    Only the central directory is read: the declared sizes are what Python's zipfile inflates at
    most, so they bound what reading a member costs. Refuses too many members, too many bytes,
    encrypted members, compression methods zipfile cannot read, duplicate names and names that
    climb out of the archive.

    Returns
    -------
    dict of str to ZipInfo
    """
    infos = archive.infolist()
    if len(infos) > max_members:
        raise error(f"archive has {len(infos):,} members, over the limit of {max_members:,}", path=path)
    members = {}
    for info in infos:
        name = info.filename
        if name in members:
            raise error(f"archive has two members named {name!r}; it is damaged or made to mislead", path=path)
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
            raise error(f"archive member {name!r} points outside the archive", path=path)
        if info.flag_bits & 0x1:
            raise error(f"archive member {name!r} is encrypted; Limelight reads only plain archives", path=path)
        if info.compress_type not in _ZIP_METHODS:
            raise error(f"archive member {name!r} uses compression method {info.compress_type}, which "
                        f"Limelight cannot read; save it again with {_ZIP_METHODS[zipfile.ZIP_DEFLATED]}",
                        path=path)
        members[name] = info
    unpacked = sum(info.file_size for info in infos)
    if unpacked > max_unpacked:
        raise error(f"archive would unpack to {_size(unpacked)}, over the {_size(max_unpacked)} safety limit "
                    "(possible zip bomb)", path=path)
    return members


@contextmanager
def seekable_member(archive: zipfile.ZipFile, name):
    """A member of a checked archive to read with seeks (HDF5), without holding it in memory.

    A stored member is read in place. A compressed one is copied to a temporary file first,
    streamed: zipfile re-inflates from the start on every backward seek, which for a compressed
    92 MB member took 12 s instead of 1.3 s.
    """
    with archive.open(name) as member:
        if archive.getinfo(name).compress_type == zipfile.ZIP_STORED:
            yield member
            return
        with tempfile.TemporaryFile() as copy:
            shutil.copyfileobj(member, copy, 1024**2)
            copy.seek(0)
            yield copy


def check_hdf5_sizes(handle, *, path, error=LimelightError, max_bytes=MAX_HDF5_BYTES) -> None:
    """Refuse an open h5py file whose datasets declare more than `max_bytes` in all.

    Only shapes and types are read: a chunked dataset can declare gigabytes with a few bytes stored.
    """
    import h5py

    total = 0

    def add(name, item):
        nonlocal total
        if isinstance(item, h5py.Dataset):
            total += int(np.prod(item.shape, dtype=np.float64) * item.dtype.itemsize) if item.shape else 0
            if total > max_bytes:
                raise error(f"HDF5 data would take {_size(total)} or more in memory, over the {_size(max_bytes)} "
                            "limit", path=path)

    handle.visititems(add)


def check_npz_arrays(archive: zipfile.ZipFile, members: dict, *, path, error=LimelightError,
                     max_bytes=MAX_ARRAY_BYTES) -> None:
    """Refuse a .npz whose arrays declare more than `max_bytes` in all, from each .npy header alone."""
    total = 0
    for name in members:
        with archive.open(name) as stream:
            try:
                read_header = _NPY_HEADERS.get(np.lib.format.read_magic(stream))
                if read_header is None:
                    raise ValueError("unknown .npy version")
                shape, _, dtype = read_header(stream)
            except (ValueError, OSError, EOFError, SyntaxError) as exc:
                raise error(f"array {name!r} has no readable header ({_first_line(exc)})", path=path) from None
        total += int(np.prod(shape, dtype=np.float64) * dtype.itemsize)
        if total > max_bytes:
            raise error(f"arrays would take {_size(total)} or more in memory, over the {_size(max_bytes)} limit",
                        path=path)


def check_model_size(config: dict, *, path, error=LimelightError, safe_mode=True, legacy=False) -> None:
    """Refuse a Keras model config that declares too many parameters or too large an input.

    The model is built from its config in a stateless scope, where Keras creates its variables
    without storage: a head of a billion units costs nothing to count. `legacy` configs (.h5
    files) are built the way Keras' own .h5 loader builds them.
    """
    import keras
    # Keras has no public way to build a legacy config or to forget storage-less variables.
    from keras.src.backend.common import global_state
    from keras.src.legacy.saving import saving_options, saving_utils
    from keras.src.saving import serialization_lib

    pending = "uninitialized_variables"
    before = list(global_state.get_global_attribute(pending, []) or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            if legacy:
                with (saving_options.keras_option_scope(use_legacy_config=True),
                      serialization_lib.SafeModeScope(safe_mode)):
                    model = saving_utils.model_from_config(config)
            else:
                model = keras.saving.deserialize_keras_object(config, safe_mode=safe_mode)
            parameters = sum(int(np.prod(v.shape, dtype=np.float64)) for v in model.weights)
            shapes = [tuple(tensor.shape) for tensor in getattr(model, "inputs", None) or []]
    except LimelightError:
        raise
    except Exception as exc:  # Keras raises many types for bad configs; the loader says it again
        raise error(f"cannot build the model from its config ({_first_line(exc)})", path=path) from None
    finally:
        # The storage-less variables must never be given storage by a later scope.
        global_state.set_global_attribute(pending, before)
    if parameters > MAX_PARAMETERS:
        raise error(f"model declares {parameters:,} parameters, over the limit of {MAX_PARAMETERS:,} "
                    f"({_size(4 * parameters)} of weights)", path=path)
    for shape in shapes:
        sides = [side for side in shape[1:-1] if side is not None]
        if sides and max(sides) > MAX_INPUT_SIDE:
            raise error(f"model input is {'x'.join(map(str, sides))} pixels; Limelight explains inputs up to "
                        f"{MAX_INPUT_SIDE} pixels a side", path=path)


def _size(count) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:200] if lines else type(error).__name__


def cache_dir() -> Path:
    """Where built models are cached: $LIMELIGHT_CACHE_DIR, else the user's cache folder."""
    if os.environ.get("LIMELIGHT_CACHE_DIR"):
        return Path(os.environ["LIMELIGHT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "limelight"
