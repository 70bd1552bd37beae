"""Gates (``bleu>=20``) and the regression check against a baseline (``--max-drop 2``).

    >>> gate = parse_gate("rougeL >= 0.35")
    >>> gate.metric, gate.operator, gate.threshold, gate.passes(0.4)
    ('rougeL', '>=', 0.35, True)
    >>> parse_max_drop(["2", "ter=5"])
    {None: 2.0, 'ter': 5.0}

Scores keep their own scale in gates (BLEU 0-100, ROUGE 0-1). A maximum drop is in points
of the 0-100 scale for every metric, so ``--max-drop 2`` allows BLEU to lose 2 and ROUGE-L
0.02; for TER (lower is better) a drop is a rise.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.runs.compare import Comparison
from liftoff.evaluation.runs.model import CorpusScore, canonical_metrics

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_GATE = re.compile(r"\s*([A-Za-z][A-Za-z0-9]*)\s*(>=|<=|>|<)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*")
_DROP = re.compile(r"\s*(?:([A-Za-z][A-Za-z0-9]*)\s*=\s*)?(\d+(?:\.\d*)?|\.\d+)\s*")


@dataclass(frozen=True)
class Gate:
    metric: str
    operator: str
    threshold: float

    def passes(self, value: float) -> bool:
        return _OPERATORS[self.operator](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric}{self.operator}{self.threshold:g}"


@dataclass(frozen=True)
class Check:
    """One pass/fail line of a gated run: a gate, or the regression check of one metric."""

    kind: Literal["gate", "regression"]
    name: str
    passed: bool
    message: str
    metric: str
    value: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "passed": self.passed,
                "message": self.message, "metric": self.metric, "value": self.value}  # fmt: skip


def parse_gate(text: str) -> Gate:
    """``METRIC OP NUMBER`` with OP one of >=, >, <=, <; raises ``InvalidInput``."""
    match = _GATE.fullmatch(text)
    if match is None:
        raise InvalidInput(
            f"malformed gate {text!r}: write METRIC>=NUMBER, e.g. 'bleu>=20' or 'rougeL>=0.35' "
            "(operators >=, >, <=, <)",
            param="gate",
        )
    (metric,) = canonical_metrics([match.group(1)])
    return Gate(metric, match.group(2), float(match.group(3)))


def parse_max_drop(values: Sequence[str]) -> dict[str | None, float]:
    """``["2", "bleu=1"]`` → ``{None: 2.0, "bleu": 1.0}`` (None: every other metric)."""
    drops: dict[str | None, float] = {}
    for text in values:
        match = _DROP.fullmatch(text)
        if match is None:
            raise InvalidInput(
                f"malformed max drop {text!r}: write POINTS (every metric) or METRIC=POINTS, "
                "e.g. '2' or 'bleu=1.5'",
                param="max_drop",
            )
        metric = canonical_metrics([match.group(1)])[0] if match.group(1) else None
        drops[metric] = float(match.group(2))
    return drops


def check_gates(corpus: Mapping[str, CorpusScore], gates: Iterable[Gate]) -> list[Check]:
    checks = []
    for gate in gates:
        result = corpus.get(gate.metric)
        if result is None:
            checks.append(Check("gate", str(gate), False, f"{gate.metric} was not scored",
                                gate.metric))  # fmt: skip
            continue
        passed = gate.passes(result.score)
        verdict = "passes" if passed else "fails"
        message = f"{gate.metric} = {result.score:.4f} {verdict} {gate}"
        checks.append(Check("gate", str(gate), passed, message, gate.metric, result.score))
    return checks


def check_regression(comparison: Comparison, max_drop: Mapping[str | None, float]) -> list[Check]:
    """One check per compared metric with a limit: fails when the candidate is worse than the
    baseline by more than the limit (in points of the 0-100 scale)."""
    checks = []
    for name, delta in comparison.deltas.items():
        limit = max_drop.get(name, max_drop.get(None))
        if limit is None:
            continue
        points = 100.0 / delta.scale
        drop = -delta.improved * points
        passed = drop <= limit + 1e-9
        ci = f"95% CI of the delta [{delta.ci_low:+.4f}, {delta.ci_high:+.4f}]"
        verdict = (
            f"a drop of {drop:.2f} points, {'within' if passed else 'over'} the allowed {limit:g}"
            if drop > 0
            else f"no drop (allowed: {limit:g} points)"
        )
        message = (
            f"{name}: {delta.baseline:.4f} → {delta.candidate:.4f} (delta {delta.delta:+.4f}, "
            f"{ci}); {verdict}"
        )
        checks.append(
            Check("regression", f"{name} drop<={limit:g}", passed, message, name, delta.delta)
        )
    return checks
