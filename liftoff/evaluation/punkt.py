"""NLTK's English Punkt sentence model (``punkt_tab``) for METEOR, offline and verified.

``nltk.word_tokenize`` splits sentences with Punkt before it splits words; the model's
parameters are NLTK data (``tokenizers/punkt_tab``), which ``nltk.download`` cannot fetch on
our build machines and no Debian package ships. The ``llama-index-core`` wheel on PyPI ships
NLTK's archive unmodified, so it is the source here, checked twice:

* the wheel by its sha256 (``uv pip install --require-hashes``, see ``--requirement``);
* the archive inside by the sha256 of NLTK's ``punkt_tab.zip`` (nltk_data revision of
  2025-02-17, 4,319,076 bytes; the digest other distributors record for that file).

Unpacked into ``<data dir>/tokenizers/punkt_tab/``, next to the archive (exactly what
``nltk.download("punkt_tab")`` produces), it is what NLTK's ``PunktTokenizer`` reads.
Wherever NLTK finds the English model, its four files must have the digests in
:data:`ENGLISH_MODEL`, so a score made with ``tok:nltk-word-tokenize`` always means the same
sentence splits.

    $ python -m liftoff.evaluation.punkt --requirement > punkt.txt
    $ uv pip install --no-deps --require-hashes --target /tmp/punkt-source -r punkt.txt
    $ python -m liftoff.evaluation.punkt --source /tmp/punkt-source
    Punkt (English) ready for NLTK in /root/.cache/liftoff/nltk_data

``make setup`` runs these steps. ``LIFTOFF_NLTK_DATA`` (or ``--data-dir``) picks another
directory, as for WordNet; online, ``python -m nltk.downloader punkt_tab`` gives the same files.
Licence: the archive's per-package record in nltk_data says MIT; nltk_data's own licence
inventory lists ``punkt_tab`` as ambiguous. Liftoff neither vendors nor redistributes it.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from liftoff.evaluation.errors import PunktUnavailable
from liftoff.evaluation.wordnet import DATA_DIR_ENV, default_data_dir

PUNKT_LANGUAGE = "english"
SOURCE_DISTRIBUTION = "llama-index-core"
SOURCE_VERSION = "0.14.25"
SOURCE_WHEEL_SHA256 = "caa7d9c5ac9b13dc33400cf8d5e92e689b6d1e4497eb9bfa50d6f52ca2eb22a1"
SOURCE_MEMBER = "llama_index/core/_static/nltk_cache/tokenizers/punkt_tab.zip"
ARCHIVE_SHA256 = "e57f64187974277726a3417ca6f181ec5403676c717672eef6a748a7b20e0106"
# The English model's files (in NLTK's archive above) and their sha256.
ENGLISH_MODEL = {
    "abbrev_types.txt": "92a3e070f43d9b4c5534758ca40ad7343b04e7e29bfe0c2eb658a39445a4f779",
    "collocations.tab": "8e2da1225e4dd2cc9dba261ee231ccb134859e21b46006e7f472c5ee269af0cf",
    "ortho_context.tab": "4bbcca25ed3d3f06c02402abf8419b9f033b8adc06e7b482eca4e45f81a5dc4c",
    "sent_starters.txt": "f3f8535483e1dba487241b764945168123bca3209a9645e59acd1225dc76edac",
}
REQUIREMENT = f"{SOURCE_DISTRIBUTION}=={SOURCE_VERSION} --hash=sha256:{SOURCE_WHEEL_SHA256}"
FIX = (
    "run `make setup`, or: `python -m liftoff.evaluation.punkt --requirement > punkt.txt && "
    "uv pip install --no-deps --require-hashes --target /tmp/punkt-source -r punkt.txt && "
    "python -m liftoff.evaluation.punkt --source /tmp/punkt-source`; online, "
    "`python -m nltk.downloader punkt_tab` gives the same files"
)


def model_dir(data_dir: Path) -> Path:
    return data_dir / "tokenizers" / "punkt_tab" / PUNKT_LANGUAGE


def has_punkt(data_dir: Path) -> bool:
    """Whether ``data_dir`` holds the verified English Punkt model."""
    return _model_problem(_read_file(model_dir(data_dir))) is None


def install_punkt(data_dir: Path, source: Path) -> Path:
    """Unpack NLTK's ``punkt_tab.zip`` into ``data_dir/tokenizers/punkt_tab`` atomically.

    ``source`` is the archive itself or a directory holding the unpacked source wheel. Raises
    :class:`PunktUnavailable` when the archive is missing or its sha256 is not NLTK's.
    """
    archive = source / SOURCE_MEMBER if source.is_dir() else source
    if not archive.is_file():
        raise PunktUnavailable(f"no Punkt archive at {archive}; {FIX}.")
    digest = _sha256(archive.read_bytes())
    if digest != ARCHIVE_SHA256:
        raise PunktUnavailable(
            f"{archive} is not NLTK's punkt_tab.zip (sha256 {digest}, expected "
            f"{ARCHIVE_SHA256}); refusing to install it."
        )
    tokenizers = data_dir / "tokenizers"
    final = tokenizers / "punkt_tab"
    if final.exists():
        shutil.rmtree(final)  # an incomplete or different model: replaced by the verified one
    tokenizers.mkdir(mode=0o755, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".punkt_tab-", dir=tokenizers))
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.infolist():
                parts = PurePosixPath(member.filename).parts
                if member.is_dir() or parts[:1] != ("punkt_tab",) or ".." in parts:
                    continue
                target = staging.joinpath(*parts[1:])
                target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                target.write_bytes(bundle.read(member))
                target.chmod(0o644)
        for directory in (staging, *(p for p in staging.rglob("*") if p.is_dir())):
            directory.chmod(0o755)  # NLTK reads only from directories that others cannot write
        problem = _model_problem(_read_file(staging / PUNKT_LANGUAGE))
        if problem is not None:
            raise PunktUnavailable(f"NLTK's punkt_tab.zip unpacked wrongly: {problem}")
        staging.rename(final)
        shutil.copyfile(archive, tokenizers / "punkt_tab.zip")  # as nltk.download leaves it
        (tokenizers / "punkt_tab.zip").chmod(0o644)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return data_dir


def load_punkt(data_dir: Path | None = None) -> Path:
    """Make NLTK's ``sent_tokenize`` use the verified English model; return its data root.

    Looks in ``data_dir`` (default: :func:`~liftoff.evaluation.wordnet.default_data_dir`) and
    on NLTK's own search path. Raises :class:`PunktUnavailable` naming the fix when there is no
    model, or when the one NLTK would load is not the verified one.
    """
    return _load(data_dir if data_dir is not None else default_data_dir())


@functools.lru_cache(maxsize=4)
def _load(data_dir: Path) -> Path:
    import nltk.data

    if str(data_dir) not in nltk.data.path:
        nltk.data.path.append(str(data_dir))  # after the user's own NLTK data directories
    try:
        pointer = nltk.data.find(f"tokenizers/punkt_tab/{PUNKT_LANGUAGE}/")
    except LookupError as exc:
        raise PunktUnavailable(
            f"NLTK's Punkt model ({PUNKT_LANGUAGE}) is not installed in {data_dir} "
            f"nor on NLTK's data path; {FIX}."
        ) from exc
    problem = _model_problem(lambda name: _read_pointer(pointer, name))
    if problem is not None:
        raise PunktUnavailable(
            f"NLTK would load the Punkt model in {pointer}, which is not the verified one "
            f"({problem}): remove it or put a verified model first on NLTK's path; {FIX}."
        )
    path = getattr(pointer, "path", None)
    return Path(path).parents[2] if isinstance(path, str) else data_dir


def _read_pointer(pointer: Any, name: str) -> bytes | None:
    """A file of the model NLTK found (a directory or inside a zip), ``None`` if missing."""
    try:
        with pointer.join(name).open() as stream:
            data: bytes = stream.read()
    except OSError:
        return None
    return data


def _model_problem(read: Callable[[str], bytes | None]) -> str | None:
    """What is wrong with an English model whose files ``read`` returns, or ``None``."""
    for name, expected in ENGLISH_MODEL.items():
        data = read(name)
        if data is None:
            return f"{name} is missing"
        if _sha256(data) != expected:
            return f"{name} differs from NLTK's punkt_tab of 2025-02-17"
    return None


def _read_file(directory: Path) -> Callable[[str], bytes | None]:
    def read(name: str) -> bytes | None:
        path = directory / name
        return path.read_bytes() if path.is_file() else None

    return read


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m liftoff.evaluation.punkt [--data-dir DIR] [--source PATH | --requirement]``:
    install from a source, or print the source's requirement; then check the model loads."""
    parser = argparse.ArgumentParser(
        prog="python -m liftoff.evaluation.punkt",
        description="Make NLTK's English Punkt model (punkt_tab) available offline (METEOR).",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"NLTK data directory (default: ${DATA_DIR_ENV} or ~/.cache/liftoff/nltk_data)",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--source",
        type=Path,
        help="punkt_tab.zip, or a directory holding the unpacked source wheel, to install from",
    )
    action.add_argument(
        "--requirement",
        action="store_true",
        help="print the hash-pinned requirement of the source wheel and exit",
    )
    args = parser.parse_args(argv)
    if args.requirement:
        print(REQUIREMENT)
        return 0
    data_dir = args.data_dir if args.data_dir is not None else default_data_dir()
    try:
        if args.source is not None:
            install_punkt(data_dir, args.source)
        root = load_punkt(data_dir)
    except PunktUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Punkt ({PUNKT_LANGUAGE}) ready for NLTK in {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
