"""The shared error layer: shapes by route prefix, routing errors, and middleware answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from liftoff.server.auth import APIKeys, AuthMiddleware
from liftoff.server.bodies import BodySizeLimit
from liftoff.server.errors import (
    Conflict,
    ErrorShapes,
    install_error_handlers,
    openai_error_body,
    plain_error_body,
)
from tests.fakes.ollama_server import FakeOllama
from tests.servers import ServerProcess

SHAPES = ErrorShapes(plain_error_body, {"/v1/": openai_error_body})


class Item(BaseModel):
    name: str


class Text(BaseModel):
    type: Literal["text"]
    text: str


class Picture(BaseModel):
    type: Literal["image_url"]
    image_url: Item


class Message(BaseModel):
    # OpenAI's content: a string, or parts tagged by type with the payload under that name.
    content: str | list[Annotated[Text | Picture, Field(discriminator="type")]]


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/items")
    async def create(item: Item) -> dict[str, str]:
        return {"name": item.name}

    @app.post("/v1/messages")
    async def message(message: Message) -> dict[str, str]:
        return {}

    @app.get("/v1/conflict")
    async def conflict() -> None:
        raise Conflict("already running")

    @app.get("/api/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    install_error_handlers(app, SHAPES, log_hint="the test's log")
    app.add_middleware(BodySizeLimit, default=64, limits={}, timeout=5, shapes=SHAPES)
    app.add_middleware(
        AuthMiddleware, keys=APIKeys(["sk-test"]), open_paths={"/api/open"}, shapes=SHAPES
    )
    return app


@pytest.fixture
def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    return httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"x-api-key": "sk-test"}
    )


async def test_each_route_prefix_answers_in_its_own_shape(client: httpx.AsyncClient) -> None:
    openai = await client.get("/v1/conflict")
    assert openai.status_code == 409
    assert openai.json() == {
        "error": {"message": "already running", "type": "conflict", "param": None, "code": 409}
    }
    plain = await client.get("/api/nothing")
    assert plain.status_code == 404
    assert plain.json() == {"error": "Not Found"}


async def test_wrong_method_is_a_405_that_lists_the_allowed_ones(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/items")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["type"] == "method_not_allowed"


async def test_validation_names_the_field_and_unexpected_errors_hide_internals(
    client: httpx.AsyncClient,
) -> None:
    invalid = await client.post("/v1/items", json={"name": 5})
    assert invalid.status_code == 400
    assert invalid.json()["error"]["param"] == "name"
    crashed = await client.get("/api/boom")
    assert crashed.status_code == 500
    assert crashed.json() == {"error": "internal error; see the test's log"}


async def test_middleware_refusals_use_the_paths_shape(client: httpx.AsyncClient) -> None:
    anonymous = await client.post("/v1/items", json={"name": "x"}, headers={"x-api-key": ""})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "authentication_error"
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="liftoff"'
    too_large = await client.post("/v1/items", json={"name": "x" * 100})
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == 413
    assert too_large.headers["connection"] == "close"


async def test_a_unions_error_names_the_field_inside_the_member_that_matched(
    client: httpx.AsyncClient,
) -> None:
    parts = [{"type": "image_url", "image_url": {"name": 5}}]
    invalid = await client.post("/v1/messages", json={"content": parts})
    assert invalid.status_code == 400
    assert invalid.json()["error"]["param"] == "content.0.image_url.name"


@pytest.fixture(scope="module")
def services(
    shared_fake_ollama: FakeOllama, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServerProcess]]:
    """Every Liftoff service with an API of its own, as a process (the chat UI serves
    Chainlit's)."""
    stores = tmp_path_factory.mktemp("errors")
    gateway_env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": shared_fake_ollama.url}
    with (
        ServerProcess("liftoff.api.main:app", gateway_env) as gateway,
        ServerProcess(
            "liftoff.evaluation.main:app", {"LIFTOFF_EVAL_STORE": str(stores / "runs.sqlite3")}
        ) as ev,
        ServerProcess(
            "liftoff.retrieval.main:app",
            {"LIFTOFF_RAG_STORE": str(stores / "rag.sqlite3"),
             "LIFTOFF_RAG_GATEWAY_URL": f"{gateway.url}/v1"},
        ) as rag,
    ):  # fmt: skip
        yield [gateway, ev, rag]


def test_every_route_of_every_service_answers_a_wrong_method_with_405_and_allow(
    services: list[ServerProcess],
) -> None:
    checked = 0
    for service in services:
        document = httpx.get(f"{service.url}/openapi.json").json()
        for path, operations in document["paths"].items():
            url = service.url + path.replace("{", "").replace("}", "")  # any id will do
            response = httpx.request("PATCH", url, json={})
            assert response.status_code == 405, (service.app, path, response.text)
            allowed = {method.upper() for method in operations}  # as documented
            assert set(response.headers["allow"].split(", ")) == allowed, (service.app, path)
            checked += 1
    assert checked >= 20
