"""The GGUF header reader agrees with the ``gguf`` library's reader on every scalar, skips
arrays of every kind, and refuses what is not a whole GGUF header."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from liftoff.api.gguf_metadata import GGUFFormatError, read_metadata


def scalars(path: Path) -> dict[str, object]:
    """What gguf.GGUFReader reads, without the arrays and the header fields."""
    fields = gguf.GGUFReader(path).fields
    return {
        key: field.contents()
        for key, field in fields.items()
        if not key.startswith("GGUF.") and gguf.GGUFValueType.ARRAY not in field.types
    }


@pytest.fixture
def every_type(tmp_path: Path) -> Path:
    path = tmp_path / "types.gguf"
    writer = gguf.GGUFWriter(path, "bert")
    writer.add_uint8("t.u8", 200)
    writer.add_int8("t.i8", -100)
    writer.add_uint16("t.u16", 60000)
    writer.add_int16("t.i16", -30000)
    writer.add_uint32("t.u32", 4_000_000_000)
    writer.add_int32("t.i32", -2_000_000_000)
    writer.add_float32("t.f32", 0.5)
    writer.add_bool("t.bool", True)
    writer.add_string("t.str", "héllo ▁world")
    writer.add_uint64("t.u64", 2**63 + 5)
    writer.add_int64("t.i64", -(2**62))
    writer.add_float64("t.f64", 1e-300)
    writer.add_array("t.strings", ["a", "bb", "ccc" * 100])
    writer.add_array("t.ints", [1, 2, 3])
    writer.add_array("t.floats", [0.25, 0.5])
    writer.add_array("t.nested", [[1, 2], [3]])
    writer.add_string("t.after_arrays", "still read")
    writer.add_tensor("w", np.zeros((2, 3), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_every_scalar_type_matches_the_gguf_library(every_type: Path) -> None:
    metadata = read_metadata(every_type)
    assert metadata == pytest.approx(scalars(every_type))
    assert metadata["t.after_arrays"] == "still read"
    assert "t.strings" not in metadata and "t.nested" not in metadata


def test_a_converted_model_matches_the_gguf_library(embedding_gguf_path: Path) -> None:
    assert read_metadata(embedding_gguf_path) == pytest.approx(scalars(embedding_gguf_path))


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(GGUFFormatError, match="not a GGUF file"):
        read_metadata(path)


def test_a_header_cut_short_is_refused(every_type: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(every_type.read_bytes()[:150])
    with pytest.raises(GGUFFormatError, match="ends early"):
        read_metadata(cut)
