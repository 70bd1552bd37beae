"""Google identity tokens for calling a private Cloud Run service (Ollama) from the gateway.

On Cloud Run the Ollama service accepts only callers with the ``run.invoker`` role; the
gateway proves who it is with an identity token for Ollama's URL (the audience), fetched
from the instance's metadata server. Tokens last an hour; this refreshes one five minutes
before it expires, once, however many requests are waiting.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import AsyncGenerator, Callable

import httpx

from liftoff.api.errors import BackendUnavailable

REFRESH_MARGIN_SECONDS = 300.0


def metadata_host() -> str:
    # The variable Google's own client libraries honour; tests point it at a fake.
    return os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")


class GoogleIdentityToken(httpx.Auth):
    """``httpx`` auth adding ``Authorization: Bearer <identity token>`` for ``audience``."""

    def __init__(self, audience: str, *, clock: Callable[[], float] = time.time) -> None:
        self.audience = audience
        self._clock = clock
        self._token = ""
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self.token()}"
        yield request

    async def token(self) -> str:
        async with self._lock:
            if self._clock() >= self._expires_at - REFRESH_MARGIN_SECONDS:
                self._token = await self._fetch()
                self._expires_at = _expiry(self._token)
            return self._token

    async def _fetch(self) -> str:
        url = (
            f"http://{metadata_host()}/computeMetadata/v1/instance/service-accounts/default/"
            "identity"
        )
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.get(
                    url,
                    params={"audience": self.audience, "format": "full"},
                    headers={"Metadata-Flavor": "Google"},
                )
                response.raise_for_status()
        except httpx.HTTPError as exc:
            raise BackendUnavailable(
                f"cannot get an identity token for {self.audience} from the metadata server: "
                f"{type(exc).__name__}"
            ) from exc
        return response.text.strip()


def _expiry(token: str) -> float:
    """The ``exp`` claim of a JWT (read, not verified: the metadata server is trusted)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError) as exc:
        raise BackendUnavailable("the metadata server returned a malformed identity token") from exc
