"""BLEU exactly as sacrebleu computes it: 13a tokenizer, ``exp`` smoothing, mixed case.

Per example, ``sacrebleu.sentence_bleu(prediction, references).score``; corpus,
``sacrebleu.corpus_bleu(predictions, reference_streams).score``. The two differ in *effective
order* (leaving out n-gram orders the hypothesis has none of): ``sentence_bleu`` turns it on,
``corpus_bleu`` (and ``BLEU().sentence_score``!) leave it off. Both scores come from one pass
of sacrebleu's sentence statistics: lengths, then matches and totals per n-gram order,
counted here from sacrebleu's tokens with C-level ``zip``/``Counter`` (same integers).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

from liftoff.evaluation.metrics.base import References, Row, SacrebleuMetric


@functools.cache
def sacrebleu_bleu(effective_order: bool) -> Any:
    from sacrebleu.metrics.bleu import BLEU as SacreBLEU

    return SacreBLEU(effective_order=effective_order, force=True)


MAX_ORDER = 4


@functools.cache
def _tokenizer_13a() -> Any:
    """sacrebleu's ``Tokenizer13a`` (after ``BLEU``'s ``rstrip``), same output, faster.

    Its first substitution pads each character of an ASCII class (space and punctuation)
    with spaces. Spaces are padded here with ``str.replace``, the other characters (rare)
    with a regex of the class minus the space; the three context substitutions run only
    when their anchor character (``.``, ``,`` or ``-``) occurs.
    """
    import re

    from sacrebleu.tokenizers.tokenizer_re import TokenizerRegexp

    (punctuation, padded), *context = TokenizerRegexp()._re  # type: ignore[no-untyped-call]
    anchors = [".,", ".,", "-"]
    if padded != r" \1 " or [regexp.pattern for regexp, _ in context] != _CONTEXT_PATTERNS:
        raise RuntimeError(
            "sacrebleu's 13a tokenizer changed; update liftoff.evaluation.metrics.bleu"
        )
    others = [chr(c) for c in range(128) if chr(c) != " " and punctuation.fullmatch(chr(c))]
    symbols = re.compile("([" + re.escape("".join(others)) + "])")
    steps = [
        (regexp, replacement, anchor)
        for (regexp, replacement), anchor in zip(context, anchors, strict=True)
    ]

    def tokenize(line: str) -> str:
        line = line.rstrip()  # BLEU._preprocess_segment
        line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
        if "&" in line:
            line = line.replace("&quot;", '"').replace("&amp;", "&")
            line = line.replace("&lt;", "<").replace("&gt;", ">")
        line = symbols.sub(padded, f" {line} ".replace(" ", "   "))
        for regexp, replacement, anchor in steps:
            if any(char in line for char in anchor):
                line = regexp.sub(replacement, line)
        return " ".join(line.split())

    return functools.lru_cache(maxsize=1 << 16)(tokenize)


_CONTEXT_PATTERNS = [r"([^0-9])([\.,])", r"([\.,])([^0-9])", r"([0-9])(-)"]


def word_ngrams(tokens: list[str]) -> Counter[tuple[str, ...]]:
    """sacrebleu's ``extract_all_word_ngrams(line, 1, 4)`` counts (orders share one table)."""
    counts: Counter[tuple[str, ...]] = Counter(zip(tokens, strict=False))
    for n in range(2, MAX_ORDER + 1):
        counts.update(zip(*(tokens[k:] for k in range(n)), strict=False))
    return counts


def bleu_statistics(hypothesis: list[str], references: list[list[str]], closest: Any) -> list[int]:
    """sacrebleu's ``BLEU._compute_segment_statistics``: lengths, matches, totals per order."""
    ref_ngrams = word_ngrams(references[0])
    for tokens in references[1:]:
        for ngram, count in word_ngrams(tokens).items():
            if count > ref_ngrams[ngram]:
                ref_ngrams[ngram] = count  # clip to the most generous reference
    size = len(hypothesis)
    correct = [0] * MAX_ORDER
    get = ref_ngrams.get
    for ngram, count in word_ngrams(hypothesis).items():
        other = get(ngram)
        if other:
            correct[len(ngram) - 1] += count if count < other else other
    totals = [max(size - n, 0) for n in range(MAX_ORDER)]
    return [size, closest(size, [len(tokens) for tokens in references]), *correct, *totals]


class BLEU(SacrebleuMetric):
    """sacrebleu BLEU on a 0-100 scale; one row per example: lengths, matches, totals."""

    names: ClassVar[tuple[str, ...]] = ("bleu",)
    scale: ClassVar[float] = 100.0

    def prepare(self) -> None:
        sacrebleu_bleu(True)
        sacrebleu_bleu(False)
        _tokenizer_13a()

    def segment_statistics(self, predictions: Sequence[str], references: References) -> list[Row]:
        metric = sacrebleu_bleu(True)
        preprocess = _tokenizer_13a()
        return [
            bleu_statistics(
                preprocess(prediction).split(),
                [preprocess(ref).split() for ref in refs],
                metric._get_closest_ref_len,
            )
            for prediction, refs in zip(predictions, references, strict=True)
        ]

    def sentence_score_from_stats(self, row: Row) -> float:
        return float(sacrebleu_bleu(True)._compute_score_from_stats(list(row)).score)

    def corpus_score_from_stats(self, totals: Row) -> float:
        return float(sacrebleu_bleu(False)._compute_score_from_stats(list(totals)).score)

    def signature_fields(self, name: str) -> dict[str, object]:
        return {
            "case": "mixed",
            "eff": "per-example",
            "tok": "13a",
            "smooth": "exp",
            "agg": "corpus",
        }
