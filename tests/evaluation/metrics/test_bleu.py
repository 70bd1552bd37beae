"""BLEU: sacrebleu's published values and the effective-order trap, on both scoring paths."""

from __future__ import annotations

import pytest
import sacrebleu
from sacrebleu.metrics import BLEU as SacreBLEU

from liftoff.evaluation.metrics import score

pytestmark = pytest.mark.usefixtures("scoring_path")

NO_BOOTSTRAP = {"bootstrap": {"resamples": 0}}

# sacrebleu test/test_bleu.py: the README example, two references per hypothesis.
README_HYPS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
README_REFS = [
    ["The dog bit the man.", "The dog had bit the man."],
    ["It was not unexpected.", "No one was surprised."],
    ["The man bit him first.", "The man had bitten the dog."],
]
# sacrebleu test/test_sentence_bleu.py, issues #98 and #141.
ROMANIAN_REF = "producţia de zahăr brut se exprimă în zahăr alb;"
ROMANIAN_SYS = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;"


@pytest.mark.parametrize(
    ("predictions", "references", "expected"),
    [
        (README_HYPS, README_REFS, 48.530827),
        (["", "", ""], README_REFS, 0.0),  # empty hypotheses are scored, not dropped
    ],
)
def test_corpus_bleu_matches_sacrebleu_published_values(
    predictions: list[str], references: list[list[str]], expected: float
) -> None:
    assert score(predictions, references, ["bleu"], NO_BOOTSTRAP)["bleu"].corpus == pytest.approx(
        expected, abs=1e-6
    )


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [(ROMANIAN_SYS, ROMANIAN_REF, 8.493), ("this is a cat", "okay thanks", 0.0)],
)
def test_sentence_bleu_matches_sacrebleu_published_values(
    prediction: str, reference: str, expected: float
) -> None:
    result = score([prediction], [reference], ["bleu"], NO_BOOTSTRAP)["bleu"]
    assert result.per_example[0] == pytest.approx(expected, abs=1e-3)


def test_per_example_bleu_is_sentence_bleu_not_bleu_sentence_score() -> None:
    # "test" vs "a test" has no bigrams: sentence_bleu (effective order) gives 36.79,
    # BLEU().sentence_score (all four orders) gives a different, smoothed number.
    result = score(["test"], ["a test"], ["bleu"], NO_BOOTSTRAP)["bleu"]
    expected = sacrebleu.sentence_bleu("test", ["a test"]).score
    assert result.per_example == (expected,)
    assert expected == pytest.approx(36.787944, abs=1e-5)
    assert SacreBLEU().sentence_score("test", ["a test"]).score != expected


def test_corpus_bleu_is_not_the_mean_of_sentence_bleu() -> None:
    result = score(README_HYPS, README_REFS, ["bleu"], NO_BOOTSTRAP)["bleu"]
    assert result.corpus != pytest.approx(sum(result.per_example) / len(README_HYPS))


def test_signature_names_sacrebleu_settings_and_version() -> None:
    result = score(README_HYPS, README_REFS, ["bleu"])["bleu"]
    assert result.signature == (
        "nrefs:2|case:mixed|eff:per-example|tok:13a|smooth:exp|agg:corpus"
        f"|ci:95%|bs:1000|rs:12345|version:sacrebleu-{sacrebleu.__version__}"
    )
    assert result.scale == 100.0
