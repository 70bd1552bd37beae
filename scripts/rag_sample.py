"""``make rag-eval``: the sample questions answered through ``rag:samples``, gated on retrieval.

    python scripts/rag_sample.py                        # starts a gateway and the service
    python scripts/rag_sample.py --url http://127.0.0.1:8002   # a retrieval service already up
    python scripts/rag_sample.py --calibrate            # the scores a threshold is chosen from

Ingests ``examples/rag/docs`` into the collection ``samples`` with ``liftoff rag ingest``, asks
every question of ``examples/rag/questions.jsonl`` through the openai SDK as the model
``rag:samples``, and scores the citations against each row's ``metadata.sources``:

- ``hit_rate``: answerable questions whose citations include a source that answers them;
- ``mrr``: mean reciprocal rank of the first such citation (0 when none);
- ``abstention``: unanswerable questions (no sources) answered "I don't know." without
  citations; ``false_abstention``: answerable ones answered so.

Writes ``build/rag/report.json`` and exits 0 when every gate holds, 1 when one fails, 2 on
usage errors. The collection's ``min_score`` (0.3) is calibrated for the gateway's embedding
model, all-MiniLM-L6-v2: each answerable question's best chunk (always from a passage that
answers it) scores 0.48-0.82, an unanswerable one's best at most 0.18. Another embedding
model needs its own value: ``--calibrate`` ingests the documents with no threshold, searches
every question, and writes those scores to ``build/rag/calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "examples" / "rag" / "docs"
QUESTIONS = REPO / "examples" / "rag" / "questions.jsonl"
OUT = REPO / "build" / "rag"
GATES = ("hit_rate>=0.95", "mrr>=0.9", "abstention>=1")
MIN_SCORE = 0.3
READY_TIMEOUT_S = 300.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running retrieval service; start nothing")
    parser.add_argument("--api-key", default=os.environ.get("LIFTOFF_RAG_API_KEY"))
    parser.add_argument("--collection", default="samples")
    parser.add_argument("--k", type=int, default=4, help="chunks retrieved per question")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens per answer")
    parser.add_argument("--gate", action="append", help=f"METRIC>=VALUE (default {GATES})")
    parser.add_argument("--report", type=Path, default=OUT / "report.json")
    parser.add_argument("--calibrate", action="store_true", help="scores, no gate")
    args = parser.parse_args(argv)
    try:
        gates = [parse_gate(gate) for gate in (args.gate or GATES)]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run = calibrate if args.calibrate else evaluate
    if args.url:
        return run(args, args.url, gates)
    with local_stack() as url:
        return run(args, url, gates)


def calibrate(args: argparse.Namespace, url: str, _gates: object) -> int:
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
        sources = row["metadata"]["sources"]
        answering = [hit["score"] for hit in hits if hit["source"] in sources]
        results.append({"id": row["id"], "answerable": bool(sources),
                        "best": hits[0]["score"] if hits else None,
                        "best_source": hits[0]["source"] if hits else None,
                        "best_answering": max(answering, default=None)})  # fmt: skip
    answerable = [r["best_answering"] for r in results if r["answerable"]]
    unanswerable = [r["best"] for r in results if not r["answerable"]]
    low, high = min(answerable), max(unanswerable)
    summary = {"answerable_lowest": low, "unanswerable_highest": high,
               "midpoint": round((low + high) / 2, 3), "min_score_now": MIN_SCORE}  # fmt: skip
    path = args.report.with_name("calibration.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"summary": summary, "results": results}, indent=2))
    print(" ".join(f"{name}={value}" for name, value in summary.items()))
    return 0


def ingest(args: argparse.Namespace, url: str, collection: str, *, min_score: float) -> int:
    command = [
        sys.executable, "-m", "liftoff", "rag", "ingest", str(DOCS),
        "--collection", collection, "--url", url, "--min-score", str(min_score),
    ]  # fmt: skip
    if args.api_key:
        command += ["--api-key", args.api_key]
    return subprocess.run(command, cwd=REPO, check=False).returncode


def evaluate(args: argparse.Namespace, url: str, gates: list[tuple[str, float]]) -> int:
    if ingest(args, url, args.collection, min_score=MIN_SCORE) != 0:
        return 2
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    results = [ask(url, args, row) for row in rows]
    scores = score(results)
    failed = [f"{name} {scores[name]:.3f} < {floor}" for name, floor in gates
              if scores[name] < floor]  # fmt: skip
    args.report.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "scores": scores,
        "gates": [f"{name}>={floor}" for name, floor in gates],
        "failed": failed,
        "results": results,
    }
    args.report.write_text(json.dumps(document, indent=2))
    print(" ".join(f"{name}={value:.3f}" for name, value in scores.items()))
    for failure in failed:
        print(f"gate failed: {failure}", file=sys.stderr)
    return 1 if failed else 0


def ask(url: str, args: argparse.Namespace, row: dict[str, Any]) -> dict[str, Any]:
    from openai import OpenAI

    client = OpenAI(base_url=f"{url}/v1", api_key=args.api_key or "unused", timeout=600)
    started = time.perf_counter()
    completion = client.chat.completions.create(
        model=f"rag:{args.collection}",
        messages=row["messages"],
        max_tokens=args.max_tokens,
        temperature=0,
        seed=0,
        extra_body={"retrieval": {"k": args.k}},
    )
    extra = completion.model_extra or {}
    return {
        "id": row["id"],
        "expected": row["metadata"]["sources"],
        "cited": [citation["source"] for citation in extra.get("citations", [])],
        "scores": [citation["score"] for citation in extra.get("citations", [])],
        "answer": completion.choices[0].message.content or "",
        "seconds": round(time.perf_counter() - started, 3),
    }


def score(results: list[dict[str, Any]]) -> dict[str, float]:
    answerable = [r for r in results if r["expected"]]
    unanswerable = [r for r in results if not r["expected"]]
    ranks = [
        next((i + 1 for i, source in enumerate(r["cited"]) if source in r["expected"]), None)
        for r in answerable
    ]

    def abstained(result: dict[str, Any]) -> bool:
        return result["answer"].startswith("I don't know.") and not result["cited"]

    return {
        "hit_rate": sum(rank is not None for rank in ranks) / max(1, len(answerable)),
        "mrr": sum(1 / rank for rank in ranks if rank) / max(1, len(answerable)),
        "abstention": sum(map(abstained, unanswerable)) / max(1, len(unanswerable)),
        "false_abstention": sum(map(abstained, answerable)) / max(1, len(answerable)),
    }


def parse_gate(text: str) -> tuple[str, float]:
    name, sep, value = text.partition(">=")
    if not sep or name.strip() not in ("hit_rate", "mrr", "abstention"):
        raise ValueError(f"gate {text!r}: write hit_rate>=X, mrr>=X or abstention>=X")
    return name.strip(), float(value)


class local_stack:
    """The gateway (configured backend) and a retrieval service on a fresh SQLite index."""

    def __enter__(self) -> str:
        from tests.servers import ServerProcess

        self.tmp = tempfile.TemporaryDirectory()
        quiet = {"LIFTOFF_LOG_LEVEL": "WARNING", "LIFTOFF_LOG_FORMAT": "text"}
        self.gateway = ServerProcess("liftoff.api.main:app", quiet).__enter__()
        keys = os.environ.get("LIFTOFF_API_KEYS", "").split(",")[0].strip()
        env = {**quiet, "LIFTOFF_RAG_GATEWAY_URL": f"{self.gateway.url}/v1",
               "LIFTOFF_RAG_STORE": f"{self.tmp.name}/rag.sqlite3"}  # fmt: skip
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
