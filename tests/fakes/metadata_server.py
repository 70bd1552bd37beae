"""A FAKE Google Compute metadata server: just the identity-token endpoint Cloud Run offers.

``GET /computeMetadata/v1/instance/service-accounts/default/identity?audience=A`` with the
header ``Metadata-Flavor: Google`` returns a signed-looking JWT whose ``exp`` is
``lifetime`` seconds ahead (real tokens: one hour). The signature is not real: callers
only read the expiry; the receiving service (Cloud Run) is what verifies tokens.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.servers import serve_in_thread

IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/default/identity"


@dataclass
class FakeMetadata:
    lifetime: float = 3600.0
    issued: list[str] = field(default_factory=list)  # tokens handed out, in order
    url: str = ""

    def app(self) -> Starlette:
        return Starlette(routes=[Route(IDENTITY_PATH, self._identity), Route("/", _ok)])

    async def _identity(self, request: Request) -> Response:
        if request.headers.get("metadata-flavor") != "Google":
            return PlainTextResponse("Missing Metadata-Flavor:Google header.", status_code=403)
        audience = request.query_params.get("audience")
        if not audience:
            return PlainTextResponse("non-empty audience parameter required", status_code=400)
        claims = {"aud": audience, "exp": int(time.time() + self.lifetime),
                  "iat": int(time.time()), "n": len(self.issued)}  # fmt: skip
        token = ".".join(
            [_b64({"alg": "RS256", "typ": "JWT"}), _b64(claims), "ZmFrZS1zaWduYXR1cmU"]
        )
        self.issued.append(token)
        return PlainTextResponse(token)


async def _ok(request: Request) -> Response:
    return PlainTextResponse("ok")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.fixture
def fake_metadata(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMetadata]:
    """A running fake metadata server, with ``GCE_METADATA_HOST`` pointing at it."""
    fake = FakeMetadata()
    with serve_in_thread(fake.app(), ready_path="/") as url:
        fake.url = url
        monkeypatch.setenv("GCE_METADATA_HOST", url.removeprefix("http://"))
        yield fake
