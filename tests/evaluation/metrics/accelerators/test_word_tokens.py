# ruff: noqa: RUF001
"""The METEOR accelerator's word tokenizer equals NLTKWordTokenizer."""

from __future__ import annotations

import random

from nltk.tokenize import NLTKWordTokenizer

from liftoff.evaluation.metrics.accelerators.word_tokens import word_tokenizer


def test_fast_word_tokenizer_equals_nltk_on_quotes_contractions_and_scripts() -> None:
    pieces = ["a", "cannot", "CANNOT", "gimme", "gİmme", "Gonna", "wanna ", "'tis", " 'twas"]
    pieces += ["d'ye", "don't", "I'm", "they'll", "'q'", '"dq"', "``", "''", "«", "»", "“", "”"]
    pieces += ["‘", "’", "(", ")", "[", "]", "{", "}", "<", ">", "--", "—", "...", ".", ",", ":"]
    pieces += [";", "@", "#", "$", "%", "&", "?", "!", "*", "3,000", "é", "東京", " ", "\n"]
    pieces += ["x.", "Mr.", "'", "n't", "N'T", "'S", "ſ", "K", "ı", "İ"]
    rng = random.Random(1)
    texts = ["".join(rng.choices(pieces, k=rng.randint(0, 25))) for _ in range(5000)]
    tokenize, reference = word_tokenizer(), NLTKWordTokenizer().tokenize
    assert tokenize.__name__ == "fast_tokenize"  # every pattern has a guard in this version
    assert [tokenize(text) for text in texts] == [reference(text) for text in texts]
