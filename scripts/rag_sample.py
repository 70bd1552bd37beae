"""``make rag-eval``: the sample questions answered through ``rag:samples``, gated by
``liftoff eval run`` on the retrieval metrics.

    python scripts/rag_sample.py                               # starts a gateway and the service
    python scripts/rag_sample.py --url http://127.0.0.1:8002   # a retrieval service already up
    python scripts/rag_sample.py -- --baseline RUN_ID --max-drop 5   # more `eval run` options
    python scripts/rag_sample.py --calibrate            # the scores a threshold is chosen from

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

The collection's ``min_score`` (0.3) is calibrated for the gateway's embedding model,
all-MiniLM-L6-v2: each answerable question's best chunk (always from a passage that answers
it) scores 0.48-0.82, an unanswerable one's best at most 0.18. Another embedding model needs
its own value: ``--calibrate`` ingests the documents with no threshold, searches every
question, and writes those scores to ``build/rag/calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "examples" / "rag" / "docs"
QUESTIONS = REPO / "examples" / "rag" / "questions.jsonl"
OUT = REPO / "build" / "rag"
METRICS = "hit_rate@4,mrr@4,abstention,false_abstention"
GATES = ("hit_rate@4>=0.85", "mrr@4>=0.75", "abstention>=0.75", "false_abstention<=0.15")
MIN_SCORE = 0.3
TOP_K = 4


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running retrieval service; start nothing")
    parser.add_argument("--api-key", default=_default_key(), help="the retrieval service's key")
    parser.add_argument("--collection", default="samples")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens per answer")
    parser.add_argument("--out", type=Path, default=OUT, help="report.html, junit.xml, run.json")
    parser.add_argument("--store", type=Path, help="the evaluation store (LIFTOFF_EVAL_STORE)")
    parser.add_argument("--calibrate", action="store_true", help="scores, no gate")
    parser.add_argument("extra", nargs="*", help="further `liftoff eval run` options, after --")
    args = parser.parse_args(argv)
    run = calibrate if args.calibrate else evaluate
    if args.url:
        return run(args, args.url)
    with local_stack() as url:
        return run(args, url)


def ingest(args: argparse.Namespace, url: str, collection: str, *, min_score: float) -> int:
    key = ["--api-key", args.api_key] if args.api_key else []
    command = [
        sys.executable, "-m", "liftoff", "rag", "ingest", str(DOCS),
        "--collection", collection, "--url", url, "--min-score", str(min_score), *key,
    ]  # fmt: skip
    return subprocess.run(command, cwd=REPO, check=False).returncode


def calibrate(args: argparse.Namespace, url: str) -> int:
    """Each question's best chunk score (from an answering passage, and overall), with no
    threshold: a collection's ``min_score`` belongs between the answerable questions' lowest
    and the unanswerable ones' highest."""
    import httpx

    collection = f"{args.collection}-calibration"
    if ingest(args, url, collection, min_score=-1) != 0:
        return 2
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    results = []
    for row in rows:
        body = {"query": row["messages"][-1]["content"], "k": 50, "min_score": -1}
        response = httpx.post(f"{url}/v1/collections/{collection}/search", json=body,
                              headers=headers, timeout=600)  # fmt: skip
        response.raise_for_status()
        hits = response.json()["data"]
        answering = [hit["score"] for hit in hits if _answers(hit, row["passages"])]
        results.append({"id": row["id"], "answerable": bool(row["passages"]),
                        "best": hits[0]["score"] if hits else None,
                        "best_source": hits[0]["source"] if hits else None,
                        "best_answering": max(answering, default=None)})  # fmt: skip
    low = min(r["best_answering"] for r in results if r["answerable"])
    high = max(r["best"] for r in results if not r["answerable"])
    summary = {"answerable_lowest": low, "unanswerable_highest": high,
               "midpoint": round((low + high) / 2, 3), "min_score_now": MIN_SCORE}  # fmt: skip
    path = args.out / "calibration.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"summary": summary, "results": results}, indent=2))
    print(" ".join(f"{name}={value}" for name, value in summary.items()))
    return 0


def _answers(hit: dict[str, Any], passages: list[Any]) -> bool:
    """A chunk answers when its source is a passage named by path, or it holds a passage's
    text (whitespace aside), as the dataset's ``passages`` say."""
    text = " ".join(str(hit.get("text", "")).split()).lower()
    for passage in passages:
        if isinstance(passage, str) and hit["source"] == passage:
            return True
        if (
            isinstance(passage, dict)
            and " ".join(str(passage.get("text", "")).split()).lower() in text
        ):
            return True
    return False


def evaluate(args: argparse.Namespace, url: str) -> int:
    key = ["--api-key", args.api_key] if args.api_key else []
    if ingest(args, url, args.collection, min_score=MIN_SCORE) != 0:
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
