"""``liftoff eval``: score files, or run a dataset against an endpoint and gate on the scores.

    liftoff eval score --predictions p.jsonl --references r.jsonl --metrics bleu,rougeL
    liftoff eval score --predictions p.jsonl --retrieved c.jsonl --passages a.jsonl -m mrr@4
    liftoff eval run examples/sample.jsonl --target http://127.0.0.1:8000/v1 \\
        --gate "bleu>=20" --gate "rougeL>=0.35" --baseline RUN_OR_FILE --max-drop 2 \\
        --report out.html --junit out.xml --json out.json

Runs happen in this process with the evaluation library (no service needed) and are kept in
the same store as the service's (``LIFTOFF_EVAL_DATABASE_URL``, else ``LIFTOFF_EVAL_STORE``),
so a run id can be a baseline.
Exit codes: 0 all gates pass, 1 a gate or the regression check fails (or the run could not
be completed), 2 a usage error (bad option, gate, dataset line, or an unusable target).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from liftoff.evaluation.config import Settings
from liftoff.evaluation.errors import EvaluationError, InvalidInput
from liftoff.evaluation.metrics import (
    DEFAULT_METRICS,
    Score,
    ScoreOptions,
    canonical_metrics,
    score,
)
from liftoff.evaluation.metrics.inputs import needed_inputs
from liftoff.evaluation.reports.document import load_run_document, run_document
from liftoff.evaluation.reports.html import load_report, render_report
from liftoff.evaluation.reports.junit import render_junit
from liftoff.evaluation.reports.markdown import render_summary
from liftoff.evaluation.reports.scores import scores_document
from liftoff.evaluation.runs.compare import Comparison, compare
from liftoff.evaluation.runs.dataset import Example, read_dataset
from liftoff.evaluation.runs.errors import RunNotComparable, RunNotFound, StoreError
from liftoff.evaluation.runs.executor import RunExecutor, ScoringJob
from liftoff.evaluation.runs.files import read_lists, read_pairs, read_predictions
from liftoff.evaluation.runs.gates import (
    Check,
    Gate,
    check_gates,
    check_regression,
    parse_gate,
    parse_max_drop,
)
from liftoff.evaluation.runs.lease import new_owner
from liftoff.evaluation.runs.model import GenerationParams, LoadedRun, Run, RunSpec, TargetRef
from liftoff.evaluation.runs.store import Lease, RunStore, open_store
from liftoff.evaluation.runs.target import Target
from liftoff.server.settings import SettingsError, load_settings

app = typer.Typer(
    help="Score predictions, or run a dataset against an endpoint and gate on the scores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

METRICS_HELP = "Metrics, comma-separated or repeated (default: all)."
OPTIONS_HELP = 'Scoring options as JSON, e.g. \'{"rouge": {"use_stemmer": true}}\'.'


class EndpointChoice(StrEnum):
    auto = "auto"
    chat = "chat"
    completions = "completions"


Metrics = Annotated[list[str] | None, typer.Option("--metrics", "-m", help=METRICS_HELP)]
Options = Annotated[str | None, typer.Option(help=OPTIONS_HELP)]


def usage_error(message: str) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(2)


@app.command("score")
def score_files(
    predictions: Annotated[
        Path, typer.Option(help="JSONL: a string, or {id, prediction}, per line.")
    ],
    references: Annotated[
        Path | None,
        typer.Option(
            help="JSONL: a string, a list of strings, or {id, references}, per line (what "
            "BLEU, chrF, TER, ROUGE and METEOR read)."
        ),
    ] = None,
    retrieved: Annotated[
        Path | None,
        typer.Option(help="JSONL: each prediction's citations, best first, as a list per line."),
    ] = None,
    passages: Annotated[
        Path | None,
        typer.Option(
            help="JSONL: the passages that answer each question (ids, {text}), a list per line; "
            "[]: none does."
        ),
    ] = None,
    metrics: Metrics = None,
    options: Options = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every score here.")] = None,
) -> None:
    """Score predictions against references (sacrebleu, rouge-score and NLTK semantics), and
    retrieval (hit_rate@K, mrr@K, abstention) against retrieved lists and answering passages."""
    try:
        names = _metrics(metrics or [])
        given = {"references": references, "retrieved": retrieved, "passages": passages}
        for field, path in given.items():
            if path is not None and field not in needed_inputs(names):
                raise InvalidInput(
                    f"--{field} is given, but none of the metrics ({', '.join(names)}) reads it"
                )
        if references is not None:
            hypotheses, refs = read_pairs(predictions, references)
        else:
            hypotheses, refs = read_predictions(predictions), None
        cited = None if retrieved is None else read_lists(retrieved, "retrieved")
        answering = None if passages is None else read_lists(passages, "passages", nullable=True)
        results = score(hypotheses, refs, names, _options(options), cited, answering)
    except InvalidInput as exc:
        usage_error(exc.message)
    except EvaluationError as exc:
        errors.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(1) from exc
    _print_scores(results, len(hypotheses))
    if json_out is not None:
        _write(json_out, json.dumps(scores_document(results), indent=2, ensure_ascii=False))


@app.command("run")
def run_dataset(
    dataset: Annotated[
        Path, typer.Argument(help="JSONL: {id, prompt | messages, references} per line.")
    ],
    target: Annotated[
        str | None,
        typer.Option(
            help="OpenAI-compatible base URL (default LIFTOFF_EVAL_TARGET, "
            "OPENAI_BASE_URL, or the local gateway http://127.0.0.1:8000/v1)."
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Model id (default: the first the target lists).")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="Key for the target (default OPENAI_API_KEY).")
    ] = None,
    gate: Annotated[
        list[str] | None,
        typer.Option(
            help="A threshold such as 'bleu>=20' or 'hit_rate@4>=0.85' (its metric is "
            "scored too); repeatable."
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(help="Compare with this run: a run id in the store, or an earlier --json."),
    ] = None,
    max_drop: Annotated[
        list[str] | None,
        typer.Option(
            help="Fail when a metric drops more than POINTS (0-100 scale) below the "
            "baseline: '2' for every metric, 'bleu=1' for one; repeatable."
        ),
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write an HTML report here.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML (a test per check).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the whole run.")] = None,
    metrics: Metrics = None,
    options: Options = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Most tokens per answer.")] = 256,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0)] = 0.0,
    seed: Annotated[int, typer.Option(help="Sampling seed sent with every request.")] = 0,
    stop: Annotated[list[str] | None, typer.Option(help="Stop sequence; repeatable.")] = None,
    endpoint: Annotated[
        EndpointChoice,
        typer.Option(help="auto: prompt rows to /completions, messages rows to /chat/completions."),
    ] = EndpointChoice.auto,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Requests in flight (default 4).")
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(
            help="SQLite store (default: LIFTOFF_EVAL_DATABASE_URL's Postgres, else "
            "LIFTOFF_EVAL_STORE)."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="A name for the run.")] = None,
    worst: Annotated[int, typer.Option(min=1, help="Worst examples in the report.")] = 10,
) -> None:
    """Generate an answer for every example, score them, and check the gates."""
    started = time.monotonic()
    settings = _settings()
    try:
        gates = [parse_gate(text) for text in gate or []]
        drops = parse_max_drop(max_drop or [])
        # Every gated metric is scored, with the ones asked for (default: the text metrics).
        names = _metrics([*(metrics or DEFAULT_METRICS), *(g.metric for g in gates)])
        spec = RunSpec(
            name=name,
            dataset=str(dataset),
            target=TargetRef(
                base_url=target or settings.target,
                model=model or settings.model or None,
                endpoint=endpoint.value,
            ),
            generation=GenerationParams(
                max_tokens=max_tokens, temperature=temperature, seed=seed, stop=stop or None
            ),
            concurrency=concurrency or settings.concurrency,
            metrics=tuple(names),
            options=_options(options),
        )
        examples = read_dataset(dataset, max_examples=settings.max_examples)
    except InvalidInput as exc:
        usage_error(exc.message)
    if drops and baseline is None:
        usage_error("--max-drop needs --baseline (a run id or an earlier --json file)")
    target_client = Target(
        spec.target.base_url,
        api_key=api_key or _secret(settings),
        retries=settings.retries,
        timeout=settings.request_timeout,
        probe_timeout=settings.probe_timeout,
    )
    try:
        outcome = asyncio.run(
            _run(settings, store, examples, spec, target_client, baseline, gates, drops,
                 report is not None, worst)
        )  # fmt: skip
    except StoreError as exc:  # unreachable, or written by a newer Liftoff
        errors.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(1) from exc
    loaded, checks, comparison, page = outcome
    _print_outcome(loaded, checks, comparison)
    if report is not None and page is not None:
        _write(report, page)
    if junit is not None:
        _write(junit, render_junit(loaded.run, checks, seconds=time.monotonic() - started))
    if json_out is not None:
        _write(json_out, run_document(loaded, checks, comparison).model_dump_json(indent=2))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as file:
            file.write(render_summary(loaded.run, checks, comparison))
    if loaded.run.status != "completed" or not all(check.passed for check in checks):
        raise typer.Exit(1)


async def _run(
    settings: Settings,
    path: Path | None,
    examples: list[Example],
    spec: RunSpec,
    target: Target,
    baseline: str | None,
    gates: list[Gate],
    drops: dict[str | None, float],
    report: bool,
    worst: int,
) -> tuple[LoadedRun, list[Check], Comparison | None, str | None]:
    """The run, its checks and comparison, and the HTML report when asked for."""
    store = await open_store(settings, path)
    try:
        async with target:
            reference = await _baseline(baseline, store) if baseline else None
            lease = Lease(new_owner(), settings.lease_seconds)  # this process owns its run
            executor = RunExecutor(store, _score_here, lease=lease)
            run = await _generate(executor, examples, spec, target)
        loaded = LoadedRun(run=run, examples=await store.examples(run.id))
        comparison = _compare(reference, loaded) if reference is not None else None
        checks = check_gates(run.scores, gates)
        if comparison is not None:
            checks += check_regression(comparison, drops)
        page = None
        if report:
            loaded_report = await load_report(
                store, run.id, worst=worst, checks=checks, comparison=comparison
            )
            page = render_report(loaded_report)
        return loaded, checks, comparison, page
    finally:
        await store.close()


async def _generate(
    executor: RunExecutor, examples: list[Example], spec: RunSpec, target: Target
) -> Run:
    try:
        run = await executor.create(examples, spec, target, origin="cli")
    except InvalidInput as exc:
        usage_error(exc.message)
    errors.print(f"run {run.id}: {len(examples)} examples, {run.target.model} at {target.base_url}")
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
    )  # fmt: skip
    with Progress(*columns, console=errors) as progress:
        task = progress.add_task("generating", total=len(examples), failed=0)
        failed = 0

        def advance(_: object, __: object, error: str | None) -> None:
            nonlocal failed
            failed += error is not None
            progress.update(task, advance=1, failed=failed)

        run = await executor.generate(run.id, target, on_result=advance)
    if run.status == "scoring":
        errors.print(f"scoring {len(examples)} examples with {', '.join(run.metrics)}")
        run = await executor.score(run.id)
    return run


async def _score_here(job: ScoringJob) -> Mapping[str, Score]:
    """Scoring in this process: the CLI has nothing else to do meanwhile."""
    return score(*job.arguments())


async def _baseline(reference: str, store: RunStore) -> LoadedRun:
    path = Path(reference)
    if path.is_file():
        try:
            return load_run_document(path)
        except InvalidInput as exc:
            usage_error(exc.message)
    try:
        run = await store.get_run(reference)
    except RunNotFound:
        usage_error(f"baseline {reference!r} is neither a file nor a run in {store.describe()}")
    return LoadedRun(run=run, examples=await store.examples(reference))


def _compare(baseline: LoadedRun, candidate: LoadedRun) -> Comparison | None:
    if candidate.run.status != "completed":
        return None
    try:
        return compare(baseline, candidate)
    except RunNotComparable as exc:
        usage_error(f"cannot compare with the baseline: {exc.message}")


def _print_scores(results: dict[str, Score], examples: int) -> None:
    table = Table(title=f"{examples} examples", title_justify="left")
    for column in ("metric", "score", "95% CI", "signature"):
        table.add_column(column, justify="right" if column in ("score", "95% CI") else "left")
    for name, result in results.items():
        ci = "" if result.ci is None else f"[{result.ci.low:.4f}, {result.ci.high:.4f}]"
        table.add_row(name, f"{result.corpus:.4f}", ci, result.signature)
    console.print(table)


def _print_outcome(loaded: LoadedRun, checks: list[Check], comparison: Comparison | None) -> None:
    run = loaded.run
    if run.status != "completed":
        console.print(f"[red]run {run.id} {run.status}:[/red] {run.error}", highlight=False)
    if run.scores:
        table = Table(title=f"run {run.id}", title_justify="left")
        for column in ("metric", "score", "95% CI"):
            table.add_column(column, justify="left" if column == "metric" else "right")
        if comparison is not None:
            table.add_column(f"Δ vs {comparison.baseline}", justify="right")
        for metric, value in run.scores.items():
            interval = run.interval(metric)
            ci = "" if interval is None else f"[{interval.low:.4f}, {interval.high:.4f}]"
            row = [metric, f"{value:.4f}", ci]
            if comparison is not None:
                delta = comparison.metrics.get(metric)
                row.append("" if delta is None else f"{delta.delta:+.4f}")
            table.add_row(*row)
        console.print(table)
    for check in checks:
        mark = "[green]PASS[/green]" if check.passed else "[red]FAIL[/red]"
        console.print(f"{mark} {check.message}", highlight=False)
    passed = run.status == "completed" and all(check.passed for check in checks)
    console.print("[green]passed[/green]" if passed else "[red]failed[/red]")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    errors.print(f"wrote {path}")


def _metrics(values: list[str]) -> list[str]:
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return list(canonical_metrics(names)) if names else list(DEFAULT_METRICS)


def _options(text: str | None) -> ScoreOptions:
    if text is None:
        return ScoreOptions()
    try:
        return ScoreOptions.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"invalid --options: {problems}", param="options") from exc


def _settings() -> Settings:
    try:
        return load_settings(Settings)
    except SettingsError as exc:  # names the variables, never a value
        usage_error(f"invalid settings:\n{exc}")


def _secret(settings: Settings) -> str | None:
    return settings.target_api_key.get_secret_value() if settings.target_api_key else None
