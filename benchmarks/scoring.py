"""Scoring throughput: ``liftoff.evaluation.metrics.score`` against a plain loop over the reference
libraries (sacrebleu, rouge-score, NLTK), on the same synthetic corpus, in one run.

Every per-example and corpus score must be identical (ROUGE/METEOR corpus means within
1e-9); the target is at least 5x the loop's segments per second::

    python -m benchmarks.scoring --pairs 10000
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, write_result
from liftoff.evaluation.metrics import DEFAULT_METRICS, score
from liftoff.evaluation.wordnet import load_wordnet
from tests.evaluation.metrics.reference import reference_scores

TARGET_SPEEDUP = 5.0


def synthetic_corpus(pairs: int, seed: int = 7) -> tuple[list[str], list[list[str]]]:
    """Reference sentences of 25-35 common words, and predictions that edit them the way
    a model's output differs from a reference: swapped, dropped and foreign words."""
    wordnet = load_wordnet()
    vocabulary = sorted(w for w in wordnet.all_lemma_names() if w.isalpha() and len(w) < 9)
    rng = random.Random(seed)
    words = rng.sample(vocabulary, 3000)
    predictions, references = [], []
    for _ in range(pairs):
        reference = [rng.choice(words) for _ in range(rng.randint(25, 35))]
        prediction = []
        for word in reference:
            roll = rng.random()
            if roll < 0.1:
                continue  # dropped
            prediction.append(rng.choice(words) if roll < 0.3 else word)
        references.append([" ".join(reference).capitalize() + "."])
        predictions.append(" ".join(prediction).capitalize() + ".")
    return predictions, references


def compare(ours: dict[str, Any], theirs: dict[str, dict[str, Any]]) -> list[str]:
    """The metrics whose scores differ (empty when all are identical)."""
    differing = []
    for name, result in ours.items():
        reference = theirs[name]
        same_examples = list(result.per_example) == list(reference["per_example"])
        same_corpus = abs(result.corpus - reference["corpus"]) <= 1e-9
        if not (same_examples and same_corpus):
            differing.append(name)
    return differing


def run(pairs: int) -> dict[str, Any]:
    predictions, references = synthetic_corpus(pairs)
    wordnet = load_wordnet()
    tokens = sum(len(p.split()) for p in predictions) / pairs

    started = time.perf_counter()
    theirs = reference_scores(predictions, references, wordnet=wordnet)
    loop_seconds = time.perf_counter() - started

    timings: dict[str, float] = {}
    for label, options in (
        ("with 95% bootstrap intervals (default)", None),
        ("scores only", {"bootstrap": {"resamples": 0}}),
    ):
        started = time.perf_counter()
        ours = score(predictions, references, DEFAULT_METRICS, options)
        timings[label] = time.perf_counter() - started
        differing = compare(ours, theirs)
        if differing:
            raise SystemExit(f"scores differ from the reference libraries: {differing}")

    rss_mb = {
        "benchmark_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "largest_worker": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    default = timings["with 95% bootstrap intervals (default)"]
    return {
        "pairs": pairs,
        "mean_prediction_words": round(tokens, 1),
        "metrics": list(DEFAULT_METRICS),
        "identical_scores": True,
        "reference_loop_seconds": round(loop_seconds, 2),
        "reference_loop_segments_per_second": round(pairs / loop_seconds, 1),
        "ours_seconds": {label: round(seconds, 2) for label, seconds in timings.items()},
        "ours_segments_per_second": {
            label: round(pairs / seconds, 1) for label, seconds in timings.items()
        },
        "speedup_default": round(loop_seconds / default, 2),
        "speedup_scores_only": round(loop_seconds / timings["scores only"], 2),
        "target_speedup": TARGET_SPEEDUP,
        "passed": loop_seconds / default >= TARGET_SPEEDUP,
        "peak_rss_mb": {name: round(value, 1) for name, value in rss_mb.items()},
    }


def markdown(result: dict[str, Any]) -> str:
    verdict = "pass" if result["passed"] else "**FAIL**"
    ours = result["ours_segments_per_second"]
    loop_rate = result["reference_loop_segments_per_second"]
    return "\n".join(
        [
            "## Scoring benchmark",
            "",
            f"{result['pairs']:,} pairs (~{result['mean_prediction_words']:.0f} words), all "
            f"metrics ({', '.join(result['metrics'])}); scores identical to the reference "
            "libraries: yes.",
            "",
            "| scorer | segments/s | speed-up |",
            "|---|---|---|",
            f"| plain loop over sacrebleu, rouge-score, NLTK | "
            f"{result['reference_loop_segments_per_second']:,} | 1x |",
            *(
                f"| liftoff, {label} | {rate:,} | {rate / loop_rate:.1f}x |"
                for label, rate in ours.items()
            ),
            "",
            f"Target >= {result['target_speedup']:.0f}x with intervals: "
            f"{result['speedup_default']}x, {verdict}. Peak RSS: "
            f"{result['peak_rss_mb']['benchmark_process']} MB (benchmark process), "
            f"{result['peak_rss_mb']['largest_worker']} MB (largest worker).",
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scoring")
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    result = run(args.pairs)
    write_result("scoring", result, args.results_dir)
    (args.results_dir / "scoring.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
