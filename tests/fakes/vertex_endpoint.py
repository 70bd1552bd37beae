"""A FAKE Vertex AI endpoint: what stands between ``aiplatform.Endpoint.predict`` and a
custom container.

Vertex AI's REST surface for one endpoint with one deployed model:

- ``GET /v1/projects/{p}/locations/{l}/endpoints/{e}``: the ``Endpoint`` resource (the SDK
  reads it when an ``aiplatform.Endpoint`` is made);
- ``POST /v1/projects/{p}/locations/{l}/endpoints/{e}:predict`` with
  ``{"instances": [...], "parameters": {...}}``: Vertex parses the body into a
  ``PredictRequest`` protocol buffer, whose instances and parameters are
  ``google.protobuf.Value``s, and hands the container their JSON form at its
  ``AIP_PREDICT_ROUTE`` (so every number reaches the container as a double: ``5`` arrives as
  ``5.0``); the container's ``{"predictions": [...]}`` comes back to the caller as a
  ``PredictResponse`` with ``deployedModelId``, ``model``, ``modelDisplayName`` and
  ``modelVersionId`` added. Bodies over 1.5 MB are refused, as Vertex's request limit says.

Google's documents do not spell out how a container's error reaches the caller; this fake
answers with the container's status code and its body as the ``google.rpc.Status`` message.
Calls need ``Authorization: Bearer`` with a token in ``access_tokens``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from google.protobuf import json_format, struct_pb2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

MAX_REQUEST_BYTES = 1_500_000


@dataclass
class FakeVertexEndpoint:
    container_url: str  # where the custom container listens (its AIP_HTTP_PORT)
    predict_route: str = "/predict"  # the Model's containerSpec.predictRoute
    project: str = "test-project"
    location: str = "us-central1"
    endpoint_id: str = "1234567890"
    deployed_model_id: str = "4567"
    model_id: str = "7890"
    display_name: str = "liftoff-api"
    access_tokens: set[str] = field(default_factory=lambda: {"ya29.fake-vertex-caller"})
    forwarded: list[Any] = field(default_factory=list)  # bodies the container received
    url: str = ""

    @property
    def endpoint_name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/endpoints/{self.endpoint_id}"

    @property
    def model_name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/models/{self.model_id}"

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", _ok),
                Route(f"/v1/{self.endpoint_name}", self._endpoint),
                Route(f"/v1/{self.endpoint_name}:predict", self._predict, methods=["POST"]),
            ]
        )

    async def _endpoint(self, request: Request) -> Response:
        if (refused := self._unauthenticated(request)) is not None:
            return refused
        deployed = {"id": self.deployed_model_id, "model": self.model_name,
                    "displayName": self.display_name, "modelVersionId": "1"}  # fmt: skip
        return JSONResponse({
            "name": self.endpoint_name, "displayName": self.display_name,
            "deployedModels": [deployed], "trafficSplit": {self.deployed_model_id: 100},
        })  # fmt: skip

    async def _predict(self, request: Request) -> Response:
        if (refused := self._unauthenticated(request)) is not None:
            return refused
        raw = await request.body()
        if len(raw) > MAX_REQUEST_BYTES:
            return _status(400, "INVALID_ARGUMENT", "Request payload size exceeds the limit.")
        try:
            body = json.loads(raw)
            forwarded = {"instances": [_through_value(i) for i in body.get("instances", [])]}
            if "parameters" in body:
                forwarded["parameters"] = _through_value(body["parameters"])
        except (ValueError, json_format.ParseError) as exc:
            return _status(400, "INVALID_ARGUMENT", f"Invalid JSON payload received. {exc}")
        self.forwarded.append(forwarded)
        async with httpx.AsyncClient(timeout=120) as container:
            answer = await container.post(self.container_url + self.predict_route, json=forwarded)
        if answer.status_code != 200:
            status = "INVALID_ARGUMENT" if answer.status_code < 500 else "INTERNAL"
            return _status(answer.status_code, status, answer.text)
        predictions = [_through_value(p) for p in answer.json()["predictions"]]
        return JSONResponse({
            "predictions": predictions, "deployedModelId": self.deployed_model_id,
            "model": self.model_name, "modelDisplayName": self.display_name,
            "modelVersionId": "1",
        })  # fmt: skip

    def _unauthenticated(self, request: Request) -> Response | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token in self.access_tokens:
            return None
        return _status(401, "UNAUTHENTICATED",
                       "Request had invalid authentication credentials.")  # fmt: skip


def _through_value(value: Any) -> Any:
    """A JSON value as it comes out of a ``google.protobuf.Value``."""
    return json_format.MessageToDict(json_format.ParseDict(value, struct_pb2.Value()))


def _status(code: int, status: str, message: str) -> Response:
    error = {"code": code, "message": message, "status": status}
    return JSONResponse({"error": error}, status_code=code)


async def _ok(request: Request) -> Response:
    return PlainTextResponse("ok")
