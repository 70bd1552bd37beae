"""Results for people: console tables, and ``benchmarks/results/gateway.md``, a short
Markdown table for the README.

Every benchmark run writes the Markdown; to re-render it from the JSON files there::

    python -m benchmarks.report
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.common import BUSY_CPUS, RESULTS_DIR, format_spread, read_result

MARKDOWN = "gateway.md"
console = Console()
OVERHEAD = "gateway_overhead"
EMBEDDED = "embedded_throughput"


def render(overhead: dict[str, Any] | None, embedded: dict[str, Any] | None) -> str:
    lines = ["## Gateway benchmarks", ""]
    machine = (overhead or embedded or {}).get("machine")
    if machine is None:
        return "\n".join([*lines, "No results yet: run `make bench`.", ""])
    for result, command in (
        (overhead, "python -m benchmarks.gateway_overhead"),
        (embedded, "python -m benchmarks.embedded_throughput"),
    ):
        if result is not None:
            lines += [_machine_line(result["machine"], command), ""]
    lines += [
        "| metric | target | measured | result |",
        "|---|---|---|---|",
    ]
    for result in (overhead, embedded):
        for row in (result or {}).get("targets", []):
            verdict = "pass" if row["pass"] else "**FAIL**"
            target = row["target"].replace("<=", "≤").replace(">=", "≥")
            lines.append(
                f"| {row['name']} ({row['judged_on']}) | {target} "
                f"| {row['measured']:.2f} {row['unit']} | {verdict} |"
            )
    if embedded is not None:
        config = embedded["config"]
        pairs = ", ".join(f"{value:.0f}%" for value in embedded.get("paired_ratios_percent", []))
        best = embedded.get("best_tokens_per_s", {})
        paired = embedded.get("paired_ratio_percent") or {}
        lines += [
            "",
            f"Embedded model, gateway / direct: median of paired runs "
            f"{format_spread(paired, '{:.0f}', '%')} (min-max), repetition by repetition: "
            f"{pairs}. Medians {embedded['gateway']['median_tokens_per_s']:.1f} tokens/s "
            f"through the gateway and {embedded['direct']['median_tokens_per_s']:.1f} calling "
            f"llama.cpp in-process; fastest runs {best.get('gateway', 0):.1f} and "
            f"{best.get('direct', 0):.1f} (shown beside, not judged). "
            f"{config['max_tokens']} tokens a run, "
            f"{config.get('repetitions_done', config['repetitions'])} runs each, same text both "
            f"ways: {'yes' if embedded['same_text'] else 'no'}.",
        ]
    if overhead is not None:
        lines += ["", *_overhead_table(overhead)]
    lines.append("")
    return "\n".join(lines)


def _overhead_table(overhead: dict[str, Any]) -> list[str]:
    config = overhead.get("config", {})
    baseline = config.get("baseline_src")
    lines = [
        "Gateway against the canned backend called directly (closed loop, same request; "
        "gateway pinned to its own CPU; uvicorn's default uvloop + httptools). Each value is "
        f"the median over {config.get('rounds', '?')} rounds of the gateway's block against "
        "the direct block of the same round (run back to back), min-max in brackets.",
        "",
        "| scenario | gateway | streams | direct tokens/s | forwarded (gateway / direct) "
        "| added latency p50 | added latency p99 | TTFT overhead p50 | gateway CPU per token "
        "| CPUs needed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    shown = {"uvloop+httptools": "this commit"}
    if baseline:
        commit = (baseline.get("git_commit") or "unknown")[:10]
        shown["baseline"] = f"baseline {commit}"
    others: list[float] = []
    for name, scenario in overhead["scenarios"].items():
        about = scenario["scenario"]
        label = (
            f"{name} ({about['inter_token_ms']:g} ms/token, {about['tokens']} tokens)"
            if about["inter_token_ms"]
            else f"{name} (no gap, {about['tokens']} tokens)"
        )
        runs = {(run["concurrency"], run["target"]): run for run in scenario["runs"]}
        others += [run["cpu_cores"]["other"] for run in scenario["runs"]]
        rows = sorted(
            (row for row in scenario["overhead"] if row["flavour"] in shown),
            key=lambda row: (row["concurrency"], list(shown).index(row["flavour"])),
        )
        for row in rows:
            direct = runs[(row["concurrency"], "direct")]
            paired = row.get("paired")
            if paired is None:  # a result written before pairing: pooled figures only
                continue
            lines.append(
                f"| {label} | {shown[row['flavour']]} | {row['concurrency']} "
                f"| {direct['tokens_per_s']:,.0f} "
                f"| {format_spread(_percent(paired['throughput_ratio']), '{:.1f}', '%')} "
                f"| {format_spread(paired['added_latency_p50_ms'], unit=' ms')} "
                f"| {format_spread(paired['added_latency_p99_ms'], unit=' ms')} "
                f"| {format_spread(paired['ttft_overhead_p50_ms'], unit=' ms')} "
                f"| {format_spread(paired['gateway_cpu_us_per_token'], '{:.0f}', ' µs')} "
                f"| {row.get('cpus_needed', 0):.2f} |"
            )
    rss = overhead.get("rss", {}).get("uvloop+httptools", {})
    background = sum(others) / max(1, len(others))
    lines += [
        "",
        "CPUs needed: the gateway's median CPU time per token times the tokens/s the backend "
        "streams directly; the gateway's event loop is one thread, so above 1 it cannot keep "
        "up whatever the machine, and well below 1 is needed for low tail latency.",
        "",
        f"Gateway RSS: {rss.get('idle_mb', 0):.0f} MB after start, peak "
        f"{rss.get('hwm_mb', 0):.0f} MB. Other processes on the machine kept "
        f"{background:.2f} CPUs busy on average during the runs"
        + (
            " — latencies above include waiting for a CPU they held."
            if background > BUSY_CPUS
            else "."
        ),
    ]
    return lines


def _percent(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value * 100 if key in ("median", "min", "max") else value
        for key, value in summary.items()
    }


def write_markdown(results_dir: Path = RESULTS_DIR) -> Path:
    text = render(read_result(OVERHEAD, results_dir), read_result(EMBEDDED, results_dir))
    path = results_dir / MARKDOWN
    results_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


_RUN_COLUMNS = (
    "streams", "target", "requests", "errors", "latency p50/p99 ms", "TTFT p50/p99 ms",
    "tokens/s", "gateway µs/token",
)  # fmt: skip
_OVERHEAD_COLUMNS = (
    "flavour", "streams", "added p50 ms", "added p99 ms", "TTFT +p50 ms", "TTFT +p99 ms",
    "throughput",
)  # fmt: skip


def print_overhead(result: dict[str, Any]) -> None:
    """The gateway overhead results as console tables."""
    for name, scenario in result["scenarios"].items():
        table = Table(title=f"{name}: {scenario['scenario']['about']}")
        for column in _RUN_COLUMNS:
            table.add_column(column, justify="right")
        for run in scenario["runs"]:
            latency, ttft = run["latency_ms"], run["ttft_ms"]
            table.add_row(
                str(run["concurrency"]),
                run["target"],
                str(run["requests"]),
                str(run["errors"] + run["wrong_token_counts"]),
                f"{latency.get('p50', 0):.2f} / {latency.get('p99', 0):.2f}",
                f"{ttft.get('p50', 0):.2f} / {ttft.get('p99', 0):.2f}",
                f"{run['tokens_per_s']:.0f}",
                f"{run['gateway_cpu_us_per_token'] or 0:.0f}",
            )
        console.print(table)
        overhead = Table(title=f"{name}: gateway minus direct")
        for column in _OVERHEAD_COLUMNS:
            overhead.add_column(column, justify="right")
        for row in scenario["overhead"]:
            added, ttft = row["added_latency_ms"], row["ttft_overhead_ms"]
            overhead.add_row(
                row["flavour"],
                str(row["concurrency"]),
                f"{added['p50']:.2f}",
                f"{added['p99']:.2f}",
                f"{ttft['p50']:.2f}",
                f"{ttft['p99']:.2f}",
                f"{row['throughput_ratio']:.1%}",
            )
        console.print(overhead)
    for flavour, rss in result["rss"].items():
        console.print(f"gateway RSS ({flavour}): {rss}", highlight=False)
    print_targets(result["targets"])


def print_targets(judged: list[dict[str, Any]]) -> None:
    table = Table(title="targets")
    for column in ("metric", "target", "measured", "result", "judged on"):
        table.add_column(column)
    for row in judged:
        verdict = "[green]pass[/green]" if row["pass"] else "[red]FAIL[/red]"
        measured = f"{row['measured']:.2f} {row['unit']}"
        table.add_row(row["name"], row["target"], measured, verdict, row["judged_on"])
    console.print(table)


def print_embedded(result: dict[str, Any]) -> None:
    """The embedded throughput results as a console table."""
    table = Table(title=f"embedded model: {Path(result['config']['model']).name}")
    columns = ("side", "tokens/s, fastest", "median", "decode median", "TTFT median ms")
    for column in columns:
        table.add_column(column, justify="right")
    for side in ("direct", "gateway"):
        summary = result[side]
        table.add_row(
            side,
            f"{result['best_tokens_per_s'][side]:.1f}",
            f"{summary['median_tokens_per_s']:.1f}",
            f"{summary['median_decode_tokens_per_s']:.1f}",
            f"{summary['median_ttft_ms']:.1f}",
        )
    console.print(table)
    best = result["best_tokens_per_s"]
    console.print(
        f"gateway / direct, median of paired runs: "
        f"{format_spread(result.get('paired_ratio_percent') or {}, '{:.1f}', '%')}; run by run: "
        f"{result['paired_ratios_percent']}; fastest runs (beside, not judged): "
        f"{best['gateway']:.1f} / {best['direct']:.1f} tokens/s; same text: {result['same_text']}",
        highlight=False,
    )


# --- benchmarks/results/safety.md: sustained load and the LiteLLM comparison --------------

SAFETY_MARKDOWN = "safety.md"
LOAD = "load"
LITELLM_COMPARE = "litellm_compare"


def render_safety(load: dict[str, Any] | None, compare: dict[str, Any] | None) -> str:
    lines = ["## Safety under load", ""]
    if load is None and compare is None:
        return "\n".join([*lines, "No results yet: run `make bench`.", ""])
    if load is not None:
        lines += [*_load_section(load), ""]
    if compare is not None:
        lines += [*_compare_section(compare), ""]
    return "\n".join(lines)


def _machine_line(machine: dict[str, Any], command: str) -> str:
    commit = (machine.get("git_commit") or "unknown")[:10]
    if machine.get("git_dirty"):
        commit += " + local changes"
    return (
        f"`{command}` on {machine.get('cpu_model') or 'an unknown CPU'}, "
        f"{machine.get('cpu_count')} CPUs, Python {machine.get('python')}, commit {commit}, "
        f"{machine.get('timestamp')}; load: other processes kept "
        f"{machine.get('background_cpus_at_start', 0):.2f} CPUs busy at the start, load "
        f"average {_loads(machine.get('load_average_at_start'))} at the start and "
        f"{_loads(machine.get('load_average_at_end'))} at the end."
    )


def _loads(values: list[float] | None) -> str:
    return " / ".join(f"{value:.2f}" for value in values) if values else "unknown"


def _target_rows(judged: list[dict[str, Any]]) -> list[str]:
    rows = ["| metric | target | measured | result |", "|---|---|---|---|"]
    for row in judged:
        verdict = "pass" if row["pass"] else "**FAIL**"
        target = row["target"].replace("<=", "≤").replace(">=", "≥").strip()
        unit = f" {row['unit']}" if row["unit"] else ""
        rows.append(
            f"| {row['name']} ({row['judged_on']}) | {target} "
            f"| {row['measured']:g}{unit} | {verdict} |"
        )
    return rows


def _load_section(load: dict[str, Any]) -> list[str]:
    config = load["config"]
    latency, ttft, throughput = load["latency_ms"], load["ttft_ms"], load["throughput"]
    rss, scrapes = load["rss"], load["metrics_scrapes"]
    statuses = ", ".join(f"{status}: {count:,}" for status, count in load["statuses"].items())
    return [
        "### Sustained load",
        "",
        _machine_line(
            load["machine"],
            f"python -m benchmarks.load --clients {config['clients']} "
            f"--duration {config['duration_s']:g}",
        ),
        "",
        f"{config['clients']} streaming clients (chat completions, {config['tokens']} tokens, "
        f"a token every {config['inter_token_ms']:g} ms from the canned backend) for "
        f"{config['duration_s']:g} s through `uvicorn liftoff.api.main:app`: "
        f"{config['keys']} API keys "
        f"(one shared by half the clients), {config['rate_limit_rpm']} requests and "
        f"{config['rate_limit_tpm']:,} tokens per minute per key, "
        f"{config['max_concurrency']} generations at once plus {config['max_queue']} queued, "
        f"`/metrics` scraped every {config['scrape_every_s']:g} s. Clients wait what "
        "`Retry-After` says after a 429 or 503.",
        "",
        *_target_rows(load["targets"]),
        "",
        "| answers | statuses | completed streams latency p50 / p99 | TTFT p50 / p99 "
        "| completed req/s | tokens/s | gateway RSS first → last 10 s | gateway CPU |",
        "|---|---|---|---|---|---|---|---|",
        f"| {load['requests']:,} | {statuses} "
        f"| {latency.get('p50', 0):.1f} / {latency.get('p99', 0):.1f} ms "
        f"| {ttft.get('p50', 0):.1f} / {ttft.get('p99', 0):.1f} ms "
        f"| {throughput['completed_requests_per_s']:.1f} | {throughput['tokens_per_s']:,.0f} "
        f"| {rss['first_window_mean_mb']:.1f} → {rss['last_window_mean_mb']:.1f} MB "
        f"({rss['growth_percent']:+.1f} %) | {load['cpu_cores'].get('gateway', 0):.2f} cores, "
        f"{load.get('gateway_cpu_us_per_token') or 0:.0f} µs/token |",
        "",
        f"Latency includes waiting in the gateway's queue. `/metrics`: {scrapes['count']} "
        f"scrapes, {scrapes['failed']} failed, p99 {scrapes['latency_ms'].get('p99', 0):.1f} ms; "
        f"Retry-After values sent: {load['retry_after_values']}. Other processes kept "
        f"{load['cpu_cores'].get('other', 0):.2f} CPUs busy during the run.",
    ]


def _compare_section(compare: dict[str, Any]) -> list[str]:
    config = compare["config"]
    scenario = config["scenario"]
    lines = [
        "### Liftoff against LiteLLM's proxy",
        "",
        _machine_line(compare["machine"], "python -m benchmarks.litellm_compare"),
        "",
        f"Same streaming chat request ({scenario['tokens']} tokens, a token every "
        f"{scenario['inter_token_ms']:g} ms) to the canned backend directly, through Liftoff "
        f"(auth and metrics on) and through LiteLLM's proxy (`{config['litellm']['package']}`, "
        "master key, one worker, no database, offline); closed loop, each gateway pinned to "
        f"the same CPU, {config['rounds']} rounds of {config['duration_s_per_target']:g} s per "
        "target and concurrency in all. Added latency: gateway percentile minus direct one.",
        "",
        *_target_rows(compare["targets"]),
        "",
        "| streams | gateway | tokens/s (vs direct) | added latency p50 / p99 "
        "| TTFT overhead p50 / p99 | CPU per token | Liftoff / LiteLLM added p50 / p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in compare["comparison"]:
        ratio = row.get("added_latency_ratio", {})
        for target in ("liftoff", "litellm"):
            side = row.get(target)
            if side is None:
                continue
            added, ttft = side["added_latency_ms"], side["ttft_overhead_ms"]
            ratios = (
                f"{ratio.get('p50', float('nan')):.2f} / {ratio.get('p99', float('nan')):.2f}"
                if target == "liftoff" and ratio
                else ""
            )
            lines.append(
                f"| {row['concurrency']} | {target} | {side['tokens_per_s']:,.0f} "
                f"({side['throughput_ratio']:.0%}) | {added['p50']:.2f} / {added['p99']:.2f} ms "
                f"| {ttft['p50']:.2f} / {ttft['p99']:.2f} ms "
                f"| {side['cpu_us_per_token'] or 0:.0f} µs | {ratios} |"
            )
    rss = compare.get("rss_mb", {})
    lines += [
        "",
        f"Peak RSS: Liftoff {rss.get('liftoff_hwm_mb', 0):.0f} MB, LiteLLM "
        f"{rss.get('litellm_hwm_mb', 0):.0f} MB. Other processes kept "
        f"{compare.get('background_cpus', 0):.2f} CPUs busy on average during the runs.",
    ]
    return lines


def write_safety_markdown(results_dir: Path = RESULTS_DIR) -> Path:
    text = render_safety(read_result(LOAD, results_dir), read_result(LITELLM_COMPARE, results_dir))
    path = results_dir / SAFETY_MARKDOWN
    results_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


if __name__ == "__main__":
    print(f"wrote {write_markdown()}")
    print(f"wrote {write_safety_markdown()}")
