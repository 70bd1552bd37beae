"""Scoring throughput, fairly: ``liftoff.evaluation.metrics.score`` against a plain loop over
the reference libraries doing the same work, on the same synthetic corpus.

The same work on both sides: every example's score and the corpus score of each metric, with
each library's statistics computed once (the loop takes sacrebleu's per-example statistics
and derives both the sentence and the corpus scores from them, as sacrebleu's own
significance tests do; ``RougeScorer.score_multi`` once per example with all four types;
NLTK's ``meteor_score`` once per example), no confidence intervals. The same worker count on
both sides: the loop splits the examples into the same chunks over the same number of forked
processes. The same start: each measurement runs in a process forked from one that has only
loaded WordNet and the corpus, so no side reuses caches another measurement filled; the
cyclic garbage collector is paused on both sides, as liftoff's scorer pauses it. Rounds are
paired (both sides back to back, order alternating); results are the median with min and max
over rounds. Every score must be identical on both sides::

    python -m benchmarks.scoring --pairs 10000 --rounds 5
"""

from __future__ import annotations

import argparse
import gc
import itertools
import multiprocessing
import os
import pickle
import random
import resource
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import (
    RESULTS_DIR,
    background_cpus,
    load_average,
    machine_info,
    write_result,
)
from liftoff.evaluation.metrics import score
from liftoff.evaluation.metrics.accelerators import UPSTREAMS
from liftoff.evaluation.wordnet import load_wordnet

FAMILIES: dict[str, tuple[str, ...]] = {
    "bleu": ("bleu",),
    "chrf": ("chrf",),
    "ter": ("ter",),
    "rouge": ("rouge1", "rouge2", "rougeL", "rougeLsum"),
    "meteor": ("meteor",),
}
WORKER_COUNTS = (1, 2)
CHUNKS_PER_WORKER = 4  # as liftoff's runner splits the examples
NO_INTERVALS = {"bootstrap": {"resamples": 0}}
Corpus = tuple[list[str], list[list[str]]]
Results = dict[str, dict[str, list[float]]]  # metric -> per_example / corpus


def synthetic_corpus(pairs: int, seed: int = 7) -> Corpus:
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


# --- the plain loop over the libraries ------------------------------------------------------


def _sacrebleu_metrics(family: str) -> tuple[Any, Any]:
    """(sentence-level, corpus-level) sacrebleu metric objects of ``family``."""
    from sacrebleu.metrics import BLEU, CHRF, TER

    if family == "bleu":
        return BLEU(effective_order=True), BLEU()
    metric = CHRF() if family == "chrf" else TER()
    return metric, metric


def library_rows(family: str, predictions: list[str], references: list[list[str]]) -> list[Any]:
    """One library pass over a chunk: sacrebleu statistics, ROUGE scores or METEOR scores."""
    if family in ("bleu", "chrf", "ter"):
        _, metric = _sacrebleu_metrics(family)
        width = max(len(refs) for refs in references)
        streams = [[r[k] if k < len(r) else None for r in references] for k in range(width)]
        rows: list[Any] = metric._extract_corpus_statistics(predictions, streams)
        return rows
    if family == "rouge":
        from rouge_score.rouge_scorer import RougeScorer

        scorer = RougeScorer(list(FAMILIES["rouge"]))
        return [
            scorer.score_multi(refs, p) for p, refs in zip(predictions, references, strict=True)
        ]
    from nltk.tokenize import NLTKWordTokenizer
    from nltk.translate.meteor_score import meteor_score

    tokenize, wordnet = NLTKWordTokenizer().tokenize, load_wordnet()
    return [
        meteor_score([tokenize(r) for r in refs], tokenize(p), wordnet=wordnet)
        for p, refs in zip(predictions, references, strict=True)
    ]


def library_scores(family: str, corpus: Corpus, workers: int) -> Results:
    """Every example's and the corpus score of ``family``'s metrics, the libraries' way."""
    predictions, references = corpus
    if workers == 1:
        rows = library_rows(family, predictions, references)
    else:
        chunks = workers * CHUNKS_PER_WORKER
        bounds = [len(predictions) * k // chunks for k in range(chunks + 1)]
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            parts = pool.map(
                library_rows,
                [family] * chunks,
                [predictions[a:b] for a, b in itertools.pairwise(bounds)],
                [references[a:b] for a, b in itertools.pairwise(bounds)],
            )
            rows = [row for part in parts for row in part]
    if family in ("bleu", "chrf", "ter"):
        from sacrebleu.utils import sum_of_lists

        sentence, whole = _sacrebleu_metrics(family)
        per_example = [sentence._compute_score_from_stats(list(row)).score for row in rows]
        corpus_score = whole._compute_score_from_stats(sum_of_lists(rows)).score
        return {family: {"per_example": per_example, "corpus": [corpus_score]}}
    if family == "rouge":
        results: Results = {}
        for name in FAMILIES["rouge"]:
            f = [row[name].fmeasure for row in rows]
            results[name] = {"per_example": f, "corpus": [statistics.fmean(f)]}
        return results
    return {"meteor": {"per_example": rows, "corpus": [statistics.fmean(rows)]}}


def liftoff_scores(family: str, corpus: Corpus, workers: int) -> Results:
    results = score(*corpus, FAMILIES[family], {**NO_INTERVALS, "workers": workers})
    return {
        name: {"per_example": list(result.per_example), "corpus": [result.corpus]}
        for name, result in results.items()
    }


def _differing(ours: Results, theirs: Results) -> list[str]:
    return [name for name in theirs if ours[name] != theirs[name]]


# --- measuring ------------------------------------------------------------------------------


def _timed(run: Callable[[], Results]) -> tuple[float, Results]:
    """Seconds and results of ``run()`` in a freshly forked process with the GC paused.

    ``os.fork`` rather than ``multiprocessing``: the child may fork workers of its own.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: measure, send, leave without running the parent's cleanup
        os.close(read_end)
        status = 0
        try:
            gc.disable()
            started = time.perf_counter()
            results = run()
            payload = pickle.dumps((time.perf_counter() - started, results))
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        except BaseException:
            traceback.print_exc()
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not payload:
        raise SystemExit("a measurement failed; run the side alone to see why")
    elapsed, results = pickle.loads(payload)
    return elapsed, results


def _spread(values: Sequence[float], digits: int = 2) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def run(pairs: int, rounds: int) -> dict[str, Any]:
    corpus = synthetic_corpus(pairs)
    inactive = [upstream.distribution for upstream in UPSTREAMS if not upstream.active()]
    info = machine_info()
    seconds: dict[str, dict[str, dict[int, list[float]]]] = {
        side: {family: {n: [] for n in WORKER_COUNTS} for family in FAMILIES}
        for side in ("libraries", "liftoff")
    }
    default_seconds: list[float] = []
    for round_index in range(rounds):
        for workers in WORKER_COUNTS:
            for family in FAMILIES:
                sides = [
                    ("libraries", lambda f=family, n=workers: library_scores(f, corpus, n)),
                    ("liftoff", lambda f=family, n=workers: liftoff_scores(f, corpus, n)),
                ]
                if round_index % 2:
                    sides.reverse()  # neither side always runs on a warmer machine
                outputs: dict[str, Results] = {}
                for side, measure in sides:
                    elapsed, outputs[side] = _timed(measure)
                    seconds[side][family][workers].append(elapsed)
                differing = _differing(outputs["liftoff"], outputs["libraries"])
                if differing:
                    raise SystemExit(f"scores differ from the reference libraries: {differing}")
        elapsed, _ = _timed(lambda: {"all": {"default": [len(score(*corpus))]}})
        default_seconds.append(elapsed)  # every metric, default options: intervals, "auto"
    return _summary(pairs, rounds, corpus, info, seconds, default_seconds, inactive)


def _summary(
    pairs: int,
    rounds: int,
    corpus: Corpus,
    info: dict[str, Any],
    seconds: dict[str, dict[str, dict[int, list[float]]]],
    default_seconds: list[float],
    inactive: list[str],
) -> dict[str, Any]:
    by_workers: dict[str, Any] = {}
    for workers in WORKER_COUNTS:
        per_family: dict[str, Any] = {}
        totals = {side: [0.0] * rounds for side in seconds}
        for family in FAMILIES:
            for side in seconds:
                for k, value in enumerate(seconds[side][family][workers]):
                    totals[side][k] += value
            theirs = seconds["libraries"][family][workers]
            ours = seconds["liftoff"][family][workers]
            per_family[family] = {
                "libraries_seconds": _spread(theirs),
                "liftoff_seconds": _spread(ours),
                "speedup": _spread([a / b for a, b in zip(theirs, ours, strict=True)]),
            }
        per_family["all metrics"] = {
            "libraries_seconds": _spread(totals["libraries"]),
            "liftoff_seconds": _spread(totals["liftoff"]),
            "speedup": _spread(
                [a / b for a, b in zip(totals["libraries"], totals["liftoff"], strict=True)]
            ),
        }
        by_workers[str(workers)] = per_family
    baseline_one = [
        sum(seconds["libraries"][f][1][k] for f in FAMILIES) for k in range(len(default_seconds))
    ]
    return {
        "pairs": pairs,
        "rounds": rounds,
        "mean_prediction_words": round(sum(len(p.split()) for p in corpus[0]) / pairs, 1),
        "families": {family: list(names) for family, names in FAMILIES.items()},
        "identical_scores": True,
        "accelerators_inactive": inactive,
        "same_work": "per-example and corpus scores, each library's statistics computed once, "
        "no intervals, identical chunks over the same number of forked processes",
        "by_workers": by_workers,
        "liftoff_default": {
            "options": "all metrics, 95% bootstrap intervals (1000 resamples), workers auto",
            "seconds": _spread(default_seconds),
            "speedup_vs_libraries_1_worker": _spread(
                [a / b for a, b in zip(baseline_one, default_seconds, strict=True)]
            ),
        },
        "peak_rss_mb": {
            "benchmark_process": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
            ),
            "largest_child": round(
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
            ),
        },
        "machine": info,
        "load_average_at_end": load_average(),
        "background_cpus_at_end": background_cpus(),
    }


def markdown(result: dict[str, Any]) -> str:
    machine = result["machine"]

    def cell(spread: dict[str, float], unit: str = "") -> str:
        return f"{spread['median']}{unit} [{spread['min']}, {spread['max']}]"

    lines = [
        "## Scoring benchmark",
        "",
        f"{result['pairs']:,} pairs (~{result['mean_prediction_words']:.0f} words), "
        f"{result['rounds']} paired rounds; median [min, max]. Same work on both sides: "
        f"{result['same_work']}. Scores identical to the reference libraries: yes.",
        "",
    ]
    for workers, families in result["by_workers"].items():
        lines += [
            f"### {workers} worker{'s' if workers != '1' else ''} on both sides",
            "",
            "| metrics | libraries (s) | liftoff (s) | speed-up |",
            "|---|---|---|---|",
            *(
                f"| {family} | {cell(row['libraries_seconds'])} | "
                f"{cell(row['liftoff_seconds'])} | {cell(row['speedup'], 'x')} |"
                for family, row in families.items()
            ),
            "",
        ]
    default = result["liftoff_default"]
    lines += [
        f"liftoff with its default options ({default['options']}): "
        f"{cell(default['seconds'], ' s')}, {cell(default['speedup_vs_libraries_1_worker'], 'x')} "
        "the one-worker loop.",
        "",
        f"Machine: {machine['cpu_model']}, {machine['cpus_usable']} usable CPUs, "
        f"{machine['memory_gib']} GiB; commit {machine['git_commit']}"
        f"{' (uncommitted changes)' if machine['git_dirty'] else ''}; load average "
        f"{machine['load_average_at_start']} at start, {result['load_average_at_end']} at end; "
        f"other processes kept {machine['background_cpus_at_start']} CPUs busy at start, "
        f"{result['background_cpus_at_end']} at end. Peak RSS: "
        f"{result['peak_rss_mb']['benchmark_process']} MB (benchmark process), "
        f"{result['peak_rss_mb']['largest_child']} MB (largest measured or worker process).",
        "",
    ]
    if result["accelerators_inactive"]:
        lines.insert(
            4, f"Accelerators inactive (versions differ): {result['accelerators_inactive']}."
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scoring")
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    result = run(args.pairs, args.rounds)
    write_result("scoring", result, args.results_dir)
    (args.results_dir / "scoring.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
