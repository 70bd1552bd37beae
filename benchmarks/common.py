"""What every benchmark shares: statistics, server processes, /proc readings, result files."""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from liftoff.server.processes import LOOPBACK, ServiceProcess, free_port

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"
# Other processes keeping more CPUs than this busy make a run's latencies unreliable.
BUSY_CPUS = 0.25

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_T = TypeVar("_T")

# Settings the benchmark's servers must not inherit from the shell that runs it.
_INHERITED_SETTINGS = ("LIFTOFF_", "OPENAI_", "OLLAMA_", "AIP_")
_INHERITED_NAMES = ("PORT",)


# --- statistics ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation, as numpy's default."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize_ms(seconds: Sequence[float]) -> dict[str, float]:
    """count, mean and percentiles of durations given in seconds, in milliseconds."""
    values = [value * 1000 for value in seconds if not math.isnan(value)]
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "mean": round(sum(values) / len(values), 3),
        "min": round(min(values), 3),
        "p50": round(percentile(values, 50), 3),
        "p90": round(percentile(values, 90), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(max(values), 3),
    }


def median(values: Iterable[float]) -> float:
    return percentile(list(values), 50)


def spread(values: Iterable[float], digits: int = 4) -> dict[str, Any]:
    """How a measurement repeated over paired runs came out: median, min, max, every value.

    Every ratio or difference a benchmark judges is one value per pair of runs (A and B
    alternating in one run, so drift in the machine's load falls on both alike), and the
    judgement is on the median of those values, min and max shown beside it: one lucky or
    unlucky run moves neither the verdict nor, unseen, the reader.
    """
    kept = [value for value in values if not math.isnan(value)]
    if not kept:
        return {"n": 0, "median": math.nan, "min": math.nan, "max": math.nan, "values": []}
    return {
        "n": len(kept),
        "median": round(median(kept), digits),
        "min": round(min(kept), digits),
        "max": round(max(kept), digits),
        "values": [round(value, digits) for value in kept],
    }


def format_spread(summary: Mapping[str, Any], fmt: str = "{:.2f}", unit: str = "") -> str:
    """``median (min-max)`` of a :func:`spread`, e.g. ``0.41 (0.38-0.52) ms``."""
    if not summary.get("n"):
        return "n/a"
    low, mid, high = (fmt.format(summary[key]) for key in ("min", "median", "max"))
    return f"{mid} ({low}-{high}){unit}"


def judge(
    name: str,
    measured: float,
    limit: float,
    unit: str,
    judged_on: str,
    *,
    at_least: bool = False,
) -> dict[str, Any]:
    """One target as results record it: at most ``limit`` (or at least, ``at_least``)."""
    return {
        "name": name,
        "target": f"{'>=' if at_least else '<='} {limit:g} {unit}",
        "measured": measured,
        "unit": unit,
        "pass": measured >= limit if at_least else measured <= limit,
        "judged_on": judged_on,
    }


# --- event loop ---------------------------------------------------------------------------


def run_async(coroutine: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coroutine`` on uvloop when it is installed (a lighter load generator)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


# --- processes ----------------------------------------------------------------------------


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without gateway settings, plus ``overrides``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(_INHERITED_SETTINGS) and key not in _INHERITED_NAMES
    }
    env.update(overrides)
    return env


class Server(ServiceProcess):
    """A server in a subprocess on a loopback port, optionally pinned to some CPUs (the
    package's one harness, ``liftoff.server.processes``, with the benchmarks' defaults).

    ``{port}`` in ``args`` becomes the port; ``cwd`` is where it runs, and so where ``liftoff``
    is imported from (``--gateway-src``); ``executable`` runs ``args`` (this Python by
    default). Entering waits until ``health`` answers 200.

    >>> command = ["-m", "uvicorn", "liftoff.api.main:app", "--port", "{port}"]
    >>> with Server(command, env=clean_env(), health="/readyz") as server:
    ...     httpx.get(server.url + "/healthz")
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        health: str,
        port: int | None = None,
        cpus: set[int] | None = None,
        ready_timeout: float = 60.0,
        cwd: Path = REPO,
        executable: str = sys.executable,
    ) -> None:
        self.port = port or free_port()
        self.args = [arg.replace("{port}", str(self.port)) for arg in args]
        super().__init__(
            [executable, *self.args],
            health_url=f"http://{LOOPBACK}:{self.port}{health}",
            env=env,
            cwd=cwd,
            cpus=cpus,
            ready_timeout=ready_timeout,
        )


# The gateway runs with authentication on, as a deployed one does; the key is the benchmark's.
API_KEY = "liftoff-benchmark-key"
AUTH_HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def gateway_env(**settings: str) -> dict[str, str]:
    """The environment for a gateway under test: its settings and one API key."""
    return clean_env(LIFTOFF_API_KEYS=API_KEY, **settings)


def source_info(src: Path) -> dict[str, Any]:
    """Where the gateway under test comes from: its directory and git commit, if known.

    A ``COMMIT`` file names the commit of a snapshot without ``.git``, such as one made
    with ``git archive HEAD api | tar -x -C DIR && git rev-parse HEAD > DIR/COMMIT``.
    """
    commit_file = src / "COMMIT"
    if commit_file.is_file():
        return {"path": str(src), "git_commit": commit_file.read_text().strip()}
    return {
        "path": str(src),
        "git_commit": _git("-C", str(src), "rev-parse", "HEAD"),
        "git_dirty": bool(_git("-C", str(src), "status", "--porcelain", "--untracked-files=no")),
    }


def cpu_split() -> tuple[set[int] | None, set[int] | None]:
    """(CPUs for the server under test, CPUs for everything else), or Nones on one CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


# --- /proc --------------------------------------------------------------------------------


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak RSS so far) of a process, in KiB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time a process has used, all its threads, in seconds (this process by default).

    Read from the process's CPU-time clock (the scheduler's exact runtime); ``/proc/<pid>/stat``
    counts whole clock ticks, which overcharges a process that wakes up on timer ticks.
    """
    pid = os.getpid() if pid is None else pid
    try:
        return time.clock_gettime(((~pid) << 3) | 2)  # clock_getcpuclockid(pid)
    except OSError:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        # Fields 14 and 15 of proc(5) (utime, stime); the slice starts at field 3.
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def system_busy_seconds() -> float:
    """CPU time spent by the whole machine, all CPUs, not idle, in seconds."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    # guest time is already counted in user time
    return (sum(fields[:8]) - idle) / _CLOCK_TICKS


def background_cpus(seconds: float = 1.0) -> float:
    """CPUs the rest of the machine keeps busy while this process sleeps (0 on a quiet one)."""
    before = system_busy_seconds()
    time.sleep(seconds)
    return round(max(0.0, system_busy_seconds() - before) / seconds, 2)


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and every process under it (a server's workers), in seconds."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += cpu_seconds(current)
        except (OSError, ValueError):
            continue  # ended meanwhile
        pending += children.get(current, [])
    return total


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


# --- results ------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "load_average_at_start": load_average(),
        # Other jobs on the machine compete for its CPUs: results are only comparable
        # between runs where this is near 0.
        "background_cpus_at_start": background_cpus(),
        "packages": _versions(*_PACKAGES.split()),
    }


_PACKAGES = "fastapi starlette uvicorn uvloop httptools h11 httpx openai pydantic xllamacpp"


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _versions(*names: str) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def write_result(name: str, payload: Mapping[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    """Write ``results_dir/<name>.json`` atomically (a reader never sees half a file)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    target = results_dir / f"{name}.json"
    partial = target.with_suffix(".json.tmp")
    partial.write_text(json.dumps(payload, indent=2) + "\n")
    partial.replace(target)
    return target


def read_result(name: str, results_dir: Path = RESULTS_DIR) -> dict[str, Any] | None:
    path = results_dir / f"{name}.json"
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data
