# ruff: noqa: E501 (test data copied from sacrebleu)
"""TER: sacrebleu's published values, and the fast shift search against sacrebleu's own."""

from __future__ import annotations

import random

import pytest
from sacrebleu.metrics.lib_ter import translation_edit_rate as sacrebleu_ter

from liftoff.evaluation.metrics import score
from liftoff.evaluation.metrics._tercom import translation_edit_rate

NO_BOOTSTRAP = {"bootstrap": {"resamples": 0}}

# sacrebleu test/test_ter.py, including its realistic example from WMT dev data.
WMT_HYPS = [
    'wählen Sie " Bild neu berechnen , " um beim Ändern der Bildgröße Pixel hinzuzufügen oder zu entfernen , damit das Bild ungefähr dieselbe Größe aufweist wie die andere Größe .',
    'wenn Sie alle Aufgaben im aktuellen Dokument aktualisieren möchten , wählen Sie im Menü des Aufgabenbedienfelds die Option " Alle Aufgaben aktualisieren . "',
    'klicken Sie auf der Registerkarte " Optionen " auf die Schaltfläche " Benutzerdefiniert " und geben Sie Werte für " Fehlerkorrektur-Level " und " Y / X-Verhältnis " ein .',
    "Sie können beispielsweise ein Dokument erstellen , das ein Auto über die Bühne enthält .",
    'wählen Sie im Dialogfeld " Neu aus Vorlage " eine Vorlage aus und klicken Sie auf " Neu . "',
]  # fmt: skip
WMT_REFS = [
    'wählen Sie " Bild neu berechnen , " um beim Ändern der Bildgröße Pixel hinzuzufügen oder zu entfernen , damit die Darstellung des Bildes in einer anderen Größe beibehalten wird .',
    'wenn Sie alle Aufgaben im aktuellen Dokument aktualisieren möchten , wählen Sie im Menü des Aufgabenbedienfelds die Option " Alle Aufgaben aktualisieren . "',
    'klicken Sie auf der Registerkarte " Optionen " auf die Schaltfläche " Benutzerdefiniert " und geben Sie für " Fehlerkorrektur-Level " und " Y / X-Verhältnis " niedrigere Werte ein .',
    "Sie können beispielsweise ein Dokument erstellen , das ein Auto enthalt , das sich über die Bühne bewegt .",
    'wählen Sie im Dialogfeld " Neu aus Vorlage " eine Vorlage aus und klicken Sie auf " Neu . "',
]  # fmt: skip


@pytest.mark.parametrize(
    ("predictions", "references", "expected"),
    [
        (["aaaa bbbb cccc dddd"], ["aaaa bbbb cccc dddd"], 0.0),
        (["dddd eeee ffff"], ["aaaa bbbb cccc"], 100.0),
        ([""], ["a"], 100.0),
        (["d e f g h a b c"], ["a b c d e f g h"], 12.5),  # one shift fixes it
        (WMT_HYPS, WMT_REFS, 13.6),
    ],
)
def test_corpus_ter_matches_sacrebleu_published_values(
    predictions: list[str], references: list[str], expected: float
) -> None:
    result = score(predictions, references, ["ter"], NO_BOOTSTRAP)["ter"]
    assert result.corpus == pytest.approx(expected, abs=1e-3)


def _random_case(rng: random.Random) -> tuple[list[str], list[str]]:
    vocabulary = [str(k) for k in range(rng.choice([2, 3, 5, 12, 40]))]
    kind = rng.random()
    if kind < 0.3:
        ref = rng.choices(vocabulary, k=rng.randint(0, 30))
        hyp = rng.choices(vocabulary, k=rng.randint(0, 30))
    elif kind < 0.7:  # a noisy copy with blocks moved: many shift candidates
        ref = rng.choices(vocabulary, k=rng.randint(1, 40))
        hyp = [w if rng.random() < 0.75 else rng.choice(vocabulary) for w in ref]
        for _ in range(rng.randint(0, 3)):
            start = rng.randrange(len(hyp))
            block = hyp[start : start + rng.randint(1, 6)]
            del hyp[start : start + len(block)]
            at = rng.randint(0, len(hyp))
            hyp[at:at] = block
    else:  # very different lengths: the beam excludes cells on the optimal path
        ref = rng.choices(vocabulary, k=rng.randint(1, 6))
        hyp = rng.choices(vocabulary, k=rng.randint(40, 70))
        if rng.random() < 0.5:
            ref, hyp = hyp, ref
    return hyp, ref


def test_edit_counts_equal_sacrebleu_lib_ter_on_random_sequences() -> None:
    rng = random.Random(2024)
    for _ in range(400):
        hyp, ref = _random_case(rng)
        assert translation_edit_rate(hyp, ref) == sacrebleu_ter(hyp, ref), (hyp, ref)


def test_edit_counts_equal_sacrebleu_when_the_candidate_limit_is_reached() -> None:
    rng = random.Random(7)
    ref = rng.choices("ab", k=60)
    hyp = ref[30:] + ref[:30]
    assert translation_edit_rate(hyp, ref) == sacrebleu_ter(hyp, ref)
