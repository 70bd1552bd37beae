"""Scores as JSON: the answer of ``POST /v1/scores`` and ``liftoff eval score --json``.

    {"corpus": {"bleu": 21.3, "rougeL": 0.41},
     "confidence_intervals": {"bleu": {"low": 15.2, "high": 27.9, "level": 0.95}, ...},
     "per_example": [{"bleu": 18.2, "rougeL": 0.5}, ...],
     "components": {"rougeL": {"precision": [...], "recall": [...]}},
     "signatures": {"bleu": "nrefs:1|case:mixed|...|version:sacrebleu-2.6.0", ...},
     "scales": {"bleu": 100.0, "rougeL": 1.0}}

BLEU, chrF and TER are on 0-100, ROUGE, METEOR and the retrieval metrics on 0-1;
``per_example`` holds each example's score (ROUGE: the F-measure; its precision and recall are
in ``components``), null where a retrieval metric does not apply (hit rate for a question
nothing answers, abstention for one something does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from liftoff.evaluation.metrics import Score


def scores_document(results: Mapping[str, Score]) -> dict[str, Any]:
    names = list(results)
    examples = len(next(iter(results.values())).per_example) if results else 0
    columns = [results[name].per_example for name in names]
    return {
        "object": "evaluation.scores",
        "corpus": {name: results[name].corpus for name in names},
        "confidence_intervals": {
            name: None
            if (ci := results[name].ci) is None
            else {"low": ci.low, "high": ci.high, "level": ci.level}
            for name in names
        },
        "per_example": [
            dict(zip(names, (column[index] for column in columns), strict=True))
            for index in range(examples)
        ],
        "components": {
            name: {key: list(values) for key, values in results[name].components.items()}
            for name in names
            if results[name].components
        },
        "signatures": {name: results[name].signature for name in names},
        "scales": {name: results[name].scale for name in names},
    }


def scores_json(results: Mapping[str, Score]) -> bytes:
    """``scores_document`` encoded (compact, UTF-8): what the service sends."""
    document = scores_document(results)
    return json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
