"""chrF: values that follow from the definition, on both scoring paths."""

from __future__ import annotations

import pytest
import sacrebleu

from liftoff.evaluation.metrics import score

pytestmark = pytest.mark.usefixtures("scoring_path")

NO_BOOTSTRAP = {"bootstrap": {"resamples": 0}}


# sacrebleu test/test_chrf.py (effective-order mode); precision equals recall in each case,
# so the values hold for beta 2 as for the beta 3 used there.
@pytest.mark.parametrize(
    ("predictions", "references", "expected"),
    [
        (["a"], ["a"], 100.0),
        ([""], ["reference"], 0.0),
        (["a b c"], ["a b c"], 100.0),
        (["a b c"], ["abc"], 100.0),  # whitespace is removed before counting
        ([""], ["c"], 0.0),
        (["a", "b"], ["a", "c"], 50.0),
        (["aa"], ["ab"], 25.0),
        (["abcdefg"], ["hijklmnop"], 0.0),
    ],
)
def test_corpus_chrf_known_values(
    predictions: list[str], references: list[str], expected: float
) -> None:
    result = score(predictions, references, ["chrf"], NO_BOOTSTRAP)["chrf"]
    assert result.corpus == pytest.approx(expected, abs=1e-9)


def test_chrf_picks_the_best_reference_like_sentence_chrf() -> None:
    refs = ["completely different words", "the cat sat on the mat", "the cat sat"]
    result = score(["the cat sat on a mat"], [refs], ["chrf"], NO_BOOTSTRAP)["chrf"]
    assert result.per_example == (sacrebleu.sentence_chrf("the cat sat on a mat", refs).score,)


def test_signature_names_settings() -> None:
    result = score(["a"], ["a"], ["chrf"], NO_BOOTSTRAP)["chrf"]
    assert result.signature == (
        f"nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:sacrebleu-{sacrebleu.__version__}"
    )
