"""Hand-written hostile requests: traversal in model names, slow bodies, lying lengths."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.ollama_server import DEFAULT_MODEL, FakeOllama
from tests.servers import ServerProcess


@pytest.fixture(scope="module")
def gateway(shared_fake_ollama: FakeOllama) -> Iterator[ServerProcess]:
    env = {"LIFTOFF_BACKEND": "ollama", "OLLAMA_HOST": shared_fake_ollama.url,
           "LIFTOFF_BODY_TIMEOUT": "1"}  # fmt: skip
    with ServerProcess("liftoff.api.main:app", env) as server:
        yield server


@pytest.mark.parametrize("model", [
    "../../../../etc/passwd", "llama3.1:8b/../../secrets", "..\\..\\windows", "a\x00b",
    "x" * 300,
])  # fmt: skip
def test_traversal_and_odd_model_names_are_refused_before_reaching_ollama(
    gateway: ServerProcess, shared_fake_ollama: FakeOllama, model: str
) -> None:
    before = len(shared_fake_ollama.requests)
    for path, body in [
        ("/api/chat", {"model": model, "messages": [{"role": "user", "content": "hi"}]}),
        ("/api/embed", {"model": model, "input": "hi"}),
        ("/v1/completions", {"model": model, "prompt": "hi"}),
    ]:
        response = httpx.post(gateway.url + path, json=body)
        assert response.status_code == 400, response.text
        assert "is not valid" in response.text
    assert all(r.path == "/api/tags" for r in shared_fake_ollama.requests[before:])


def _raw_request(port: int, head: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    return answer


def test_a_body_trickling_in_is_cut_off_with_408(gateway: ServerProcess) -> None:
    head = (b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n{")  # fmt: skip
    started = time.monotonic()
    with _raw_request(gateway.port, head) as sock:
        sock.sendall(b'"model"')  # then nothing more
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"did not arrive within 1 s" in answer
    assert time.monotonic() - started < 5
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200


def test_a_declared_oversized_body_is_refused_before_it_is_sent(gateway: ServerProcess) -> None:
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: 999999999\r\n\r\n")  # fmt: skip
    with _raw_request(gateway.port, head) as sock:
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"larger than this route's limit" in answer


def test_valid_model_names_still_pass(gateway: ServerProcess) -> None:
    body = {"model": DEFAULT_MODEL, "messages": [{"role": "user", "content": "a b"}],
            "stream": False}  # fmt: skip
    assert httpx.post(f"{gateway.url}/api/chat", json=body).status_code == 200
