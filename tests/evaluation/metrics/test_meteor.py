# ruff: noqa: RUF001
"""METEOR: NLTK's published values, its three matching stages, and failing loudly."""

from __future__ import annotations

import random
from itertools import chain
from pathlib import Path
from typing import Any

import nltk
import nltk.data
import pytest
from nltk.tokenize import NLTKWordTokenizer
from nltk.translate.meteor_score import meteor_score

import liftoff.evaluation.wordnet
from liftoff.evaluation.errors import WordNetUnavailable
from liftoff.evaluation.metrics import score
from liftoff.evaluation.metrics._lexicon import Lexicon
from liftoff.evaluation.metrics._word_tokens import VERIFIED_NLTK, word_tokenizer

NO_BOOTSTRAP = {"bootstrap": {"resamples": 0}}

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


def test_synonym_sets_equal_nltk_synsets_lemma_names(wordnet: Any) -> None:
    lexicon = Lexicon(wordnet)
    rng = random.Random(4)
    lemmas = sorted(wordnet._lemma_pos_offset_map)
    words = rng.sample(lemmas, 1500) + [w + "s" for w in rng.sample(lemmas, 300)]
    words += ["geese", "ran", "better", "Dogs", "", "東京", "ſ"]
    for word in words:
        expected = set(
            chain.from_iterable(
                (lemma.name() for lemma in synset.lemmas() if lemma.name().find("_") < 0)
                for synset in wordnet.synsets(word)
            )
        ).union({word})
        assert lexicon.synonyms(word) == expected, word


def test_fast_word_tokenizer_equals_nltk_on_quotes_contractions_and_scripts() -> None:
    pieces = ["a", "cannot", "CANNOT", "gimme", "gİmme", "Gonna", "wanna ", "'tis", " 'twas"]
    pieces += ["d'ye", "don't", "I'm", "they'll", "'q'", '"dq"', "``", "''", "«", "»", "“", "”"]
    pieces += ["‘", "’", "(", ")", "[", "]", "{", "}", "<", ">", "--", "—", "...", ".", ",", ":"]
    pieces += [";", "@", "#", "$", "%", "&", "?", "!", "*", "3,000", "é", "東京", " ", "\n"]
    pieces += ["x.", "Mr.", "'", "n't", "N'T", "'S", "ſ", "K", "ı", "İ"]
    rng = random.Random(1)
    texts = ["".join(rng.choices(pieces, k=rng.randint(0, 25))) for _ in range(5000)]
    tokenize, reference = word_tokenizer(), NLTKWordTokenizer().tokenize
    assert nltk.__version__ not in VERIFIED_NLTK or tokenize.__name__ == "fast_tokenize"
    assert [tokenize(text) for text in texts] == [reference(text) for text in texts]


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
