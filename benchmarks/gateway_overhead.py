"""What the gateway adds: the same load against a canned backend directly and through it.

    python -m benchmarks.gateway_overhead                  # about 5 minutes
    python -m benchmarks.gateway_overhead --duration 3 --rounds 1 --scenario realistic

Three kinds of process, so none shares a GIL with another:

- the canned backend (``benchmarks.canned_backend``, uvicorn), streaming a fixed number of
  tokens with a fixed gap between them;
- the gateway, ``uvicorn liftoff.api.main:app`` with ``LIFTOFF_BACKEND=openai`` pointed at it and
  one API key (authentication on, as deployed), once per server flavour (uvloop +
  httptools, uvicorn's default, and asyncio + h11);
- this process, the load generator (``benchmarks.loadgen``).

With two or more CPUs the gateway is pinned to one and the backend and load generator to
the others, so the gateway under test competes with neither, and the direct runs see the
same backend and client placement as the gateway runs. For each concurrency (1, 16, 64)
every target runs the same closed-loop load with the same request body; targets take turns
within each round, and rounds repeat, so drift in the machine's background load is spread
over all of them. Every comparison is made within a round (the gateway's block against the
direct block of the same round, run back to back) and judged on the median over rounds,
with min and max shown: added latency is the gateway's percentile minus the direct
percentile, TTFT (time to first content token) overhead likewise, and the forwarding ratio
is the gateway's tokens/s over the direct tokens/s. ``--baseline-src DIR`` adds another
gateway (uvicorn's default flavour, run from the source tree in DIR, e.g. the commit before a
change) to the same rotation, so before and after are paired in one run. The gateway's RSS
is sampled from ``/proc/<pid>/status`` (VmRSS) during its runs; VmHWM gives its peak over its
whole life. Its CPU time per forwarded token (from its CPU-time clock) depends far less
than latencies on what else the machine runs, and says how many CPUs a load needs (``cpus_needed``).

Two scenarios: ``realistic`` (a token every 20 ms, as an LLM streams; the targets are
judged on it) and ``burst`` (no gap: the gateway's forwarding capacity, CPU-bound).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks.canned_backend import MODEL
from benchmarks.common import (
    AUTH_HEADERS,
    BUSY_CPUS,
    LOOPBACK,
    REPO,
    RESULTS_DIR,
    Server,
    clean_env,
    cpu_seconds,
    cpu_split,
    gateway_env,
    judge,
    load_average,
    machine_info,
    memory_kib,
    run_async,
    source_info,
    spread,
    summarize_ms,
    system_busy_seconds,
    write_result,
)
from benchmarks.loadgen import Connection, LoadResult, closed_loop
from benchmarks.report import print_overhead, write_markdown

NAME = "gateway_overhead"
DIRECT = "direct"
console = Console()


@dataclass(frozen=True)
class Scenario:
    name: str
    inter_token_ms: float
    tokens: int
    about: str
    levels: tuple[int, ...]  # stream counts measured unless --concurrency says otherwise

    @property
    def request_s(self) -> float:
        """How long the backend takes to stream one answer."""
        return self.inter_token_ms * self.tokens / 1000


@dataclass(frozen=True)
class Flavour:
    """How uvicorn runs the gateway: its event loop and HTTP parser."""

    name: str
    loop: str
    http: str


SCENARIOS = {
    "realistic": Scenario(
        "realistic", 20.0, 32, "a token every 20 ms, as an LLM streams", (1, 16, 64, 256)
    ),
    "burst": Scenario("burst", 0.0, 64, "no gap between tokens: forwarding capacity", (1, 16, 64)),
}
FLAVOURS = {
    # What `uvicorn liftoff.api.main:app` picks by itself when uvicorn[standard] is installed.
    "uvloop+httptools": Flavour("uvloop+httptools", "uvloop", "httptools"),
    "asyncio+h11": Flavour("asyncio+h11", "asyncio", "h11"),
}
JUDGED_SCENARIO = "realistic"
JUDGED_FLAVOUR = "uvloop+httptools"
JUDGED_CONCURRENCY = 64
WIDE_CONCURRENCY = 256  # the forwarding-ratio target: one process keeps up with this many
BASELINE = "baseline"  # the --baseline-src gateway's target name
ADDED_P50_MS = 1.0
ADDED_P99_MS = 5.0
TTFT_OVERHEAD_MS = 1.0
PEAK_RSS_MB = 150.0
CPU_US_PER_TOKEN = 50.0
MIN_FORWARDING_RATIO = 0.99


@dataclass
class Options:
    scenarios: list[str] = field(default_factory=lambda: list(SCENARIOS))
    flavours: list[str] = field(default_factory=lambda: list(FLAVOURS))
    concurrency: list[int] | None = None  # None: each scenario's own levels
    duration_s: float = 9.0  # measured per target and concurrency, split over the rounds
    rounds: int = 3
    warmup_s: float = 1.0  # per block; at least one request duration of the scenario
    pin: bool = True
    endpoint: str = "chat"
    uvicorn_args: list[str] = field(default_factory=list)
    gateway_src: Path = REPO
    baseline_src: Path | None = None
    results_dir: Path = RESULTS_DIR
    seed: int = 1

    def levels(self, scenario: Scenario) -> list[int]:
        return list(self.concurrency or scenario.levels)

    def gateway_targets(self) -> list[str]:
        return [*self.flavours, *([BASELINE] if self.baseline_src else [])]


@dataclass
class Block:
    """One target at one concurrency for one round."""

    target: str
    concurrency: int
    round_index: int
    load: LoadResult
    cpu_s: dict[str, float]  # CPU seconds used during the block, per process role
    wall_s: float
    rss_peak_kib: int | None


def request_body(scenario: Scenario, endpoint: str) -> tuple[str, bytes]:
    """The path and body every target gets (the OpenAI SDK's streaming request)."""
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": scenario.tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if endpoint == "chat":
        body["messages"] = [{"role": "user", "content": "Write one sentence about foxes."}]
        return "/v1/chat/completions", json.dumps(body).encode()
    body["prompt"] = "Write one sentence about foxes."
    return "/v1/completions", json.dumps(body).encode()


def run(options: Options) -> dict[str, Any]:
    machine = machine_info()
    _warn_if_busy(machine["background_cpus_at_start"])
    gateway_cpus, other_cpus = cpu_split() if options.pin else (None, None)
    all_cpus = os.sched_getaffinity(0)
    rss: dict[str, dict[str, int]] = {}
    scenarios: dict[str, Any] = {}
    try:
        if other_cpus:
            os.sched_setaffinity(0, other_cpus)  # this process is the load generator
        for name in options.scenarios:
            scenario = SCENARIOS[name]
            console.print(f"[bold]{name}[/bold]: {scenario.about} ({scenario.tokens} tokens)")
            scenarios[name] = _run_scenario(scenario, options, gateway_cpus, other_cpus, rss)
    finally:
        os.sched_setaffinity(0, all_cpus)
    machine["load_average_at_end"] = load_average()
    result: dict[str, Any] = {
        "benchmark": NAME,
        "machine": machine,
        "config": {
            "scenarios": {name: vars(SCENARIOS[name]) for name in options.scenarios},
            "flavours": {name: vars(FLAVOURS[name]) for name in options.flavours},
            "concurrency": {name: options.levels(SCENARIOS[name]) for name in options.scenarios},
            "duration_s_per_target": options.duration_s,
            "rounds": options.rounds,
            "warmup_s_per_block": options.warmup_s,
            "endpoint": options.endpoint,
            "uvicorn_args": options.uvicorn_args,
            "gateway_src": source_info(options.gateway_src),
            "baseline_src": (
                {**source_info(options.baseline_src), "flavour": JUDGED_FLAVOUR}
                if options.baseline_src
                else None
            ),
            "authentication": "one API key, sent as a bearer token",
            "gateway_cpus": sorted(gateway_cpus) if gateway_cpus else None,
            "backend_and_loadgen_cpus": sorted(other_cpus) if other_cpus else None,
        },
        "scenarios": scenarios,
        "rss": {name: _rss_mb(kib) for name, kib in rss.items()},
    }
    result["targets"] = targets(result)
    return result


def _warn_if_busy(background: float) -> None:
    if background > BUSY_CPUS:
        console.print(
            f"[yellow]warning: other processes keep {background:.2f} CPUs busy; they compete "
            "with the gateway and the results will show it[/yellow]"
        )


def _run_scenario(
    scenario: Scenario,
    options: Options,
    gateway_cpus: set[int] | None,
    other_cpus: set[int] | None,
    rss: dict[str, dict[str, int]],
) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        canned = [
            "-m", "benchmarks.canned_backend", "--port", "{port}",
            "--inter-token-ms", str(scenario.inter_token_ms), "--tokens", str(scenario.tokens),
        ]  # fmt: skip
        backend = stack.enter_context(
            Server(canned, env=clean_env(), health="/v1/models", cpus=other_cpus)
        )
        gateways: dict[str, Server] = {}
        for name in options.gateway_targets():
            flavour = FLAVOURS[JUDGED_FLAVOUR if name == BASELINE else name]
            src = options.baseline_src if name == BASELINE else options.gateway_src
            env = gateway_env(
                LIFTOFF_BACKEND="openai", OPENAI_BASE_URL=f"{backend.url}/v1", LIFTOFF_MODEL=MODEL
            )
            command = [
                "-m", "uvicorn", "liftoff.api.main:app", "--host", LOOPBACK, "--port", "{port}",
                "--loop", flavour.loop, "--http", flavour.http, *options.uvicorn_args,
            ]  # fmt: skip
            gateways[name] = stack.enter_context(
                Server(command, env=env, health="/readyz", cpus=gateway_cpus, cwd=src or REPO)
            )
        blocks = run_async(_measure(scenario, options, backend, gateways, rss))
        for name, gateway in gateways.items():
            peak = memory_kib(gateway.pid)["VmHWM"]
            rss[name]["hwm_kib"] = max(rss[name].get("hwm_kib", 0), peak)
    runs = _aggregate(scenario, blocks)
    other = sum(block.cpu_s["other"] for block in blocks) / sum(block.wall_s for block in blocks)
    return {
        "scenario": vars(scenario),
        "background_cpus": round(other, 2),
        "runs": runs,
        "overhead": _overhead(blocks, runs, options, scenario),
    }


async def _measure(
    scenario: Scenario,
    options: Options,
    backend: Server,
    gateways: dict[str, Server],
    rss: dict[str, dict[str, int]],
) -> list[Block]:
    path, body = request_body(scenario, options.endpoint)
    ports = {DIRECT: backend.port, **{name: server.port for name, server in gateways.items()}}
    for target, port in ports.items():  # first requests: lazy imports, connection pools
        async with Connection(LOOPBACK, port, AUTH_HEADERS) as connection:
            for _ in range(3):
                first = await connection.stream(path, body)
                if first.error is not None:
                    raise RuntimeError(f"{target} failed its first request: {first.error}")
    for name, gateway in gateways.items():
        peaks = rss.setdefault(name, {})
        peaks["idle_kib"] = max(peaks.get("idle_kib", 0), memory_kib(gateway.pid)["VmRSS"])

    pids = {"backend": backend.pid, **{name: server.pid for name, server in gateways.items()}}
    order = list(ports)
    blocks: list[Block] = []
    for round_index in range(options.rounds):
        for concurrency in options.levels(scenario):
            # Targets take turns, starting with a different one each round.
            shift = round_index % len(order)
            for target in order[shift:] + order[:shift]:
                block = await _block(
                    target, ports[target], path, body, concurrency, scenario, options, pids
                )
                block.round_index = round_index
                blocks.append(block)
                if block.rss_peak_kib is not None:
                    peaks = rss[target]
                    peaks["sampled_kib"] = max(peaks.get("sampled_kib", 0), block.rss_peak_kib)
                _progress(scenario, round_index, options.rounds, block)
    return blocks


async def _block(
    target: str,
    port: int,
    path: str,
    body: bytes,
    concurrency: int,
    scenario: Scenario,
    options: Options,
    pids: dict[str, int],
) -> Block:
    before = {role: cpu_seconds(pid) for role, pid in pids.items()}
    before["loadgen"] = cpu_seconds()
    before["machine"] = system_busy_seconds()
    started = time.perf_counter()
    peak = [0]
    sampler = asyncio.create_task(_sample_rss(pids[target], peak)) if target != DIRECT else None
    try:
        load = await closed_loop(
            LOOPBACK,
            port,
            path,
            body,
            concurrency=concurrency,
            warmup_s=options.warmup_s,
            duration_s=options.duration_s / options.rounds,
            stagger_s=scenario.request_s,
            request_timeout_s=30 + 2 * scenario.request_s,
            seed=options.seed + concurrency,
            headers=AUTH_HEADERS,
        )
    finally:
        if sampler is not None:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
    wall = time.perf_counter() - started
    after = {role: cpu_seconds(pid) for role, pid in pids.items()}
    after["loadgen"] = cpu_seconds()
    after["machine"] = system_busy_seconds()
    used = {role: after[role] - before[role] for role in before}
    ours = sum(value for role, value in used.items() if role != "machine")
    cpu_s = {
        "gateway": used[target] if target != DIRECT else 0.0,
        "backend": used["backend"],
        "loadgen": used["loadgen"],
        # Everything else on the machine: other jobs that compete for the same CPUs.
        "other": max(0.0, used["machine"] - ours),
    }
    return Block(target, concurrency, 0, load, cpu_s, wall, peak[0] if sampler else None)


async def _sample_rss(pid: int, peak: list[int], every_s: float = 0.05) -> None:
    for _ in range(100_000):  # cancelled at the end of the block long before this
        peak[0] = max(peak[0], memory_kib(pid)["VmRSS"])
        await asyncio.sleep(every_s)


def _progress(scenario: Scenario, round_index: int, rounds: int, block: Block) -> None:
    latency = summarize_ms([sample.latency for sample in block.load.samples])
    console.print(
        f"  {scenario.name} round {round_index + 1}/{rounds} c={block.concurrency:<3} "
        f"{block.target:<17} {len(block.load.samples):>5} req  p50 {latency.get('p50', 0):8.2f} "
        f"ms  p99 {latency.get('p99', 0):8.2f} ms  {block.load.tokens_per_s:9.0f} tok/s  "
        f"errors {len(block.load.errors)}  other load {block.cpu_s['other'] / block.wall_s:.2f}",
        highlight=False,
    )


def _aggregate(scenario: Scenario, blocks: list[Block]) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    keys = dict.fromkeys((block.concurrency, block.target) for block in blocks)
    for concurrency, target in keys:
        group = [b for b in blocks if b.concurrency == concurrency and b.target == target]
        samples = [sample for block in group for sample in block.load.samples]
        errors = [error for block in group for error in block.load.errors]
        wall = sum(block.wall_s for block in group)
        cpu = {role: sum(block.cpu_s[role] for block in group) for role in group[0].cpu_s}
        tokens_total = sum(block.load.tokens_total for block in group)
        window = sum(block.load.window_s for block in group)
        runs.append(
            {
                "concurrency": concurrency,
                "target": target,
                "requests": len(samples),
                "errors": len(errors),
                "error_examples": sorted(set(errors))[:3],
                "wrong_token_counts": sum(1 for s in samples if s.tokens != scenario.tokens),
                "latency_ms": summarize_ms([sample.latency for sample in samples]),
                "ttft_ms": summarize_ms([sample.ttft for sample in samples]),
                "tokens_per_s": round(sum(b.load.tokens_in_window for b in group) / window, 1),
                "cpu_cores": {role: round(seconds / wall, 3) for role, seconds in cpu.items()},
                "gateway_cpu_us_per_token": (
                    round(cpu["gateway"] / tokens_total * 1e6, 1)
                    if target != DIRECT and tokens_total
                    else None
                ),
            }
        )
    return runs


def _round_figures(block: Block) -> dict[str, float]:
    """What one block measured, for pairing with the other target's block of its round."""
    latency = summarize_ms([sample.latency for sample in block.load.samples])
    ttft = summarize_ms([sample.ttft for sample in block.load.samples])
    tokens = block.load.tokens_total
    return {
        "tokens_per_s": block.load.tokens_per_s,
        "latency_p50": latency.get("p50", math.nan),
        "latency_p99": latency.get("p99", math.nan),
        "ttft_p50": ttft.get("p50", math.nan),
        "ttft_p99": ttft.get("p99", math.nan),
        "cpu_us_per_token": block.cpu_s["gateway"] / tokens * 1e6 if tokens else math.nan,
    }


def _overhead(
    blocks: list[Block], runs: list[dict[str, Any]], options: Options, scenario: Scenario
) -> list[dict[str, Any]]:
    """Each gateway against the direct block of the same round and concurrency: one value
    per round (a pair run back to back), judged on the median, with min and max."""
    by_key = {(run["concurrency"], run["target"]): run for run in runs}
    figures = {(b.round_index, b.concurrency, b.target): _round_figures(b) for b in blocks}
    overhead = []
    for target in options.gateway_targets():
        for concurrency in options.levels(scenario):
            pairs = [
                (figures[(index, concurrency, DIRECT)], mine)
                for (index, level, name), mine in sorted(figures.items())
                if level == concurrency and name == target
            ]
            if not pairs:
                continue

            def paired(key: str, pairs: list[Any] = pairs) -> dict[str, Any]:
                return spread([gateway[key] - direct[key] for direct, gateway in pairs], 3)

            ratio = spread([g["tokens_per_s"] / d["tokens_per_s"] for d, g in pairs], 4)
            cpu = spread([gateway["cpu_us_per_token"] for _, gateway in pairs], 1)
            direct_rate = by_key[(concurrency, DIRECT)]["tokens_per_s"]
            overhead.append(
                {
                    "flavour": target,
                    "concurrency": concurrency,
                    "rounds": len(pairs),
                    # Medians over rounds of the paired values; "paired" has min, max, each.
                    "added_latency_ms": {
                        "p50": paired("latency_p50")["median"],
                        "p99": paired("latency_p99")["median"],
                    },
                    "ttft_overhead_ms": {
                        "p50": paired("ttft_p50")["median"],
                        "p99": paired("ttft_p99")["median"],
                    },
                    "throughput_ratio": ratio["median"],
                    "gateway_cpu_us_per_token": cpu["median"],
                    # CPUs the gateway needs to forward what the backend offers at this
                    # concurrency: above 1 (its event loop is one thread) it cannot keep up.
                    "cpus_needed": round(direct_rate * cpu["median"] / 1e6, 3),
                    "paired": {
                        "added_latency_p50_ms": paired("latency_p50"),
                        "added_latency_p99_ms": paired("latency_p99"),
                        "ttft_overhead_p50_ms": paired("ttft_p50"),
                        "ttft_overhead_p99_ms": paired("ttft_p99"),
                        "throughput_ratio": ratio,
                        "gateway_cpu_us_per_token": cpu,
                    },
                }
            )
    return overhead


def _rss_mb(kib: dict[str, int]) -> dict[str, float]:
    return {key.replace("_kib", "_mb"): round(value * 1024 / 1e6, 1) for key, value in kib.items()}


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, judged on the realistic scenario and uvicorn's default flavour,
    each on the median over rounds of values paired with the direct run of the same round."""
    judged: list[dict[str, Any]] = []
    scenario = result["scenarios"].get(JUDGED_SCENARIO)
    overhead = [
        row for row in (scenario or {}).get("overhead", []) if row["flavour"] == JUDGED_FLAVOUR
    ]
    levels = {row["concurrency"]: row for row in overhead}

    def where(row: dict[str, Any], key: str, unit: str = "") -> str:
        values = row["paired"][key]
        return (
            f"{JUDGED_SCENARIO} scenario, {row['concurrency']} streams, {JUDGED_FLAVOUR}; "
            f"median of {values['n']} paired rounds, min {values['min']:g}{unit}, "
            f"max {values['max']:g}{unit}"
        )

    at_judged = levels.get(JUDGED_CONCURRENCY)
    if at_judged is not None:
        for quantile, limit in (("p50", ADDED_P50_MS), ("p99", ADDED_P99_MS)):
            key = f"added_latency_{quantile}_ms"
            judged.append(
                judge(
                    f"added latency {quantile}",
                    at_judged["paired"][key]["median"],
                    limit,
                    "ms",
                    where(at_judged, key),
                )
            )
        judged.append(
            judge(
                "gateway CPU per forwarded token",
                at_judged["paired"]["gateway_cpu_us_per_token"]["median"],
                CPU_US_PER_TOKEN,
                "µs",
                where(at_judged, "gateway_cpu_us_per_token"),
            )
        )
    wide = levels.get(WIDE_CONCURRENCY)
    if wide is not None:
        judged.append(
            judge(
                "tokens/s forwarded, gateway / direct",
                round(wide["paired"]["throughput_ratio"]["median"] * 100, 2),
                MIN_FORWARDING_RATIO * 100,
                "%",
                where(wide, "throughput_ratio"),
                at_least=True,
            )
        )
    if overhead:
        worst = max(overhead, key=lambda row: row["ttft_overhead_ms"]["p50"])
        values = worst["paired"]["ttft_overhead_p50_ms"]
        names = "/".join(str(row["concurrency"]) for row in overhead)
        judged.append(
            judge(
                "TTFT overhead p50",
                worst["ttft_overhead_ms"]["p50"],
                TTFT_OVERHEAD_MS,
                "ms",
                f"{JUDGED_SCENARIO} scenario, worst of {names} streams: "
                f"{worst['concurrency']}, {JUDGED_FLAVOUR}; median of {values['n']} paired "
                f"rounds, min {values['min']:g}, max {values['max']:g}",
            )
        )
    rss = result.get("rss", {}).get(JUDGED_FLAVOUR, {})
    if "hwm_mb" in rss:
        judged.append(
            judge(
                "gateway peak RSS",
                rss["hwm_mb"],
                PEAK_RSS_MB,
                "MB",
                f"VmHWM of the {JUDGED_FLAVOUR} gateway over all scenarios",
            )
        )
    return judged


def parse_args(argv: Sequence[str] | None) -> Options:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway_overhead")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--flavour", action="append", choices=sorted(FLAVOURS))
    parser.add_argument(
        "--concurrency",
        help="comma-separated stream counts (default: realistic 1,16,64,256; burst 1,16,64)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=defaults.duration_s,
        help="seconds measured per target and concurrency, over all rounds (%(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--warmup", type=float, default=defaults.warmup_s)
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--endpoint", choices=("chat", "completions"), default="chat")
    parser.add_argument(
        "--gateway-src",
        type=Path,
        default=REPO,
        help="directory whose api/ package the gateway runs (default: this checkout)",
    )
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="also run the gateway from this source tree (before/after in one run), e.g. "
        "git worktree add /tmp/before HEAD~1",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="where the JSON goes (%(default)s)"
    )
    parser.add_argument(
        "--uvicorn-arg",
        action="append",
        default=[],
        help="extra argument for the gateway's uvicorn, e.g. --uvicorn-arg=--no-access-log",
    )
    args = parser.parse_args(argv)
    return Options(
        scenarios=args.scenario or defaults.scenarios,
        flavours=args.flavour or defaults.flavours,
        concurrency=(
            [int(level) for level in args.concurrency.split(",")] if args.concurrency else None
        ),
        duration_s=args.duration,
        rounds=max(1, args.rounds),
        warmup_s=args.warmup,
        pin=not args.no_pin,
        endpoint=args.endpoint,
        uvicorn_args=args.uvicorn_arg,
        gateway_src=args.gateway_src.resolve(),
        baseline_src=args.baseline_src.resolve() if args.baseline_src else None,
        results_dir=args.results_dir,
    )


def main(argv: Sequence[str] | None = None, *, render: bool = True) -> dict[str, Any]:
    options = parse_args(argv)
    result = run(options)
    path = write_result(NAME, result, options.results_dir)
    print_overhead(result)
    console.print(f"wrote {path}")
    if render:
        console.print(f"wrote {write_markdown(options.results_dir)}")
    return result


if __name__ == "__main__":
    main()
