"""The endpoint a run generates with: any OpenAI-compatible server, through the ``openai`` SDK.

    target = Target("http://127.0.0.1:8000/v1", api_key=None, retries=3, timeout=300)
    model = await target.probe(None)  # the first model listed
    generation = await target.generate(example, model, "auto", GenerationParams())

``probe`` runs before a run is created, so a wrong URL, key or model is refused up front
(:class:`~liftoff.evaluation.runs.errors.TargetError`). ``generate`` retries with the SDK's own
backoff (connection errors, 408, 409, 429, 5xx) and raises :class:`GenerationFailed` with a
one-line reason when the example cannot be generated.

Rows with ``prompt`` go to ``/completions`` and rows with ``messages`` to
``/chat/completions`` (endpoint ``auto``); endpoint ``chat`` sends a prompt as one user message.

What a target answers never leaks back: redirects are not followed (the key would follow
them), errors name the HTTP status and never repeat the body (a service calling a URL a
caller chose must not become a way to read, or probe, what only it can reach), and an
answer that is not the OpenAI shape (an HTML page with 200) is an error, not a crash. With
``public_only`` the client connects to public addresses only (:class:`PublicAddressesOnly`).

The ``citations`` an answer carries (``rag:`` models) are kept with it
(:mod:`~liftoff.evaluation.runs.citations`).
"""

from __future__ import annotations

import asyncio
import http
import ipaddress
import socket
import time
from typing import Any

import httpx2
import openai
from openai import NOT_GIVEN, AsyncOpenAI

from liftoff.evaluation.runs.citations import citations_from
from liftoff.evaluation.runs.dataset import Example
from liftoff.evaluation.runs.errors import TargetError
from liftoff.evaluation.runs.model import Endpoint, Generation, GenerationParams

_NO_KEY = "no-key"  # the SDK insists on a key; servers without auth ignore it
# What an answer that is not the OpenAI shape raises while the SDK parses it, or while we
# read its fields: the SDK builds its models without validating them.
_MALFORMED = (AttributeError, TypeError, ValueError, KeyError, IndexError)


class GenerationFailed(Exception):
    """One example could not be generated after the retries; the message says why."""


class Target:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        retries: int,
        timeout: float,
        probe_timeout: float = 10.0,
        public_only: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.probe_timeout = probe_timeout
        transport = PublicAddressesOnly() if public_only else None
        self.client = AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key or _NO_KEY,
            max_retries=retries,
            timeout=timeout,
            # Never follow a redirect: the Authorization header would go with it.
            http_client=openai.DefaultAsyncHttpx2Client(
                follow_redirects=False, transport=transport, trust_env=not public_only
            ),
        )

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> Target:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def probe(self, model: str | None) -> str:
        """The model to use (``model``, else the first one listed), after checking that the
        target answers ``GET /models`` and serves it; raises ``TargetError`` otherwise."""
        client = self.client.with_options(timeout=self.probe_timeout, max_retries=1)
        where = f"GET {self.base_url}/models"
        try:
            page = await client.models.list()
            served = [_text(entry.id) for entry in page.data]
        except openai.APIStatusError as exc:
            raise TargetError(self._refusal(exc), param="target") from exc
        except openai.APITimeoutError as exc:
            raise TargetError(
                f"the target {self.base_url} did not answer within {self.probe_timeout:g} s",
                param="target",
            ) from exc
        except openai.APIConnectionError as exc:
            if isinstance(exc.__cause__, NotPublic):
                raise TargetError(str(exc.__cause__), param="target") from exc
            raise TargetError(
                f"cannot reach the target {self.base_url}: {_cause(exc)}; is it running, and "
                "is the URL right?",
                param="target",
            ) from exc
        except (openai.OpenAIError, *_MALFORMED) as exc:
            raise TargetError(
                f"the target's answer to {where} is not an OpenAI model list: is "
                f"{self.base_url} an OpenAI-compatible base URL (usually ending in /v1)?",
                param="target",
            ) from exc
        if not model:
            if not served:
                raise TargetError(
                    f"the target {self.base_url} lists no models: name one with model",
                    param="model",
                )
            return served[0]
        if served and model not in served:
            raise TargetError(
                f"model {model!r} is not served by {self.base_url}; available: {', '.join(served)}",
                param="model",
            )
        return model

    def _refusal(self, exc: openai.APIStatusError) -> str:
        where = f"GET {self.base_url}/models"
        if exc.status_code in (401, 403):
            return (
                f"the target {self.base_url} refused the API key ({exc.status_code} to {where}): "
                "give target.api_key, or use the target this service is configured with"
            )
        if exc.status_code == 404:
            return (
                f"the target answered 404 to {where}: is {self.base_url} an OpenAI-compatible "
                "base URL (usually ending in /v1)?"
            )
        if 300 <= exc.status_code < 400:
            return (
                f"the target answered {_status(exc.status_code)} to {where}; redirects are not "
                "followed: give the URL it redirects to"
            )
        return f"the target answered {_status(exc.status_code)} to {where}"

    async def generate(
        self, example: Example, model: str, endpoint: Endpoint, params: GenerationParams
    ) -> Generation:
        """The target's answer to one example; raises ``GenerationFailed``."""
        sampling: dict[str, Any] = {
            "max_tokens": params.max_tokens if params.max_tokens is not None else NOT_GIVEN,
            "temperature": params.temperature,
            "top_p": params.top_p if params.top_p is not None else NOT_GIVEN,
            "seed": params.seed if params.seed is not None else NOT_GIVEN,
            "stop": params.stop or NOT_GIVEN,
        }
        started = time.perf_counter()
        try:
            if example.prompt is not None and endpoint != "chat":
                completion = await self.client.completions.create(
                    model=model, prompt=example.prompt, **sampling
                )
                choice = completion.choices[0]
                text, finish, usage = _text(choice.text), choice.finish_reason, completion.usage
                extra = completion.model_extra
            else:
                chat = await self.client.chat.completions.create(
                    model=model, messages=_messages(example), **sampling
                )
                answer = chat.choices[0]
                text = _text(answer.message.content or "")
                finish, usage = answer.finish_reason, chat.usage
                extra = chat.model_extra
        except openai.APIStatusError as exc:
            raise GenerationFailed(f"the target answered {_status(exc.status_code)}") from exc
        except openai.APITimeoutError as exc:
            raise GenerationFailed("the target did not answer in time") from exc
        except openai.APIConnectionError as exc:
            raise GenerationFailed(f"cannot reach the target: {_cause(exc)}") from exc
        except (openai.OpenAIError, *_MALFORMED) as exc:
            raise GenerationFailed(
                "the target's answer is not an OpenAI completion (is it an OpenAI-compatible "
                "server?)"
            ) from exc
        try:
            citations = citations_from(extra)
        except ValueError as exc:
            raise GenerationFailed(f"unusable citations from the target: {exc}") from exc
        return Generation(
            prediction=text,
            latency_s=round(time.perf_counter() - started, 4),
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            finish_reason=finish,
            citations=citations,
        )


class NotPublic(httpx2.ConnectError):
    """The target's name resolves to an address that is not public."""


class PublicAddressesOnly(httpx2.AsyncBaseTransport):
    """An HTTP transport that connects to public (globally routable) addresses only.

    Each request's host name is resolved once, here; the request is refused unless every
    address it resolves to is global (not loopback, private, link-local such as cloud
    metadata servers at 169.254.169.254, shared, reserved or multicast), then sent to one
    of them with the original ``Host`` header and TLS server name, so a name that resolves
    differently a moment later (DNS rebinding) cannot slip past the check.
    """

    def __init__(self, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self._inner = inner or httpx2.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        address = await _public_address(host, port, request)
        extensions = dict(request.extensions)
        if request.url.scheme == "https":
            extensions.setdefault("sni_hostname", host)
        pinned = httpx2.Request(
            request.method,
            request.url.copy_with(host=address),
            headers=request.headers,  # Host: the name, as sent
            stream=request.stream,
            extensions=extensions,
        )
        return await self._inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _public_address(host: str, port: int, request: httpx2.Request) -> str:
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpx2.ConnectError(f"cannot resolve {host}", request=request) from exc
    addresses = {ipaddress.ip_address(entry[4][0]) for entry in found}
    if not addresses or not all(_is_public(address) for address in addresses):
        raise NotPublic(
            f"the target {host} is not at a public address; this service reaches other "
            "addresses only when they are listed in LIFTOFF_EVAL_TARGETS",
            request=request,
        )
    return str(sorted(addresses, key=lambda a: a.version)[0])


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _messages(example: Example) -> list[Any]:
    if example.messages is None:
        return [{"role": "user", "content": example.prompt or ""}]
    return [{"role": m.role, "content": m.content} for m in example.messages]


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _status(code: int) -> str:
    """``404 Not Found``: the status and its standard phrase, nothing the target wrote."""
    try:
        return f"{code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return str(cause) if cause is not None and str(cause) else str(exc)
