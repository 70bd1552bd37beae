"""Prediction and reference files for ``liftoff eval score``: JSONL, one example per line.

    predictions.jsonl   "the cat sat"            or  {"id": "a", "prediction": "the cat sat"}
    references.jsonl    "the cat sat down"       or  ["ref 1", "ref 2"]
                        or {"id": "a", "references": ["ref 1", "ref 2"]}
    retrieved.jsonl     [{"source": "a.md", "chunk": 0, "text": "..."}, "b.md"]   (best first)
    passages.jsonl      ["a.md", {"text": "the answer's words"}]   or  []   or  null

Lines pair up in order; where both files give ids, they must agree line by line. Errors
raise :class:`~liftoff.evaluation.runs.errors.DatasetError` naming the file and line; the
entries of retrieved and passages lists are checked by the metrics (``retrieved[3][0]`` is
the first citation on the fourth line).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from liftoff.evaluation.runs.errors import DatasetError


def read_pairs(predictions: Path, references: Path) -> tuple[list[str], list[list[str]]]:
    """Predictions and their references, checked to pair up."""
    hypotheses = [(where, _prediction(where, value)) for where, value in _lines(predictions)]
    refs = [(where, _references(where, value)) for where, value in _lines(references)]
    if len(hypotheses) != len(refs):
        raise DatasetError(
            f"{predictions} has {len(hypotheses)} predictions but {references} has "
            f"{len(refs)} references: one line each per example",
            param="references",
        )
    for (where_p, (id_p, _)), (where_r, (id_r, _)) in zip(hypotheses, refs, strict=True):
        if id_p is not None and id_r is not None and id_p != id_r:
            raise DatasetError(
                f"{where_p} has id {id_p!r} but {where_r} has id {id_r!r}: the files must list "
                "examples in the same order",
                param="references",
            )
    return [text for _, (_, text) in hypotheses], [r for _, (_, r) in refs]


def read_predictions(path: Path) -> list[str]:
    """The predictions of a file, for scores that read no references (retrieval)."""
    return [_prediction(where, value)[1] for where, value in _lines(path)]


def read_lists(path: Path, field: str, *, nullable: bool = False) -> list[Any]:
    """One JSON list per line (or ``null`` where ``nullable``): retrieved citations or
    answering passages, in the predictions' order."""
    values = []
    for where, value in _lines(path):
        if not isinstance(value, list) and not (nullable and value is None):
            expected = "a list or null" if nullable else "a list"
            raise DatasetError(
                f"{where}: a line of {field} must be {expected}, got {type(value).__name__}",
                param=field,
            )
        values.append(value)
    return values


def _lines(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    found = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"{where}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from exc
        found = True
        yield where, value
    if not found:
        raise DatasetError(f"{path} is empty: nothing to score")


def _prediction(where: str, value: Any) -> tuple[str | None, str]:
    example_id = None
    if isinstance(value, dict):
        example_id = _id(where, value)
        if "prediction" not in value:
            raise DatasetError(f"{where}: an object needs a 'prediction' field")
        value = value["prediction"]
    if not isinstance(value, str):
        raise DatasetError(
            f"{where}: a prediction must be a string, got {type(value).__name__}",
            param="predictions",
        )
    return example_id, value


def _references(where: str, value: Any) -> tuple[str | None, list[str]]:
    example_id = None
    if isinstance(value, dict):
        example_id = _id(where, value)
        if "references" not in value:
            raise DatasetError(f"{where}: an object needs a 'references' field")
        value = value["references"]
    refs = [value] if isinstance(value, str) else value
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise DatasetError(
            f"{where}: references must be a string or a non-empty list of strings",
            param="references",
        )
    return example_id, refs


def _id(where: str, row: dict[str, Any]) -> str | None:
    value = row.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DatasetError(f"{where}: id must be a string or an integer")
    return str(value)
