"""Images on the embedded engine: refused, naming the field, without a multimodal
projector; malformed images refused on every surface before any backend sees them."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.servers import ServerProcess

PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\n fake pixels").decode()


def _openai_image(url: str, **extra: str) -> list[dict[str, object]]:
    return [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": url, **extra}},
    ]}]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "param", "message"),
    [
        ("/v1/chat/completions", {"messages": _openai_image(f"data:image/png;base64,{PIXEL}")},
         "messages.0.content", "messages.0.content cannot be read: the embedded model has no "
         "multimodal projector (LIFTOFF_MMPROJ)"),
        ("/api/chat", {"messages": [{"role": "user", "content": "What?", "images": [PIXEL]}]},
         "messages.0.images", "messages.0.images cannot be read"),
        ("/api/generate", {"prompt": "What?", "images": [PIXEL]}, "images",
         "images cannot be read"),
    ],
)  # fmt: skip
def test_the_embedded_engine_refuses_images_naming_the_field(
    gateway: ServerProcess,
    model_id: str,
    path: str,
    body: dict[str, object],
    param: str,
    message: str,
) -> None:
    answer = httpx.post(f"{gateway.url}{path}", json={"model": model_id, **body})
    assert answer.status_code == 400
    error = answer.json()["error"]
    if path.startswith("/v1/"):
        assert error["param"] == param and error["message"] == message
    else:
        assert error.startswith(message)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/chat/completions", {"messages": _openai_image("data:image/png;base64,@@@")},
         "messages.0.content.1.image_url.url: Value error, the image data is not valid base64"),
        ("/v1/chat/completions", {"messages": _openai_image("file:///etc/passwd")},
         "messages.0.content.1.image_url.url: Value error, an image URL is a data: URL or an "
         "http(s) URL"),
        ("/v1/chat/completions",
         {"messages": _openai_image(f"data:image/png;base64,{PIXEL}", detail="high")},
         "messages.0.content.1.image_url.detail: Input should be 'auto'"),
        ("/api/chat", {"messages": [{"role": "user", "content": "x", "images": ["not base64!"]}]},
         "messages.0.images: Value error, the image data is not valid base64"),
        ("/api/chat", {"messages": [{"role": "user", "content": "x", "images": [PIXEL] * 17}]},
         "messages.0.images: List should have at most 16 items after validation, not 17"),
    ],
)  # fmt: skip
def test_malformed_images_are_400s_naming_the_field(
    gateway: ServerProcess, model_id: str, path: str, body: dict[str, object], message: str
) -> None:
    answer = httpx.post(f"{gateway.url}{path}", json={"model": model_id, **body})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["message"] if path.startswith("/v1/") else error).startswith(message)
