"""Provisioning NLTK's English Punkt model offline, verified, for METEOR's word_tokenize."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import nltk.data
import pytest
from nltk.tokenize.punkt import PunktSentenceTokenizer, load_punkt_params

from liftoff.evaluation.errors import PunktUnavailable
from liftoff.evaluation.metrics import score
from liftoff.evaluation.punkt import (
    ARCHIVE_SHA256,
    ENGLISH_MODEL,
    REQUIREMENT,
    SOURCE_MEMBER,
    default_data_dir,
    has_punkt,
    install_punkt,
    load_punkt,
    main,
    model_dir,
)

TWO_SENTENCES = "Alimentum is located in the city centre. It is not family-friendly."


@pytest.fixture(scope="module")
def archive() -> Path:
    """NLTK's punkt_tab.zip as `make setup` leaves it next to the unpacked model."""
    path = default_data_dir() / "tokenizers" / "punkt_tab.zip"
    if not path.is_file():
        # `make setup` provisions it (python -m liftoff.evaluation.punkt); never skip silently.
        pytest.fail(f"{path} is missing: run `make setup`")
    return path


@pytest.fixture
def no_nltk_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """NLTK searches nothing but what a test adds (no user or system data directories)."""
    monkeypatch.setattr(nltk.data, "path", [])


def test_install_unpacks_the_archive_where_nltk_reads_the_english_model(
    archive: Path, tmp_path: Path, no_nltk_data: None
) -> None:
    install_punkt(tmp_path, archive)
    assert has_punkt(tmp_path)
    assert sorted(path.name for path in model_dir(tmp_path).iterdir()) == sorted(ENGLISH_MODEL)
    assert (tmp_path / "tokenizers" / "punkt_tab.zip").read_bytes() == archive.read_bytes()
    assert load_punkt(tmp_path) == tmp_path
    splitter = PunktSentenceTokenizer(
        load_punkt_params(nltk.data.find("tokenizers/punkt_tab/english/"))
    )
    assert splitter.tokenize(TWO_SENTENCES) == [
        "Alimentum is located in the city centre.",
        "It is not family-friendly.",
    ]


def test_install_takes_the_archive_from_the_unpacked_source_wheel(
    archive: Path, tmp_path: Path
) -> None:
    wheel = tmp_path / "source"
    (wheel / SOURCE_MEMBER).parent.mkdir(parents=True)
    shutil.copyfile(archive, wheel / SOURCE_MEMBER)
    install_punkt(tmp_path / "nltk_data", wheel)
    assert has_punkt(tmp_path / "nltk_data")


def test_install_refuses_an_archive_that_is_not_nltks(archive: Path, tmp_path: Path) -> None:
    forged = tmp_path / "punkt_tab.zip"
    with zipfile.ZipFile(archive) as original, zipfile.ZipFile(forged, "w") as copy:
        for member in original.infolist():
            data = original.read(member)
            if member.filename.endswith("english/abbrev_types.txt"):
                data += b"etc\n"  # one more abbreviation: different sentence splits
            copy.writestr(member, data)
    with pytest.raises(PunktUnavailable, match=f"expected {ARCHIVE_SHA256}"):
        install_punkt(tmp_path / "nltk_data", forged)
    assert not (tmp_path / "nltk_data" / "tokenizers" / "punkt_tab").exists()


def test_load_refuses_a_model_that_is_not_the_verified_one(
    archive: Path, tmp_path: Path, no_nltk_data: None
) -> None:
    install_punkt(tmp_path, archive)
    with (model_dir(tmp_path) / "abbrev_types.txt").open("a") as model_file:
        model_file.write("etc\n")
    assert not has_punkt(tmp_path)
    with pytest.raises(PunktUnavailable, match="not the verified one"):
        load_punkt(tmp_path)


def test_scoring_with_word_tokenize_fails_loudly_with_the_fix_when_punkt_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_nltk_data: None
) -> None:
    monkeypatch.setenv("LIFTOFF_NLTK_DATA", str(tmp_path / "empty"))
    options = {"bootstrap": {"resamples": 0}, "meteor": {"tokenize": "nltk-word-tokenize"}}
    with pytest.raises(PunktUnavailable, match=r"python -m liftoff\.evaluation\.punkt --source"):
        score(["a cat."], ["a cat."], ["meteor"], options)


def test_main_prints_the_hash_pinned_source_requirement(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--requirement"]) == 0
    assert capsys.readouterr().out.strip() == REQUIREMENT
    assert REQUIREMENT.startswith("llama-index-core==0.14.25 --hash=sha256:")


def test_main_installs_from_a_source_and_reports_a_missing_model(
    archive: Path, tmp_path: Path, no_nltk_data: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(tmp_path / "none")]) == 1
    assert "make setup" in capsys.readouterr().err
    assert main(["--data-dir", str(tmp_path / "nltk_data"), "--source", str(archive)]) == 0
    assert "Punkt (english) ready for NLTK in" in capsys.readouterr().out
