"""Abstention and false abstention: which answers abstain, which questions count, the phrase."""

from __future__ import annotations

import re
from typing import Any

import pytest

from liftoff.evaluation.errors import InvalidInput
from liftoff.evaluation.metrics import METRICS, score

NO_CI: dict[str, Any] = {"bootstrap": {"resamples": 0}}


@pytest.mark.parametrize(
    ("answer", "abstains"),
    [
        ("I don't know.", True),
        ("I don't know. The best passage scored 0.41, below the threshold 0.72.", True),
        ("i DON'T KNOW", True),
        ("I don\u2019t know", True),  # a typographic apostrophe
        ("  I don't know -- sorry", True),
        ('"I don\'t know," she said.', True),  # punctuation is not a word
        ("I do not know.", False),
        ("Well, I don't know.", False),  # the phrase must come first
        ("I don't", False),
        ("I don't knowingly lie.", False),  # whole words
        ("", False),
        ("Karl von Frisch decoded it.", False),
    ],
)
def test_an_answer_abstains_when_it_begins_with_the_phrases_words(
    answer: str, abstains: bool
) -> None:
    result = score([answer], metrics=["abstention"], passages=[[]], options=NO_CI)
    assert result["abstention"].per_example == (float(abstains),)


def test_abstention_counts_unanswerable_questions_and_false_abstention_answerable_ones() -> None:
    answers = ["I don't know.", "Paris.", "I don't know.", "I don't know.", "Berlin.", "?"]
    passages: list[Any] = [[], [], ["a.md"], [{"text": "berlin"}], ["b.md"], None]
    results = score(answers, metrics=["abstention", "false_abstention"], passages=passages,
                    options=NO_CI)  # fmt: skip
    assert results["abstention"].per_example == (1.0, 0.0, None, None, None, None)
    assert results["abstention"].corpus == 0.5
    assert results["false_abstention"].per_example == (None, None, 1.0, 1.0, 0.0, None)
    assert results["false_abstention"].corpus == pytest.approx(2 / 3)
    assert METRICS["abstention"].higher_is_better
    assert not METRICS["false_abstention"].higher_is_better


def test_the_phrase_is_an_option_named_in_the_signature() -> None:
    options = {"abstention": {"phrase": "Not in the documents"}, **NO_CI}
    results = score(["not in the documents!", "I don't know."], metrics=["abstention"],
                    passages=[[], []], options=options)  # fmt: skip
    assert results["abstention"].per_example == (1.0, 0.0)
    assert results["abstention"].signature.startswith(
        "phrase:not-in-the-documents|match:first-words|agg:mean|version:liftoff-"
    )
    default = score(["x"], metrics=["abstention"], passages=[[]], options=NO_CI)
    assert default["abstention"].signature.startswith("phrase:i-don-t-know|")


@pytest.mark.parametrize(
    ("metric", "passages", "options", "message"),
    [
        ("abstention", [["a.md"], None], NO_CI,
         'abstention scores unanswerable questions (rows with "passages": []), and there are '
         "none"),
        ("false_abstention", [[], None], NO_CI,
         "false_abstention scores answerable questions (rows naming passages), and there are "
         "none"),
        ("abstention", None, NO_CI, "abstention needs passages"),
        ("abstention", [[], []], {"abstention": {"phrase": "..."}},
         "abstention.phrase: Value error, the phrase has no letters or digits to match"),
        ("abstention", [[], []], {"abstention": {"phrase": ""}}, "abstention.phrase: String"),
    ],
)  # fmt: skip
def test_abstention_without_questions_to_score_or_a_phrase_is_refused(
    metric: str, passages: Any, options: Any, message: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        score(["a", "b"], metrics=[metric], passages=passages, options=options)
