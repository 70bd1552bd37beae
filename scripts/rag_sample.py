"""``make rag-eval``: the sample questions answered through ``rag:samples``, gated by
``liftoff eval run`` on the retrieval metrics.

    python scripts/rag_sample.py                               # starts a gateway and the service
    python scripts/rag_sample.py --url http://127.0.0.1:8002   # a retrieval service already up
    python scripts/rag_sample.py -- --baseline RUN_ID --max-drop 5   # more `eval run` options

1. Ingests ``examples/rag/docs`` into the collection ``samples`` with ``liftoff rag ingest``
   (only changed files are embedded again), with the collection's ``min_score`` below.
2. Runs ``liftoff eval run examples/rag/questions.jsonl`` against the service's
   OpenAI-compatible API as the model ``rag:samples``: every answer's citations are kept and
   scored against each row's ``passages`` with ``hit_rate@4``, ``mrr@4``, ``abstention`` and
   ``false_abstention`` (``liftoff/evaluation/metrics/retrieval.py`` and ``abstention.py``),
   gated on ``GATES``. The service returns ``LIFTOFF_RAG_TOP_K`` citations per answer (4 by
   default; the service this script starts is set to 4).

The report, JUnit XML and the run document land in ``build/rag/`` (``--out``); the run is
kept in the evaluation store (``LIFTOFF_EVAL_STORE``, or ``--store``), so it can be the
``--baseline`` of a later one. Exits with the run's code: 0 every gate holds, 1 one fails,
2 usage (or the ingestion failed).

The collection's ``min_score`` (0.72) is calibrated for the gateway's current embedding model
(Gemma 3 270M, mean pooling): answerable questions score 0.74-0.92 against their passage,
unanswerable ones at most 0.69. Another embedding model needs its own value.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "examples" / "rag" / "docs"
QUESTIONS = REPO / "examples" / "rag" / "questions.jsonl"
OUT = REPO / "build" / "rag"
METRICS = "hit_rate@4,mrr@4,abstention,false_abstention"
GATES = ("hit_rate@4>=0.85", "mrr@4>=0.75", "abstention>=0.75", "false_abstention<=0.15")
MIN_SCORE = 0.72
TOP_K = 4


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running retrieval service; start nothing")
    parser.add_argument("--api-key", default=_default_key(), help="the retrieval service's key")
    parser.add_argument("--collection", default="samples")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens per answer")
    parser.add_argument("--out", type=Path, default=OUT, help="report.html, junit.xml, run.json")
    parser.add_argument("--store", type=Path, help="the evaluation store (LIFTOFF_EVAL_STORE)")
    parser.add_argument("extra", nargs="*", help="further `liftoff eval run` options, after --")
    args = parser.parse_args(argv)
    if args.url:
        return evaluate(args, args.url)
    with local_stack() as url:
        return evaluate(args, url)


def evaluate(args: argparse.Namespace, url: str) -> int:
    key = ["--api-key", args.api_key] if args.api_key else []
    ingest = [
        sys.executable, "-m", "liftoff", "rag", "ingest", str(DOCS),
        "--collection", args.collection, "--url", url, "--min-score", str(MIN_SCORE), *key,
    ]  # fmt: skip
    if subprocess.run(ingest, cwd=REPO, check=False).returncode != 0:
        return 2
    run = [
        sys.executable, "-m", "liftoff", "eval", "run", str(QUESTIONS),
        "--target", f"{url}/v1", "--model", f"rag:{args.collection}", *key,
        "--metrics", METRICS, *(option for gate in GATES for option in ("--gate", gate)),
        # Greedy, seeded, one question at a time: the same answers on every run.
        "--max-tokens", str(args.max_tokens), "--temperature", "0", "--seed", "0",
        "--concurrency", "1", "--name", "rag sample set",
        "--report", str(args.out / "report.html"), "--junit", str(args.out / "junit.xml"),
        "--json", str(args.out / "run.json"),
    ]  # fmt: skip
    if args.store:
        run += ["--store", str(args.store)]
    return subprocess.run([*run, *args.extra], cwd=REPO, check=False).returncode


def _default_key() -> str | None:
    key = os.environ.get("LIFTOFF_RAG_API_KEY")
    if key:
        return key
    # The service this script starts wants the first of LIFTOFF_API_KEYS when that is set.
    first = os.environ.get("LIFTOFF_API_KEYS", "").split(",")[0].strip()
    return first or None


class local_stack:
    """The gateway (configured backend) and a retrieval service on a fresh SQLite index."""

    def __enter__(self) -> str:
        from tests.servers import ServerProcess

        self.tmp = tempfile.TemporaryDirectory()
        quiet = {"LIFTOFF_LOG_LEVEL": "WARNING", "LIFTOFF_LOG_FORMAT": "text"}
        self.gateway = ServerProcess("liftoff.api.main:app", quiet).__enter__()
        keys = os.environ.get("LIFTOFF_API_KEYS", "").split(",")[0].strip()
        env = {**quiet, "LIFTOFF_RAG_GATEWAY_URL": f"{self.gateway.url}/v1",
               "LIFTOFF_RAG_STORE": f"{self.tmp.name}/rag.sqlite3",
               "LIFTOFF_RAG_TOP_K": str(TOP_K)}  # fmt: skip
        if keys:
            env["LIFTOFF_RAG_GATEWAY_API_KEY"] = keys
        self.rag = ServerProcess("liftoff.retrieval.main:app", env).__enter__()
        return self.rag.url

    def __exit__(self, *exc_info: object) -> None:
        self.rag.__exit__()
        self.gateway.__exit__()
        self.tmp.cleanup()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
