"""``python -m benchmarks`` (``make bench``): every benchmark, then the Markdown table.

Each benchmark also runs alone (``python -m benchmarks.gateway_overhead --help``)::

    python -m benchmarks            # 11-15 minutes on 2 cores (longer on a busy machine)
    python -m benchmarks --quick    # about 3 minutes: shorter runs, fewer repetitions

The LiteLLM comparison installs LiteLLM's proxy into ``.cache/bench-litellm/`` the first
time (its own environment); ``--skip-litellm`` leaves it out.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import (
    embedded_throughput,
    embeddings,
    gateway_overhead,
    litellm_compare,
    load,
    report_load,
    retrieval,
    scoring,
)
from benchmarks.common import RESULTS_DIR
from benchmarks.report import write_markdown, write_safety_markdown


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    parser.add_argument("--skip-embedded", action="store_true", help="no llama.cpp benchmark")
    parser.add_argument(
        "--skip-embeddings", action="store_true", help="no embedding-throughput benchmark"
    )
    parser.add_argument("--skip-overhead", action="store_true", help="no gateway overhead")
    parser.add_argument("--skip-load", action="store_true", help="no sustained-load run")
    parser.add_argument(
        "--skip-litellm", action="store_true", help="no comparison with LiteLLM's proxy"
    )
    parser.add_argument("--skip-scoring", action="store_true", help="no scoring benchmark")
    parser.add_argument(
        "--skip-retrieval", action="store_true", help="no retrieval-store benchmark"
    )
    parser.add_argument(
        "--skip-report-load", action="store_true", help="no /healthz-under-report-load run"
    )
    parser.add_argument(
        "--gateway-src", help="directory whose api/ package the gateway runs (default: here)"
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS_DIR, help="where results go (%(default)s)"
    )
    args = parser.parse_args(argv)
    source = ["--gateway-src", args.gateway_src] if args.gateway_src else []
    source += ["--results-dir", str(args.results_dir)]
    started = time.monotonic()
    if not args.skip_overhead:
        quick = ["--duration", "2", "--rounds", "1"] if args.quick else []
        gateway_overhead.main([*quick, *source], render=False)
    if not args.skip_embedded:
        quick = ["--reps", "2", "--max-tokens", "48"] if args.quick else []
        embedded_throughput.main([*quick, *source], render=False)
    if not args.skip_embeddings:
        quick = ["--rounds", "2", "--batch", "8"] if args.quick else []
        embeddings.main([*quick, "--results-dir", str(args.results_dir)])
    if not args.skip_load:
        small = ["--clients", "48", "--duration", "10", "--max-concurrency", "8"]
        quick = [*small, "--max-queue", "8", "--rpm", "60"] if args.quick else []
        load.main([*quick, *source])
    if not args.skip_scoring:
        quick = ["--pairs", "1000", "--rounds", "2"] if args.quick else []
        scoring.main([*quick, "--results-dir", str(args.results_dir)])
    if not args.skip_report_load:
        quick = ["--examples", "20000", "--small-runs", "99"] if args.quick else []
        report_load.main([*quick, "--results-dir", str(args.results_dir)])
    if not args.skip_retrieval:
        rounds = ["--rounds", "1"] if args.quick else ["--service"]
        retrieval.main([*rounds, "--results-dir", str(args.results_dir)])
    failed = None
    if not args.skip_litellm:
        quick = ["--duration", "2", "--rounds", "1", "--concurrency", "1,16"] if args.quick else []
        try:
            litellm_compare.main([*quick, *source])
        except SystemExit as exc:  # LiteLLM could not run here: say so at the end, too
            failed = exc
    path = write_markdown(args.results_dir)
    print(f"wrote {path} and {write_safety_markdown(args.results_dir)}")
    print(f"({time.monotonic() - started:.0f} s in all)")
    if failed is not None:
        print("the LiteLLM comparison did not run (see above)")
        raise SystemExit(failed.code)


if __name__ == "__main__":
    main()
