"""A FAKE Google Compute metadata server: what Cloud Run, GKE and Compute Engine offer a
workload about its own identity.

- ``GET /`` answers with ``Metadata-Flavor: Google`` (google-auth's "am I on Google Cloud?"
  ping, sent to ``GCE_METADATA_IP``);
- ``GET /computeMetadata/v1/instance/service-accounts/default/identity?audience=A``: a
  signed-looking JWT whose ``exp`` is ``lifetime`` seconds ahead (real tokens: one hour). The
  signature is not real: callers only read the expiry; the receiving service (Cloud Run) is
  what verifies tokens;
- ``GET .../service-accounts/default/?recursive=true``: the account's email and scopes;
- ``GET .../service-accounts/default/token``: an OAuth access token, added to
  ``access_tokens`` (share that set with a fake API to have it accept them);
- ``GET /computeMetadata/v1/project/project-id``: the project.

Every ``/computeMetadata`` request must carry ``Metadata-Flavor: Google``, as on Google Cloud.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.servers import serve_in_thread

ACCOUNT_PATH = "/computeMetadata/v1/instance/service-accounts/default"
IDENTITY_PATH = f"{ACCOUNT_PATH}/identity"
FLAVOR = {"Metadata-Flavor": "Google"}


@dataclass
class FakeMetadata:
    lifetime: float = 3600.0
    issued: list[str] = field(default_factory=list)  # identity tokens handed out, in order
    access_tokens: set[str] = field(default_factory=set)
    project_id: str = "test-project"
    email: str = "123456789-compute@developer.gserviceaccount.com"
    url: str = ""

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(IDENTITY_PATH, self._identity),
                Route(f"{ACCOUNT_PATH}/", self._account),
                Route(f"{ACCOUNT_PATH}/token", self._token),
                Route("/computeMetadata/v1/project/project-id", self._project),
                Route("/", _ok),
            ]
        )

    async def _identity(self, request: Request) -> Response:
        if (refused := _unflavoured(request)) is not None:
            return refused
        audience = request.query_params.get("audience")
        if not audience:
            return PlainTextResponse("non-empty audience parameter required", status_code=400)
        claims = {"aud": audience, "exp": int(time.time() + self.lifetime),
                  "iat": int(time.time()), "n": len(self.issued)}  # fmt: skip
        token = ".".join(
            [_b64({"alg": "RS256", "typ": "JWT"}), _b64(claims), "ZmFrZS1zaWduYXR1cmU"]
        )
        self.issued.append(token)
        return PlainTextResponse(token, headers=FLAVOR)

    async def _account(self, request: Request) -> Response:
        if (refused := _unflavoured(request)) is not None:
            return refused
        scopes = ["https://www.googleapis.com/auth/cloud-platform"]
        info = {"aliases": ["default"], "email": self.email, "scopes": scopes}
        return JSONResponse(info, headers=FLAVOR)

    async def _token(self, request: Request) -> Response:
        if (refused := _unflavoured(request)) is not None:
            return refused
        token = "ya29.fake-metadata-" + secrets.token_urlsafe(16)
        self.access_tokens.add(token)
        body = {"access_token": token, "expires_in": int(self.lifetime), "token_type": "Bearer"}
        return JSONResponse(body, headers=FLAVOR)

    async def _project(self, request: Request) -> Response:
        if (refused := _unflavoured(request)) is not None:
            return refused
        return PlainTextResponse(self.project_id, headers=FLAVOR)


def _unflavoured(request: Request) -> Response | None:
    if request.headers.get("metadata-flavor") != "Google":
        return PlainTextResponse("Missing Metadata-Flavor:Google header.", status_code=403)
    return None


async def _ok(request: Request) -> Response:
    return PlainTextResponse("ok", headers=FLAVOR)


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
