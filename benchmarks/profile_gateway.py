"""Where the gateway's CPU goes per forwarded token: one load, its CPU time, optionally a profile.

    python -m benchmarks.profile_gateway                         # 64 realistic streams, 10 s
    python -m benchmarks.profile_gateway --streams 64 --py-spy /path/to/py-spy --out build/prof

The canned backend streams (a token every 20 ms, 32 tokens, as ``gateway_overhead``'s
realistic scenario); the gateway runs as ``uvicorn liftoff.api.main:app`` (uvloop +
httptools, one API key) from ``--gateway-src``; this process is the load generator. The
result is the gateway's CPU time (its CPU-time clock) over the tokens it forwarded: unlike
latencies, it barely depends on what else the machine runs. With ``--py-spy`` (py-spy is a
profiler, not a dependency of Liftoff: install it anywhere, e.g.
``uv pip install --target /tmp/pyspy py-spy``) the gateway is sampled meanwhile without
being stopped (``--nonblocking``) and the collapsed stacks go to ``--out``, with a summary
of the functions with the most samples, self and inclusive.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.canned_backend import MODEL
from benchmarks.common import (
    AUTH_HEADERS,
    LOOPBACK,
    REPO,
    Server,
    background_cpus,
    clean_env,
    cpu_seconds,
    gateway_env,
    run_async,
)
from benchmarks.gateway_overhead import SCENARIOS, request_body
from benchmarks.loadgen import closed_loop


def measure(
    streams: int, seconds: float, gateway_src: Path, py_spy: str | None, out: Path
) -> dict[str, Any]:
    scenario = SCENARIOS["realistic"]
    canned = [
        "-m", "benchmarks.canned_backend", "--port", "{port}",
        "--inter-token-ms", str(scenario.inter_token_ms), "--tokens", str(scenario.tokens),
    ]  # fmt: skip
    path, body = request_body(scenario, "chat")
    with Server(canned, env=clean_env(), health="/v1/models") as backend:
        env = gateway_env(
            LIFTOFF_BACKEND="openai", OPENAI_BASE_URL=f"{backend.url}/v1", LIFTOFF_MODEL=MODEL
        )
        command = [
            "-m", "uvicorn", "liftoff.api.main:app", "--host", LOOPBACK, "--port", "{port}",
            "--loop", "uvloop", "--http", "httptools",
        ]  # fmt: skip
        with Server(command, env=env, health="/readyz", cwd=gateway_src) as gateway:
            # Warm up: imports, pools, first-request paths.
            run_async(_load(gateway.port, path, body, streams, 1.0, scenario.request_s))
            profiler = None
            if py_spy:
                out.mkdir(parents=True, exist_ok=True)
                record = [
                    py_spy, "record", "--pid", str(gateway.pid), "--nonblocking",
                    "--rate", "200", "--format", "raw", "--duration", str(int(seconds + 2)),
                    "--output", str(out / "gateway.collapsed"),
                ]  # fmt: skip
                profiler = subprocess.Popen(
                    record,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(0.5)
            before = cpu_seconds(gateway.pid)
            busy = background_cpus(0.2)
            tokens, wall = run_async(
                _load(gateway.port, path, body, streams, seconds, scenario.request_s)
            )
            used = cpu_seconds(gateway.pid) - before
            if profiler is not None:
                profiler.wait(timeout=seconds + 30)
    result = {
        "streams": streams,
        "seconds": round(wall, 2),
        "tokens": tokens,
        "gateway_cpu_s": round(used, 3),
        "gateway_cpu_us_per_token": round(used / tokens * 1e6, 1) if tokens else None,
        "gateway_cpus": round(used / wall, 3),
        "background_cpus_before": busy,
        "gateway_src": str(gateway_src),
    }
    if py_spy:
        result["profile"] = summarize(out / "gateway.collapsed")
    return result


async def _load(
    port: int, path: str, body: bytes, streams: int, seconds: float, stagger: float
) -> tuple[int, float]:
    started = time.perf_counter()
    load = await closed_loop(
        LOOPBACK,
        port,
        path,
        body,
        concurrency=streams,
        warmup_s=0.0,
        duration_s=seconds,
        stagger_s=stagger,
        headers=AUTH_HEADERS,
    )
    return load.tokens_total, time.perf_counter() - started


def summarize(collapsed: Path, top: int = 25) -> dict[str, Any]:
    """The functions with the most samples in py-spy's raw (collapsed) output, self and
    inclusive, as percentages of the samples where the gateway was running."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")]
        if "idle" in frames[-1] or any("select (" in frame for frame in frames[-1:]):
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def share(counter: collections.Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)]

    return {"samples": total, "self_percent": share(own), "inclusive_percent": share(inclusive)}


def _short(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    name, _, where = frame.partition(" (")
    module = where.rstrip(")").rsplit("/", 1)[-1].split(":")[0]
    return f"{name} ({module})" if module else name


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_gateway")
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--gateway-src", type=Path, default=REPO)
    parser.add_argument("--py-spy", help="path of a py-spy executable: also profile")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "profile")
    args = parser.parse_args(argv)
    result = measure(args.streams, args.seconds, args.gateway_src.resolve(), args.py_spy, args.out)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
