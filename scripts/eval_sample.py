"""``make eval``: the sample dataset against the local embedded model, gated on its scores.

    python scripts/eval_sample.py                      # starts a gateway, runs, stops it
    python scripts/eval_sample.py --target http://127.0.0.1:8000/v1   # a gateway already up
    python scripts/eval_sample.py -- --baseline RUN_ID --max-drop 2   # more `eval run` options

Starts ``uvicorn liftoff.api.main:app`` on a free loopback port with the configured backend (the
embedded Gemma 3 270M by default), waits for ``/readyz``, runs ``liftoff eval run`` on
``examples/sample-qa.jsonl`` greedily (temperature 0, seed 0, one request at a time) with the
gates below, stops the gateway, and exits with the run's code: 0 pass, 1 a gate failed, 2
usage. The report, JUnit XML and JSON land in ``build/eval/``; with ``GITHUB_STEP_SUMMARY``
set, a Markdown summary is appended there too.

The gates sit well below what Gemma 3 270M (base, Q4_K_M) scores on the sample with these
settings (BLEU 41.5, chrF 71.5, ROUGE-L 0.698, METEOR 0.699; 41.5-43.0 BLEU seen across
gateway restarts and request orders), leaving a margin for other CPUs and llama.cpp builds.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO / "examples" / "sample-qa.jsonl"
OUT = REPO / "build" / "eval"
GATES = ("bleu>=30", "chrf>=60", "rougeL>=0.55", "meteor>=0.55")
# Greedy, seeded, one request at a time: a fresh gateway then answers identically every run
# (with requests in parallel, llama.cpp's slot and prompt-cache reuse can flip a near tie).
GENERATION = (
    "--max-tokens", "24", "--stop", "\n", "--temperature", "0", "--seed", "0",
    "--concurrency", "1",
)  # fmt: skip
READY_TIMEOUT_S = 300.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", help="use this OpenAI-compatible base URL; start nothing")
    parser.add_argument("extra", nargs="*", help="further `liftoff eval run` options, after --")
    args = parser.parse_args(argv)
    if args.target:
        return run_eval(args.target, args.extra)
    port = free_port()
    gateway = start_gateway(port)
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", gateway)
        return run_eval(f"http://127.0.0.1:{port}/v1", args.extra)
    finally:
        stop(gateway)


def run_eval(target: str, extra: Sequence[str]) -> int:
    command = [
        sys.executable, "-m", "liftoff", "eval", "run", str(DATASET),
        "--target", target, *GENERATION,
        *(option for gate in GATES for option in ("--gate", gate)),
        "--report", str(OUT / "report.html"), "--junit", str(OUT / "junit.xml"),
        "--json", str(OUT / "run.json"), *extra,
    ]  # fmt: skip
    keys = os.environ.get("LIFTOFF_API_KEYS", "")
    if keys and "--api-key" not in extra:
        command += ["--api-key", keys.split(",")[0].strip()]  # the gateway we start wants one
    return subprocess.run(command, cwd=REPO, check=False).returncode


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_gateway(port: int) -> subprocess.Popen[bytes]:
    print(f"starting the gateway on 127.0.0.1:{port} (the first start assembles the model)")
    command = [
        sys.executable, "-m", "uvicorn", "liftoff.api.main:app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    env = {"LIFTOFF_LOG_FORMAT": "text", "LIFTOFF_LOG_LEVEL": "WARNING", **os.environ}
    return subprocess.Popen(command, cwd=REPO, env=env)


def wait_ready(url: str, gateway: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if gateway.poll() is not None:
            raise SystemExit(f"the gateway exited with code {gateway.returncode}; see above")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass  # not listening or not ready yet
        time.sleep(0.5)
    raise SystemExit(f"the gateway was not ready after {READY_TIMEOUT_S:.0f} s")


def stop(gateway: subprocess.Popen[bytes]) -> None:
    if gateway.poll() is None:
        gateway.send_signal(signal.SIGINT)
        try:
            gateway.wait(timeout=20)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait()


if __name__ == "__main__":
    raise SystemExit(main())
