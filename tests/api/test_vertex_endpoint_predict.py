"""A prediction's round trip as Vertex AI users make it: ``google-cloud-aiplatform``'s
``Endpoint.predict``, through a fake Vertex AI endpoint (which hands the request on as Vertex
does, through protocol buffers), to the gateway as the custom container, serving the real
embedded model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.vertex_endpoint import FakeVertexEndpoint
from tests.servers import ServerProcess, serve_in_thread

PARAMETERS = {"temperature": 0, "maxOutputTokens": 5, "topK": 40, "seed": 7}


@pytest.fixture(scope="module")
def vertex(gateway: ServerProcess) -> Iterator[FakeVertexEndpoint]:
    fake = FakeVertexEndpoint(container_url=gateway.url)
    with serve_in_thread(fake.app(), ready_path="/") as url:
        fake.url = url
        yield fake


@pytest.fixture(scope="module")
def endpoint(vertex: FakeVertexEndpoint) -> Any:
    # google-cloud-aiplatform takes seconds to import: only the tests that use it pay.
    from google.cloud import aiplatform
    from google.oauth2.credentials import Credentials

    aiplatform.init(
        project=vertex.project,
        location=vertex.location,
        api_endpoint=vertex.url,
        api_transport="rest",
        credentials=Credentials(token=next(iter(vertex.access_tokens))),
    )
    return aiplatform.Endpoint(vertex.endpoint_name)


def test_endpoint_predict_returns_the_gateways_predictions(
    endpoint: Any, vertex: FakeVertexEndpoint
) -> None:
    instances = [
        {"prompt": "The sky is"},
        {"messages": [{"role": "user", "content": "Hello"}]},
    ]
    prediction = endpoint.predict(instances=instances, parameters=PARAMETERS)

    assert prediction.deployed_model_id == vertex.deployed_model_id
    assert prediction.model_resource_name == vertex.model_name
    assert len(prediction.predictions) == 2
    for answer in prediction.predictions:
        assert answer["content"]
        assert answer["finish_reason"] == "length"
        # Numbers travel as protobuf doubles, both ways.
        assert answer["usage"]["completion_tokens"] == 5.0
    assert vertex.forwarded[-1]["parameters"]["maxOutputTokens"] == 5.0


def test_the_protobuf_round_trip_changes_no_answer(endpoint: Any, gateway: ServerProcess) -> None:
    direct = httpx.post(
        f"{gateway.url}/predict",
        json={"instances": [{"prompt": "Water boils at"}], "parameters": PARAMETERS},
        timeout=60,
    ).json()["predictions"][0]
    via_vertex = endpoint.predict(
        instances=[{"prompt": "Water boils at"}], parameters=PARAMETERS
    ).predictions[0]

    assert via_vertex["content"] == direct["content"]
    assert via_vertex["usage"] == {key: float(value) for key, value in direct["usage"].items()}


def test_a_refused_parameter_reaches_the_caller_named(endpoint: Any) -> None:
    from google.api_core import exceptions

    with pytest.raises(exceptions.BadRequest, match="thinkingConfig"):
        endpoint.predict(
            instances=[{"prompt": "Hi"}], parameters={"thinkingConfig": {"thinkingBudget": 0}}
        )


def test_a_fractional_token_count_is_refused_not_rounded(endpoint: Any) -> None:
    from google.api_core import exceptions

    with pytest.raises(exceptions.BadRequest, match=r"max_output_tokens|maxOutputTokens"):
        endpoint.predict(instances=[{"prompt": "Hi"}], parameters={"maxOutputTokens": 2.5})
