"""Tokens/s of the embedded model through the gateway against the engine called in-process.

    python -m benchmarks.embedded_throughput                  # 30 s to 3 minutes
    python -m benchmarks.embedded_throughput --reps 3 --max-tokens 64

The gateway runs as ``uvicorn liftoff.api.main:app`` with ``LIFTOFF_BACKEND=llamacpp`` (the packaged
Gemma 3 270M unless ``--model`` names a GGUF); this process streams ``/v1/completions``
from it. The direct side loads the same GGUF in this process with the ``CommonParams`` the
gateway's ``LlamaCppBackend._load`` uses, and calls ``xllamacpp.Server.handle_completions``
with the body the gateway would send it. Same prompt, temperature 0, same ``max_tokens``;
the two take turns (never at once: two engines on two cores would measure contention),
starting with a different one each repetition. Throughput is completion tokens over the
whole request (prompt included), as a client sees it; decode tokens/s (first to last
token) is recorded too. The ratio judged is the median of the repetitions' paired ratios
(gateway / direct of the same repetition, the two run back to back), with min and max
beside it: other jobs on the machine slow llama.cpp down by a lot (its threads wait for one
another), and pairing puts the same neighbours on both sides of each ratio, where a ratio of
each side's fastest run would compare runs minutes apart. Each side's fastest run and the
ratio of medians are recorded beside it, never instead.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks.common import (
    AUTH_HEADERS,
    BUSY_CPUS,
    LOOPBACK,
    REPO,
    RESULTS_DIR,
    Server,
    gateway_env,
    judge,
    load_average,
    machine_info,
    median,
    run_async,
    source_info,
    spread,
    write_result,
)
from benchmarks.loadgen import Connection, StreamResult
from benchmarks.report import print_embedded, write_markdown
from liftoff.api.config import Settings
from liftoff.api.model_files import resolve_gguf, served_model_id

NAME = "embedded_throughput"
PROMPT = "The history of the city of Rome began"
MIN_RATIO_PERCENT = 95.0
CALL_TIMEOUT_S = 120.0  # one generation, either side
BUDGET_S = 150.0  # no repetition starts after this long (a busy machine is slow)
console = Console()


def engine_params(gguf: Path, settings: Settings) -> Any:
    """The ``CommonParams`` that ``LlamaCppBackend._load`` (``liftoff.api.backends.llamacpp``)
    builds; keep in step."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(gguf)
    params.n_ctx = settings.context_size * settings.parallel
    params.n_parallel = settings.parallel
    if settings.threads:
        params.cpuparams.n_threads = settings.threads
        params.cpuparams_batch.n_threads = settings.threads
    params.use_jinja = False
    params.chat_template = "gemma"
    params.endpoint_metrics = True
    params.verbosity = 0
    return params


def engine_body(max_tokens: int) -> dict[str, Any]:
    """What the gateway hands llama.cpp for a streamed /v1/completions request."""
    return {
        "stream": True,
        "stream_options": {"include_usage": True},
        "prompt": PROMPT,
        "temperature": 0.0,
        "max_tokens": max_tokens,
    }


def call_engine(server: Any, max_tokens: int, timeout_s: float = CALL_TIMEOUT_S) -> dict[str, Any]:
    times: list[float] = []
    text: list[str] = []
    final: dict[str, Any] = {}
    started = time.perf_counter()
    deadline = started + timeout_s

    def on_chunk(chunk: dict[str, Any]) -> bool:
        now = time.perf_counter()
        for choice in chunk.get("choices") or []:
            if choice.get("text"):
                times.append(now)
                text.append(choice["text"])
        if "usage" in chunk:
            final.update(chunk)
        return now > deadline  # true cancels the generation

    server.handle_completions(engine_body(max_tokens), on_chunk)
    ended = time.perf_counter()
    if ended > deadline:
        raise TimeoutError(f"llama.cpp took more than {timeout_s:g} s")
    timings = final.get("timings") or {}
    return _run_record(
        started,
        ended,
        times,
        "".join(text),
        (final.get("usage") or {}).get("completion_tokens"),
        engine_tokens_per_s=timings.get("predicted_per_second"),
    )


def call_gateway(
    gateway: Server, model: str, max_tokens: int, timeout_s: float = CALL_TIMEOUT_S
) -> dict[str, Any]:
    body = {"model": model, **engine_body(max_tokens)}

    async def request() -> StreamResult:
        async with (
            asyncio.timeout(timeout_s),
            Connection(LOOPBACK, gateway.port, AUTH_HEADERS) as connection,
        ):
            return await connection.stream(
                "/v1/completions", json.dumps(body).encode(), keep_text=True
            )

    result = run_async(request())
    if result.error is not None:
        raise RuntimeError(f"the gateway failed: {result.error}")
    return _run_record(
        result.start,
        result.start + result.latency,
        result.token_times,
        "".join(result.text),
        result.usage_tokens,
    )


def _run_record(
    started: float,
    ended: float,
    token_times: list[float],
    text: str,
    completion_tokens: int | None,
    engine_tokens_per_s: float | None = None,
) -> dict[str, Any]:
    tokens = completion_tokens if completion_tokens is not None else len(token_times)
    wall = ended - started
    decode = (
        (len(token_times) - 1) / (token_times[-1] - token_times[0])
        if len(token_times) > 1 and token_times[-1] > token_times[0]
        else None
    )
    record: dict[str, Any] = {
        "completion_tokens": tokens,
        "wall_s": round(wall, 4),
        "ttft_ms": round((token_times[0] - started) * 1000, 2) if token_times else None,
        "tokens_per_s": round(tokens / wall, 2),
        "decode_tokens_per_s": round(decode, 2) if decode else None,
        "text": text,
    }
    if engine_tokens_per_s is not None:
        record["engine_reported_tokens_per_s"] = round(engine_tokens_per_s, 2)
    return record


def run(
    reps: int, max_tokens: int, model: str, gateway_src: Path = REPO, budget_s: float = BUDGET_S
) -> dict[str, Any]:
    machine = machine_info()
    if machine["background_cpus_at_start"] > BUSY_CPUS:
        console.print(
            f"[yellow]warning: other processes keep {machine['background_cpus_at_start']:.2f} "
            "CPUs busy; llama.cpp's threads will compete with them[/yellow]"
        )
    defaults = Settings.model_construct()  # the gateway's defaults, not this shell's variables
    gguf = resolve_gguf(model, defaults.cache_dir)
    env = gateway_env(LIFTOFF_BACKEND="llamacpp", LIFTOFF_MODEL=str(gguf))
    command = ["-m", "uvicorn", "liftoff.api.main:app", "--host", LOOPBACK, "--port", "{port}"]
    server = Server(command, env=env, health="/readyz", ready_timeout=180, cwd=gateway_src)
    with server as gateway:
        runs = _alternate(gateway, engine_params(gguf, defaults), gguf, reps, max_tokens, budget_s)
    machine["load_average_at_end"] = load_average()
    done = len(runs["gateway"])
    # Judged: the median of paired ratios (each repetition runs both sides back to back, so
    # a neighbour's burst falls on both); each side's fastest run is shown beside it only.
    pairs = [
        100 * gateway["tokens_per_s"] / direct["tokens_per_s"]
        for direct, gateway in zip(runs["direct"], runs["gateway"], strict=True)
    ]
    paired = spread(pairs, 2)
    best = {side: max(run["tokens_per_s"] for run in side_runs) for side, side_runs in runs.items()}
    best_ratio = 100 * best["gateway"] / best["direct"]
    texts = {run["text"] for side in runs.values() for run in side}
    return {
        "benchmark": NAME,
        "machine": machine,
        "config": {
            "model": str(gguf),
            "prompt": PROMPT,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "repetitions": reps,
            "repetitions_done": done,
            "budget_s": budget_s,
            "gateway_src": source_info(gateway_src),
            "engine": {
                "n_ctx": defaults.context_size * defaults.parallel,
                "n_parallel": defaults.parallel,
                "threads": defaults.threads or "llama.cpp default",
                "chat_template": "gemma",
            },
        },
        "direct": _side_summary(runs["direct"]),
        "gateway": _side_summary(runs["gateway"]),
        "ratio_percent": paired["median"],
        "paired_ratio_percent": paired,
        "best_tokens_per_s": {side: round(value, 2) for side, value in best.items()},
        "ratio_of_fastest_percent": round(best_ratio, 2),
        "paired_ratios_percent": [round(value, 1) for value in pairs],
        "ratio_of_medians_percent": round(
            100
            * median(run["tokens_per_s"] for run in runs["gateway"])
            / median(run["tokens_per_s"] for run in runs["direct"]),
            2,
        ),
        "same_text": len(texts) == 1,
        "targets": [
            judge(
                "embedded tokens/s, gateway / direct",
                paired["median"],
                MIN_RATIO_PERCENT,
                "%",
                f"median of {done} paired runs (min {paired['min']:g}, max {paired['max']:g}; "
                f"ratio of fastest runs {best_ratio:.1f}), {max_tokens} tokens, temperature 0",
                at_least=True,
            )
        ],
    }


def _alternate(
    gateway: Server, params: Any, gguf: Path, reps: int, max_tokens: int, budget_s: float
) -> dict[str, list[dict[str, Any]]]:
    """Repetitions of one direct and one gateway run, in turns (ABBA), within the budget."""
    import xllamacpp

    model_id = served_model_id(gguf)
    runs: dict[str, list[dict[str, Any]]] = {"direct": [], "gateway": []}
    engine = xllamacpp.Server(params)
    try:
        call_engine(engine, 16)  # warm-up: first-use allocations, page cache
        call_gateway(gateway, model_id, 16)
        started = time.monotonic()
        for rep in range(reps):
            if rep and time.monotonic() - started > budget_s:
                console.print(f"[yellow]budget of {budget_s:g} s spent after {rep} reps[/yellow]")
                break
            for side in ("direct", "gateway") if rep % 2 == 0 else ("gateway", "direct"):
                if side == "direct":
                    record = call_engine(engine, max_tokens)
                else:
                    record = call_gateway(gateway, model_id, max_tokens)
                runs[side].append(record)
                console.print(
                    f"  rep {rep + 1}/{reps} {side:<7} {record['completion_tokens']} tokens "
                    f"in {record['wall_s']:.2f} s: {record['tokens_per_s']:.1f} tokens/s",
                    highlight=False,
                )
    finally:
        del engine
        gc.collect()  # the engine stops when the Server object is released
    return runs


def _side_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "median_tokens_per_s": round(median(run["tokens_per_s"] for run in runs), 2),
        "median_decode_tokens_per_s": round(
            median(run["decode_tokens_per_s"] or 0 for run in runs), 2
        ),
        "median_ttft_ms": round(median(run["ttft_ms"] or 0 for run in runs), 2),
        "runs": [{key: value for key, value in run.items() if key != "text"} for run in runs],
        "text": runs[0]["text"] if runs else "",
    }


def main(argv: Sequence[str] | None = None, *, render: bool = True) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.embedded_throughput")
    parser.add_argument("--reps", type=int, default=6, help="repetitions per side (%(default)s)")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument(
        "--budget", type=float, default=BUDGET_S, help="seconds after which no rep starts"
    )
    parser.add_argument("--model", default="", help="a GGUF path (default: packaged Gemma)")
    parser.add_argument(
        "--gateway-src",
        type=Path,
        default=REPO,
        help="directory whose api/ package the gateway runs (default: this checkout)",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON goes (%(default)s)"
    )
    args = parser.parse_args(argv)
    result = run(
        max(1, args.reps), args.max_tokens, args.model, args.gateway_src.resolve(), args.budget
    )
    path = write_result(NAME, result, args.results_dir)
    print_embedded(result)
    console.print(f"wrote {path}")
    if render:
        console.print(f"wrote {write_markdown(args.results_dir)}")
    return result


if __name__ == "__main__":
    main()
