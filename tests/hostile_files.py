"""Makers of hostile files for the tests: small files that declare huge things, archives with odd members,
files that are not files. Each is built here in a few milliseconds; none is downloaded."""
import io
import os
import struct
import zipfile

import numpy as np

# A PostScript program Pillow's EPS plugin accepts: its bounding box is enough for Pillow to hand
# the rest to Ghostscript.
POSTSCRIPT = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\n"
              b"(/tmp/limelight_ghostscript_ran) (w) file closefile\nshowpage\n%%EOF\n")


def keras_layers(config):
    """The layer configs of a saved Functional or Sequential model."""
    return config["config"]["layers"]


def add_zip_member(source, target, name, data=b"", *, method=zipfile.ZIP_STORED):
    """Copy an archive and add one member (a name may climb out: zipfile writes what it is given)."""
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as copy:
        for info in archive.infolist():
            copy.writestr(info, archive.read(info))
        copy.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return target


def patched_zip(archive: bytes, name, *, method=None, encrypted=False) -> bytes:
    """The archive with one member's compression method or encryption flag rewritten in both its headers,
    as another zip tool would have written them (deflate64 is method 9; zipfile cannot write either)."""
    data = bytearray(archive)
    encoded = name.encode("utf-8")
    for signature, flags_at, method_at, name_length_at, name_at in ((b"PK\x03\x04", 6, 8, 26, 30),
                                                                    (b"PK\x01\x02", 8, 10, 28, 46)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            length, = struct.unpack_from("<H", data, start + name_length_at)
            if bytes(data[start + name_at:start + name_at + length]) == encoded:
                if method is not None:
                    struct.pack_into("<H", data, start + method_at, method)
                if encrypted:
                    flags, = struct.unpack_from("<H", data, start + flags_at)
                    struct.pack_into("<H", data, start + flags_at, flags | 0x1)
            start += 4
    return bytes(data)


def hdf5_declaring(handle, name, nbytes):
    """Add a chunked float32 dataset that declares `nbytes` and stores nothing (its fill value)."""
    count = nbytes // 4
    return handle.create_dataset(name, shape=(count,), dtype="float32", chunks=(min(count, 4096),))


def npy_declaring(shape, dtype="<f4", payload=b"") -> bytes:
    """A .npy file whose header declares `shape` but which holds only `payload`."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return header.getvalue() + payload


def fifo(path):
    """A named pipe nobody writes to: reading it blocks forever."""
    os.mkfifo(path)
    return path


def nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth
