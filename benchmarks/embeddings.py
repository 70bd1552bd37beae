"""Embedding throughput through the gateway against the same engine called in-process.

    python -m benchmarks.embeddings                 # 7 paired rounds, about 2 minutes on 2 cores
    python -m benchmarks.embeddings --rounds 3 --batch 8

The gateway runs as ``uvicorn liftoff.api.main:app`` (embedded backend, its API key on, the
packaged all-MiniLM-L6-v2 unless ``--model`` names a GGUF); this process posts
``/v1/embeddings`` to it over one keep-alive connection, and reads and parses the answer, as
the retrieval service does. The direct side loads the same GGUF here with the engine's own
``CommonParams`` (``liftoff.api.backends.llamacpp_embeddings.embedding_params``) and calls
``xllamacpp.Server.handle_embeddings`` with the same inputs; the chat model's engine is loaded
beside it, idle, as in the gateway's process. That matters: llama.cpp's CPU threads are an
OpenMP team (libgomp), and libgomp only spin-waits between parallel regions while its
threads are no more than the CPUs; two engines (two teams) exceed two CPUs, so their threads
sleep instead. A lone engine's spinning threads, on a machine busy elsewhere, made it 3-8x
slower than the same engine in the gateway (8 inputs: 8.8-23.7 s alone, 2.4-4.6 s with
``OMP_WAIT_POLICY=passive``, 2.6-4.4 s beside the chat engine, at load averages of 7-12 on
2 CPUs), which would measure libgomp, not the gateway. The workload is ingestion's:
batches of ``--batch`` (32, ``LIFTOFF_RAG_EMBED_BATCH``'s default) chunks of 800 characters
cut from the CC0 sample documents. The two sides take turns, one call each per round (ABBA:
the side that starts alternates), never at once: two engines on two cores would measure
contention. Judged: the median over rounds of the paired ratio (gateway inputs/s over direct
inputs/s, in %) against ``MIN_RATIO_PERCENT``; min and max are recorded beside it.

Results: ``benchmarks/results/embeddings.json`` and ``embeddings.md``, with the machine, its
load at start and end, and the commit.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import (
    AUTH_HEADERS,
    LOOPBACK,
    REPO,
    RESULTS_DIR,
    Server,
    gateway_env,
    judge,
    load_average,
    machine_info,
    median,
    write_result,
)
from liftoff.api.config import Settings
from liftoff.api.gguf_metadata import read_metadata
from liftoff.api.model_files import resolve_embedding_gguf, resolve_gguf, served_model_id

NAME = "embeddings"
MIN_RATIO_PERCENT = 90.0
CHUNK_CHARS = 800
DOCS = REPO / "examples" / "rag" / "docs"


def chunks(count: int) -> list[str]:
    """``count`` texts of ``CHUNK_CHARS`` characters from the sample documents, in turn."""
    text = " ".join(
        " ".join(path.read_text(errors="replace").split())
        for path in sorted(DOCS.rglob("*"))
        if path.suffix in (".md", ".txt", ".html")
    )
    pieces = [text[i : i + CHUNK_CHARS] for i in range(0, len(text) - CHUNK_CHARS, CHUNK_CHARS)]
    return [pieces[i % len(pieces)] for i in range(count)]


def call_engine(engine: Any, texts: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    result = engine.handle_embeddings({"input": texts})
    seconds = time.perf_counter() - started
    if "error" in result:
        raise RuntimeError(f"llama.cpp failed: {result['error']}")
    return _record(seconds, texts, result["usage"]["prompt_tokens"], len(result["data"]))


def call_gateway(client: httpx.Client, model: str, texts: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    response = client.post("/v1/embeddings", json={"model": model, "input": texts})
    body = json.loads(response.content)
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"the gateway answered {response.status_code}: {body}")
    return _record(seconds, texts, body["usage"]["prompt_tokens"], len(body["data"]))


def _record(seconds: float, texts: list[str], tokens: int, vectors: int) -> dict[str, Any]:
    if vectors != len(texts):
        raise RuntimeError(f"{vectors} vectors for {len(texts)} inputs")
    return {
        "seconds": round(seconds, 4),
        "inputs_per_s": round(len(texts) / seconds, 2),
        "tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1),
    }


def run(rounds: int, batch: int, model: str) -> dict[str, Any]:
    import xllamacpp

    from benchmarks.embedded_throughput import engine_params
    from liftoff.api.backends.llamacpp_embeddings import embedding_params, window_and_pooling

    machine = machine_info()
    defaults = Settings.model_construct()  # the gateway's defaults, not this shell's variables
    gguf = resolve_embedding_gguf(model, defaults.cache_dir)
    model_id = served_model_id(gguf)
    texts = chunks(batch)
    window, pooling = window_and_pooling(gguf, defaults.embedding_context_size)
    env = gateway_env(LIFTOFF_BACKEND="llamacpp", LIFTOFF_EMBEDDING_MODEL=str(gguf))
    command = ["-m", "uvicorn", "liftoff.api.main:app", "--host", LOOPBACK, "--port", "{port}"]
    runs: dict[str, list[dict[str, Any]]] = {"direct": [], "gateway": []}
    with (
        Server(command, env=env, health="/readyz", ready_timeout=180) as gateway,
        httpx.Client(base_url=gateway.url, headers=AUTH_HEADERS, timeout=600) as client,
    ):
        # The gateway's process holds the chat engine too (see the module docstring).
        chat = xllamacpp.Server(engine_params(resolve_gguf(defaults.model, defaults.cache_dir),
                                              defaults))  # fmt: skip
        engine = xllamacpp.Server(embedding_params(gguf, window, pooling, threads=None))
        try:
            call_engine(engine, texts[:2])  # warm-up: first-use allocations, page cache
            call_gateway(client, model_id, texts[:2])
            for round_ in range(rounds):
                order = ("direct", "gateway") if round_ % 2 == 0 else ("gateway", "direct")
                for side in order:
                    record = (
                        call_engine(engine, texts)
                        if side == "direct"
                        else call_gateway(client, model_id, texts)
                    )
                    runs[side].append(record)
                    print(f"  round {round_ + 1}/{rounds} {side:<7} {record['seconds']:.2f} s, "
                          f"{record['inputs_per_s']:.1f} inputs/s")  # fmt: skip
        finally:
            del engine, chat
            gc.collect()  # the engine stops when the Server object is released
    machine["load_average_at_end"] = load_average()
    ratios = [
        100 * gateway["inputs_per_s"] / direct["inputs_per_s"]
        for direct, gateway in zip(runs["direct"], runs["gateway"], strict=True)
    ]
    ratio = median(ratios)
    return {
        "benchmark": NAME,
        "machine": machine,
        "config": {
            "model": str(gguf),
            "model_id": model_id,
            "source": read_metadata(gguf).get("liftoff.source.sha256"),
            "window_tokens": window,
            "batch": batch,
            "chunk_chars": CHUNK_CHARS,
            "tokens_per_batch": runs["direct"][0]["tokens"],
            "rounds": rounds,
            "engine": {"n_parallel": 1, "n_ctx": window, "n_batch": window, "n_ubatch": window},
            "direct_process": "the embedding engine, and the chat engine loaded beside it, idle, "
            "as in the gateway's process (libgomp spins only while its threads fit the CPUs)",
        },
        "direct": _summary(runs["direct"]),
        "gateway": _summary(runs["gateway"]),
        "paired_ratios_percent": [round(value, 1) for value in ratios],
        "ratio_percent": {
            "median": round(ratio, 1),
            "min": round(min(ratios), 1),
            "max": round(max(ratios), 1),
        },
        "targets": [
            judge(
                "embedding inputs/s, gateway / direct",
                round(ratio, 1),
                MIN_RATIO_PERCENT,
                "%",
                f"median of {rounds} paired rounds, {batch} chunks of {CHUNK_CHARS} characters",
                at_least=True,
            )
        ],
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rates = [run["inputs_per_s"] for run in runs]
    return {
        "inputs_per_s": {
            "median": round(median(rates), 2),
            "min": min(rates),
            "max": max(rates),
        },
        "median_tokens_per_s": round(median(run["tokens_per_s"] for run in runs), 1),
        "runs": runs,
    }


def markdown(result: dict[str, Any]) -> str:
    config, machine = result["config"], result["machine"]
    ratio = result["ratio_percent"]
    [target] = result["targets"]

    def cell(side: str) -> str:
        rate = result[side]["inputs_per_s"]
        return f"{rate['median']:.1f} ({rate['min']:.1f}-{rate['max']:.1f})"

    return (
        "\n".join(
            [
                "## Embedding throughput: the gateway against the engine called directly",
                "",
                f"{config['model_id']} (window {config['window_tokens']} tokens), batches of "
                f"{config['batch']} chunks of {config['chunk_chars']} characters "
                f"({config['tokens_per_batch']} tokens); median of {config['rounds']} paired "
                f"rounds (min-max). Machine: {machine['cpus_usable']} CPUs, load average "
                f"{machine['load_average_at_start']} at start and {machine['load_average_at_end']} "
                f"at end, {machine['background_cpus_at_start']} CPUs busy elsewhere at start; "
                f"commit {(machine['git_commit'] or '?')[:10]}.",
                "",
                "| side | inputs/s | tokens/s (median) |",
                "|---|---|---|",
                f"| llama.cpp called directly | {cell('direct')} | "
                f"{result['direct']['median_tokens_per_s']} |",
                f"| through the gateway (`POST /v1/embeddings`) | {cell('gateway')} | "
                f"{result['gateway']['median_tokens_per_s']} |",
                "",
                f"Gateway / direct, paired: {ratio['median']} % (min {ratio['min']} %, max "
                f"{ratio['max']} %); target {target['target']}: "
                f"{'met' if target['pass'] else 'NOT MET'}.",
            ]
        )
        + "\n"
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.embeddings")
    parser.add_argument("--rounds", type=int, default=7, help="paired rounds (%(default)s)")
    parser.add_argument("--batch", type=int, default=32, help="inputs per request (%(default)s)")
    parser.add_argument("--model", default="", help="a GGUF path (default: packaged MiniLM)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    result = run(max(1, args.rounds), max(1, args.batch), args.model)
    write_result(NAME, result, args.results_dir)
    (args.results_dir / f"{NAME}.md").write_text(markdown(result))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
