"""``liftoff eval``: exit codes 0/1/2, the library's scores, JUnit XML, reports, step summaries."""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner, Result

from liftoff.cli import app
from liftoff.evaluation.metrics import score
from liftoff.evaluation.reports.scores import scores_document
from tests.postgres import fresh_database
from tests.servers import ServerProcess

ROWS = [
    {"id": "sky", "prompt": "Q: What color is the sky?\nA:", "references": ["The sky is blue."]},
    {"id": "bees", "prompt": "Q: What do bees make?\nA:", "references": ["Bees make honey."]},
    {"id": "hi", "messages": [{"role": "user", "content": "Say hello."}], "references": ["Hello!"]},
]
GENERATE = ["--max-tokens", "8", "--stop", "\n", "--metrics", "bleu,rougeL"]
DOCUMENTS = Path(__file__).parents[1] / "evaluation" / "reports" / "fixtures"


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["eval", *args], env=env)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    return path


@pytest.fixture(scope="module")
def gateway(gguf_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess("liftoff.api.main:app", {"LIFTOFF_MODEL": str(gguf_path)}) as server:
        yield server


def test_score_prints_and_writes_the_library_scores(tmp_path: Path) -> None:
    predictions, references = tmp_path / "p.jsonl", tmp_path / "r.jsonl"
    predictions.write_text('"the cat sat on the mat"\n{"id": "2", "prediction": "a dog"}\n')
    references.write_text(
        '["the cat sat on a mat", "a cat sat"]\n{"id": 2, "references": "dogs"}\n'
    )
    out = tmp_path / "scores.json"
    result = invoke("score", "--predictions", str(predictions), "--references", str(references),
                    "-m", "bleu,rougeL", "--metrics", "meteor", "--json", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = score(
        ["the cat sat on the mat", "a dog"],
        [["the cat sat on a mat", "a cat sat"], ["dogs"]],
        ["bleu", "rougeL", "meteor"],
    )
    assert json.loads(out.read_text()) == json.loads(json.dumps(scores_document(expected)))
    assert f"{expected['bleu'].corpus:.4f}" in result.stdout
    assert "nrefs:var" in result.stdout


def test_score_reads_retrieved_lists_and_passages_for_the_retrieval_metrics(
    tmp_path: Path,
) -> None:
    files = {
        "p.jsonl": '"Up to two thousand."\n{"id": "u", "prediction": "I don\'t know."}\n',
        "c.jsonl": '[{"source": "a.md", "chunk": 0, "text": "Drones."}, "b.md"]\n[]\n',
        "a.jsonl": '[{"text": "two thousand"}, "b.md"]\n[]\n',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    out = tmp_path / "scores.json"
    result = invoke("score", "--predictions", str(tmp_path / "p.jsonl"),
                    "--retrieved", str(tmp_path / "c.jsonl"), "--passages",
                    str(tmp_path / "a.jsonl"), "-m", "mrr@4,abstention",
                    "--json", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = score(["Up to two thousand.", "I don't know."], None, ["mrr@4", "abstention"],
                     retrieved=[[{"source": "a.md", "chunk": 0, "text": "Drones."}, "b.md"], []],
                     passages=[[{"text": "two thousand"}, "b.md"], []])  # fmt: skip
    document = json.loads(out.read_text())
    assert document == json.loads(json.dumps(scores_document(expected)))
    assert document["per_example"] == [{"mrr@4": 0.5, "abstention": None},
                                       {"mrr@4": None, "abstention": 1.0}]  # fmt: skip
    assert "k:4|match:id,words" in result.stdout


@pytest.mark.parametrize(
    ("files", "extra", "message"),
    [
        ({"c.jsonl": '["a.md"]\n'}, ["-m", "mrr"], "mrr needs passages: the passages that"),
        ({"c.jsonl": '["a.md"]\n', "a.jsonl": '"a.md"\n'}, ["-m", "mrr"],
         "a.jsonl:1: a line of passages must be a list or null, got str"),
        ({"c.jsonl": '[{"source": "a.md", "chunk": -1}]\n', "a.jsonl": '["a.md"]\n'},
         ["-m", "mrr"], "retrieved[0][0].chunk: Input should be greater than or equal to 0"),
        ({"c.jsonl": '["a.md"]\n', "a.jsonl": '["a.md"]\n'}, ["-m", "bleu"],
         "--retrieved is given, but none of the metrics (bleu) reads it"),
        ({"a.jsonl": '["a.md"]\n'}, [], "--passages is given, but none of the metrics"),
        ({}, ["-m", "bleu"], "bleu needs references: one reference string"),
    ],
)  # fmt: skip
def test_score_retrieval_usage_errors_exit_2_naming_the_problem(
    tmp_path: Path, files: dict[str, str], extra: list[str], message: str
) -> None:
    (tmp_path / "p.jsonl").write_text('"a"\n')
    options = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        flag = "--retrieved" if name == "c.jsonl" else "--passages"
        options += [flag, str(tmp_path / name)]
    result = invoke("score", "--predictions", str(tmp_path / "p.jsonl"), *options, *extra)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split()), result.stderr


@pytest.mark.parametrize(
    ("predictions", "references", "extra", "message"),
    [
        ('"a"\n"b"\n', '"a"\n', [], "has 2 predictions but"),
        ('"a"\n{oops\n', '"a"\n"b"\n', [], "p.jsonl:2: not valid JSON"),
        ('"a"\n', '"a"\n', ["-m", "blue"], "unknown metric 'blue'"),
        ('"a"\n', '"a"\n', ["--options", '{"rouge": {"stem": true}}'],
         "invalid --options: rouge.stem: Extra inputs are not permitted"),
        ('"a"\n', '"a"\n', ["--options", '{"meteor": {"tokenize": "spacy"}}'],
         "invalid --options: meteor.tokenize: Input should be 'nltk-word' or"),
        ('"a"\n', "[]\n", [], "r.jsonl:1: references must be a string or a non-empty list"),
    ],
)  # fmt: skip
def test_score_usage_errors_exit_2_naming_the_problem(
    tmp_path: Path, predictions: str, references: str, extra: list[str], message: str
) -> None:
    (tmp_path / "p.jsonl").write_text(predictions)
    (tmp_path / "r.jsonl").write_text(references)
    result = invoke("score", "--predictions", str(tmp_path / "p.jsonl"),
                    "--references", str(tmp_path / "r.jsonl"), *extra)  # fmt: skip
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split()), result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gate", "bleu=>20"], "malformed gate 'bleu=>20': write METRIC>=NUMBER"),
        (["--gate", "blue>=20"], "unknown metric 'blue'"),
        # A gated metric is scored even when --metrics leaves it out; these rows name no
        # passages, so there is nothing for it to score: refused before the target is asked.
        (["--gate", "hit_rate@4>=0.85"], "hit_rate@4 scores questions that a passage answers"),
        (["--gate", "hit_rate@4=0.85"], "malformed gate 'hit_rate@4=0.85'"),
        (["--max-drop", "2"], "--max-drop needs --baseline"),
        (["--max-drop", "lots", "--baseline", "x"], "malformed max drop 'lots'"),
        (["--baseline", "no-such-run"], "baseline 'no-such-run' is neither a file nor a run"),
        (["--target", "http://127.0.0.1:9/v1"], "cannot reach the target http://127.0.0.1:9/v1"),
        (["--options", "{"], "invalid --options"),
        (["--endpoint", "rest"], "Invalid value for '--endpoint'"),
        (["--temperature", "3"], "Invalid value for '--temperature'"),
    ],
)
def test_run_usage_errors_exit_2_before_anything_is_stored(
    tmp_path: Path, dataset: Path, args: list[str], message: str
) -> None:
    store = tmp_path / "runs.sqlite3"
    result = invoke("run", str(dataset), "--store", str(store), "--target",
                    "http://127.0.0.1:9/v1", *args)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.output
    if store.exists():
        with sqlite3.connect(store) as db:
            assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_a_bad_dataset_line_exits_2_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n\n" + '{"prompt": "x", "references": 3}\n')
    result = invoke("run", str(path), "--store", str(tmp_path / "runs.sqlite3"))
    assert result.exit_code == 2
    assert f"{path}: line 3: references must be a string or a non-empty list" in (
        " ".join(result.stderr.split())
    )


@pytest.mark.model
def test_run_gates_reports_and_regressions_against_the_embedded_model(
    gateway: ServerProcess, dataset: Path, tmp_path: Path
) -> None:
    store, summary = tmp_path / "runs.sqlite3", tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    outputs = {kind: tmp_path / f"first.{kind}" for kind in ("json", "xml", "html")}
    passing = invoke(
        "run", str(dataset), "--target", f"{gateway.url}/v1", "--store", str(store), *GENERATE,
        "--gate", "bleu>=0", "--gate", "rougeL>=0", "--json", str(outputs["json"]),
        "--junit", str(outputs["xml"]), "--report", str(outputs["html"]), env=env,
    )  # fmt: skip
    assert passing.exit_code == 0, passing.output
    assert "generating" in passing.stderr and "3/3" in passing.stderr  # the progress bar
    document = json.loads(outputs["json"].read_text())
    run = document["run"]
    assert document["passed"] and run["status"] == "completed" and run["origin"] == "cli"
    predictions = [row["prediction"] for row in document["examples"]]
    expected = score(predictions, [row["references"] for row in ROWS], ["bleu", "rougeL"])
    assert run["corpus"] == {name: result.corpus for name, result in expected.items()}

    suite = ET.parse(outputs["xml"]).getroot()
    assert suite.tag == "testsuites" and suite.attrib["tests"] == "3"
    assert suite.attrib["failures"] == "0" and suite.attrib["errors"] == "0"
    names = [case.attrib["name"] for case in suite.iter("testcase")]
    assert names == ["run completed", "bleu>=0", "rougeL>=0"]
    assert "sky" in outputs["html"].read_text()

    text = summary.read_text()
    assert text.startswith("earlier step\n### liftoff eval: ✅ passed")
    assert f"Run `{run['id']}`" in text and "3/3 examples" in text
    assert f"| bleu | {run['corpus']['bleu']:.4f} |" in text and "✅ `bleu>=0`" in text

    # The same model again, against the first run (by id) and a perfect baseline (a file).
    again = invoke("run", str(dataset), "--target", f"{gateway.url}/v1", "--store", str(store),
                   *GENERATE, "--baseline", run["id"], "--max-drop", "1")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert again.stdout.count("PASS") == 2 and "no drop" in again.stdout
    perfect = _perfect(document)
    baseline = tmp_path / "perfect.json"
    baseline.write_text(json.dumps(perfect))
    junit = tmp_path / "second.xml"
    failing = invoke(
        "run", str(dataset), "--target", f"{gateway.url}/v1", "--store", str(store), *GENERATE,
        "--gate", "bleu>=101", "--baseline", str(baseline), "--max-drop", "bleu=2",
        "--junit", str(junit), env=env,
    )  # fmt: skip
    assert failing.exit_code == 1, failing.output
    assert "FAIL bleu = " in failing.stdout and "over the allowed 2" in failing.stdout
    suite = ET.parse(junit).getroot()
    assert suite.attrib["failures"] == "2"  # the gate and BLEU's regression
    failures = [case.find("failure") for case in suite.iter("testcase")]
    messages = [f.attrib["message"] for f in failures if f is not None]
    assert messages[0].endswith("fails bleu>=101") and "drop" in messages[1]
    text = summary.read_text()
    assert "### liftoff eval: ❌ failed" in text and "Against baseline" in text


@pytest.mark.model
def test_a_json_document_of_the_first_release_serves_as_the_baseline(
    gateway: ServerProcess, tmp_path: Path
) -> None:
    # Written by `liftoff eval run --json` at commit 5385f40, on the dataset next to it.
    baseline = DOCUMENTS / "run-document-v1.json"
    out = tmp_path / "run.json"
    result = invoke(
        "run", str(DOCUMENTS / "run-document-v1.dataset.jsonl"), "--target", f"{gateway.url}/v1",
        "--store", str(tmp_path / "runs.sqlite3"), "--max-tokens", "12", "--stop", "\n",
        "--baseline", str(baseline), "--max-drop", "100", "--json", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    comparison = json.loads(out.read_text())["comparison"]
    assert (comparison["baseline"], comparison["examples"]) == ("f7b2f7cbe1cc", 4)
    assert list(comparison["metrics"]) == json.loads(baseline.read_text())["run"]["metrics"]
    assert result.stdout.count("PASS") == 8 and "Δ vs f7b2f7cbe1cc" in result.stdout


def _perfect(document: dict[str, Any]) -> dict[str, Any]:
    """The run document as if every prediction had been its first reference."""
    perfect = json.loads(json.dumps(document))
    perfect["run"]["id"] = "perfect"
    for row in perfect["examples"]:
        row["prediction"] = row["references"][0]
    return perfect


@pytest.mark.model
def test_run_keeps_its_run_in_postgres_when_a_database_url_is_set(
    gateway: ServerProcess, dataset: Path, postgres: str, tmp_path: Path
) -> None:
    url = fresh_database(postgres, "cli")
    env = {"LIFTOFF_EVAL_DATABASE_URL": url, "LIFTOFF_EVAL_STORE": str(tmp_path / "unused.db")}
    out = tmp_path / "first.json"
    first = invoke("run", str(dataset), "--target", f"{gateway.url}/v1", *GENERATE,
                   "--json", str(out), env=env)  # fmt: skip
    assert first.exit_code == 0, first.output
    run_id = json.loads(out.read_text())["run"]["id"]
    again = invoke("run", str(dataset), "--target", f"{gateway.url}/v1", *GENERATE,
                   "--baseline", run_id, "--max-drop", "1", env=env)  # fmt: skip
    assert again.exit_code == 0, again.output  # the baseline, by id, from the same database
    assert not (tmp_path / "unused.db").exists()
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT id, origin, status, owner FROM eval_runs ORDER BY created_at")
        stored = rows.fetchall()
    assert stored[0][:3] == (run_id, "cli", "completed")
    assert len(stored) == 2 and all(row[3] is None for row in stored)  # leases given up


def test_run_with_an_unreachable_database_exits_1_without_showing_the_password(
    dataset: Path, tmp_path: Path
) -> None:
    env = {"LIFTOFF_EVAL_DATABASE_URL": "postgresql://cli:pw-cli-5512@127.0.0.1:9/runs",
           "LIFTOFF_EVAL_DATABASE_TIMEOUT": "2"}  # fmt: skip
    result = invoke("run", str(dataset), "--target", "http://127.0.0.1:9/v1", env=env)
    assert result.exit_code == 1, result.output
    assert "cannot reach the run store at postgresql://cli@127.0.0.1:9/runs" in result.stderr
    assert "pw-cli-5512" not in result.output
