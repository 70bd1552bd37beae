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
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from liftoff.api.config import get_settings
from liftoff.server.processes import (
    LOOPBACK,
    ServiceExited,
    ServiceNotReady,
    ServiceProcess,
    free_port,
    uvicorn_command,
)

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
    print(f"starting the gateway on {LOOPBACK}:{port} (the first start assembles the model)")
    command = uvicorn_command("liftoff.api.main:app", port=port, options=("--log-level", "warning"))
    env = {"LIFTOFF_LOG_FORMAT": "text", "LIFTOFF_LOG_LEVEL": "WARNING", **os.environ}
    gateway = ServiceProcess(
        command, health_url=f"http://{LOOPBACK}:{port}/readyz", name="the gateway", env=env,
        cwd=REPO, log="inherit", ready_timeout=READY_TIMEOUT_S,
    )  # fmt: skip
    try:
        with gateway:
            return run_eval(f"{gateway.url}/v1", args.extra)
    except (ServiceExited, ServiceNotReady) as exc:
        raise SystemExit(f"{exc}; see above") from None


def run_eval(target: str, extra: Sequence[str]) -> int:
    command = [
        sys.executable, "-m", "liftoff", "eval", "run", str(DATASET),
        "--target", target, *GENERATION,
        *(option for gate in GATES for option in ("--gate", gate)),
        "--report", str(OUT / "report.html"), "--junit", str(OUT / "junit.xml"),
        "--json", str(OUT / "run.json"), *extra,
    ]  # fmt: skip
    keys = get_settings().load_api_keys()  # LIFTOFF_API_KEYS, then LIFTOFF_API_KEYS_FILE
    if keys and "--api-key" not in extra:
        command += ["--api-key", keys[0]]  # the gateway wants one
    return subprocess.run(command, cwd=REPO, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
