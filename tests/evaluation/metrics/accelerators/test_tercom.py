"""The TER accelerator: sacrebleu's shift search and edit counts, on random sequences."""

from __future__ import annotations

import random

from sacrebleu.metrics.lib_ter import translation_edit_rate as sacrebleu_ter
from sacrebleu.metrics.ter import TER as SacreTER

from liftoff.evaluation.metrics.accelerators.tercom import ter_statistics, translation_edit_rate
from tests.evaluation.metrics.hard_corpus import PREDICTIONS, REFERENCES, reference_streams


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


def test_statistics_equal_sacrebleu_ter_statistics_on_the_hard_corpus() -> None:
    expected = SacreTER()._extract_corpus_statistics(PREDICTIONS, reference_streams(REFERENCES))
    assert ter_statistics(PREDICTIONS, REFERENCES) == expected
