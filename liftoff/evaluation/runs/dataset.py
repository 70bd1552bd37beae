"""Datasets of a run: JSONL rows ``{"id", "prompt" | "messages", "references", "passages"}``.

    >>> examples = parse_jsonl('{"id": "a", "prompt": "2+2=", "references": ["4", "four"]}\\n')
    >>> examples[0].id, examples[0].prompt, examples[0].references
    ('a', '2+2=', ('4', 'four'))

``references`` is one string or a list of strings (at least one). ``id`` is optional (the line
number by default) and unique. ``metadata`` (an object) travels with the example untouched.

``passages`` (optional) names what answers the question, for the retrieval metrics: a list of
ids (``"guide/setup.md"``: any chunk of that source; ``"guide/setup.md#2"``: that chunk; any
other id or URL a target cites) and texts (``{"text": "the answer's words"}``), at most 100;
``[]`` says nothing does (the question is unanswerable). How they match what a target cites:
:mod:`liftoff.evaluation.metrics.passages`.

Any problem raises :class:`DatasetError` naming the line (JSONL) or the row (a list of rows).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from liftoff.evaluation.metrics import Passage
from liftoff.evaluation.metrics.inputs import validation_problem
from liftoff.evaluation.metrics.passages import MAX_PASSAGES
from liftoff.evaluation.runs.errors import DatasetError

ROLES = ("system", "developer", "user", "assistant")
_FIELDS = ("id", "prompt", "messages", "references", "passages", "metadata")

Fail = Callable[[str], DatasetError]


def _absent(value: object) -> bool:
    return value is None


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Literal["system", "developer", "user", "assistant"]
    content: str


class Example(BaseModel):
    """One row: what to send (``prompt`` or ``messages``) and what a good answer looks like.

    Its JSON is the dataset row, normalized: ``{"id", "prompt" | "messages", "references",
    "passages"?, "metadata"?}`` with ``references`` always a list and each passage an object
    (``{"id": ...}`` or ``{"text": ...}``); what a row does not have is left out.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    prompt: str | None = Field(default=None, exclude_if=_absent)
    messages: tuple[Message, ...] | None = Field(default=None, exclude_if=_absent)
    references: tuple[str, ...]
    passages: tuple[Passage, ...] | None = Field(default=None, exclude_if=_absent)
    metadata: dict[str, Any] | None = Field(default=None, exclude_if=_absent)


def parse_jsonl(text: str, *, max_examples: int | None = None) -> list[Example]:
    """Examples from JSONL text; blank lines are skipped (but still counted)."""
    rows: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            rows.append((where, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"{where}: not valid JSON ({exc.msg} at column {exc.colno})", param="dataset"
            ) from exc
        _check_size(len(rows), max_examples)
    return _examples(rows, default_ids=[where.split()[1] for where, _ in rows])


def parse_rows(rows: Sequence[Any], *, max_examples: int | None = None) -> list[Example]:
    """Examples from already-parsed rows (a JSON array of objects)."""
    _check_size(len(rows), max_examples)
    located = [(f"dataset[{index}]", row) for index, row in enumerate(rows)]
    return _examples(located, default_ids=[str(index + 1) for index in range(len(rows))])


def read_dataset(path: Path, *, max_examples: int | None = None) -> list[Example]:
    """Examples from a JSONL file; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read the dataset {path}: {exc}", param="dataset") from exc
    try:
        return parse_jsonl(text, max_examples=max_examples)
    except DatasetError as exc:
        raise DatasetError(f"{path}: {exc.message}", param="dataset") from exc


def _check_size(count: int, max_examples: int | None) -> None:
    if max_examples is not None and count > max_examples:
        raise DatasetError(
            f"the dataset has more than {max_examples} examples, this service's limit",
            param="dataset",
        )


def _examples(rows: list[tuple[str, Any]], default_ids: list[str]) -> list[Example]:
    if not rows:
        raise DatasetError("the dataset is empty: give at least one row", param="dataset")
    examples: list[Example] = []
    seen: dict[str, str] = {}
    for (where, row), default_id in zip(rows, default_ids, strict=True):
        example = _example(where, row, default_id)
        if example.id in seen:
            raise DatasetError(
                f"{where}: id {example.id!r} repeats the id of {seen[example.id]}", param="dataset"
            )
        seen[example.id] = where
        examples.append(example)
    return examples


def _example(where: str, row: Any, default_id: str) -> Example:
    def fail(problem: str) -> DatasetError:
        return DatasetError(f"{where}: {problem}", param="dataset")

    if not isinstance(row, dict):
        raise fail(f"expected a JSON object, got {_kind(row)}")
    unknown = [key for key in row if key not in _FIELDS]
    if unknown:
        raise fail(f"unknown field {unknown[0]!r} (expected {', '.join(_FIELDS)})")
    example_id = row.get("id", default_id)
    if isinstance(example_id, bool) or not isinstance(example_id, str | int):
        raise fail(f"id must be a string or an integer, got {_kind(example_id)}")
    if ("prompt" in row) == ("messages" in row):
        raise fail("give exactly one of 'prompt' (a string) or 'messages' (a list)")
    prompt = row.get("prompt")
    if "prompt" in row and not isinstance(prompt, str):
        raise fail(f"prompt must be a string, got {_kind(prompt)}")
    messages = _messages(row["messages"], fail) if "messages" in row else None
    metadata = row.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise fail(f"metadata must be an object, got {_kind(metadata)}")
    return Example(
        id=str(example_id),
        references=_references(row, fail),
        prompt=prompt,
        messages=messages,
        passages=_passages(row["passages"], fail) if row.get("passages") is not None else None,
        metadata=metadata or None,
    )


def _references(row: dict[str, Any], fail: Fail) -> tuple[str, ...]:
    if "references" not in row:
        raise fail("references is required (a string or a list of strings)")
    references = row["references"]
    refs = [references] if isinstance(references, str) else references
    if not isinstance(refs, list) or not refs:
        raise fail(
            "references must be a string or a non-empty list of strings, "
            f"got {_kind(references) if not isinstance(refs, list) else 'an empty list'}"
        )
    for position, ref in enumerate(refs):
        if not isinstance(ref, str):
            raise fail(f"references[{position}] must be a string, got {_kind(ref)}")
    return tuple(refs)


def _passages(value: Any, fail: Fail) -> tuple[Passage, ...]:
    if not isinstance(value, list):
        raise fail(
            "passages must be a list of ids (strings) and {'text': ...} objects, "
            f"got {_kind(value)}"
        )
    if len(value) > MAX_PASSAGES:
        raise fail(f"passages has {len(value)} entries; at most {MAX_PASSAGES}")
    passages = []
    for position, entry in enumerate(value):
        try:
            passages.append(Passage.model_validate(entry))
        except ValidationError as exc:
            raise fail(f"passages[{position}]{validation_problem(exc)}") from exc
    return tuple(passages)


def _messages(value: Any, fail: Fail) -> tuple[Message, ...]:
    if not isinstance(value, list) or not value:
        raise fail("messages must be a non-empty list of {'role', 'content'} objects")
    messages = []
    for position, message in enumerate(value):
        if (
            not isinstance(message, dict)
            or set(message) != {"role", "content"}
            or message["role"] not in ROLES
            or not isinstance(message["content"], str)
        ):
            raise fail(
                f"messages[{position}] must be {{'role': one of {', '.join(ROLES)}, "
                "'content': a string}"
            )
        messages.append(Message(role=message["role"], content=message["content"]))
    return tuple(messages)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
