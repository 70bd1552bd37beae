"""METEOR rows as NLTK 3.10.4 computes them, same floats, several times faster.

:func:`meteor_rows` equals, per example, ``nltk.translate.meteor_score.meteor_score(
[tokens(r) for r in references], tokens(prediction), wordnet=wordnet)`` with NLTK's defaults
(lowercasing, Porter stemmer, alpha 0.9, beta 3, gamma 0.5): the best score over the
references. ``tokens`` is ``NLTKWordTokenizer().tokenize``, run over each sentence of a
sentence splitter when one is given (``nltk.word_tokenize`` is Punkt, then that).

The alignment below is NLTK's (exact matches, then stem matches, then WordNet synonyms of the
*stemmed* leftovers, each scanning the hypothesis right to left), with stems, synonym sets and
tokens cached: stems and synonyms come from :mod:`.lexicon`, words from :mod:`.word_tokens`,
both part of this accelerator and pinned with it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from liftoff.evaluation.metrics.accelerators.lexicon import Lexicon, lexicon
from liftoff.evaluation.metrics.accelerators.upstream import Upstream
from liftoff.evaluation.metrics.accelerators.word_tokens import word_tokenizer

UPSTREAM = Upstream(
    "nltk",
    "3.10.4",
    "nltk.translate.meteor_score.meteor_score, nltk.tokenize.NLTKWordTokenizer, "
    "nltk.corpus.reader.wordnet synsets",
)

ALPHA, BETA, GAMMA = 0.9, 3.0, 0.5
Enum = list[tuple[int, str]]
Pairs = list[tuple[int, int]]
SentenceSplitter = Callable[[str], list[str]]
_CACHE = 1 << 17


def meteor_rows(
    predictions: Sequence[str],
    references: Sequence[Sequence[str]],
    wordnet: Any,
    split_sentences: SentenceSplitter | None = None,
) -> list[list[float]]:
    """Per example: ``[best METEOR over the references]``."""
    words = lexicon(wordnet)
    tokens = tokenizer(split_sentences)
    rows: list[list[float]] = []
    for prediction, refs in zip(predictions, references, strict=True):
        hypothesis = tokens(prediction)
        rows.append([max(single_meteor(hypothesis, tokens(ref), words) for ref in refs)])
    return rows


def prepare(wordnet: Any, split_sentences: SentenceSplitter | None = None) -> None:
    """Build the lexicon and tokenizer before any worker process forks."""
    lexicon(wordnet)
    tokenizer(split_sentences)


@functools.cache
def tokenizer(split_sentences: SentenceSplitter | None) -> Callable[[str], list[str]]:
    """Lowercased NLTK word tokens of a text (per sentence of ``split_sentences`` if given)."""
    words = word_tokenizer()

    def tokens(text: str) -> list[str]:
        sentences = [text] if split_sentences is None else split_sentences(text)
        return [token.lower() for sentence in sentences for token in words(sentence)]

    return functools.lru_cache(maxsize=_CACHE)(tokens)


def _match(hypothesis: Enum, reference: Enum) -> tuple[Pairs, Enum, Enum]:
    """NLTK's ``_match_enums``: exact matches, each hypothesis word from the right."""
    matches: Pairs = []
    positions: dict[str, list[int]] = {}
    for j, (_, word) in enumerate(reference):
        positions.setdefault(word, []).append(j)
    matched_h: set[int] = set()
    matched_r: set[int] = set()
    for i in range(len(hypothesis) - 1, -1, -1):
        candidates = positions.get(hypothesis[i][1])
        if candidates:
            j = candidates.pop()
            matched_h.add(i)
            matched_r.add(j)
            matches.append((hypothesis[i][0], reference[j][0]))
    return (
        matches,
        [pair for i, pair in enumerate(hypothesis) if i not in matched_h],
        [pair for j, pair in enumerate(reference) if j not in matched_r],
    )


def _synonym_match(
    hypothesis: Enum, reference: Enum, synonyms: Callable[[str], frozenset[str]]
) -> Pairs:
    """NLTK's ``_enum_wordnetsyn_match``: a hypothesis word matches the rightmost free
    reference word among its synonyms (distinct words never share a position: no ties)."""
    matches: Pairs = []
    positions: dict[str, list[int]] = {}
    for j, (_, word) in enumerate(reference):
        positions.setdefault(word, []).append(j)
    for i in range(len(hypothesis) - 1, -1, -1):
        best_j, best_word = -1, None
        for synonym in synonyms(hypothesis[i][1]).intersection(positions):
            candidates = positions[synonym]
            if candidates and candidates[-1] > best_j:
                best_j, best_word = candidates[-1], synonym
        if best_word is not None:
            positions[best_word].pop()
            matches.append((hypothesis[i][0], reference[best_j][0]))
    return matches


def _chunks(matches: Pairs) -> int:
    """NLTK's ``_count_chunks`` on matches sorted by hypothesis position."""
    chunks = 1
    for (h0, r0), (h1, r1) in itertools.pairwise(matches):
        if not (h1 == h0 + 1 and r1 == r0 + 1):
            chunks += 1
    return chunks


def single_meteor(hypothesis: list[str], reference: list[str], words: Lexicon) -> float:
    """NLTK's ``single_meteor_score`` on lowercased tokens, same float operations."""
    enum_h = list(enumerate(hypothesis))
    enum_r = list(enumerate(reference))
    exact, enum_h, enum_r = _match(enum_h, enum_r)
    stem = words.stem
    stemmed, enum_h, enum_r = _match(
        [(i, stem(word)) for i, word in enum_h], [(j, stem(word)) for j, word in enum_r]
    )
    synonym = _synonym_match(enum_h, enum_r, words.synonyms)
    matches = sorted(exact + stemmed + synonym, key=lambda pair: pair[0])
    matches_count = len(matches)
    try:
        precision = float(matches_count) / len(hypothesis)
        recall = float(matches_count) / len(reference)
        fmean = (precision * recall) / (ALPHA * precision + (1 - ALPHA) * recall)
        chunk_count = float(_chunks(matches))
        frag_frac = chunk_count / matches_count
    except ZeroDivisionError:
        return 0.0
    penalty = GAMMA * frag_frac**BETA
    return float((1 - penalty) * fmean)
