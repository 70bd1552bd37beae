"""``POST /v1/scores`` on a real service process: the library's numbers, and clear refusals."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from liftoff.evaluation.metrics import DEFAULT_METRICS, score
from tests.evaluation.metrics.hard_corpus import PREDICTIONS, REFERENCES
from tests.evaluation.service.conftest import metric_value, service_env
from tests.servers import ServerProcess

MAX_BODY = 2_000_000


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    store = tmp_path_factory.mktemp("scores") / "new" / "dir" / "runs.sqlite3"  # made at start
    env = service_env(store, LIFTOFF_EVAL_MAX_BODY_BYTES=str(MAX_BODY))
    with ServerProcess("liftoff.evaluation.main:app", env) as server:
        yield server


def _post(service: ServerProcess, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{service.url}/v1/scores", json=body, timeout=120, **kwargs)


def test_scores_equal_the_library_on_the_hard_corpus(service: ServerProcess) -> None:
    response = _post(service, {"predictions": PREDICTIONS, "references": REFERENCES})
    assert response.status_code == 200, response.text
    answer = response.json()
    expected = score(PREDICTIONS, REFERENCES, DEFAULT_METRICS)
    assert list(answer["corpus"]) == list(DEFAULT_METRICS)
    for name, result in expected.items():
        assert answer["corpus"][name] == result.corpus
        assert [row[name] for row in answer["per_example"]] == list(result.per_example)
        assert answer["signatures"][name] == result.signature
        assert result.ci is not None
        assert answer["confidence_intervals"][name] == {
            "low": result.ci.low, "high": result.ci.high, "level": 0.95,
        }  # fmt: skip
        for component, values in result.components.items():
            assert answer["components"][name][component] == list(values)
    assert answer["scales"]["bleu"] == 100.0 and answer["scales"]["meteor"] == 1.0


def test_one_reference_string_per_prediction_and_options_are_accepted(
    service: ServerProcess,
) -> None:
    body = {
        "predictions": ["the cats are running", "a dog"],
        "references": ["the cat runs", "a dog barked"],
        "metrics": ["ROUGEL", "bleu"],
        "options": {"rouge": {"use_stemmer": True}, "bootstrap": {"resamples": 0}},
    }
    answer = _post(service, body).json()
    expected = score(body["predictions"], body["references"], ["rougeL", "bleu"],
                     body["options"])  # fmt: skip
    assert answer["corpus"] == {name: s.corpus for name, s in expected.items()}
    assert answer["confidence_intervals"] == {"rougeL": None, "bleu": None}
    assert "stem:yes" in answer["signatures"]["rougeL"]


def test_meteor_tokenization_option_is_honoured_and_named_in_the_signature(
    service: ServerProcess,
) -> None:
    body = {
        "predictions": ["Alimentum is located in the city centre. It is not family-friendly."],
        "references": [
            "There is a place in the city centre, Alimentum, that is not family-friendly."
        ],
        "metrics": ["meteor"],
        "options": {"meteor": {"tokenize": "nltk-word-tokenize"}, "bootstrap": {"resamples": 0}},
    }
    answer = _post(service, body).json()
    assert answer["corpus"] == {"meteor": 0.6165605095541401}
    assert "|tok:nltk-word-tokenize|" in answer["signatures"]["meteor"]


# Citations as the retrieval service's rag: models return them, passed on as they are.
CITED = [
    [{"index": 1, "source": "bees.md", "chunk": 0, "start": 0, "score": 0.81,
      "text": "Drones are the males."},
     {"index": 2, "source": "bees.md", "chunk": 1, "start": 700, "score": 0.79,
      "text": "The queen lays up to two thousand eggs a day."}],
    [{"index": 1, "source": "lighthouses.md", "chunk": 0, "start": 0, "score": 0.9,
      "text": "Fresnel introduced his lens in 1822."}],
    [],
]  # fmt: skip
RETRIEVAL_BODY = {
    "predictions": ["Up to two thousand.", "In 1822.", "I don't know."],
    "references": ["Up to two thousand eggs a day.", "In 1822.", "I don't know."],
    "retrieved": CITED,
    "passages": [[{"text": "two thousand eggs"}], ["lighthouses.md#0"], []],
    "metrics": ["hit_rate@1", "mrr@4", "HIT_RATE", "abstention", "false_abstention", "rougeL"],
}


def test_retrieval_metrics_equal_the_library_with_null_where_they_do_not_apply(
    service: ServerProcess,
) -> None:
    response = _post(service, RETRIEVAL_BODY)
    assert response.status_code == 200, response.text
    answer = response.json()
    body = RETRIEVAL_BODY
    expected = score(body["predictions"], body["references"], body["metrics"],
                     retrieved=body["retrieved"], passages=body["passages"])  # fmt: skip
    names = ["hit_rate@1", "mrr@4", "hit_rate", "abstention", "false_abstention", "rougeL"]
    assert list(answer["corpus"]) == names
    for name, result in expected.items():
        assert answer["corpus"][name] == result.corpus
        assert [row[name] for row in answer["per_example"]] == list(result.per_example)
        assert answer["signatures"][name] == result.signature
        assert result.ci is not None
        assert answer["confidence_intervals"][name]["low"] == result.ci.low
    assert [row["hit_rate@1"] for row in answer["per_example"]] == [0.0, 1.0, None]
    assert [row["mrr@4"] for row in answer["per_example"]] == [0.5, 1.0, None]
    assert answer["corpus"]["abstention"] == 1.0 and answer["corpus"]["false_abstention"] == 0.0
    assert answer["scales"]["mrr@4"] == 1.0


@pytest.mark.parametrize(
    ("change", "param", "message"),
    [
        ({"metrics": ["bleu"]}, "retrieved",
         "retrieved is given, but none of the metrics asked for (bleu) reads it: hit_rate@K"),
        ({"metrics": ["abstention", "rougeL"]}, "retrieved", "retrieved is given, but none"),
        ({"metrics": ["mrr@4"]}, "references",
         "references is given, but none of the metrics asked for (mrr@4) reads it: bleu, chrf"),
        ({"metrics": ["mrr@4", "rougeL"], "retrieved": None}, "retrieved",
         "mrr@4 needs retrieved: the passages retrieved for each prediction, best first"),
        ({"metrics": ["abstention"], "retrieved": None, "references": None, "passages": None},
         "passages", "abstention needs passages: the passages that answer each question"),
        ({"retrieved": [[{"source": "a.md", "chunk": -1}], [], []]}, "retrieved",
         "retrieved[0][0].chunk: Input should be greater than or equal to 0"),
        ({"retrieved": [[{"source": "a.md", "page": 2}], [], []]}, "retrieved",
         "retrieved[0][0].page: Extra inputs are not permitted"),
        ({"retrieved": [["a.md"] * 101, [], []]}, "retrieved",
         "retrieved[0] has 101 entries; at most 100"),
        ({"passages": [["a.md"], ["b.md"], ["c.md"]], "metrics": ["abstention", "mrr"],
          "references": None},
         "passages", 'abstention scores unanswerable questions (rows with "passages": [])'),
        ({"passages": [[{"text": "-"}], [], []]}, "passages",
         "passages[0][0]: text has no letters or digits to match"),
        ({"metrics": ["hit_rate@0"]}, "metrics",
         "metric 'hit_rate@0': the cutoff after @ is a whole number of passages from 1 to 100"),
    ],
)  # fmt: skip
def test_retrieval_inputs_that_are_wrong_or_unused_are_a_400_naming_them(
    service: ServerProcess, change: dict[str, Any], param: str, message: str
) -> None:
    body = {key: value for key, value in {**RETRIEVAL_BODY, **change}.items()
            if value is not None}  # fmt: skip
    response = _post(service, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"].startswith(message), error["message"]
    assert (error["param"], error["type"]) == (param, "invalid_request_error")


def test_ten_thousand_pairs_score_in_one_request_while_the_service_stays_responsive(
    service: ServerProcess,
) -> None:
    predictions = [f"the cat number {i} sat on the mat" for i in range(10_000)]
    references = [[f"the cat {i} sat on a mat", "a cat sat"] for i in range(10_000)]
    body = {"predictions": predictions, "references": references}  # every metric
    latencies: list[float] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            started = time.perf_counter()
            httpx.get(f"{service.url}/healthz", timeout=5).raise_for_status()
            latencies.append(time.perf_counter() - started)
            time.sleep(0.2)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        response = _post(service, body)
    finally:
        done.set()
        prober.join()
    assert response.status_code == 200, response.text
    answer = response.json()
    assert len(answer["per_example"]) == 10_000
    expected = score(predictions[:50], references[:50], options={"bootstrap": {"resamples": 0}})
    for name, result in expected.items():
        assert [row[name] for row in answer["per_example"][:50]] == list(result.per_example)
    assert len(latencies) >= 3, "scoring was too quick to watch the event loop"
    assert max(latencies) < 1.5, f"the event loop was blocked: {max(latencies):.2f} s"


@pytest.mark.parametrize(
    ("body", "status", "param", "message"),
    [
        ({"predictions": ["a", "b"], "references": ["a"]}, 400, "references",
         "2 predictions but 1 references: one entry per prediction"),
        ({"predictions": ["a", 3], "references": ["a", "b"]}, 400, "predictions.1",
         "predictions.1: Input should be a valid string (got 3)"),
        ({"predictions": ["a"], "references": [["a", None]]}, 400, "references",
         "references[0][1] must be a string, got null"),
        ({"predictions": ["a"], "references": [5]}, 400, "references",
         "references[0] must be a string or a list of strings, got int"),
        ({"predictions": ["a"], "references": [[]]}, 400, "references",
         "references[0] is empty: give at least one"),
        ({"predictions": [], "references": []}, 400, "predictions",
         "predictions: List should have at least 1 item"),
        ({"predictions": ["a"], "references": ["a"], "metrics": ["bleu", "blue"]}, 400, "metrics",
         "unknown metric 'blue'; known: bleu, chrf, ter, rouge1, rouge2, rougeL, rougeLsum"),
        ({"predictions": ["a"], "references": ["a"], "options": {"rouge": {"stem": True}}}, 400,
         "options.rouge.stem", "options.rouge.stem is not a supported parameter"),
        ({"predictions": ["a"], "references": ["a"], "options": {"bootstrap": {"resamples": -1}}},
         400, "options.bootstrap.resamples", "options.bootstrap.resamples: Input should be"),
        ({"predictions": ["a"], "references": ["a"], "options": {"meteor": {"tokenize": "spacy"}}},
         400, "options.meteor.tokenize",
         "options.meteor.tokenize: Input should be 'nltk-word' or 'nltk-word-tokenize'"),
        ({"predictions": ["a"], "references": ["a"], "colour": "blue"}, 400, "colour",
         "colour is not a supported parameter"),
        ({"references": ["a"]}, 400, "predictions", "predictions is required"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_problem(
    service: ServerProcess, body: Any, status: int, param: str, message: str
) -> None:
    response = _post(service, body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"].startswith(message), error["message"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, 400)


def test_malformed_json_and_oversized_payloads_are_refused(service: ServerProcess) -> None:
    broken = httpx.post(
        f"{service.url}/v1/scores",
        content=b'{"predictions": [',
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["message"].startswith("the request body is not valid JSON")
    huge = {"predictions": ["x" * 1000] * 1500, "references": ["y" * 1000] * 1500}
    too_large = _post(service, huge)
    assert too_large.status_code == 413
    assert too_large.json()["error"] == {
        "message": f"the request body is larger than this route's limit of {MAX_BODY} bytes",
        "type": "payload_too_large", "param": None, "code": 413,
    }  # fmt: skip


def test_health_readiness_request_ids_logs_and_metrics(service: ServerProcess) -> None:
    assert httpx.get(f"{service.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{service.url}/readyz").json()
    assert ready["status"] == "ready" and ready["store"].endswith("new/dir/runs.sqlite3")
    assert Path(ready["store"]).is_file()
    response = _post(service, {"predictions": ["a b"], "references": ["a b"], "metrics": ["bleu"]},
                     headers={"X-Request-ID": "trace-123"})  # fmt: skip
    assert response.headers["x-request-id"] == "trace-123"
    generated = httpx.get(f"{service.url}/healthz").headers["x-request-id"]
    assert len(generated) == 32
    deadline = time.monotonic() + 5
    while "trace-123" not in service.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [json.loads(line) for line in service.output().splitlines() if "trace-123" in line]
    access = next(line for line in lines if line["logger"] == "evaluation.access")
    assert access["route"] == "/v1/scores" and access["status"] == 200
    assert access["method"] == "POST" and access["latency_ms"] > 0
    assert "a b" not in service.output()  # never predictions or references
    text = httpx.get(f"{service.url}/metrics").text
    assert metric_value(text, "liftoff_eval_requests_total", route="/v1/scores", status="200") >= 1
    assert metric_value(text, "liftoff_eval_scored_examples_total", source="scores") >= 1
    assert metric_value(text, "liftoff_eval_scoring_duration_seconds_count", source="scores") >= 1


def test_errors_are_in_openai_shape_on_every_route_and_bodies_must_be_json(
    service: ServerProcess,
) -> None:
    # The gateway's Ollama conventions (plain errors, form bodies read as JSON) stay there.
    missing = httpx.get(f"{service.url}/nothing-here", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found"
    wrong_method = httpx.delete(f"{service.url}/v1/scores", timeout=10)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["error"]["code"] == 405
    form = httpx.post(
        f"{service.url}/v1/scores",
        content=b'{"predictions": ["a"], "references": ["a"]}',
        headers={"content-type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert form.status_code == 415
    assert "Content-Type: application/json" in form.json()["error"]["message"]
    documented = httpx.get(f"{service.url}/openapi.json", timeout=10).json()
    statuses = set(documented["paths"]["/v1/scores"]["post"]["responses"])
    assert {"400", "401", "413", "415", "504"} <= statuses and "429" not in statuses
