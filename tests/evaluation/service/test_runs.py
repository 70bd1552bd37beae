"""Runs on a real service process, generating through a real gateway with the embedded model."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from liftoff.evaluation.metrics import score
from liftoff.evaluation.runs.compare import compare
from liftoff.evaluation.runs.store.sqlite import SQLiteRunStore
from tests.evaluation.runs.stored import completed_run, examples, loaded
from tests.evaluation.service.conftest import MODEL, metric_value, service_env
from tests.servers import ServerProcess

pytestmark = pytest.mark.model

DATASET = "\n".join(
    json.dumps(row)
    for row in [
        {"id": "sky", "prompt": "Q: What color is the sky?\nA:",
         "references": ["The sky is blue."]},
        {"id": "tags", "prompt": "Q: What does <b> & </b> mean in HTML?\nA:",
         "references": ["<b> makes text bold & </b> ends it."]},
        {"id": "chat", "messages": [{"role": "user", "content": "Say hello."}],
         "references": ["Hello!", "Hi."]},
    ]
)  # fmt: skip
GENERATION = {"max_tokens": 8, "temperature": 0, "seed": 0, "stop": ["\n"]}


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs") / "runs.sqlite3"


@pytest.fixture(scope="module")
def service(gateway: ServerProcess, store_path: Path) -> Iterator[ServerProcess]:
    # Port 9 is allowed, and unreachable.
    env = service_env(store_path, f"{gateway.url}/v1", LIFTOFF_EVAL_MAX_CONCURRENCY="8",
                      LIFTOFF_EVAL_TARGETS="http://127.0.0.1:9/v1")  # fmt: skip
    with ServerProcess("liftoff.evaluation.main:app", env) as server:
        yield server


def wait_for(url: str, run_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = httpx.get(f"{url}/v1/runs/{run_id}").json()
        if run["status"] in ("completed", "failed"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s: {run}")


class Page(HTMLParser):
    """Text, tags and URL-bearing attributes of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [value or "" for name, value in attrs if name in ("src", "href")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_a_run_generates_through_the_gateway_scores_stores_and_reports(
    service: ServerProcess,
) -> None:
    body = {"dataset": DATASET, "dataset_name": "three.jsonl", "generation": GENERATION,
            "concurrency": 2}  # fmt: skip
    created = httpx.post(f"{service.url}/v1/runs", json=body, headers={"X-Request-ID": "run-req"})
    assert created.status_code == 202, created.text
    run_id = created.json()["id"]
    assert created.headers["location"] == f"/v1/runs/{run_id}"
    assert created.json()["target"] == {"base_url": service.env["LIFTOFF_EVAL_TARGET"],
                                        "model": MODEL, "endpoint": "auto"}  # fmt: skip
    run = wait_for(service.url, run_id)
    assert run["status"] == "completed", run["error"]
    assert run["progress"] == {"total": 3, "done": 3, "failed": 0, "pending": 0}
    listed = httpx.get(f"{service.url}/v1/runs/{run_id}/examples").json()
    rows = listed["data"]
    assert [row["id"] for row in rows] == ["sky", "tags", "chat"] and listed["total"] == 3
    assert all(isinstance(row["prediction"], str) and row["attempts"] == 1 for row in rows)
    assert all(row["completion_tokens"] >= 1 for row in rows)
    predictions = [row["prediction"] for row in rows]
    expected = score(predictions, [row["references"] for row in rows])
    assert run["corpus"] == {name: result.corpus for name, result in expected.items()}
    assert run["signatures"]["bleu"] == expected["bleu"].signature
    assert [row["scores"]["meteor"] for row in rows] == list(expected["meteor"].per_example)
    page_two = httpx.get(f"{service.url}/v1/runs/{run_id}/examples?offset=2&limit=5").json()
    assert [row["id"] for row in page_two["data"]] == ["chat"]
    assert httpx.get(f"{service.url}/v1/runs/{run_id}/examples?status=failed").json()["data"] == []

    report = httpx.get(f"{service.url}/v1/runs/{run_id}/report?metric=rougeL&worst=2")
    assert report.headers["content-type"].startswith("text/html")
    page = Page()
    page.feed(report.text)
    page.close()
    text = "".join(page.text)
    assert "Worst 2 examples by rougeL" in text
    worst = sorted(rows, key=lambda row: (row["scores"]["rougeL"], rows.index(row)))[:2]
    section = text.split("Worst 2 examples by rougeL", 1)[1]
    assert all(row["id"] in section and row["prediction"].strip() in section for row in worst)
    assert "Q: What does <b> & </b> mean in HTML?" in text  # shown as text...
    assert "<b> & </b>" not in report.text  # ...because it is escaped
    assert "script" not in page.tags and page.urls == []  # self-contained: nothing to fetch
    assert page.tags.count("svg") == len(expected)  # one histogram per metric

    same = httpx.get(f"{service.url}/v1/runs/{run_id}/compare/{run_id}").json()
    assert same["examples"] == 3
    assert all(m["delta"] == 0 and m["ci"]["low"] == m["ci"]["high"] == 0
               for m in same["metrics"].values())  # fmt: skip

    metrics = httpx.get(f"{service.url}/metrics").text
    assert metric_value(metrics, "liftoff_eval_generations_total", outcome="ok") >= 3
    assert metric_value(metrics, "liftoff_eval_runs_finished_total", status="completed") >= 1
    assert metric_value(metrics, "liftoff_eval_completion_tokens_total") >= 3
    logs = [json.loads(line) for line in service.output().splitlines() if line.startswith("{")]
    completed = [line for line in logs if line["message"].startswith(f"run {run_id} completed")]
    assert completed and completed[0]["request_id"] == "run-req"  # the run's logs carry it


async def test_two_runs_compare_with_paired_bootstrap_deltas(
    service: ServerProcess, store_path: Path
) -> None:
    store = await SQLiteRunStore.open(store_path)  # the service's own store, from this process
    references = [["the cat sat on the mat"], ["a dog barked"], ["it rains"], ["bees make honey"]]
    rows = examples(references)
    baseline = await completed_run(store, rows, ["a cat", "dog", "rain", "bees"])
    candidate = await completed_run(store, rows, ["the cat sat on a mat", "a dog barked",
                                                  "it rains", "bees make honey"])  # fmt: skip
    answer = httpx.get(f"{service.url}/v1/runs/{baseline.id}/compare/{candidate.id}").json()
    expected = compare(await loaded(store, baseline.id), await loaded(store, candidate.id))
    assert answer == expected.model_dump(mode="json")
    assert answer["metrics"]["bleu"]["delta"] > 0 and answer["metrics"]["ter"]["delta"] < 0
    assert answer["bootstrap"] == {"resamples": 1000, "seed": 12345, "paired": True}

    missing = httpx.get(f"{service.url}/v1/runs/nope/compare/{candidate.id}")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "no run 'nope' in the store"
    unscored = httpx.get(f"{service.url}/v1/runs/{baseline.id}/report?metric=METEOR")
    assert unscored.status_code == 400
    assert unscored.json()["error"]["message"] == (
        f"run {baseline.id} has no meteor scores; it has bleu, chrf, ter, rouge1, rougeL"
    )
    again = httpx.post(f"{service.url}/v1/runs/{baseline.id}/resume", json={})
    assert again.status_code == 409
    assert again.json()["error"]["message"] == f"run {baseline.id} is already completed"
    queued = await store.create_run(baseline, rows, origin="test")
    busy = httpx.get(f"{service.url}/v1/runs/{queued.id}/compare/{candidate.id}")
    assert busy.status_code == 409
    assert busy.json()["error"]["message"] == (
        f"run {queued.id} is queued, not completed: only scored runs compare"
    )
    await store.close()


def _row(**fields: Any) -> str:
    return json.dumps({"prompt": "x", "references": ["y"], **fields})


@pytest.mark.parametrize(
    ("body", "type_", "param", "message"),
    [
        ({"dataset": f"{_row()}\n{_row()}\n{{oops"}, "invalid_request_error", "dataset",
         "line 3: not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
        ({"dataset": [{"prompt": "x", "references": ["y"]}, {"prompt": "x"}]},
         "invalid_request_error", "dataset", "dataset[1]: references is required"),
        ({"dataset": _row(), "target": {"base_url": "http://127.0.0.1:9/v1"}}, "target_error",
         "target", "cannot reach the target http://127.0.0.1:9/v1: "),
        ({"dataset": _row(), "target": {"base_url": "http://127.0.0.1:10/v1"}}, "target_error",
         "target.base_url", "target.base_url is not a target this service generates against"),
        ({"dataset": _row(), "target": {"model": "nope"}}, "target_error", "model",
         "model 'nope' is not served by "),
        ({"dataset": json.dumps({"messages": [{"role": "user", "content": "x"}],
                                 "references": ["y"]}),
          "target": {"endpoint": "completions"}}, "invalid_request_error", "dataset",
         "example '1' has messages, which need the chat endpoint"),
        ({"dataset": _row(), "concurrency": 9}, "invalid_request_error", "concurrency",
         "concurrency 9 is over this service's limit of 8"),
        ({"dataset": _row(), "metrics": ["bleu", "rougeX"]}, "invalid_request_error", "metrics",
         "unknown metric 'rougeX'"),
        ({"dataset": _row(), "generation": {"max_tokens": 0}}, "invalid_request_error",
         "generation.max_tokens", "generation.max_tokens: Input should be greater than or equal"),
        ({"dataset": _row(), "generation": {"top_k": 5}}, "invalid_request_error",
         "generation.top_k", "generation.top_k is not a supported parameter"),
        ({"dataset": _row(), "target": {"base_url": "ftp://x"}}, "invalid_request_error",
         "target.base_url", "target.base_url: String should match pattern"),
        ({"dataset": ""}, "invalid_request_error", "dataset", "the dataset is empty"),
    ],
)  # fmt: skip
def test_bad_runs_are_refused_with_a_400_and_leave_nothing_behind(
    service: ServerProcess, body: dict[str, Any], type_: str, param: str, message: str
) -> None:
    before = httpx.get(f"{service.url}/v1/runs?limit=1000").json()["data"]
    response = httpx.post(f"{service.url}/v1/runs", json=body, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"].startswith(message), error["message"]
    assert (error["type"], error["param"], error["code"]) == (type_, param, 400)
    assert httpx.get(f"{service.url}/v1/runs?limit=1000").json()["data"] == before


def _done(store: Path, run_id: str) -> dict[str, tuple[str, str]]:
    """Outputs committed so far, read from the store file: id -> (output, generated_at)."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT id, prediction, generated_at FROM examples "
            "WHERE run_id = ? AND status = 'done'",
            (run_id,),
        ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def _gateway_completions(gateway: ServerProcess) -> float:
    """Completion requests the gateway has answered, once none is in flight or being logged."""
    last = -1.0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = httpx.get(f"{gateway.url}/metrics").text
        count = metric_value(text, "liftoff_requests_total", route="/v1/completions")
        if metric_value(text, "liftoff_requests_in_flight") == 0 and count == last:
            return count
        last = count
        time.sleep(0.3)
    raise AssertionError("the gateway did not settle")


def test_a_run_killed_mid_way_resumes_without_regenerating_finished_examples(
    gateway: ServerProcess, tmp_path: Path
) -> None:
    store = tmp_path / "runs.sqlite3"
    rows = [{"id": f"q{i}", "prompt": f"Q: What is {i} plus {i}?\nA:", "references": [str(2 * i)]}
            for i in range(6)]  # fmt: skip
    body = {"dataset": rows, "generation": {"max_tokens": 12, "temperature": 0, "seed": 0},
            "concurrency": 1, "metrics": ["bleu", "rougeL"]}  # fmt: skip
    # A crash never gives its lease up: the next process resumes once it lapses (3 s here).
    env = service_env(store, f"{gateway.url}/v1", LIFTOFF_EVAL_LEASE_SECONDS="3")
    with ServerProcess("liftoff.evaluation.main:app", env) as first:
        run_id = httpx.post(f"{first.url}/v1/runs", json=body).json()["id"]
        deadline = time.monotonic() + 120
        while len(_done(store, run_id)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert first.process is not None
        os.kill(first.process.pid, signal.SIGKILL)  # a crash: no shutdown code runs
        first.process.wait()
    finished = _done(store, run_id)
    assert 2 <= len(finished) < len(rows), "the run was not interrupted mid-way"
    before = _gateway_completions(gateway)

    with ServerProcess("liftoff.evaluation.main:app", env) as second:  # resumes unfinished runs
        run = wait_for(second.url, run_id)
        assert run["status"] == "completed", run["error"]
        resumed = httpx.get(f"{second.url}/v1/runs/{run_id}/examples").json()["data"]
    generated = _gateway_completions(gateway) - before
    assert generated == len(rows) - len(finished)  # only the unfinished ones were sent again
    for row in resumed:
        if row["id"] in finished:
            assert (row["prediction"], row["generated_at"]) == finished[row["id"]]
            assert row["attempts"] == 1
    assert all(row["status"] == "done" and row["scores"] is not None for row in resumed)


def test_examples_the_target_refuses_fail_the_run_and_resuming_retries_only_them(
    service: ServerProcess,
) -> None:
    body = {"dataset": DATASET, "generation": {"max_tokens": 1_000_000}, "metrics": ["bleu"]}
    run_id = httpx.post(f"{service.url}/v1/runs", json=body).json()["id"]
    run = wait_for(service.url, run_id)
    assert run["status"] == "failed" and run["corpus"] is None
    assert run["progress"] == {"total": 3, "done": 0, "failed": 3, "pending": 0}
    assert run["error"].startswith("3 of 3 examples could not be generated (first: 'sky': the "
                                   "target answered 400 Bad Request)")  # fmt: skip
    assert run["error"].endswith("resume the run to retry them")
    report = httpx.get(f"{service.url}/v1/runs/{run_id}/report").text
    assert "Failed examples" in report and "Not scored yet" in report

    resumed = httpx.post(f"{service.url}/v1/runs/{run_id}/resume", json={})
    assert resumed.status_code == 202
    run = wait_for(service.url, run_id)
    rows = httpx.get(f"{service.url}/v1/runs/{run_id}/examples").json()["data"]
    assert run["status"] == "failed" and [row["attempts"] for row in rows] == [2, 2, 2]
    unknown = httpx.get(f"{service.url}/v1/runs/{run_id}/report?metric=meteor")
    assert unknown.status_code == 200  # not scored at all: nothing to rank, nothing refused
    missing = httpx.post(f"{service.url}/v1/runs/nope/resume", json={})
    assert missing.status_code == 404
