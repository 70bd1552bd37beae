"""The citations a target returns with an answer, kept with the example for the retrieval
metrics and the report.

The retrieval service's ``rag:`` models answer with a top-level ``citations`` list beside
``choices`` (``index, source, chunk, start, score, text``); other servers put ids or URLs
there (a list of strings). The ``openai`` SDK keeps such fields in ``model_extra``.

    >>> citations_from({"citations": ["https://example.org/a", {"source": "a.md", "chunk": 2,
    ...                 "text": "...", "highlights": ["..."]}]})[1].label()
    'a.md#2'

Fields a :class:`~liftoff.evaluation.metrics.Citation` does not have (``highlights`` above)
are not kept. An answer without ``citations`` has none (None: not the same as an empty list,
which says the target retrieved nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from liftoff.evaluation.metrics import Citation
from liftoff.evaluation.metrics.inputs import validation_problem
from liftoff.evaluation.metrics.passages import MAX_CITATIONS

_KEPT = frozenset(Citation.model_fields)


def citations_from(extra: Mapping[str, Any] | None) -> tuple[Citation, ...] | None:
    """The ``citations`` of an answer's extra top-level fields; raises ``ValueError`` naming
    the first that is unusable, or when there are more than ``MAX_CITATIONS``."""
    value = (extra or {}).get("citations")
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError(f"citations must be a list, got {type(value).__name__}")
    if len(value) > MAX_CITATIONS:
        raise ValueError(f"{len(value)} citations; a run keeps at most {MAX_CITATIONS} per answer")
    found = []
    for position, item in enumerate(value):
        if isinstance(item, dict):
            item = {key: field for key, field in item.items() if key in _KEPT}
        try:
            found.append(Citation.model_validate(item))
        except ValidationError as exc:
            raise ValueError(f"citations[{position}]{validation_problem(exc)}") from exc
    return tuple(found)
