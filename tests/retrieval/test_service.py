"""The retrieval service over HTTP, on SQLite and on Postgres: collections, ingestion of every
format, search, bad input, and the rules between a collection and its embedding model."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.retrieval.conftest import STORES, rag_env, store_env
from tests.retrieval.pdf import text_pdf
from tests.servers import ServerProcess

pytestmark = pytest.mark.model

MAX_DOCUMENT_BYTES = 200_000
DOCS = {
    "bees.md": (b"# Bees\n\nHoneybee workers collect nectar and make honey in the hive.", None),
    "volcano.txt": (b"Lava flows from volcanoes when magma reaches the surface.", None),
    "coffee.html": (
        b"<html><body><h1>Coffee</h1><p>Brew coffee with water at 93 degrees.</p>"
        b"<script>var hidden = 1;</script></body></html>",
        None,
    ),
    "stone.pdf": (text_pdf([["The Rosetta Stone was found in 1799 in Egypt."]]), None),
}
QUERIES = {
    "Honeybee workers make honey": "bees.md",
    "What flows from volcanoes?": "volcano.txt",
    "Brew coffee with water at what temperature?": "coffee.html",
    "When was the Rosetta Stone found?": "stone.pdf",
}


@pytest.fixture(scope="module", params=STORES)
def rag(
    request: pytest.FixtureRequest, gateway: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    postgres = request.getfixturevalue("postgres") if request.param == "postgres" else None
    store = store_env(request.param, tmp_path_factory.mktemp("rag"), postgres)
    env = rag_env(gateway, store, LIFTOFF_RAG_MAX_DOCUMENT_BYTES=str(MAX_DOCUMENT_BYTES))
    with ServerProcess("liftoff.retrieval.main:app", env) as server:
        server.store = store  # type: ignore[attr-defined]  # for processes sharing it
        yield server


@pytest.fixture
def client(rag: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=rag.url, timeout=300) as session:
        yield session


def new_collection(client: httpx.Client, **settings: Any) -> str:
    name = f"c-{uuid.uuid4().hex[:10]}"
    response = client.post("/v1/collections", json={"name": name, **settings})
    assert response.status_code == 201, response.text
    return name


def put(client: httpx.Client, collection: str, source: str, data: bytes) -> httpx.Response:
    return client.put(f"/v1/collections/{collection}/documents/{source}", content=data)


def search(client: httpx.Client, collection: str, query: str, **options: Any) -> dict[str, Any]:
    response = client.post(f"/v1/collections/{collection}/search", json={"query": query, **options})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def test_a_collection_records_the_gateways_embedding_model_and_dimension(
    client: httpx.Client,
) -> None:
    name = new_collection(client, chunk_size=500, chunk_overlap=50, min_score=0.3)
    collection = client.get(f"/v1/collections/{name}").json()
    # The model the gateway's /v1/models lists for embeddings, not its first (Gemma's).
    assert collection["embedding_model"] == "all-minilm-l6-v2"
    assert collection["dimension"] == 384
    assert (collection["chunk_size"], collection["chunk_overlap"]) == (500, 50)
    assert collection["min_score"] == 0.3
    again = client.post("/v1/collections", json={"name": name})
    assert again.status_code == 409
    listed = [c["name"] for c in client.get("/v1/collections").json()["data"]]
    assert name in listed


def test_every_format_is_ingested_and_found_by_meaning(client: httpx.Client) -> None:
    name = new_collection(client, min_score=-1)
    for source, (data, _) in DOCS.items():
        response = put(client, name, f"docs/{source}", data)
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "created"
        assert response.json()["chunks"] == 1
    formats = {d["source"]: d["format"] for d in client.get(
        f"/v1/collections/{name}/documents").json()["data"]}  # fmt: skip
    assert formats == {
        "docs/bees.md": "markdown", "docs/coffee.html": "html",
        "docs/stone.pdf": "pdf", "docs/volcano.txt": "text",
    }  # fmt: skip
    # The queries stay close to the text, so any embedding model finds these.
    for query, source in QUERIES.items():
        found = search(client, name, query, k=4)["data"]
        assert found[0]["source"] == f"docs/{source}", (query, found)
        scores = [hit["score"] for hit in found]
        assert scores == sorted(scores, reverse=True)
        assert "hidden" not in found[0]["text"] and "<p>" not in found[0]["text"]


def test_reingesting_replaces_a_changed_file_and_skips_an_unchanged_one(
    client: httpx.Client,
) -> None:
    name = new_collection(client, min_score=-1)
    assert put(client, name, "notes.txt", b"The meeting is on Monday.").status_code == 201
    unchanged = put(client, name, "notes.txt", b"The meeting is on Monday.")
    assert (unchanged.status_code, unchanged.json()["status"]) == (200, "unchanged")
    changed = put(client, name, "notes.txt", b"The meeting moved to Thursday afternoon.")
    assert (changed.status_code, changed.json()["status"]) == (200, "replaced")
    texts = [hit["text"] for hit in search(client, name, "The meeting is on", k=5)["data"]]
    assert texts == ["The meeting moved to Thursday afternoon."]


def test_documents_and_collections_can_be_deleted(client: httpx.Client) -> None:
    name = new_collection(client, min_score=-1)
    put(client, name, "a.txt", b"Alpha is the first letter.")
    put(client, name, "b.txt", b"Beta is the second letter.")
    assert client.delete(f"/v1/collections/{name}/documents/a.txt").status_code == 204
    assert client.delete(f"/v1/collections/{name}/documents/a.txt").status_code == 404
    assert [h["source"] for h in search(client, name, "Beta is a letter", k=5)["data"]] == ["b.txt"]
    assert client.delete(f"/v1/collections/{name}").status_code == 204
    assert client.get(f"/v1/collections/{name}").status_code == 404


def test_search_holds_chunks_to_the_threshold(client: httpx.Client) -> None:
    name = new_collection(client, min_score=0.99)
    put(client, name, "bees.md", DOCS["bees.md"][0])
    assert search(client, name, "Who won the world cup?")["data"] == []
    assert len(search(client, name, "Who won the world cup?", min_score=-1)["data"]) == 1


@pytest.mark.parametrize(
    ("source", "data", "status", "words"),
    [
        ("empty.md", b"", 400, "is empty"),
        ("blob.txt", bytes(range(256)) * 8, 400, "not UTF-8"),
        ("deck.pptx", b"slides", 415, "cannot tell the format"),
        ("broken.pdf", b"%PDF-1.7 not really", 400, "not a readable PDF"),
        ("huge.txt", b"a" * (MAX_DOCUMENT_BYTES + 1), 413, "limit"),
    ],
)
def test_bad_documents_are_refused_and_nothing_is_stored(
    client: httpx.Client, source: str, data: bytes, status: int, words: str
) -> None:
    name = new_collection(client)
    response = put(client, name, source, data)
    assert response.status_code == status, response.text
    assert words in error_of(response)["message"]
    assert client.get(f"/v1/collections/{name}").json()["documents"] == 0


def test_unknown_collections_are_404_everywhere(client: httpx.Client) -> None:
    for response in (
        client.get("/v1/collections/nope"),
        put(client, "nope", "a.txt", b"text"),
        client.post("/v1/collections/nope/search", json={"query": "q"}),
        client.post("/v1/chat/completions",
                    json={"model": "rag:nope", "messages": [{"role": "user", "content": "q"}]}),
    ):  # fmt: skip
        assert response.status_code == 404, response.text
        assert "nope" in error_of(response)["message"]


@pytest.mark.parametrize("question", ["", "   \n "])
def test_an_empty_question_is_400(client: httpx.Client, question: str) -> None:
    name = new_collection(client)
    searched = client.post(f"/v1/collections/{name}/search", json={"query": question})
    assert searched.status_code == 400 and error_of(searched)["param"] == "query"
    asked = client.post(
        "/v1/chat/completions",
        json={"model": f"rag:{name}", "messages": [{"role": "user", "content": question}]},
    )
    assert asked.status_code == 400
    assert error_of(asked)["param"] == "messages.0.content"


@pytest.mark.parametrize(
    ("name", "param"),
    [("Has Spaces", "name"), ("UPPER", "name"), ("-dash-first", "name"), ("x" * 65, "name")],
)
def test_collection_names_are_plain(client: httpx.Client, name: str, param: str) -> None:
    response = client.post("/v1/collections", json={"name": name})
    assert response.status_code == 400 and error_of(response)["param"] == param


def test_a_changed_embedding_model_is_409_saying_so(
    client: httpx.Client, rag: ServerProcess, gateway: ServerProcess
) -> None:
    name = new_collection(client, min_score=-1)
    put(client, name, "bees.md", DOCS["bees.md"][0])
    env = rag_env(gateway, rag.store, LIFTOFF_RAG_EMBEDDING_MODEL="nomic-embed-text",  # type: ignore[attr-defined]
                  LIFTOFF_RAG_CHAT_MODEL="gemma-3-270m-q4_k_m")  # fmt: skip
    with ServerProcess("liftoff.retrieval.main:app", env, health="/healthz") as other:
        for response in (
            httpx.post(f"{other.url}/v1/collections/{name}/search", json={"query": "bees"}),
            httpx.put(f"{other.url}/v1/collections/{name}/documents/more.txt", content=b"more"),
            httpx.post(f"{other.url}/v1/chat/completions", json={
                "model": f"rag:{name}", "messages": [{"role": "user", "content": "bees?"}]}),
        ):  # fmt: skip
            assert response.status_code == 409, response.text
            message = error_of(response)["message"]
            assert "all-minilm-l6-v2" in message and "nomic-embed-text" in message
            assert error_of(response)["type"] == "embedding_model_changed"


def test_the_gateway_unreachable_is_503_and_not_ready(
    client: httpx.Client, rag: ServerProcess
) -> None:
    name = new_collection(client)
    env = {**rag_env_without_gateway(rag), "LIFTOFF_RAG_GATEWAY_URL": "http://127.0.0.1:9/v1"}
    with ServerProcess("liftoff.retrieval.main:app", env, health="/healthz") as other:
        assert httpx.get(f"{other.url}/readyz").status_code == 503
        response = httpx.post(f"{other.url}/v1/collections/{name}/search", json={"query": "q"})
        assert response.status_code == 503
        assert "Retry-After" in response.headers
        assert "cannot reach the gateway" in error_of(response)["message"]


def test_a_wrong_gateway_key_is_502_naming_the_setting_not_the_key(
    client: httpx.Client, rag: ServerProcess, gateway: ServerProcess
) -> None:
    name = new_collection(client)
    env = rag_env(gateway, rag.store, LIFTOFF_RAG_GATEWAY_API_KEY="sk-wrong-secret-key")  # type: ignore[attr-defined]
    with ServerProcess("liftoff.retrieval.main:app", env, health="/healthz") as other:
        response = httpx.post(f"{other.url}/v1/collections/{name}/search", json={"query": "q"})
        assert response.status_code == 502
        assert "LIFTOFF_RAG_GATEWAY_API_KEY" in error_of(response)["message"]
        assert "sk-wrong-secret-key" not in response.text
        assert "sk-wrong-secret-key" not in other.output()


def test_keys_guard_everything_but_health(gateway: ServerProcess, tmp_path: Path) -> None:
    env = rag_env(gateway, store_env("sqlite", tmp_path, None), LIFTOFF_RAG_API_KEYS="sk-rag-1")
    with ServerProcess("liftoff.retrieval.main:app", env) as service:
        assert httpx.get(f"{service.url}/v1/collections").status_code == 401
        assert httpx.get(f"{service.url}/metrics").status_code == 401
        assert httpx.get(f"{service.url}/healthz").status_code == 200
        keyed = httpx.get(f"{service.url}/v1/models", headers={"x-api-key": "sk-rag-1"})
        assert keyed.status_code == 200


def test_a_read_only_index_answers_but_refuses_writes(
    gateway: ServerProcess, tmp_path: Path
) -> None:
    store = store_env("sqlite", tmp_path, None)  # a baked SQLite file; Postgres has roles
    with (
        ServerProcess("liftoff.retrieval.main:app", rag_env(gateway, store)) as writer,
        httpx.Client(base_url=writer.url, timeout=300) as session,
    ):
        name = new_collection(session, min_score=-1)
        put(session, name, "bees.md", DOCS["bees.md"][0])
    env = rag_env(gateway, store, LIFTOFF_RAG_READ_ONLY="true")
    with ServerProcess("liftoff.retrieval.main:app", env) as reader:
        found = httpx.post(f"{reader.url}/v1/collections/{name}/search", json={"query": "honey"})
        assert found.status_code == 200 and found.json()["data"][0]["source"] == "bees.md"
        refused = httpx.put(f"{reader.url}/v1/collections/{name}/documents/x.txt", content=b"x")
        assert refused.status_code == 403 and "read-only" in error_of(refused)["message"]
        assert httpx.delete(f"{reader.url}/v1/collections/{name}").status_code == 403


def rag_env_without_gateway(rag: ServerProcess) -> dict[str, str]:
    return {**rag.store, "LIFTOFF_RAG_EMBEDDING_MODEL": "all-minilm-l6-v2",  # type: ignore[attr-defined]
            "LIFTOFF_RAG_CHAT_MODEL": "gemma-3-270m-q4_k_m"}  # fmt: skip
