"""Vertex AI custom-container protocol, with bodies as Vertex documents them."""

from __future__ import annotations

import httpx

from tests.servers import ServerProcess


def test_predict_returns_one_prediction_per_instance_in_order(gateway: ServerProcess) -> None:
    body = {
        "instances": [
            {"prompt": "The sky is"},
            {"messages": [{"role": "user", "content": "Hello"}]},
            {"prompt": "Water boils at"},
        ],
        "parameters": {"temperature": 0, "maxOutputTokens": 5},
    }
    response = httpx.post(f"{gateway.url}/predict", json=body, timeout=60)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == 3
    for prediction in predictions:
        assert prediction["content"]
        assert prediction["finish_reason"] == "length"
        assert prediction["usage"]["completion_tokens"] == 5
    # Same instance alone gives the same text: order is preserved, not shuffled.
    alone = httpx.post(
        f"{gateway.url}/predict",
        json={"instances": [{"prompt": "Water boils at"}], "parameters": body["parameters"]},
        timeout=60,
    ).json()["predictions"][0]
    assert alone["content"] == predictions[2]["content"]


def test_snake_case_parameters_mean_the_same(gateway: ServerProcess) -> None:
    camel = {"temperature": 0, "maxOutputTokens": 4, "stopSequences": ["\n"]}
    snake = {"temperature": 0, "max_output_tokens": 4, "stop_sequences": ["\n"]}
    results = [
        httpx.post(
            f"{gateway.url}/predict",
            json={"instances": [{"prompt": "List: a, b,"}], "parameters": parameters},
            timeout=60,
        ).json()["predictions"][0]
        for parameters in (camel, snake)
    ]
    assert results[0] == results[1]


def test_health_route_reports_ready(gateway: ServerProcess) -> None:
    response = httpx.get(f"{gateway.url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "backend": "llamacpp"}


def test_aip_routes_and_port_are_honoured(gguf_path: object) -> None:
    env = {
        "LIFTOFF_MODEL": str(gguf_path),
        "AIP_HEALTH_ROUTE": "/v1/endpoints/e1/health",
        "AIP_PREDICT_ROUTE": "/v1/endpoints/e1/deployedModels/m1:predict",
    }
    with ServerProcess("liftoff.api.main:app", env, health="/v1/endpoints/e1/health") as server:
        response = httpx.post(
            f"{server.url}/v1/endpoints/e1/deployedModels/m1:predict",
            json={"instances": [{"prompt": "Hi"}], "parameters": {"maxOutputTokens": 2}},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert response.json()["predictions"][0]["usage"]["completion_tokens"] == 2
        assert httpx.get(f"{server.url}/predict").status_code == 404
