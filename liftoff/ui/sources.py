"""The model servers the UI chats with, and which one serves which model.

The gateway is always one source; the retrieval service, when ``LIFTOFF_UI_RETRIEVAL_URL``
names it, is a second OpenAI-compatible one whose models (``rag:<collection>``) join the
picker. Each source has its own ``openai`` client and key, held here on the server: the
browser only ever sees model names. A model both list is served by the gateway.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import openai
from pydantic import SecretStr

from liftoff.ui.config import Settings
from liftoff.ui.errors import UpstreamError, translate

logger = logging.getLogger("liftoff.ui")


@dataclass(frozen=True)
class Source:
    """One OpenAI-compatible server: a name for people, its base URL, its client."""

    name: str
    url: str
    client: openai.AsyncOpenAI

    def error(self, exc: openai.OpenAIError) -> UpstreamError:
        return translate(exc, source=self.name, url=self.url)


@dataclass(frozen=True)
class Listing:
    """What the sources listed: model id -> source, in listing order, and what failed."""

    models: dict[str, Source] = field(default_factory=dict)
    problems: list[UpstreamError] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return list(self.models)


class Sources:
    """The gateway and, when configured, the retrieval service.

    >>> sources = Sources(Settings(_env_file=None))
    >>> [source.name for source in sources.all]
    ['the gateway']
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        gateway_key = settings.gateway_api_key
        self.gateway = self._source("the gateway", settings.gateway_url, gateway_key)
        self.retrieval: Source | None = None
        if settings.retrieval_url:
            key = settings.retrieval_api_key or gateway_key
            self.retrieval = self._source("the retrieval service", settings.retrieval_url, key)

    @property
    def all(self) -> list[Source]:
        return [self.gateway, *([self.retrieval] if self.retrieval else [])]

    def _source(self, name: str, url: str, key: SecretStr | None) -> Source:
        secret = key.get_secret_value() if key is not None else ""
        client = openai.AsyncOpenAI(
            base_url=url,
            # The SDK insists on a key; a server without authentication ignores this one.
            api_key=secret or "no-key",
            timeout=openai.Timeout(
                self.settings.request_timeout, connect=self.settings.connect_timeout
            ),
            # A person is waiting: one clear error now beats a silent retry with backoff.
            max_retries=0,
        )
        return Source(name, url, client)

    async def list_models(self) -> Listing:
        """Every source's models (``GET /v1/models``), asked at once; failures are reported."""
        answers = await asyncio.gather(*(self._models(source) for source in self.all))
        listing = Listing()
        for source, answer in zip(self.all, answers, strict=True):
            if isinstance(answer, UpstreamError):
                listing.problems.append(answer)
                continue
            for model in answer:
                if len(listing.models) >= self.settings.max_models:
                    break
                listing.models.setdefault(model, source)
        return listing

    async def _models(self, source: Source) -> list[str] | UpstreamError:
        try:
            page = await source.client.models.list()
        except openai.OpenAIError as exc:
            error = source.error(exc)
            logger.warning("listing models failed: %s", error.message)
            return error
        return [
            model.id
            for model in page.data
            if isinstance(model.id, str) and model.id and _chats(model.model_extra or {})
        ]

    async def aclose(self) -> None:
        for source in self.all:
            await source.client.close()


def _chats(extra: dict[str, object]) -> bool:
    """Whether a listed model can chat: the gateway lists its embedding model too, saying so
    in ``capabilities``; a server that does not say is taken at its word."""
    capabilities = extra.get("capabilities")
    return not isinstance(capabilities, list) or "completion" in capabilities
