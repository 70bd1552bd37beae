"""METEOR exactly as NLTK computes it, on a 0-1 scale.

Per example: ``nltk.translate.meteor_score.meteor_score([tokens(r) for r in references],
tokens(prediction))`` with NLTK's defaults (lowercasing, Porter stemmer, WordNet 3.0,
alpha 0.9, beta 3, gamma 0.5): the best score over the references. Tokens come from NLTK's
``NLTKWordTokenizer`` (no data files needed; ``word_tokenize`` on a single sentence), run by
:mod:`liftoff.evaluation.metrics._word_tokens`, which skips substitutions that cannot match.
Corpus: the mean of per-example scores.

The alignment below is NLTK's (exact matches, then stem matches, then WordNet synonyms of the
*stemmed* leftovers, each scanning the hypothesis right to left), with stems, synonym sets and
tokens cached. WordNet comes from :mod:`liftoff.evaluation.wordnet`; without it METEOR raises
:class:`~liftoff.evaluation.errors.WordNetUnavailable` naming the fix, never a different number.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import ClassVar

from liftoff.evaluation.metrics._lexicon import Lexicon
from liftoff.evaluation.metrics._lexicon import lexicon as lexicon_for
from liftoff.evaluation.metrics.base import MeanMetric, References, Row, package_version
from liftoff.evaluation.wordnet import WORDNET_VERSION, load_wordnet

ALPHA, BETA, GAMMA = 0.9, 3.0, 0.5
Enum = list[tuple[int, str]]
Pairs = list[tuple[int, int]]


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


def single_meteor(hypothesis: list[str], reference: list[str], lexicon: Lexicon) -> float:
    """NLTK's ``single_meteor_score`` on lowercased tokens, same float operations."""
    enum_h = list(enumerate(hypothesis))
    enum_r = list(enumerate(reference))
    exact, enum_h, enum_r = _match(enum_h, enum_r)
    stem = lexicon.stem
    stemmed, enum_h, enum_r = _match(
        [(i, stem(word)) for i, word in enum_h], [(j, stem(word)) for j, word in enum_r]
    )
    synonym = _synonym_match(enum_h, enum_r, lexicon.synonyms)
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


class Meteor(MeanMetric):
    """NLTK METEOR; a row holds the example's score."""

    names: ClassVar[tuple[str, ...]] = ("meteor",)
    scale: ClassVar[float] = 1.0

    def prepare(self) -> None:
        # Fails loudly, before any work, when WordNet cannot be provisioned.
        lexicon_for(load_wordnet())

    def segment_statistics(self, predictions: Sequence[str], references: References) -> list[Row]:
        lexicon = lexicon_for(load_wordnet())
        tokens = lexicon.tokens
        rows: list[Row] = []
        for prediction, refs in zip(predictions, references, strict=True):
            hypothesis = tokens(prediction)
            best = max(single_meteor(hypothesis, tokens(ref), lexicon) for ref in refs)
            rows.append([best])
        return rows

    def value_column(self, name: str) -> int:
        return 0

    def signature_fields(self, name: str) -> dict[str, object]:
        return {
            "tok": "nltk-word",
            "case": "lc",
            "stem": "porter",
            "wordnet": WORDNET_VERSION,
            "alpha": ALPHA,
            "beta": BETA,
            "gamma": GAMMA,
            "agg": "mean",
        }

    def version(self) -> str:
        return f"nltk-{package_version('nltk')}"
