"""METEOR: NLTK's published values, its stages, both tokenizations, failing loudly; on both
scoring paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nltk
import nltk.data
import pytest
from nltk.tokenize import NLTKWordTokenizer, word_tokenize
from nltk.translate.meteor_score import meteor_score

import liftoff.evaluation.wordnet
from liftoff.evaluation.errors import WordNetUnavailable
from liftoff.evaluation.metrics import score

pytestmark = pytest.mark.usefixtures("scoring_path")

NO_BOOTSTRAP = {"bootstrap": {"resamples": 0}}
SENTENCES = {**NO_BOOTSTRAP, "meteor": {"tokenize": "nltk-word-tokenize"}}

# The example of issue 8: two sentences against one.
ALIMENTUM = "Alimentum is located in the city centre. It is not family-friendly."
ALIMENTUM_REFERENCE = "There is a place in the city centre, Alimentum, that is not family-friendly."

# NLTK's meteor_score doctest.
HYPOTHESIS_1 = (
    "It is a guide to action which ensures that the military always obeys the commands of the party"
)
REFERENCES_1 = [
    "It is a guide to action that ensures that the military will forever heed Party commands",
    "It is the guiding principle which guarantees the military forces always being under the command of the Party",  # noqa: E501
    "It is the practical guide for the army always to heed the directions of the party",
]


@pytest.mark.parametrize(
    ("prediction", "references", "expected"),
    [
        (HYPOTHESIS_1, REFERENCES_1, 0.6944),
        (HYPOTHESIS_1, REFERENCES_1[:1], 0.6944),
        ("non matching hypothesis", ["this is a cat"], 0.0),
    ],
)
def test_meteor_matches_nltk_published_values(
    prediction: str, references: list[str], expected: float
) -> None:
    result = score([prediction], [references], ["meteor"], NO_BOOTSTRAP)["meteor"]
    assert round(result.per_example[0], 4) == expected


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("The cats run", "the cat runs"),  # exact after lowercasing, then stems
        ("a quick car", "a fast automobile"),  # WordNet synonyms
        ("dogs chase the ball", "the ball chased by dogs"),  # fragmentation penalty
        ("", "something"),
        ("something", ""),
    ],
)
def test_each_matching_stage_equals_nltk(prediction: str, reference: str, wordnet: Any) -> None:
    tokenize = NLTKWordTokenizer().tokenize
    expected = meteor_score([tokenize(reference)], tokenize(prediction), wordnet=wordnet)
    result = score([prediction], [reference], ["meteor"], NO_BOOTSTRAP)["meteor"]
    assert result.per_example == (expected,)


def test_meteor_fails_loudly_with_the_fix_when_wordnet_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFTOFF_NLTK_DATA", str(tmp_path / "nltk_data"))
    monkeypatch.setattr(nltk.data, "path", [])
    monkeypatch.setattr(liftoff.evaluation.wordnet, "DEBIAN_WORDNET_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("PATH", "")  # no apt-get to install with
    with pytest.raises(
        WordNetUnavailable, match="apt-get install -y wordnet-base wordnet-sense-index"
    ):
        score(["a cat"], ["a cat"], ["meteor"])


def test_signature_names_settings_and_wordnet_version() -> None:
    result = score(["a"], ["a"], ["meteor"], NO_BOOTSTRAP)["meteor"]
    assert result.signature == (
        "nrefs:1|tok:nltk-word|case:lc|stem:porter|wordnet:3.0|alpha:0.9|beta:3.0|gamma:0.5"
        f"|agg:mean|version:nltk-{nltk.__version__}"
    )


@pytest.mark.parametrize(
    ("tokenize", "expected"),
    [("nltk-word", 0.5515986071541626), ("nltk-word-tokenize", 0.6165605095541401)],
)
def test_sentence_split_tokens_change_the_score_of_two_sentences(
    tokenize: str, expected: float
) -> None:
    options = {**NO_BOOTSTRAP, "meteor": {"tokenize": tokenize}}
    result = score([ALIMENTUM], [ALIMENTUM_REFERENCE], ["meteor"], options)["meteor"]
    assert result.corpus == expected
    assert f"|tok:{tokenize}|" in result.signature


@pytest.mark.parametrize(
    ("prediction", "references"),
    [
        (ALIMENTUM, [ALIMENTUM_REFERENCE, "Alimentum is in the centre. Not for families!"]),
        ("Mr. Smith left at 5 p.m. He came back. Did he?", ["Mr. Smith came back at 5."]),
        ("One.Two. Three...", ["one two three"]),
        ("", ["a sentence. another one."]),
    ],
)
def test_word_tokenize_option_equals_nltk_meteor_over_word_tokenize(
    prediction: str, references: list[str], wordnet: Any
) -> None:
    expected = meteor_score(
        [word_tokenize(ref) for ref in references], word_tokenize(prediction), wordnet=wordnet
    )
    result = score([prediction], [references], ["meteor"], SENTENCES)["meteor"]
    assert result.per_example == (expected,)
