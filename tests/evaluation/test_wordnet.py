"""Provisioning WordNet 3.0 for NLTK from Debian's packages, offline."""

from __future__ import annotations

import gzip
import itertools
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import nltk.data
import pytest

from liftoff.evaluation.errors import WordNetUnavailable
from liftoff.evaluation.wordnet import (
    APT_INSTALL,
    DEBIAN_WORDNET_DIR,
    LEXNAMES,
    SOURCE_FILES,
    build_wordnet,
    default_data_dir,
    ensure_wordnet,
    lexnames_text,
    load_wordnet,
    main,
    new_reader,
)

# Installed with wordnet-base, which `make` provisions.
LEXNAMES_MAN_PAGE = Path("/usr/share/man/man5/lexnames.5WN.gz")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory built from the Debian files."""
    if not all((DEBIAN_WORDNET_DIR / name).is_file() for name in SOURCE_FILES):
        # `make test` installs them (python -m liftoff.evaluation.wordnet); never skip silently.
        pytest.fail(f"Debian's WordNet files are not installed (`{APT_INSTALL}`)")
    return build_wordnet(tmp_path_factory.mktemp("built") / "nltk_data", install=False)


def test_build_copies_every_file_nltk_reads(built: Path) -> None:
    wordnet = built / "corpora" / "wordnet"
    for name in SOURCE_FILES:
        copied = wordnet / name
        assert copied.is_file() and not copied.is_symlink(), name
        assert copied.read_bytes() == (DEBIAN_WORDNET_DIR / name).read_bytes(), name
    assert not [entry.name for entry in (built / "corpora").iterdir() if entry.name != "wordnet"]


def test_nltk_loads_the_built_wordnet_as_version_3_0(built: Path) -> None:
    reader = load_wordnet(built)
    assert reader.get_version() == "3.0"
    assert "dog.n.01" in [synset.name() for synset in reader.synsets("dogs")]
    assert reader.synset("dog.n.01").lexname() == "noun.animal"


def test_lexnames_has_the_45_files_numbered_with_their_category() -> None:
    lines = lexnames_text().splitlines()
    assert len(lines) == len(LEXNAMES) == 45
    assert lines[0] == "00\tadj.all\t3"
    assert lines[3] == "03\tnoun.Tops\t1"
    assert lines[44] == "44\tadj.ppl\t3"
    for number, line in enumerate(lines):
        index, name, category = line.split("\t")
        assert int(index) == number
        assert category == {"noun": "1", "verb": "2", "adj": "3", "adv": "4"}[name.split(".")[0]]


def test_lexnames_agree_with_the_lexnames_man_page() -> None:
    page = gzip.decompress(LEXNAMES_MAN_PAGE.read_bytes()).decode("utf-8")
    table = re.findall(r"^(\d\d)\t(\S+)\s*\t", page, flags=re.MULTILINE)
    assert [(f"{number:02d}", name) for number, name in enumerate(LEXNAMES)] == table


def test_missing_debian_files_fail_with_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(WordNetUnavailable) as caught:
        build_wordnet(tmp_path / "nltk_data", source=tmp_path / "nothing", install=False)
    message = str(caught.value)
    assert f"sudo {APT_INSTALL}" in message and "python -m liftoff.evaluation.wordnet" in message
    assert not (tmp_path / "nltk_data" / "corpora" / "wordnet").exists()


def test_a_failed_copy_leaves_no_half_written_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied: list[str] = []
    real_copyfile = shutil.copyfile

    def disk_fills_up(source: Path, target: Path) -> Path:
        if len(copied) == 3:
            raise OSError(28, "No space left on device")
        copied.append(str(source))
        return Path(real_copyfile(source, target))

    monkeypatch.setattr(shutil, "copyfile", disk_fills_up)
    with pytest.raises(OSError, match="No space left"):
        build_wordnet(tmp_path / "nltk_data", install=False)
    assert len(copied) == 3
    assert list((tmp_path / "nltk_data" / "corpora").iterdir()) == []


def test_an_incomplete_existing_directory_is_reported_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "corpora" / "wordnet").mkdir(parents=True)
    (tmp_path / "corpora" / "wordnet" / "mine.txt").write_text("keep")
    with pytest.raises(WordNetUnavailable, match="exists but is not a complete WordNet"):
        build_wordnet(tmp_path, source=DEBIAN_WORDNET_DIR, install=False)
    assert (tmp_path / "corpora" / "wordnet" / "mine.txt").read_text() == "keep"


def test_ensure_uses_a_wordnet_nltk_already_finds(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nltk.data, "path", [str(built)])
    assert ensure_wordnet(tmp_path / "unused", install=False) == built
    assert not (tmp_path / "unused").exists()


def _fake_wordnet_3_1(root: Path) -> Path:
    """Debian's WordNet relabelled 3.1 (same byte offsets), as NLTK would find it."""
    wordnet = root / "corpora" / "wordnet"
    shutil.copytree(DEBIAN_WORDNET_DIR, wordnet, ignore=shutil.ignore_patterns("bin", "*.vrb"))
    (wordnet / "lexnames").write_text(lexnames_text())
    data = (wordnet / "data.adj").read_bytes()
    relabelled = data.replace(b"WordNet 3.0 Copyright", b"WordNet 3.1 Copyright")
    (wordnet / "data.adj").write_bytes(relabelled)
    for path in (root, root / "corpora", wordnet):
        path.chmod(0o755)
    return root


def test_another_wordnet_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WordNetUnavailable, match=r"holds WordNet 3\.1, but METEOR"):
        load_wordnet(_fake_wordnet_3_1(tmp_path / "old"))


def test_ensure_builds_its_own_when_nltk_finds_another_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(nltk.data, "path", [str(_fake_wordnet_3_1(tmp_path / "old"))])
    assert ensure_wordnet(tmp_path / "new", install=False) == tmp_path / "new"
    assert load_wordnet(tmp_path / "new").get_version() == "3.0"
    assert "not using the WordNet on NLTK's path" in caplog.text


def test_default_data_dir_honours_liftoff_nltk_data(tmp_path: Path) -> None:
    assert default_data_dir({"LIFTOFF_NLTK_DATA": str(tmp_path)}) == tmp_path
    assert default_data_dir({}) == Path.home() / ".cache" / "liftoff" / "nltk_data"


def test_module_entry_point_provisions_and_reports(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(built)]) == 0
    assert capsys.readouterr().out.strip() == f"WordNet 3.0 ready for NLTK in {built}"


def test_python_dash_m_builds_into_a_fresh_directory(tmp_path: Path) -> None:
    env = {**os.environ, "LIFTOFF_NLTK_DATA": str(tmp_path / "fresh")}
    result = subprocess.run(
        [sys.executable, "-m", "liftoff.evaluation.wordnet"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "WordNet 3.0 ready for NLTK" in result.stdout
    assert (tmp_path / "fresh" / "corpora" / "wordnet" / "lexnames").is_file()


def test_module_entry_point_fails_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(nltk.data, "path", [])
    monkeypatch.setattr("liftoff.evaluation.wordnet.DEBIAN_WORDNET_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("PATH", "")
    assert main(["--data-dir", str(tmp_path / "data")]) == 1
    assert APT_INSTALL in capsys.readouterr().err


_forked: dict[str, Any] = {}  # the reader under test, inherited by forked workers


def _adjective_names(offsets: list[int], reader: Any = None) -> list[list[str]]:
    reader = reader if reader is not None else _forked["reader"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NLTK warns, then returns None, on a misread line
        synsets = [reader.synset_from_pos_and_offset("a", offset) for offset in offsets]
    return [[lemma.name() for lemma in synset.lemmas()] for synset in synsets]


def test_forked_workers_read_wordnet_through_their_own_files(built: Path) -> None:
    # get_version() leaves data.adj open; a forked process inherits that open file, offset
    # included, so two workers seeking and reading it at once read each other's lines.
    known = load_wordnet(built)  # puts `built` on NLTK's path
    reader = new_reader(nltk.data.find("corpora/wordnet", paths=[str(built)]))
    assert reader.get_version() == "3.0"
    offsets = sorted({s.offset() for s in itertools.islice(known.all_synsets("a"), 4000)})
    expected = _adjective_names(offsets, known)
    _forked["reader"] = reader
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        results = list(pool.map(_adjective_names, [offsets] * 4))
    assert all(result == expected for result in results)
