"""``python -m benchmarks`` (``make bench``): every benchmark, then the Markdown table.

Each benchmark also runs alone (``python -m benchmarks.gateway_overhead --help``)::

    python -m benchmarks            # 6-9 minutes on 2 cores (longer on a busy machine)
    python -m benchmarks --quick    # about 2 minutes: shorter runs, fewer repetitions
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import embedded_throughput, gateway_overhead
from benchmarks.common import RESULTS_DIR
from benchmarks.report import write_markdown


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    parser.add_argument("--skip-embedded", action="store_true", help="no llama.cpp benchmark")
    parser.add_argument("--skip-overhead", action="store_true", help="no gateway overhead")
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
    path = write_markdown(args.results_dir)
    print(f"wrote {path} ({time.monotonic() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
