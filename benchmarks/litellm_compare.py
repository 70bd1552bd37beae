"""Liftoff against LiteLLM's proxy: the same load, the same fake backend, one run.

    python -m benchmarks.litellm_compare                 # about 3 minutes (+ install once)
    python -m benchmarks.litellm_compare --duration 2 --rounds 1 --concurrency 1,16

LiteLLM's proxy (``litellm[proxy]``, pinned, from PyPI) goes into its own virtual
environment under ``.cache/bench-litellm/``, never the project's; this script makes it with
uv when it is missing and says what it installs. The proxy runs offline: its model-cost map
from the package (``LITELLM_LOCAL_MODEL_COST_MAP``), no telemetry, no database (no
``DATABASE_URL``, so no spend logs or keys table), one worker, a master key, and one model,
``canned`` = ``openai/canned`` at the canned backend.

Three targets get the same streaming chat request, closed loop, at 1, 16 and 64 streams,
with a token every 20 ms (as an LLM streams): the canned backend directly, Liftoff
(``uvicorn liftoff.api.main:app``, authentication on, metrics on: every request counted in
``/metrics``) and LiteLLM's proxy (its master key checked on every request). With two or
more CPUs each gateway is pinned to the same one CPU, and the backend and load generator to
the others. Targets take turns within each round and rounds repeat.

Reported per gateway and concurrency: added latency p50/p99 and TTFT overhead (the
gateway's percentile minus the direct one), tokens/s, the gateway's CPU time per token
(all its processes), and the ratio Liftoff / LiteLLM of added latency. Target: Liftoff adds
at most a third of LiteLLM's latency (p50 and p99, at every concurrency).

If LiteLLM cannot be installed or started here, the script says exactly why and exits
non-zero; it never writes numbers it did not measure.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.canned_backend import MODEL
from benchmarks.common import (
    API_KEY,
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
    tree_cpu_seconds,
    write_result,
)
from benchmarks.gateway_overhead import SCENARIOS, request_body
from benchmarks.loadgen import Connection, LoadResult, closed_loop
from benchmarks.report import print_targets, write_safety_markdown

NAME = "litellm_compare"
console = Console()

# 1.106.2: the newest release whose whole [proxy] extra resolves from PyPI here (1.109.x
# needs a litellm-proxy-extras not published); before the compromised 1.107.0.
LITELLM_VERSION = "1.106.2"
LITELLM_VENV = REPO / ".cache" / "bench-litellm"
LITELLM_MASTER_KEY = "sk-liftoff-bench-master"
DIRECT, LIFTOFF, LITELLM = "direct", "liftoff", "litellm"
MAX_RATIO = 1 / 3
SCENARIO = SCENARIOS["realistic"]


class LiteLLMUnavailable(RuntimeError):
    """LiteLLM's proxy cannot be installed or started here; the message says why."""


@dataclass
class Options:
    concurrency: list[int] = field(default_factory=lambda: [1, 16, 64])
    duration_s: float = 9.0  # measured per target and concurrency, split over the rounds
    rounds: int = 3
    warmup_s: float = 1.0
    pin: bool = True
    venv: Path = LITELLM_VENV
    gateway_src: Path = REPO
    results_dir: Path = RESULTS_DIR
    seed: int = 11


# --- LiteLLM's proxy, in its own environment ------------------------------------------------


def _uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    probe = subprocess.run(
        ["python3", "-m", "uv", "--version"], capture_output=True, text=True, check=False
    )
    if probe.returncode == 0:
        return ["python3", "-m", "uv"]
    raise LiteLLMUnavailable(
        "uv is not installed (neither `uv` on PATH nor `python3 -m uv`); `make setup` installs it"
    )


def installed_version(venv: Path) -> str | None:
    python = venv / "bin" / "python"
    if not (venv / "bin" / "litellm").is_file() or not python.is_file():
        return None
    done = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_litellm(venv: Path, version: str = LITELLM_VERSION) -> Path:
    """The ``litellm`` command of a virtual environment holding ``litellm[proxy]==version``."""
    if installed_version(venv) == version:
        return venv / "bin" / "litellm"
    uv = _uv()
    steps = [
        [*uv, "venv", "--python", f"{sys.version_info.major}.{sys.version_info.minor}", str(venv)],
        [*uv, "pip", "install", "--python", str(venv / "bin" / "python"),
         f"litellm[proxy]=={version}"],
    ]  # fmt: skip
    console.print(
        f"installing LiteLLM's proxy, litellm[proxy]=={version}, into {venv} "
        "(its own virtual environment, not the project's):",
        markup=False,
    )
    for step in steps:
        console.print("  $ " + " ".join(step), highlight=False, markup=False)
        done = subprocess.run(step, capture_output=True, text=True, check=False, timeout=900)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip()[-2000:]
            raise LiteLLMUnavailable(
                f"could not install litellm[proxy]=={version}: `{' '.join(step)}` exited "
                f"{done.returncode}:\n{tail}"
            )
    found = installed_version(venv)
    if found != version:
        raise LiteLLMUnavailable(
            f"installed litellm[proxy]=={version} into {venv}, but it reports version {found}"
        )
    return venv / "bin" / "litellm"


def litellm_config(backend_url: str) -> str:
    """LiteLLM's proxy config: one model at the canned backend, nothing that needs a network."""
    return f"""\
model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_base: {backend_url}/v1
      api_key: not-used
litellm_settings:
  telemetry: false
  set_verbose: false
  turn_off_message_logging: true
general_settings:
  master_key: {LITELLM_MASTER_KEY}
  disable_spend_logs: true
"""


def litellm_server(litellm: Path, config: Path, cpus: set[int] | None) -> Server:
    env = clean_env(
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # the package's cost map, not one from GitHub
        LITELLM_LOG="ERROR",
        LITELLM_TELEMETRY="False",
        NO_DOCS="True",
        DISABLE_ADMIN_UI="True",
    )
    for name in ("DATABASE_URL", "LITELLM_MASTER_KEY", "REDIS_HOST", "REDIS_URL"):
        env.pop(name, None)
    args = [
        "--config", str(config), "--host", LOOPBACK, "--port", "{port}",
        "--num_workers", "1", "--telemetry", "False",
    ]  # fmt: skip
    return Server(
        args,
        env=env,
        health="/health/liveliness",
        cpus=cpus,
        ready_timeout=180,
        executable=str(litellm),
        cwd=config.parent,
    )


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Block:
    target: str
    concurrency: int
    load: LoadResult
    gateway_cpu_s: float
    other_cpus: float
    wall_s: float
    round_index: int = 0


def run(options: Options) -> dict[str, Any]:
    litellm = ensure_litellm(options.venv)
    machine = machine_info()
    if machine["background_cpus_at_start"] > BUSY_CPUS:
        console.print(
            f"[yellow]warning: other processes keep {machine['background_cpus_at_start']:.2f} "
            "CPUs busy; they compete with the gateways and the results will show it[/yellow]"
        )
    gateway_cpus, other_cpus = cpu_split() if options.pin else (None, None)
    all_cpus = os.sched_getaffinity(0)
    canned = [
        "-m", "benchmarks.canned_backend", "--port", "{port}",
        "--inter-token-ms", str(SCENARIO.inter_token_ms), "--tokens", str(SCENARIO.tokens),
    ]  # fmt: skip
    rss: dict[str, int] = {}
    try:
        if other_cpus:
            os.sched_setaffinity(0, other_cpus)  # this process is the load generator
        with contextlib.ExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="litellm-")))
            backend = stack.enter_context(
                Server(canned, env=clean_env(), health="/v1/models", cpus=other_cpus)
            )
            env = gateway_env(
                LIFTOFF_BACKEND="openai", OPENAI_BASE_URL=f"{backend.url}/v1", LIFTOFF_MODEL=MODEL
            )
            command = [
                "-m",
                "uvicorn",
                "liftoff.api.main:app",
                "--host",
                LOOPBACK,
                "--port",
                "{port}",
            ]
            liftoff = stack.enter_context(
                Server(
                    command, env=env, health="/readyz", cpus=gateway_cpus, cwd=options.gateway_src
                )
            )
            config = workdir / "config.yaml"
            config.write_text(litellm_config(backend.url))
            console.print(
                f"starting LiteLLM's proxy {LITELLM_VERSION} (offline, no database)",
                highlight=False,
            )
            proxy = litellm_server(litellm, config, gateway_cpus)
            try:
                stack.enter_context(proxy)
            except (RuntimeError, TimeoutError) as exc:
                raise LiteLLMUnavailable(f"LiteLLM's proxy did not start: {exc}") from exc
            servers = {DIRECT: backend, LIFTOFF: liftoff, LITELLM: proxy}
            blocks = run_async(_measure(options, servers, rss))
            for name in (LIFTOFF, LITELLM):
                rss[f"{name}_hwm_kib"] = memory_kib(servers[name].pid)["VmHWM"]
    finally:
        os.sched_setaffinity(0, all_cpus)
    machine["load_average_at_end"] = load_average()
    runs = _aggregate(blocks)
    result: dict[str, Any] = {
        "benchmark": NAME,
        "machine": machine,
        "config": {
            "scenario": vars(SCENARIO),
            "concurrency": options.concurrency,
            "duration_s_per_target": options.duration_s,
            "rounds": options.rounds,
            "warmup_s_per_block": options.warmup_s,
            "endpoint": "/v1/chat/completions, streamed, stream_options.include_usage",
            "gateway_src": source_info(options.gateway_src),
            "liftoff": (
                "uvicorn liftoff.api.main:app (uvloop + httptools), one API key, /metrics on"
            ),
            "litellm": {
                "package": f"litellm[proxy]=={LITELLM_VERSION}",
                "venv": str(options.venv),
                "how": "litellm --config (one openai/canned model) --num_workers 1 "
                "--telemetry False; master key; no database; local cost map",
            },
            "gateway_cpus": sorted(gateway_cpus) if gateway_cpus else None,
            "backend_and_loadgen_cpus": sorted(other_cpus) if other_cpus else None,
        },
        "runs": runs,
        "background_cpus": round(
            sum(b.other_cpus * b.wall_s for b in blocks) / sum(b.wall_s for b in blocks), 2
        ),
        "rss_mb": {key.replace("_kib", "_mb"): round(v / 1024, 1) for key, v in rss.items()},
    }
    result["comparison"] = compare(runs, options.concurrency, blocks)
    result["targets"] = targets(result)
    return result


def _headers(target: str) -> dict[str, str]:
    key = LITELLM_MASTER_KEY if target == LITELLM else API_KEY
    return {"Authorization": f"Bearer {key}"}


async def _measure(
    options: Options, servers: dict[str, Server], rss: dict[str, int]
) -> list[Block]:
    path, body = request_body(SCENARIO, "chat")
    for target, server in servers.items():  # lazy imports, connection pools; each one works
        async with Connection(LOOPBACK, server.port, _headers(target)) as connection:
            for _ in range(3):
                first = await connection.stream(path, body)
                if first.error is not None or first.tokens != SCENARIO.tokens:
                    message = f"{target} failed its first request: {first.error or first.tokens}"
                    if target == LITELLM:
                        log = server.output()[-3000:]
                        raise LiteLLMUnavailable(f"{message}\nLiteLLM's log ends:\n{log}")
                    raise RuntimeError(message)
    for target in (LIFTOFF, LITELLM):
        rss[f"{target}_idle_kib"] = memory_kib(servers[target].pid)["VmRSS"]
    order = list(servers)
    blocks: list[Block] = []
    for round_index in range(options.rounds):
        for concurrency in options.concurrency:
            shift = round_index % len(order)
            for target in order[shift:] + order[:shift]:
                block = await _block(target, servers, path, body, concurrency, options)
                block.round_index = round_index
                blocks.append(block)
                latency = summarize_ms([s.latency for s in block.load.samples])
                console.print(
                    f"  round {round_index + 1}/{options.rounds} c={concurrency:<3} {target:<8} "
                    f"{len(block.load.samples):>5} req  p50 {latency.get('p50', 0):8.2f} ms  "
                    f"p99 {latency.get('p99', 0):8.2f} ms  {block.load.tokens_per_s:7.0f} tok/s"
                    f"  errors {len(block.load.errors)}  other load {block.other_cpus:.2f}",
                    highlight=False,
                )
    return blocks


async def _block(
    target: str,
    servers: dict[str, Server],
    path: str,
    body: bytes,
    concurrency: int,
    options: Options,
) -> Block:
    pids = [server.pid for server in servers.values()]
    gateway_pid = servers[target].pid if target != DIRECT else None
    ours_before = sum(tree_cpu_seconds(pid) for pid in pids) + cpu_seconds()
    gateway_before = tree_cpu_seconds(gateway_pid) if gateway_pid else 0.0
    machine_before = system_busy_seconds()
    started = time.perf_counter()
    load = await closed_loop(
        LOOPBACK,
        servers[target].port,
        path,
        body,
        concurrency=concurrency,
        warmup_s=options.warmup_s,
        duration_s=options.duration_s / options.rounds,
        stagger_s=SCENARIO.request_s,
        request_timeout_s=30 + 2 * SCENARIO.request_s,
        seed=options.seed + concurrency,
        headers=_headers(target),
    )
    wall = time.perf_counter() - started
    gateway_used = tree_cpu_seconds(gateway_pid) - gateway_before if gateway_pid else 0.0
    ours = sum(tree_cpu_seconds(pid) for pid in pids) + cpu_seconds() - ours_before
    other = max(0.0, system_busy_seconds() - machine_before - ours) / wall
    return Block(target, concurrency, load, gateway_used, other, wall)


def _aggregate(blocks: list[Block]) -> list[dict[str, Any]]:
    runs = []
    for concurrency, target in dict.fromkeys((b.concurrency, b.target) for b in blocks):
        group = [b for b in blocks if b.concurrency == concurrency and b.target == target]
        samples = [s for b in group for s in b.load.samples]
        errors = [e for b in group for e in b.load.errors]
        tokens_total = sum(b.load.tokens_total for b in group)
        gateway_cpu = sum(b.gateway_cpu_s for b in group)
        wall = sum(b.wall_s for b in group)
        runs.append(
            {
                "concurrency": concurrency,
                "target": target,
                "requests": len(samples),
                "errors": len(errors),
                "error_examples": sorted(set(errors))[:3],
                "wrong_token_counts": sum(1 for s in samples if s.tokens != SCENARIO.tokens),
                "latency_ms": summarize_ms([s.latency for s in samples]),
                "ttft_ms": summarize_ms([s.ttft for s in samples]),
                "tokens_per_s": round(
                    sum(b.load.tokens_in_window for b in group)
                    / sum(b.load.window_s for b in group),
                    1,
                ),
                "gateway_cpu_cores": round(gateway_cpu / wall, 3) if target != DIRECT else None,
                "gateway_cpu_us_per_token": (
                    round(gateway_cpu / tokens_total * 1e6, 1)
                    if target != DIRECT and tokens_total
                    else None
                ),
                "other_cpus": round(sum(b.other_cpus * b.wall_s for b in group) / wall, 2),
            }
        )
    return runs


def compare(
    runs: list[dict[str, Any]], levels: list[int], blocks: Sequence[Block] = ()
) -> list[dict[str, Any]]:
    """Each gateway against the direct run; Liftoff's added latency over LiteLLM's is judged
    on the median over rounds of the ratio within a round (both gateways and the direct
    run back to back), min and max beside it; pooled percentiles are recorded too."""
    paired = _paired_ratios(blocks)
    by_key = {(run["concurrency"], run["target"]): run for run in runs}
    rows = []
    for level in levels:
        direct = by_key.get((level, DIRECT))
        if direct is None or not direct["requests"]:
            continue
        row: dict[str, Any] = {"concurrency": level, "direct_tokens_per_s": direct["tokens_per_s"]}
        for target in (LIFTOFF, LITELLM):
            run = by_key.get((level, target))
            if run is None or not run["requests"]:
                continue
            row[target] = {
                "added_latency_ms": _difference(run["latency_ms"], direct["latency_ms"]),
                "ttft_overhead_ms": _difference(run["ttft_ms"], direct["ttft_ms"]),
                "tokens_per_s": run["tokens_per_s"],
                "throughput_ratio": round(run["tokens_per_s"] / direct["tokens_per_s"], 4),
                "cpu_us_per_token": run["gateway_cpu_us_per_token"],
                "errors": run["errors"] + run["wrong_token_counts"],
            }
        if LIFTOFF in row and LITELLM in row:
            ours, theirs = row[LIFTOFF]["added_latency_ms"], row[LITELLM]["added_latency_ms"]
            row["added_latency_ratio_pooled"] = {
                q: _ratio(ours[q], theirs[q]) for q in ("p50", "p99")
            }
            if level in paired:
                row["added_latency_ratio_paired"] = paired[level]
                row["added_latency_ratio"] = {q: paired[level][q]["median"] for q in paired[level]}
            else:
                row["added_latency_ratio"] = row["added_latency_ratio_pooled"]
        rows.append(row)
    return rows


def _paired_ratios(blocks: Sequence[Block]) -> dict[int, dict[str, dict[str, Any]]]:
    """Per concurrency, per quantile: Liftoff / LiteLLM added latency, one value a round."""
    figures: dict[tuple[int, int, str], dict[str, float]] = {}
    for block in blocks:
        latency = summarize_ms([s.latency for s in block.load.samples])
        figures[(block.round_index, block.concurrency, block.target)] = latency
    found: dict[int, dict[str, list[float]]] = {}
    for (index, level, target), direct in figures.items():
        ours = figures.get((index, level, LIFTOFF))
        theirs = figures.get((index, level, LITELLM))
        if target != DIRECT or ours is None or theirs is None or "p50" not in direct:
            continue
        for q in ("p50", "p99"):
            ratio = _ratio(ours[q] - direct[q], theirs[q] - direct[q])
            found.setdefault(level, {}).setdefault(q, []).append(ratio)
    return {level: {q: spread(v) for q, v in qs.items()} for level, qs in found.items()}


def _difference(gateway: dict[str, float], direct: dict[str, float]) -> dict[str, float]:
    return {q: round(gateway[q] - direct[q], 3) for q in ("p50", "p90", "p99")}


def _ratio(ours: float, theirs: float) -> float:
    """Liftoff's added latency over LiteLLM's (NaN when LiteLLM added none to compare to)."""
    if theirs <= 0:
        return math.nan
    return round(max(0.0, ours) / theirs, 4)


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    judged = []
    for row in result["comparison"]:
        ratio = row.get("added_latency_ratio")
        if ratio is None:
            continue
        paired = row.get("added_latency_ratio_paired", {})
        for q in ("p50", "p99"):
            values = paired.get(q)
            how = (
                f"; median of {values['n']} paired rounds, min {values['min']:g}, "
                f"max {values['max']:g}"
                if values
                else "; pooled over rounds"
            )
            judged.append(
                judge(
                    f"Liftoff / LiteLLM added latency {q}",
                    ratio[q],
                    round(MAX_RATIO, 4),
                    "x",
                    f"{row['concurrency']} stream{'s' if row['concurrency'] != 1 else ''}, "
                    f"{SCENARIO.inter_token_ms:g} ms/token, "
                    f"{SCENARIO.tokens} tokens{how}",
                )
            )
    errors = sum(
        row[t]["errors"] for row in result["comparison"] for t in (LIFTOFF, LITELLM) if t in row
    )
    judged.append(judge("errors through either gateway", errors, 0, "", "all runs"))
    return judged


def print_comparison(result: dict[str, Any]) -> None:
    table = Table(title="added latency vs the canned backend called directly")
    columns = (
        "streams", "gateway", "added p50 ms", "added p99 ms", "TTFT +p50 ms", "TTFT +p99 ms",
        "tokens/s", "CPU µs/token", "errors",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    for row in result["comparison"]:
        for target in (LIFTOFF, LITELLM):
            side = row.get(target)
            if side is None:
                continue
            added, ttft = side["added_latency_ms"], side["ttft_overhead_ms"]
            table.add_row(
                str(row["concurrency"]),
                target,
                f"{added['p50']:.2f}",
                f"{added['p99']:.2f}",
                f"{ttft['p50']:.2f}",
                f"{ttft['p99']:.2f}",
                f"{side['tokens_per_s']:.0f} ({side['throughput_ratio']:.0%})",
                f"{side['cpu_us_per_token'] or 0:.0f}",
                str(side["errors"]),
            )
    console.print(table)
    print_targets(result["targets"])


def parse_args(argv: Sequence[str] | None) -> Options:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.litellm_compare")
    parser.add_argument(
        "--concurrency",
        default=",".join(map(str, defaults.concurrency)),
        help="comma-separated stream counts (default %(default)s)",
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
    parser.add_argument(
        "--venv", type=Path, default=LITELLM_VENV, help="LiteLLM's environment (%(default)s)"
    )
    parser.add_argument("--gateway-src", type=Path, default=REPO)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    return Options(
        concurrency=[int(level) for level in args.concurrency.split(",")],
        duration_s=args.duration,
        rounds=max(1, args.rounds),
        warmup_s=args.warmup,
        pin=not args.no_pin,
        venv=args.venv.resolve(),
        gateway_src=args.gateway_src.resolve(),
        results_dir=args.results_dir,
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    options = parse_args(argv)
    try:
        result = run(options)
    except LiteLLMUnavailable as exc:
        console.print(
            f"LiteLLM comparison not run: {exc}", style="red", highlight=False, markup=False
        )
        raise SystemExit(2) from exc
    path = write_result(NAME, result, options.results_dir)
    print_comparison(result)
    console.print(f"wrote {path}")
    console.print(f"wrote {write_safety_markdown(options.results_dir)}")
    return result


if __name__ == "__main__":
    main()
