# ruff: noqa: E501 (test data copied from sacrebleu)
"""TER: sacrebleu's published values, on both scoring paths."""

from __future__ import annotations

import pytest

from liftoff.evaluation.metrics import score

pytestmark = pytest.mark.usefixtures("scoring_path")

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
