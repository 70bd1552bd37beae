"""The plain loop over the reference libraries that our scores must equal, bit for bit."""

from __future__ import annotations

import statistics
from typing import Any

from tests.evaluation.metrics.hard_corpus import reference_streams

ROUGE_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


def reference_scores(
    predictions: list[str],
    references: list[list[str]],
    *,
    wordnet: Any,
    use_stemmer: bool = False,
    meteor_tokenize: str = "nltk-word",
    only_meteor: bool = False,
) -> dict[str, dict[str, Any]]:
    """Per metric: ``per_example`` and ``corpus`` (and ROUGE's ``precision``/``recall``)."""
    import sacrebleu
    from nltk.tokenize import NLTKWordTokenizer, word_tokenize
    from nltk.translate.meteor_score import meteor_score
    from rouge_score.rouge_scorer import RougeScorer

    streams = reference_streams(references)
    pairs = list(zip(predictions, references, strict=True))
    results: dict[str, dict[str, Any]] = {}
    tokenize = NLTKWordTokenizer().tokenize if meteor_tokenize == "nltk-word" else word_tokenize
    meteor = [
        meteor_score([tokenize(ref) for ref in refs], tokenize(p), wordnet=wordnet)
        for p, refs in pairs
    ]
    results["meteor"] = {"per_example": meteor, "corpus": statistics.fmean(meteor)}
    if only_meteor:
        return results
    for name, sentence, corpus in (
        ("bleu", sacrebleu.sentence_bleu, sacrebleu.corpus_bleu),
        ("chrf", sacrebleu.sentence_chrf, sacrebleu.corpus_chrf),
        ("ter", sacrebleu.sentence_ter, sacrebleu.corpus_ter),
    ):
        results[name] = {
            "per_example": [sentence(p, refs).score for p, refs in pairs],
            "corpus": corpus(predictions, streams).score,
        }
    scorer = RougeScorer(ROUGE_TYPES, use_stemmer=use_stemmer)
    rouge = [scorer.score_multi(refs, p) for p, refs in pairs]
    for name in ROUGE_TYPES:
        f = [scores[name].fmeasure for scores in rouge]
        results[name] = {
            "per_example": f,
            "corpus": statistics.fmean(f),
            "precision": [scores[name].precision for scores in rouge],
            "recall": [scores[name].recall for scores in rouge],
        }
    return results
