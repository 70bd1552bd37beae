"""Gates (``bleu>=20``) and the regression check against a baseline (``--max-drop 2``).

    >>> gate = parse_gate("rougeL >= 0.35")
    >>> gate.metric, gate.operator, gate.threshold, gate.passes(0.4)
    ('rougeL', '>=', 0.35, True)
    >>> parse_max_drop(["2", "ter=5"])
    {None: 2.0, 'ter': 5.0}
    >>> str(parse_gate("HIT_RATE@4>=0.85")), str(parse_gate("false_abstention<=0.15"))
    ('hit_rate@4>=0.85', 'false_abstention<=0.15')

Scores keep their own scale in gates (BLEU 0-100; ROUGE and the retrieval metrics 0-1). A
maximum drop is in points of the 0-100 scale for every metric, so ``--max-drop 2`` allows
BLEU to lose 2 and ROUGE-L 0.02; for TER and false_abstention (lower is better) a drop is a
rise.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics import canonical_metrics
from liftoff.evaluation.runs.compare import Comparison

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_METRIC = r"[A-Za-z][A-Za-z0-9_]*(?:@[0-9]+)?"  # rougeL, hit_rate@4
_GATE = re.compile(rf"\s*({_METRIC})\s*(>=|<=|>|<)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*")
_DROP = re.compile(rf"\s*(?:({_METRIC})\s*=\s*)?(\d+(?:\.\d*)?|\.\d+)\s*")


@dataclass(frozen=True)
class Gate:
    metric: str
    operator: str
    threshold: float

    def passes(self, value: float) -> bool:
        return _OPERATORS[self.operator](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.metric}{self.operator}{self.threshold:g}"


class Check(BaseModel):
    """One pass/fail line of a gated run: a gate, or the regression check of one metric."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["gate", "regression"]
    name: str
    passed: bool
    message: str
    metric: str
    value: float | None = None


def parse_gate(text: str) -> Gate:
    """``METRIC OP NUMBER`` with OP one of >=, >, <=, <; raises ``InvalidInput``."""
    match = _GATE.fullmatch(text)
    if match is None:
        raise InvalidInput(
            f"malformed gate {text!r}: write METRIC>=NUMBER, e.g. 'bleu>=20', 'rougeL>=0.35' or "
            "'hit_rate@4>=0.85' (operators >=, >, <=, <)",
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


def check_gates(corpus: Mapping[str, float], gates: Iterable[Gate]) -> list[Check]:
    """One check per gate on the corpus scores (a metric not scored fails its gate)."""
    checks = []
    for gate in gates:
        value = corpus.get(gate.metric)
        if value is None:
            message = f"{gate.metric} was not scored"
            checks.append(Check(kind="gate", name=str(gate), passed=False, message=message,
                                metric=gate.metric))  # fmt: skip
            continue
        passed = gate.passes(value)
        message = f"{gate.metric} = {value:.4f} {'passes' if passed else 'fails'} {gate}"
        checks.append(Check(kind="gate", name=str(gate), passed=passed, message=message,
                            metric=gate.metric, value=value))  # fmt: skip
    return checks


def check_regression(comparison: Comparison, max_drop: Mapping[str | None, float]) -> list[Check]:
    """One check per compared metric with a limit: fails when the candidate is worse than the
    baseline by more than the limit (in points of the 0-100 scale)."""
    checks = []
    for name, delta in comparison.metrics.items():
        limit = max_drop.get(name, max_drop.get(None))
        if limit is None:
            continue
        points = 100.0 / delta.scale
        drop = -delta.improved * points
        passed = drop <= limit + 1e-9
        ci = f"95% CI of the delta [{delta.ci.low:+.4f}, {delta.ci.high:+.4f}]"
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
            Check(kind="regression", name=f"{name} drop<={limit:g}", passed=passed,
                  message=message, metric=name, value=delta.delta)
        )  # fmt: skip
    return checks
