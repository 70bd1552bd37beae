# ruff: noqa: RUF001
"""The METEOR accelerator's lexicon: synonym sets equal NLTK's, word by word."""

from __future__ import annotations

import random
from itertools import chain
from typing import Any

from liftoff.evaluation.metrics.accelerators.lexicon import Lexicon


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
