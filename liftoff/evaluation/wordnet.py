"""WordNet 3.0 for NLTK, offline.

METEOR needs WordNet, and ``nltk.download`` cannot reach the internet on our build machines.
Debian's ``wordnet-base`` and ``wordnet-sense-index`` packages hold the WordNet 3.0 database;
copied (NLTK refuses symlinks leaving its data root) into ``<data dir>/corpora/wordnet/`` next
to a generated ``lexnames`` file, it is exactly what NLTK's ``WordNetCorpusReader`` reads.

    $ python -m liftoff.evaluation.wordnet                 # provisions ~/.cache/liftoff/nltk_data
    WordNet 3.0 ready for NLTK in /root/.cache/liftoff/nltk_data

``LIFTOFF_NLTK_DATA`` (or ``--data-dir``) picks another directory. A WordNet that NLTK already
finds on its own search path (``nltk.download("wordnet")``) is used as it is.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from liftoff.evaluation.errors import WordNetUnavailable

if TYPE_CHECKING:
    from nltk.corpus.reader import WordNetCorpusReader

logger = logging.getLogger(__name__)

WORDNET_VERSION = "3.0"
DATA_DIR_ENV = "LIFTOFF_NLTK_DATA"
DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
DEBIAN_PACKAGES = ("wordnet-base", "wordnet-sense-index")
APT_INSTALL = "apt-get install -y " + " ".join(DEBIAN_PACKAGES)

# The database files NLTK's WordNetCorpusReader opens, all shipped by the Debian packages.
SOURCE_FILES = (
    "cntlist.rev",
    "index.sense",
    "index.adj",
    "index.adv",
    "index.noun",
    "index.verb",
    "data.adj",
    "data.adv",
    "data.noun",
    "data.verb",
    "adj.exc",
    "adv.exc",
    "noun.exc",
    "verb.exc",
)

# The 45 lexicographer files, numbered from 00, as listed in the lexnames(5WN) man page.
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal",
    "noun.artifact", "noun.attribute", "noun.body", "noun.cognition", "noun.communication",
    "noun.event", "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive",
    "noun.object", "noun.person", "noun.phenomenon", "noun.plant", "noun.possession",
    "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
    "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition",
    "verb.communication", "verb.competition", "verb.consumption", "verb.contact",
    "verb.creation", "verb.emotion", "verb.motion", "verb.perception", "verb.possession",
    "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)  # fmt: skip
_SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def lexnames_text() -> str:
    """The ``lexnames`` file: ``NN<TAB>name<TAB>category`` per lexicographer file."""
    return "".join(
        f"{number:02d}\t{name}\t{_SYNTACTIC_CATEGORY[name.split('.')[0]]}\n"
        for number, name in enumerate(LEXNAMES)
    )


def default_data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``$LIFTOFF_NLTK_DATA``, else ``~/.cache/liftoff/nltk_data``."""
    configured = environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "liftoff" / "nltk_data"


def has_wordnet(data_dir: Path) -> bool:
    """Whether ``data_dir`` holds a complete WordNet directory (or NLTK's zip) for NLTK."""
    corpora = data_dir / "corpora"
    if (corpora / "wordnet.zip").is_file():
        return True
    wordnet = corpora / "wordnet"
    return all((wordnet / name).is_file() for name in (*SOURCE_FILES, "lexnames"))


def ensure_wordnet(
    data_dir: Path | None = None,
    *,
    source: Path | None = None,
    install: bool | None = None,
) -> Path:
    """Return an NLTK data directory holding WordNet, building one from Debian's files if needed.

    Looks in ``data_dir`` (default: :func:`default_data_dir`), then on NLTK's own search path
    (used if NLTK loads it as WordNet 3.0); else builds ``data_dir`` from ``source`` (default:
    Debian's ``/usr/share/wordnet``). ``install`` allows ``apt-get``; by default only as root.
    """
    target = data_dir if data_dir is not None else default_data_dir()
    if has_wordnet(target):
        return target
    existing = _nltk_wordnet_root()
    if existing is not None:
        try:
            _open_reader(existing.resolve())
        except WordNetUnavailable as exc:
            logger.warning("not using the WordNet on NLTK's path: %s", exc)
        else:
            return existing
    return build_wordnet(target, source=source, install=install)


def build_wordnet(
    data_dir: Path, *, source: Path | None = None, install: bool | None = None
) -> Path:
    """Copy Debian's WordNet 3.0 into ``data_dir/corpora/wordnet`` atomically; return the dir."""
    source = source if source is not None else DEBIAN_WORDNET_DIR
    if _missing_files(source):
        if install if install is not None else _is_root():
            _apt_install()
        missing = _missing_files(source)
        if missing:
            raise WordNetUnavailable(
                f"WordNet {WORDNET_VERSION} is not installed: {source} lacks "
                f"{', '.join(missing)}. Install it with `sudo {APT_INSTALL}` (Debian/Ubuntu) "
                f"and run `python -m liftoff.evaluation.wordnet`, or run "
                f"`python -m nltk.downloader wordnet` where the internet is reachable."
            )
    corpora = data_dir / "corpora"
    final = corpora / "wordnet"
    if final.exists():
        raise WordNetUnavailable(
            f"{final} exists but is not a complete WordNet directory; remove it and run "
            f"`python -m liftoff.evaluation.wordnet --data-dir {data_dir}`."
        )
    corpora.mkdir(mode=0o755, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=corpora))
    try:
        for name in SOURCE_FILES:
            shutil.copyfile(source / name, staging / name)
            (staging / name).chmod(0o644)
        (staging / "lexnames").write_text(lexnames_text(), encoding="utf-8")
        (staging / "lexnames").chmod(0o644)
        staging.chmod(0o755)  # NLTK reads only from directories that others cannot write
        try:
            staging.rename(final)
        except OSError:
            if not has_wordnet(data_dir):  # nobody else finished the same build first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("built WordNet %s for NLTK in %s from %s", WORDNET_VERSION, data_dir, source)
    return data_dir


def load_wordnet(data_dir: Path | None = None) -> WordNetCorpusReader:
    """NLTK's WordNet reader on :func:`ensure_wordnet`'s directory, checked to be version 3.0."""
    return _open_reader(ensure_wordnet(data_dir).resolve())


@functools.lru_cache(maxsize=4)
def _open_reader(root: Path) -> WordNetCorpusReader:
    import nltk.data

    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))  # NLTK opens files only under its data roots
    fix = f"run `python -m liftoff.evaluation.wordnet --data-dir {root}` (after `{APT_INSTALL}`)"
    try:
        try:
            pointer = nltk.data.find("corpora/wordnet", paths=[str(root)])
        except LookupError:
            pointer = nltk.data.find("corpora/wordnet.zip/wordnet/", paths=[str(root)])
        reader = new_reader(pointer)
        version = reader.get_version()
    except (LookupError, OSError, ValueError) as exc:
        raise WordNetUnavailable(f"NLTK cannot read WordNet in {root} ({exc}); {fix}.") from exc
    if version != WORDNET_VERSION:
        raise WordNetUnavailable(
            f"{root} holds WordNet {version}, but METEOR scores are defined on WordNet "
            f"{WORDNET_VERSION}; {fix} into another directory."
        )
    return reader


def new_reader(pointer: Any) -> WordNetCorpusReader:
    """A fresh NLTK WordNet reader (see :func:`_reader_class`) on an NLTK path pointer."""
    from nltk.corpus.reader import CorpusReader, WordNetCorpusReader
    from nltk.corpus.util import LazyCorpusLoader

    omw = LazyCorpusLoader("omw-2.0", CorpusReader, r".*/wn-data-.*\.tab", encoding="utf8")
    reader: WordNetCorpusReader = _reader_class(WordNetCorpusReader)(pointer, omw)
    return reader


def _reader_class(base: type[WordNetCorpusReader]) -> type[WordNetCorpusReader]:
    class WordNet30Reader(base):  # type: ignore[misc]
        """NLTK's reader, with two changes:

        * no WordNet-3.0-to-loaded-version sense map for multilingual lookups: the loaded
          version is 3.0, so that map is the identity (``map_wn`` compares "3.0" with the
          package name "wordnet" and rereads ``index.sense`` twice, half the load time);
        * data files opened per process: NLTK keeps each ``data.*`` file open and seeks in
          it, and a forked worker inherits the open file *with its offset*, so two workers
          reading synsets at once read each other's lines (wrong synsets, or none, and a
          warning). ``get_version()`` leaves ``data.adj`` open before any fork.

        English lookups are otherwise NLTK's own."""

        _data_files_pid = -1

        def map_wn(self, version: str = "wordnet") -> None:
            return None

        def _data_file(self, pos: str) -> Any:
            if self._data_files_pid != os.getpid():
                self._data_file_map: dict[str, Any] = {}  # the parent's stay the parent's
                self._data_files_pid = os.getpid()
            return super()._data_file(pos)

    return WordNet30Reader


def _nltk_wordnet_root() -> Path | None:
    import nltk.data

    for entry in nltk.data.path:
        root = Path(str(entry)).expanduser()
        if has_wordnet(root):
            return root
    return None


def _missing_files(source: Path) -> list[str]:
    return [name for name in SOURCE_FILES if not (source / name).is_file()]


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _apt_install() -> None:
    apt = shutil.which("apt-get")
    if apt is None:
        return  # not Debian: the caller reports the missing files and the fix
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "--no-install-recommends", *DEBIAN_PACKAGES]
    logger.warning("installing %s with apt-get", " and ".join(DEBIAN_PACKAGES))
    if subprocess.run(install, env=env, check=False).returncode == 0:
        return
    subprocess.run([apt, "update"], env=env, check=False)
    result = subprocess.run(install, env=env, check=False)
    if result.returncode != 0:
        raise WordNetUnavailable(
            f"`{APT_INSTALL}` failed (exit {result.returncode}) even after `apt-get update`; "
            f"fix the apt error above, or run `python -m nltk.downloader wordnet` online."
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m liftoff.evaluation.wordnet [--data-dir DIR]``: provision WordNet and check
    it loads."""
    parser = argparse.ArgumentParser(
        prog="python -m liftoff.evaluation.wordnet",
        description="Make WordNet 3.0 available to NLTK offline (for METEOR).",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"NLTK data directory to build into (default: ${DATA_DIR_ENV} or "
        "~/.cache/liftoff/nltk_data)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        root = ensure_wordnet(args.data_dir)
        reader = _open_reader(root.resolve())
    except WordNetUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"WordNet {reader.get_version()} ready for NLTK in {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
