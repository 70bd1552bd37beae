"""Sustained load with every safety feature on: many streaming clients through the gateway.

    python -m benchmarks.load --clients 256 --duration 60     # about 75 seconds
    python -m benchmarks.load --clients 32 --duration 8       # a smoke test

The gateway runs as a real ``uvicorn liftoff.api.main:app`` process with ``LIFTOFF_BACKEND=openai``
in front of the canned backend (``benchmarks.canned_backend``), with authentication (a few
API keys spread over the clients: one "hot" key shared by half of them, the rest spread
over the others), a per-key request rate limit that the hot key exceeds, a token rate limit,
and a concurrency limit plus queue that the clients together exceed, so 429s and 503s
both happen. ``/metrics`` is scraped once a second during the run, as Prometheus would.

Each client is one keep-alive connection that streams a chat completion, and on a 429 or
503 waits what ``Retry-After`` says (as the OpenAI SDK does) before asking again; after a
completed answer it thinks for a short random time. Judged:

- zero unexpected answers: anything other than a complete 200 stream (every content
  token, ending in ``data: [DONE]``) or a 429/503 that carries ``Retry-After``;
- every 429 and 503 carries ``Retry-After``;
- the gateway's RSS (VmRSS, sampled every second) grows less than 10 % between the mean
  of the first and of the last 10 seconds;
- the run exercised both limits (at least one 429 and one 503).

Reported: p50/p99 latency and time to first token of the completed streams, requests and
tokens per second, statuses, the gateway's CPU use, and what ``/metrics`` counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from benchmarks.canned_backend import MODEL
from benchmarks.common import (
    BUSY_CPUS,
    LOOPBACK,
    REPO,
    RESULTS_DIR,
    Server,
    clean_env,
    cpu_seconds,
    cpu_split,
    judge,
    load_average,
    machine_info,
    memory_kib,
    run_async,
    source_info,
    summarize_ms,
    system_busy_seconds,
    write_result,
)
from benchmarks.loadgen import Connection, StreamResult
from benchmarks.report import write_safety_markdown

NAME = "load"
console = Console()
RSS_GROWTH_PERCENT = 10.0
RSS_WINDOW_S = 10
RETRY_AFTER_CAP_S = 5.0  # a client never waits longer than this, whatever the header says


@dataclass
class Options:
    clients: int = 256
    duration_s: float = 60.0
    keys: int = 8  # one hot key for half the clients, the rest spread over the others
    inter_token_ms: float = 20.0
    tokens: int = 32
    think_ms: float = 100.0  # mean pause after a completed answer (uniform 0..2x)
    max_concurrency: int = 32
    max_queue: int = 32
    rate_limit_rpm: int = 300
    rate_limit_tpm: int = 1_000_000
    scrape_every_s: float = 1.0
    request_timeout_s: float = 60.0
    pin: bool = True
    gateway_src: Path = REPO
    results_dir: Path = RESULTS_DIR
    seed: int = 5


def api_keys(count: int) -> list[str]:
    return [f"liftoff-load-key-{index}" for index in range(count)]


def key_of_client(index: int, clients: int, keys: int) -> int:
    """Half the clients (the even ones) share key 0; the others go round the rest."""
    if keys == 1 or index % 2 == 0:
        return 0
    return 1 + (index // 2) % (keys - 1)


@dataclass
class Outcome:
    """One request as the load generator saw it, timed from the start of the run."""

    at_s: float
    client: int
    key: int
    result: StreamResult | None  # None: cut by the client's timeout
    kind: str  # "ok", "429", "503" (with Retry-After) or "unexpected"
    why: str | None = None


def classify(result: StreamResult, tokens: int) -> tuple[str, str | None]:
    if result.status in (429, 503):
        if result.retry_after:
            return str(result.status), None
        return "unexpected", f"HTTP {result.status} without Retry-After"
    if result.status != 200:
        return "unexpected", result.error or f"HTTP {result.status}"
    if result.error is not None:
        return "unexpected", f"200, then: {result.error}"
    if not result.done:
        return "unexpected", "200 stream ended without data: [DONE]"
    if result.tokens != tokens:
        return "unexpected", f"200 with {result.tokens} content tokens, not {tokens}"
    return "ok", None


def request_body(tokens: int) -> bytes:
    return json.dumps(
        {
            "model": MODEL,
            "max_tokens": tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Write one sentence about foxes."}],
        }
    ).encode()


def run(options: Options) -> dict[str, Any]:
    machine = machine_info()
    if machine["background_cpus_at_start"] > BUSY_CPUS:
        console.print(
            f"[yellow]warning: other processes keep {machine['background_cpus_at_start']:.2f} "
            "CPUs busy; they compete with the gateway and the results will show it[/yellow]"
        )
    gateway_cpus, other_cpus = cpu_split() if options.pin else (None, None)
    keys = api_keys(options.keys)
    canned = [
        "-m", "benchmarks.canned_backend", "--port", "{port}",
        "--inter-token-ms", str(options.inter_token_ms), "--tokens", str(options.tokens),
    ]  # fmt: skip
    settings = {
        "LIFTOFF_BACKEND": "openai",
        "LIFTOFF_MODEL": MODEL,
        "LIFTOFF_API_KEYS": ",".join(keys),
        "LIFTOFF_RATE_LIMIT_RPM": str(options.rate_limit_rpm),
        "LIFTOFF_RATE_LIMIT_TPM": str(options.rate_limit_tpm),
        "LIFTOFF_MAX_CONCURRENCY": str(options.max_concurrency),
        "LIFTOFF_MAX_QUEUE": str(options.max_queue),
    }
    with contextlib.ExitStack() as stack:
        backend = stack.enter_context(
            Server(canned, env=clean_env(), health="/v1/models", cpus=other_cpus)
        )
        env = clean_env(**settings, OPENAI_BASE_URL=f"{backend.url}/v1")
        command = ["-m", "uvicorn", "liftoff.api.main:app", "--host", LOOPBACK, "--port", "{port}"]
        gateway = stack.enter_context(
            Server(command, env=env, health="/readyz", cpus=gateway_cpus, cwd=options.gateway_src)
        )
        measured = run_async(_drive(options, keys, backend, gateway))
        measured["gateway_rss_hwm_mb"] = round(memory_kib(gateway.pid)["VmHWM"] / 1024, 1)
        gateway_log = gateway.output()
    machine["load_average_at_end"] = load_average()
    result: dict[str, Any] = {
        "benchmark": NAME,
        "machine": machine,
        "config": {
            **{key: value for key, value in vars(options).items() if not key.endswith("_src")},
            "results_dir": str(options.results_dir),
            "gateway_src": source_info(options.gateway_src),
            "gateway_settings": {k: v for k, v in settings.items() if k != "LIFTOFF_API_KEYS"},
            "api_keys": f"{options.keys} keys; key 0 shared by half the clients",
            "gateway_cpus": sorted(gateway_cpus) if gateway_cpus else None,
            "backend_and_loadgen_cpus": sorted(other_cpus) if other_cpus else None,
            "server": "uvicorn liftoff.api.main:app (its defaults: uvloop + httptools)",
        },
        **measured,
        "gateway_log_errors": _log_errors(gateway_log),
    }
    result["targets"] = targets(result)
    return result


async def _drive(
    options: Options, keys: list[str], backend: Server, gateway: Server
) -> dict[str, Any]:
    path, body = "/v1/chat/completions", request_body(options.tokens)
    for key in keys:  # first requests: lazy imports, connection pools; each key works
        async with Connection(LOOPBACK, gateway.port, _auth(key)) as connection:
            first = await connection.stream(path, body)
            if classify(first, options.tokens)[0] != "ok":
                raise RuntimeError(f"the gateway failed a first request: {first.error}")

    started = time.perf_counter()
    deadline = started + options.duration_s
    outcomes: list[Outcome] = []
    rng = random.Random(options.seed)
    offsets = [rng.uniform(0, 1.0) for _ in range(options.clients)]

    async def client(index: int) -> None:
        key = key_of_client(index, options.clients, len(keys))
        think = random.Random(options.seed * 1000 + index)
        await asyncio.sleep(offsets[index])
        async with Connection(LOOPBACK, gateway.port, _auth(keys[key])) as connection:
            for _ in range(1_000_000):  # bounded; the deadline ends it long before
                if time.perf_counter() >= deadline:
                    return
                at = time.perf_counter() - started
                try:
                    async with asyncio.timeout(options.request_timeout_s):
                        result = await connection.stream(path, body)
                except TimeoutError:
                    await connection.close()
                    late = f"no complete answer in {options.request_timeout_s:g} s"
                    outcomes.append(Outcome(at, index, key, None, "unexpected", late))
                    continue
                kind, why = classify(result, options.tokens)
                outcomes.append(Outcome(at, index, key, result, kind, why))
                if kind in ("429", "503"):
                    wait = min(RETRY_AFTER_CAP_S, _seconds(result.retry_after))
                elif kind == "ok":
                    wait = think.uniform(0, 2 * options.think_ms / 1000)
                else:
                    wait = 0.1  # an unexpected answer: do not spin
                await asyncio.sleep(max(0.0, min(wait, deadline - time.perf_counter())))

    pids = {"gateway": gateway.pid, "backend": backend.pid}
    before = {role: cpu_seconds(pid) for role, pid in pids.items()}
    before["loadgen"] = cpu_seconds()
    before["machine"] = system_busy_seconds()
    rss: list[dict[str, float]] = []
    scrapes: list[dict[str, Any]] = []
    stop = asyncio.Event()
    monitors = [
        asyncio.create_task(_sample_rss(gateway.pid, started, rss, stop)),
        asyncio.create_task(
            _scrape(gateway.url, keys[-1], started, options.scrape_every_s, scrapes, stop)
        ),
    ]
    try:
        await asyncio.gather(*(client(index) for index in range(options.clients)))
    finally:
        stop.set()
        await asyncio.gather(*monitors)
    wall = time.perf_counter() - started
    after = {role: cpu_seconds(pid) for role, pid in pids.items()}
    after["loadgen"] = cpu_seconds()
    after["machine"] = system_busy_seconds()
    used = {role: after[role] - before[role] for role in before}
    used["other"] = max(0.0, used.pop("machine") - sum(used.values()))
    final = await _final_metrics(gateway.url, keys[-1])
    return _summarize(options, outcomes, rss, scrapes, final, used, wall)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _seconds(retry_after: str | None) -> float:
    try:
        return max(0.0, float(retry_after or 0))
    except ValueError:
        return 1.0


async def _sample_rss(
    pid: int, started: float, samples: list[dict[str, float]], stop: asyncio.Event
) -> None:
    for _ in range(100_000):
        samples.append(
            {
                "t_s": round(time.perf_counter() - started, 2),
                "rss_kib": memory_kib(pid)["VmRSS"],
            }
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        if stop.is_set():
            return


async def _scrape(
    url: str,
    key: str,
    started: float,
    every_s: float,
    scrapes: list[dict[str, Any]],
    stop: asyncio.Event,
) -> None:
    async with httpx.AsyncClient(base_url=url, headers=_auth(key), timeout=10) as client:
        for _ in range(100_000):
            begun = time.perf_counter()
            entry: dict[str, Any] = {"t_s": round(begun - started, 2)}
            try:
                response = await client.get("/metrics")
                entry.update(status=response.status_code, bytes=len(response.content))
            except httpx.HTTPError as exc:
                entry["error"] = repr(exc)
            entry["ms"] = round((time.perf_counter() - begun) * 1000, 2)
            scrapes.append(entry)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
            if stop.is_set():
                return


async def _final_metrics(url: str, key: str) -> dict[str, Any]:
    """What the gateway's own counters say about the run (every label summed)."""
    async with httpx.AsyncClient(base_url=url, headers=_auth(key), timeout=10) as client:
        response = await client.get("/metrics")
    response.raise_for_status()
    statuses: Counter[str] = Counter()
    rejections: Counter[str] = Counter()
    completion_tokens = 0.0
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "liftoff_requests_total" and "chat" in sample.labels.get("route", ""):
                statuses[sample.labels.get("status", "?")] += int(sample.value)
            elif sample.name == "liftoff_rejections_total":
                rejections[sample.labels.get("reason", "?")] += int(sample.value)
            elif sample.name == "liftoff_completion_tokens_total":
                completion_tokens += sample.value
    return {
        "chat_requests_by_status": dict(sorted(statuses.items())),
        "rejections_by_reason": dict(sorted(rejections.items())),
        "completion_tokens": int(completion_tokens),
        "bytes": len(response.content),
    }


def _summarize(
    options: Options,
    outcomes: list[Outcome],
    rss: list[dict[str, float]],
    scrapes: list[dict[str, Any]],
    final_metrics: dict[str, Any],
    cpu_used: dict[str, float],
    wall: float,
) -> dict[str, Any]:
    kinds = Counter(outcome.kind for outcome in outcomes)
    statuses = Counter(
        str(outcome.result.status) if outcome.result else "timeout" for outcome in outcomes
    )
    ok = [outcome.result for outcome in outcomes if outcome.kind == "ok" and outcome.result]
    unexpected = [outcome for outcome in outcomes if outcome.kind == "unexpected"]
    answered = [outcome.result for outcome in outcomes if outcome.result is not None]
    rejected = [result for result in answered if result.status in (429, 503)]
    per_key: dict[int, Counter[str]] = {}
    for outcome in outcomes:
        per_key.setdefault(outcome.key, Counter())[outcome.kind] += 1
    tokens = sum(result.tokens for result in ok)
    first, last = _rss_windows(rss, wall)
    growth = (last - first) / first * 100 if first else math.nan
    scrape_ms = [entry["ms"] / 1000 for entry in scrapes if entry.get("status") == 200]
    return {
        "wall_s": round(wall, 2),
        "requests": len(outcomes),
        "outcomes": dict(sorted(kinds.items())),
        "statuses": dict(sorted(statuses.items())),
        "rejections_without_retry_after": sum(1 for r in rejected if not r.retry_after),
        "retry_after_values": dict(
            sorted(Counter(r.retry_after or "none" for r in rejected).items())
        ),
        "unexpected_examples": sorted({o.why or "?" for o in unexpected})[:5],
        "per_key": {
            str(key): dict(sorted(counts.items())) for key, counts in sorted(per_key.items())
        },
        "clients_with_a_completed_answer": len({o.client for o in outcomes if o.kind == "ok"}),
        "latency_ms": summarize_ms([result.latency for result in ok]),
        "ttft_ms": summarize_ms([result.ttft for result in ok]),
        "throughput": {
            "completed_requests_per_s": round(len(ok) / wall, 2),
            "tokens_per_s": round(tokens / wall, 1),
            "answers_per_s": round(len(outcomes) / wall, 2),
        },
        "cpu_cores": {role: round(seconds / wall, 3) for role, seconds in cpu_used.items()},
        "gateway_cpu_us_per_token": round(cpu_used["gateway"] / tokens * 1e6, 1)
        if tokens
        else None,
        "rss": {
            "first_window_mean_mb": round(first / 1024, 1),
            "last_window_mean_mb": round(last / 1024, 1),
            "growth_percent": round(growth, 2),
            "window_s": RSS_WINDOW_S,
            "samples": [
                {"t_s": sample["t_s"], "mb": round(sample["rss_kib"] / 1024, 1)} for sample in rss
            ],
        },
        "metrics_scrapes": {
            "count": len(scrapes),
            "failed": sum(1 for entry in scrapes if entry.get("status") != 200),
            "latency_ms": summarize_ms(scrape_ms),
            "bytes_first": scrapes[0].get("bytes") if scrapes else None,
            "bytes_last": scrapes[-1].get("bytes") if scrapes else None,
        },
        "metrics_at_end": final_metrics,
    }


def _rss_windows(samples: list[dict[str, float]], wall: float) -> tuple[float, float]:
    """Mean VmRSS over the first and over the last ``RSS_WINDOW_S`` seconds of the run."""
    first = [s["rss_kib"] for s in samples if s["t_s"] < RSS_WINDOW_S]
    last = [s["rss_kib"] for s in samples if s["t_s"] >= wall - RSS_WINDOW_S]
    if not first or not last:
        return math.nan, math.nan
    return sum(first) / len(first), sum(last) / len(last)


def _log_errors(log: str) -> list[str]:
    """The gateway's log lines at ERROR or above (tracebacks included), at most ten."""
    found = [
        line[:400]
        for line in log.splitlines()
        if '"level": "ERROR"' in line
        or '"level":"ERROR"' in line
        or "Traceback" in line
        or line.startswith("ERROR")
    ]
    return found[:10]


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    config = result["config"]
    where = (
        f"{config['clients']} streaming clients, {config['duration_s']:g} s, "
        f"auth + limits + metrics on"
    )
    return [
        judge("unexpected answers", result["outcomes"].get("unexpected", 0), 0, "", where),
        judge(
            "429/503 without Retry-After", result["rejections_without_retry_after"], 0, "", where
        ),
        judge(
            "gateway RSS growth",
            result["rss"]["growth_percent"],
            RSS_GROWTH_PERCENT,
            "%",
            f"mean VmRSS, last vs first {RSS_WINDOW_S} s; {where}",
        ),
        judge(
            "429s seen (rate limit exercised)",
            result["statuses"].get("429", 0),
            1,
            "",
            where,
            at_least=True,
        ),
        judge(
            "503s seen (concurrency limit exercised)",
            result["statuses"].get("503", 0),
            1,
            "",
            where,
            at_least=True,
        ),
    ]


def print_load(result: dict[str, Any]) -> None:
    from benchmarks.report import print_targets

    latency, ttft, throughput = result["latency_ms"], result["ttft_ms"], result["throughput"]
    console.print(
        f"{result['requests']} answers in {result['wall_s']:.0f} s: {result['statuses']}; "
        f"outcomes {result['outcomes']}\n"
        f"completed streams: latency p50 {latency.get('p50', 0):.1f} ms, p99 "
        f"{latency.get('p99', 0):.1f} ms; TTFT p50 {ttft.get('p50', 0):.1f} ms, p99 "
        f"{ttft.get('p99', 0):.1f} ms; {throughput['completed_requests_per_s']:.1f} req/s, "
        f"{throughput['tokens_per_s']:.0f} tokens/s\n"
        f"gateway RSS {result['rss']['first_window_mean_mb']} MB -> "
        f"{result['rss']['last_window_mean_mb']} MB ({result['rss']['growth_percent']:+.1f} %), "
        f"CPU {result['cpu_cores']}; /metrics scraped {result['metrics_scrapes']['count']} "
        f"times ({result['metrics_scrapes']['failed']} failed)",
        highlight=False,
    )
    if result["unexpected_examples"]:
        console.print(f"unexpected: {result['unexpected_examples']}", highlight=False, markup=False)
    print_targets(result["targets"])


def parse_args(argv: Sequence[str] | None) -> Options:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load")
    parser.add_argument("--clients", type=int, default=defaults.clients)
    parser.add_argument("--duration", type=float, default=defaults.duration_s, help="seconds")
    parser.add_argument("--keys", type=int, default=defaults.keys, help="API keys (>= 1)")
    parser.add_argument("--inter-token-ms", type=float, default=defaults.inter_token_ms)
    parser.add_argument("--tokens", type=int, default=defaults.tokens, help="tokens a request")
    parser.add_argument("--think-ms", type=float, default=defaults.think_ms)
    parser.add_argument("--max-concurrency", type=int, default=defaults.max_concurrency)
    parser.add_argument("--max-queue", type=int, default=defaults.max_queue)
    parser.add_argument("--rpm", type=int, default=defaults.rate_limit_rpm, help="per key")
    parser.add_argument("--tpm", type=int, default=defaults.rate_limit_tpm, help="per key")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--gateway-src", type=Path, default=REPO)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    return Options(
        clients=max(1, args.clients),
        duration_s=args.duration,
        keys=max(1, args.keys),
        inter_token_ms=args.inter_token_ms,
        tokens=args.tokens,
        think_ms=args.think_ms,
        max_concurrency=args.max_concurrency,
        max_queue=args.max_queue,
        rate_limit_rpm=args.rpm,
        rate_limit_tpm=args.tpm,
        pin=not args.no_pin,
        gateway_src=args.gateway_src.resolve(),
        results_dir=args.results_dir,
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    options = parse_args(argv)
    console.print(
        f"[bold]load[/bold]: {options.clients} streaming clients for {options.duration_s:g} s "
        f"through the gateway (auth, limits, metrics on)"
    )
    result = run(options)
    path = write_result(NAME, result, options.results_dir)
    print_load(result)
    console.print(f"wrote {path}")
    console.print(f"wrote {write_safety_markdown(options.results_dir)}")
    return result


if __name__ == "__main__":
    main()
