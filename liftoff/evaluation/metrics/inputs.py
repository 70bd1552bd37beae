"""Checking what :func:`~liftoff.evaluation.metrics.score` is given, with messages naming the
first entry at fault (``references[3][1]``, ``retrieved[0][2].chunk``).

Every metric says what it reads (``Metric.inputs``): predictions and references (BLEU, chrF,
TER, ROUGE, METEOR), the passages retrieved for each example and those that answer it (hit
rate, MRR), predictions and answering passages (abstention). Inputs no metric asked for
reads are not checked and not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics.base import Corpus, Input, RatioMetric
from liftoff.evaluation.metrics.passages import MAX_CITATIONS, MAX_PASSAGES, Citation, Passage
from liftoff.evaluation.metrics.registry import METRICS

M = TypeVar("M", bound=BaseModel)

_WHAT = {
    "references": "one reference string, or a list of them, per prediction",
    "retrieved": "the passages retrieved for each prediction, best first",
    "passages": "the passages that answer each question (an id, or {'text': ...})",
}
# What each ratio metric scores, for the message when a corpus holds none of it.
_SCORES = {
    "hit_rate": "questions that a passage answers (rows naming passages)",
    "mrr": "questions that a passage answers (rows naming passages)",
    "abstention": 'unanswerable questions (rows with "passages": [])',
    "false_abstention": "answerable questions (rows naming passages)",
}


def needed_inputs(names: Sequence[str]) -> dict[Input, str]:
    """Each input the metrics read, with the first metric that reads it."""
    needed: dict[Input, str] = {}
    for name in names:
        for field in sorted(METRICS[name].inputs):
            needed.setdefault(field, name)
    return needed


def check_corpus(
    predictions: list[str],
    names: Sequence[str],
    *,
    references: Any = None,
    retrieved: Any = None,
    passages: Any = None,
) -> Corpus:
    """The corpus the metrics ``names`` read, each input checked; raises ``InvalidInput``."""
    needed = needed_inputs(names)
    given = {"references": references, "retrieved": retrieved, "passages": passages}
    for field, metric in needed.items():
        if field != "predictions" and given[field] is None:
            raise InvalidInput(f"{metric} needs {field}: {_WHAT[field]}", param=field)
    count = len(predictions)
    corpus = Corpus(
        predictions,
        check_references(references, count) if "references" in needed else None,
        check_retrieved(retrieved, count) if "retrieved" in needed else None,
        check_passages(passages, count) if "passages" in needed else None,
    )
    check_applicable(names, corpus.passages)
    return corpus


def check_applicable(
    names: Sequence[str],
    passages: Sequence[Sequence[Passage] | None] | None,
    param: str = "passages",
) -> None:
    """Raise ``InvalidInput`` when a ratio metric (hit rate, MRR, abstention) applies to none
    of the examples: its score would be undefined. Runs check this before generating."""
    for name in names:
        metric = METRICS[name]
        if not issubclass(metric, RatioMetric):
            continue
        if passages is None or not any(metric.applies(name, found) for found in passages):
            scores = _SCORES[name.partition("@")[0]]
            raise InvalidInput(f"{name} scores {scores}, and there are none", param=param)


def check_references(references: Any, examples: int) -> list[list[str]]:
    """References as one list of strings per example; raises ``InvalidInput`` naming the
    first entry that is not (the scoring service calls this before any worker starts)."""
    entries = _per_example(references, examples, "references", "a string, or a list of strings")
    checked: list[list[str]] = []
    for index, entry in enumerate(entries):
        refs = [entry] if isinstance(entry, str) else entry
        if isinstance(refs, str) or not isinstance(refs, Sequence):
            raise InvalidInput(
                f"references[{index}] must be a string or a list of strings, got {_kind(entry)}",
                param="references",
            )
        if not refs:
            raise InvalidInput(
                f"references[{index}] is empty: give at least one", param="references"
            )
        for position, ref in enumerate(refs):
            if not isinstance(ref, str):
                raise InvalidInput(
                    f"references[{index}][{position}] must be a string, got {_kind(ref)}",
                    param="references",
                )
        checked.append(list(refs))
    return checked


def check_retrieved(retrieved: Any, examples: int) -> list[tuple[Citation, ...]]:
    """Citations per example, best first: each a :class:`Citation`, an object of its fields,
    or a string (its id); at most ``MAX_CITATIONS`` per example."""
    entries = _per_example(retrieved, examples, "retrieved", "a list of citations")
    return [
        _models(Citation, entry, f"retrieved[{index}]", MAX_CITATIONS)
        for index, entry in enumerate(entries)
    ]


def check_passages(passages: Any, examples: int) -> list[tuple[Passage, ...] | None]:
    """Answering passages per example: a list (empty: nothing answers it) of
    :class:`Passage`, ids (strings) or ``{"text": ...}``, at most ``MAX_PASSAGES``; or null
    (the example says nothing about passages)."""
    entries = _per_example(passages, examples, "passages", "a list of passages, or null")
    return [
        None if entry is None else _models(Passage, entry, f"passages[{index}]", MAX_PASSAGES)
        for index, entry in enumerate(entries)
    ]


def _per_example(values: Any, examples: int, field: str, entry: str) -> Sequence[Any]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise InvalidInput(f"{field} must be a list: {entry} per prediction", param=field)
    if len(values) != examples:
        raise InvalidInput(
            f"{examples} predictions but {len(values)} {field}: one entry per prediction ({entry})",
            param=field,
        )
    return values


def _models(model: type[M], entry: Any, where: str, limit: int) -> tuple[M, ...]:
    field = where.split("[")[0]
    if isinstance(entry, str) or not isinstance(entry, Sequence):
        raise InvalidInput(f"{where} must be a list, got {_kind(entry)}", param=field)
    if len(entry) > limit:
        raise InvalidInput(f"{where} has {len(entry)} entries; at most {limit}", param=field)
    found: list[M] = []
    for position, item in enumerate(entry):
        if isinstance(item, model):
            found.append(item)
            continue
        try:
            found.append(model.model_validate(item))
        except ValidationError as exc:
            raise InvalidInput(
                f"{where}[{position}]{validation_problem(exc)}", param=field
            ) from exc
    return tuple(found)


def validation_problem(exc: ValidationError) -> str:
    """The first error of ``exc`` as ``.field: message`` (``: message`` for the whole)."""
    error = exc.errors()[0]
    where = "".join(f".{part}" if isinstance(part, str) else f"[{part}]" for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


def _kind(value: object) -> str:
    """A value's type as JSON users know it."""
    return "null" if value is None else type(value).__name__
