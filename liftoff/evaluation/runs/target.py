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
The ``citations`` an answer carries (``rag:`` models) are kept with it
(:mod:`~liftoff.evaluation.runs.citations`).
"""

from __future__ import annotations

import time
from typing import Any

import openai
from openai import NOT_GIVEN, AsyncOpenAI

from liftoff.evaluation.runs.citations import citations_from
from liftoff.evaluation.runs.dataset import Example
from liftoff.evaluation.runs.errors import TargetError
from liftoff.evaluation.runs.model import Endpoint, Generation, GenerationParams

_NO_KEY = "no-key"  # the SDK insists on a key; servers without auth ignore it


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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.probe_timeout = probe_timeout
        self.client = AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key or _NO_KEY,
            max_retries=retries,
            timeout=timeout,
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
        try:
            page = await client.models.list()
        except openai.APIStatusError as exc:
            raise TargetError(self._refusal(exc), param="target") from exc
        except openai.APITimeoutError as exc:
            raise TargetError(
                f"the target {self.base_url} did not answer within {self.probe_timeout:g} s",
                param="target",
            ) from exc
        except openai.APIConnectionError as exc:
            raise TargetError(
                f"cannot reach the target {self.base_url}: {_cause(exc)}; is it running, and "
                "is the URL right?",
                param="target",
            ) from exc
        served = [entry.id for entry in page.data]
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
                "set OPENAI_API_KEY (or LIFTOFF_EVAL_TARGET_API_KEY) to a key it accepts"
            )
        if exc.status_code == 404:
            return (
                f"the target answered 404 to {where}: is {self.base_url} an OpenAI-compatible "
                "base URL (usually ending in /v1)?"
            )
        return f"the target answered {exc.status_code} to {where}: {_detail(exc)}"

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
                text, finish, usage = choice.text, choice.finish_reason, completion.usage
                extra = completion.model_extra
            else:
                chat = await self.client.chat.completions.create(
                    model=model, messages=_messages(example), **sampling
                )
                answer = chat.choices[0]
                text, finish, usage = answer.message.content or "", answer.finish_reason, chat.usage
                extra = chat.model_extra
        except openai.APIStatusError as exc:
            raise GenerationFailed(
                f"the target answered {exc.status_code}: {_detail(exc)}"
            ) from exc
        except openai.APITimeoutError as exc:
            raise GenerationFailed("the target did not answer in time") from exc
        except openai.APIConnectionError as exc:
            raise GenerationFailed(f"cannot reach the target: {_cause(exc)}") from exc
        except (openai.OpenAIError, IndexError) as exc:
            raise GenerationFailed(f"unusable answer from the target: {exc}") from exc
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


def _messages(example: Example) -> list[Any]:
    if example.messages is None:
        return [{"role": "user", "content": example.prompt or ""}]
    return [{"role": m.role, "content": m.content} for m in example.messages]


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return exc.message


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return str(cause) if cause is not None and str(cause) else str(exc)
