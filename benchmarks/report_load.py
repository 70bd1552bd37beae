"""The evaluation service under report load: is ``/healthz`` still answered at once?

A store holds one completed run of 100,000 examples (every metric scored) and 999 small
runs. The service starts on it; six clients ask for the large run's HTML report at the same
time while a prober asks ``/healthz`` every 100 ms with the 3 s timeout of a Kubernetes
liveness probe. A service that does its SQLite reads, JSON parsing or HTML rendering on the
event loop answers the probes late or not at all, and gets restarted by Kubernetes::

    python -m benchmarks.report_load                      # this tree
    python -m benchmarks.report_load --src /tmp/before    # another tree's liftoff/

The store is written in the run store's first on-disk format (schema version 1), which
every version of the service reads (later ones migrate it when they open it), so the same
file measures the code before and after a change. Also timed: ``GET /v1/runs?limit=1000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import (
    REPO,
    RESULTS_DIR,
    Server,
    clean_env,
    load_average,
    machine_info,
    read_result,
    source_info,
    summarize_ms,
    write_result,
)

LIVENESS_TIMEOUT_S = 3.0  # Kubernetes' default timeoutSeconds is 1; our manifests say 3
PROBE_INTERVAL_S = 0.1
METRICS = ("bleu", "chrf", "ter", "rouge1", "rouge2", "rougeL", "rougeLsum", "meteor")
SCALES = {"bleu": 100.0, "chrf": 100.0, "ter": 100.0}

# Schema version 1 of liftoff.evaluation.runs.store, as the first release wrote it.
_SCHEMA_V1 = """
CREATE TABLE runs (id TEXT PRIMARY KEY, spec TEXT NOT NULL, status TEXT NOT NULL,
    origin TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, error TEXT,
    corpus TEXT);
CREATE TABLE examples (run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    position INTEGER NOT NULL, id TEXT NOT NULL, row TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', output TEXT, error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, latency_s REAL, prompt_tokens INTEGER,
    completion_tokens INTEGER, finish_reason TEXT, generated_at TEXT, scores TEXT,
    PRIMARY KEY (run_id, position), UNIQUE (run_id, id));
CREATE INDEX runs_by_status ON runs (status);
PRAGMA user_version = 1;
"""


def build_store(path: Path, examples: int, small_runs: int, seed: int = 3) -> str:
    """A v1 store with one completed run of ``examples`` examples; returns its id."""
    rng = random.Random(seed)
    words = [f"{rng.choice('bcdfglmnprst')}{rng.choice('aeiou')}{rng.choice('kmnrst')}"
             f"{rng.choice('aeiou')}" for _ in range(2000)]  # fmt: skip

    def sentence(length: int) -> str:
        return " ".join(rng.choice(words) for _ in range(length)).capitalize() + "."

    spec = {"target": "http://127.0.0.1:9/v1", "model": "m", "endpoint": "auto",
            "generation": {"max_tokens": 64, "temperature": 0.0, "top_p": None, "seed": 0,
                           "stop": None},
            "metrics": list(METRICS),
            "options": {"rouge": {"use_stemmer": False},
                        "bootstrap": {"resamples": 1000, "seed": 12345}, "workers": "auto"},
            "concurrency": 4, "name": None, "dataset": "large.jsonl"}  # fmt: skip
    corpus = {name: {"score": SCALES.get(name, 1.0) * 0.4, "signature": f"{name}|bench",
                     "scale": SCALES.get(name, 1.0),
                     "ci": {"low": SCALES.get(name, 1.0) * 0.39,
                            "high": SCALES.get(name, 1.0) * 0.41}}
              for name in METRICS}  # fmt: skip
    stamp = "2026-01-01T00:00:00.000Z"
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA_V1)
    with db:
        db.execute(
            "INSERT INTO runs VALUES (?, ?, 'completed', 'service', ?, ?, NULL, ?)",
            ("large", json.dumps(spec), stamp, stamp, json.dumps(corpus)),
        )
        rows = []
        for position in range(examples):
            scores: dict[str, float] = {}
            for name in METRICS:
                scores[name] = round(rng.random() * SCALES.get(name, 1.0), 6)
                if name.startswith("rouge"):
                    scores[f"{name}_precision"] = rng.random()
                    scores[f"{name}_recall"] = rng.random()
            row = {"id": f"ex{position}", "prompt": sentence(30), "references": [sentence(20)]}
            rows.append((
                "large", position, row["id"], json.dumps(row), "done", sentence(20), None, 1,
                0.5, 40, 20, "stop", stamp, json.dumps(scores),
            ))  # fmt: skip
        db.executemany(
            "INSERT INTO examples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
        for index in range(small_runs):
            run_id = f"small{index:04d}"
            db.execute(
                "INSERT INTO runs VALUES (?, ?, 'completed', 'service', ?, ?, NULL, ?)",
                (run_id, json.dumps({**spec, "dataset": "small.jsonl"}), stamp, stamp,
                 json.dumps(corpus)),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO examples (run_id, position, id, row, status, output, scores) "
                "VALUES (?, ?, ?, ?, 'done', 'x', ?)",
                [(run_id, p, f"e{p}", json.dumps({"id": f"e{p}", "prompt": "p",
                  "references": ["r"]}), json.dumps(dict.fromkeys(METRICS, 0.5)))
                 for p in range(3)],
            )  # fmt: skip
    db.close()
    return "large"


async def probe_during(
    url: str, run_id: str, reports: int, worst: int
) -> tuple[list[float], int, list[float], float]:
    """(probe latencies in s, probes past the timeout, report latencies in s, wall time)."""
    latencies: list[float] = []
    failures = 0
    done = asyncio.Event()

    async def prober(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while not done.is_set():
            started = time.perf_counter()
            try:
                response = await client.get(f"{url}/healthz", timeout=LIVENESS_TIMEOUT_S)
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)
            except httpx.HTTPError:
                failures += 1
            await asyncio.sleep(max(0.0, PROBE_INTERVAL_S - (time.perf_counter() - started)))

    async def report(client: httpx.AsyncClient) -> float:
        started = time.perf_counter()
        response = await client.get(f"{url}/v1/runs/{run_id}/report?worst={worst}", timeout=900)
        response.raise_for_status()
        return time.perf_counter() - started

    limits = httpx.Limits(max_connections=reports + 2)
    async with (
        httpx.AsyncClient(limits=limits) as probes,
        httpx.AsyncClient(limits=limits) as pages,
    ):
        probing = asyncio.create_task(prober(probes))
        await asyncio.sleep(1.0)  # a quiet baseline first
        started = time.perf_counter()
        durations = await asyncio.gather(*(report(pages) for _ in range(reports)))
        wall = time.perf_counter() - started
        done.set()
        await probing
    return latencies, failures, list(durations), wall


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report_load")
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--small-runs", type=int, default=999)
    parser.add_argument("--reports", type=int, default=6, help="concurrent report requests")
    parser.add_argument("--worst", type=int, default=10)
    parser.add_argument("--src", type=Path, default=REPO, help="the tree whose liftoff/ runs")
    parser.add_argument("--name", default="report_load", help="results file name")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    machine = machine_info()
    with tempfile.TemporaryDirectory() as scratch:
        store = Path(scratch) / "runs.sqlite3"
        started = time.perf_counter()
        run_id = build_store(store, args.examples, args.small_runs)
        print(f"store of {args.examples} + {args.small_runs} runs built in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        env = clean_env(
            PYTHONPATH=str(args.src),
            LIFTOFF_EVAL_STORE=str(store),
            LIFTOFF_EVAL_RESUME_ON_START="false",
            LIFTOFF_EVAL_TARGET="http://127.0.0.1:9/v1",
            LIFTOFF_EVAL_LOG_LEVEL="WARNING",
        )
        command = ["-m", "uvicorn", "liftoff.evaluation.main:app", "--port", "{port}",
                   "--log-level", "warning"]  # fmt: skip
        with Server(command, env=env, health="/readyz", cwd=args.src, ready_timeout=180) as server:
            listing = []
            for _ in range(3):
                began = time.perf_counter()
                answer = httpx.get(f"{server.url}/v1/runs?limit=1000", timeout=120)
                answer.raise_for_status()
                listing.append(time.perf_counter() - began)
            load = load_average()
            latencies, failures, durations, wall = asyncio.run(
                probe_during(server.url, run_id, args.reports, args.worst)
            )
        shutil.rmtree(scratch, ignore_errors=True)
    result = {
        "benchmark": "report_load",
        "machine": machine,
        "source": source_info(args.src),
        "load_average_before_probe": load,
        "examples": args.examples,
        "concurrent_reports": args.reports,
        "probe": {
            "interval_s": PROBE_INTERVAL_S,
            "timeout_s": LIVENESS_TIMEOUT_S,
            "answered": len(latencies),
            "failed": failures,
            "latency_ms": summarize_ms(latencies),
        },
        "reports_s": [round(value, 2) for value in durations],
        "reports_wall_s": round(wall, 2),
        "list_1000_runs_ms": summarize_ms(listing),
    }
    path = write_result(args.name, result, args.results_dir)
    print(json.dumps({key: result[key] for key in list(result)[3:]}, indent=2))
    print(f"wrote {path} and {write_markdown(args.results_dir)}")
    return result


def write_markdown(results_dir: Path = RESULTS_DIR) -> Path:
    """``report_load.md``: this tree's result and, when recorded, the code it replaced
    (``--name report_load_before``)."""
    lines = [
        "## /healthz under report load",
        "",
        "Six clients ask at once for the HTML report of a completed 100,000-example run while a "
        f"prober asks `/healthz` every {PROBE_INTERVAL_S * 1000:.0f} ms with a "
        f"{LIVENESS_TIMEOUT_S:g} s timeout (a Kubernetes liveness probe); "
        "`python -m benchmarks.report_load`. Latencies are those of the probes answered in "
        "time; CPUs busy elsewhere: what other processes kept busy when the run started.",
        "",
        "| code | CPUs busy elsewhere | probes failed | /healthz p50 / p90 / p99 / max (ms) "
        "| all six reports (s) | `GET /v1/runs?limit=1000` p50 (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("report_load_before", "report_load"):
        result = read_result(name, results_dir)
        if result is None:
            continue
        probe, latency = result["probe"], result["probe"]["latency_ms"]
        source = result["source"]
        commit = (source.get("git_commit") or "unknown")[:10]
        lines.append(
            f"| {commit}{' + local changes' if source.get('git_dirty') else ''} "
            f"| {result['machine']['background_cpus_at_start']:.2f} of "
            f"{result['machine']['cpus_usable']} "
            f"| {probe['failed']} of {probe['answered'] + probe['failed']} "
            f"| {latency.get('p50', 0):.0f} / {latency.get('p90', 0):.0f} / "
            f"{latency.get('p99', 0):.0f} / {latency.get('max', 0):.0f} "
            f"| {result['reports_wall_s']:.1f} | {result['list_1000_runs_ms']['p50']:.0f} |"
        )
    path = results_dir / "report_load.md"
    path.write_text("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    main()
