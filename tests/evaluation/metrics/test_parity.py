"""Every metric equals the reference libraries exactly, per example and per corpus, whether
the accelerators compute it or the libraries' public API does."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from liftoff.evaluation.metrics import DEFAULT_METRICS, Score, score
from tests.evaluation.metrics.conftest import PATHS, enter
from tests.evaluation.metrics.hard_corpus import PREDICTIONS, REFERENCES
from tests.evaluation.metrics.reference import ROUGE_TYPES, reference_scores

NO_BOOTSTRAP = {"bootstrap": {"resamples": 0}}


@pytest.fixture(scope="module", params=PATHS)
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test here runs with the accelerators, then through the public API only."""
    yield from enter(request.param)


@pytest.fixture(scope="module")
def expected(wordnet: Any) -> dict[str, dict[str, Any]]:
    return reference_scores(PREDICTIONS, REFERENCES, wordnet=wordnet)


@pytest.fixture(scope="module")
def ours(path: str) -> dict[str, Score]:
    return score(PREDICTIONS, REFERENCES, options={**NO_BOOTSTRAP, "workers": 1})


@pytest.mark.parametrize("name", DEFAULT_METRICS)
def test_per_example_scores_equal_the_reference_library(
    name: str, ours: dict[str, Score], expected: dict[str, dict[str, Any]]
) -> None:
    assert list(ours[name].per_example) == expected[name]["per_example"]


@pytest.mark.parametrize("name", DEFAULT_METRICS)
def test_corpus_score_equals_the_reference_library(
    name: str, ours: dict[str, Score], expected: dict[str, dict[str, Any]]
) -> None:
    assert ours[name].corpus == expected[name]["corpus"]


@pytest.mark.parametrize("name", ROUGE_TYPES)
def test_rouge_precision_and_recall_equal_rouge_score(
    name: str, ours: dict[str, Score], expected: dict[str, dict[str, Any]]
) -> None:
    assert list(ours[name].components["precision"]) == expected[name]["precision"]
    assert list(ours[name].components["recall"]) == expected[name]["recall"]


def test_rouge_with_stemmer_equals_rouge_score(path: str, wordnet: Any) -> None:
    expected = reference_scores(PREDICTIONS, REFERENCES, wordnet=wordnet, use_stemmer=True)
    ours = score(
        PREDICTIONS, REFERENCES, ROUGE_TYPES, {**NO_BOOTSTRAP, "rouge": {"use_stemmer": True}}
    )
    for name in ROUGE_TYPES:
        assert list(ours[name].per_example) == expected[name]["per_example"], name
        assert ours[name].corpus == expected[name]["corpus"], name


def test_worker_processes_give_the_same_scores(ours: dict[str, Score]) -> None:
    shuffled = list(range(len(PREDICTIONS))) * 3
    random.Random(3).shuffle(shuffled)
    predictions = [PREDICTIONS[i] for i in shuffled]
    references = [REFERENCES[i] for i in shuffled]
    parallel = score(predictions, references, options={**NO_BOOTSTRAP, "workers": 2})
    for name, result in parallel.items():
        assert list(result.per_example) == [ours[name].per_example[i] for i in shuffled], name


def test_meteor_with_word_tokenize_equals_nltk(path: str, wordnet: Any) -> None:
    expected = reference_scores(
        PREDICTIONS,
        REFERENCES,
        wordnet=wordnet,
        meteor_tokenize="nltk-word-tokenize",
        only_meteor=True,
    )
    options = {**NO_BOOTSTRAP, "meteor": {"tokenize": "nltk-word-tokenize"}}
    ours = score(PREDICTIONS, REFERENCES, ["meteor"], options)["meteor"]
    assert list(ours.per_example) == expected["meteor"]["per_example"]
    assert ours.corpus == expected["meteor"]["corpus"]


def test_scores_on_random_text_equal_the_reference_libraries(path: str, wordnet: Any) -> None:
    rng = random.Random(11)
    vocabulary = ["the", "a", "cat", "cats", "dog", "dogs", "ran", "runs", "running", "quick"]
    vocabulary += ["fast", ",", ".", "!", "é", "東京", "-", "(", ")"]

    def sentence() -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 25)))

    predictions = [sentence() for _ in range(120)]
    references = [[sentence() for _ in range(rng.randint(1, 3))] for _ in predictions]
    expected = reference_scores(predictions, references, wordnet=wordnet)
    ours = score(predictions, references, options=NO_BOOTSTRAP)
    for name in DEFAULT_METRICS:
        assert list(ours[name].per_example) == expected[name]["per_example"], name
        assert ours[name].corpus == expected[name]["corpus"], name
