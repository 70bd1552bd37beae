"""A GGUF file's scalar metadata, read without its arrays.

``gguf.GGUFReader`` parses every metadata array into numpy views, the vocabulary included:
over a second for all-MiniLM-L6-v2's 30,522 tokens on a 2-core machine, and ten times that
for a 262,144-token vocabulary, at every start. The gateway needs a few numbers and strings
(architecture, window, pooling, what a cached conversion was made from), so it reads the
header itself and skips the arrays: a few milliseconds. The layout is the GGUF
specification's (ggml ``docs/gguf.md``, version 2 and 3, little-endian): ``"GGUF"``,
``uint32`` version, ``uint64`` tensor count, ``uint64`` key-value count, then each key as a
``uint64``-length UTF-8 string, a ``uint32`` value type and the value; arrays are a ``uint32``
element type, a ``uint64`` count and the elements. ``tests/api/test_gguf_metadata.py`` checks
it against ``gguf.GGUFReader``.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

Scalar = int | float | bool | str

# GGUF value types: struct format of the fixed-size ones.
_FIXED = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q"}
_FIXED |= {11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAGIC = b"GGUF"


class GGUFFormatError(ValueError):
    """Not a GGUF file this reader understands (magic, version, or a truncated header)."""


def read_metadata(path: Path) -> dict[str, Scalar]:
    """Every scalar key-value pair of the GGUF file at ``path``; arrays are skipped.

    Raises ``GGUFFormatError`` for a file that is not GGUF version 2 or 3 or ends early, and
    ``OSError`` when it cannot be read."""
    with path.open("rb") as file:
        if file.read(4) != _MAGIC:
            raise GGUFFormatError(f"{path.name} is not a GGUF file")
        (version,) = _unpack(file, "<I")
        if version not in (2, 3):
            raise GGUFFormatError(f"{path.name} is GGUF version {version}; 2 and 3 are read")
        _tensors, count = _unpack(file, "<QQ")
        metadata: dict[str, Scalar] = {}
        for _ in range(count):
            key = _string(file)
            (kind,) = _unpack(file, "<I")
            if kind == _ARRAY:
                _skip_array(file)
            else:
                metadata[key] = _value(file, kind)
        return metadata


def _value(file: BinaryIO, kind: int) -> Scalar:
    if kind == _STRING:
        return _string(file)
    if kind not in _FIXED:
        raise GGUFFormatError(f"unknown GGUF value type {kind}")
    (value,) = _unpack(file, _FIXED[kind])
    scalar: Scalar = value
    return scalar


def _skip_array(file: BinaryIO) -> None:
    kind, count = _unpack(file, "<IQ")
    if kind == _STRING:
        for _ in range(count):
            (length,) = _unpack(file, "<Q")
            file.seek(length, 1)
    elif kind == _ARRAY:
        for _ in range(count):
            _skip_array(file)
    elif kind in _FIXED:
        file.seek(count * struct.calcsize(_FIXED[kind]), 1)
    else:
        raise GGUFFormatError(f"unknown GGUF array type {kind}")


def _string(file: BinaryIO) -> str:
    (length,) = _unpack(file, "<Q")
    data = file.read(length)
    if len(data) != length:
        raise GGUFFormatError("the GGUF header ends early")
    return data.decode("utf-8", errors="replace")


def _unpack(file: BinaryIO, layout: str) -> tuple[Any, ...]:
    size = struct.calcsize(layout)
    data = file.read(size)
    if len(data) != size:
        raise GGUFFormatError("the GGUF header ends early")
    return struct.unpack(layout, data)
