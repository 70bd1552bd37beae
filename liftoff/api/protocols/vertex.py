"""Vertex AI custom-container surface: ``AIP_HEALTH_ROUTE`` and ``AIP_PREDICT_ROUTE``.

``{"instances": [{"prompt": ...} | {"messages": [...]}], "parameters": {...}}`` in,
``{"predictions": [...]}`` out, one prediction per instance in instance order. Vertex's
predict protocol has no streaming form, so neither does this surface.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from liftoff.api.backends.base import Completion, GenerationRequest, SamplingOptions
from liftoff.api.config import Settings
from liftoff.api.deps import CallerDep, GeneratorDep
from liftoff.api.generation import Generator
from liftoff.api.protocols.bounds import MAX_INSTANCES, MAX_MESSAGES, ModelName, StopList
from liftoff.api.protocols.errors import OLLAMA_ERRORS, FieldNames
from liftoff.api.protocols.health import readiness
from liftoff.api.protocols.openai import Message
from liftoff.api.protocols.streaming import complete
from liftoff.server.context import RequestInfo
from liftoff.server.disconnect import unless_disconnected


class Instance(BaseModel):
    # Exactly one of the two, as the document says too.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["prompt"], "properties": {"prompt": {"type": "string"}}},
                {"required": ["messages"], "properties": {"messages": {"type": "array"}}},
            ]
        },
    )

    prompt: str | None = None
    messages: list[Message] | None = Field(default=None, min_length=1, max_length=MAX_MESSAGES)

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> Instance:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("an instance has either 'prompt' or 'messages'")
        return self


class Parameters(BaseModel):
    """Vertex's generation parameters; snake_case and camelCase names are both accepted."""

    model_config = ConfigDict(extra="forbid")

    model: ModelName | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(
        default=None, gt=0, le=1, validation_alias=AliasChoices("top_p", "topP")
    )
    top_k: int | None = Field(default=None, ge=1, validation_alias=AliasChoices("top_k", "topK"))
    max_output_tokens: int | None = Field(
        default=None,
        ge=1,
        validation_alias=AliasChoices("max_output_tokens", "maxOutputTokens", "max_tokens"),
    )
    stop_sequences: StopList | None = Field(
        default=None, validation_alias=AliasChoices("stop_sequences", "stopSequences", "stop")
    )
    seed: int | None = None

    def sampling(self) -> SamplingOptions:
        return SamplingOptions(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            max_tokens=self.max_output_tokens,
            stop=tuple(self.stop_sequences or ()),
            seed=self.seed,
        )


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instances: list[Instance] = Field(min_length=1, max_length=MAX_INSTANCES)
    parameters: Parameters = Field(default_factory=Parameters)


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["Vertex AI"], responses=OLLAMA_ERRORS)

    @router.get(settings.vertex_health_route)
    async def vertex_health(request: Request, generator: GeneratorDep) -> dict[str, str]:
        """Vertex AI's health check: 200 once the model can serve."""
        return await readiness(generator, request.app.state.lifecycle)

    @router.post(settings.vertex_predict_route)
    async def vertex_predict(
        body: PredictRequest, generator: GeneratorDep, caller: CallerDep, request: Request
    ) -> dict[str, Any]:
        """Vertex AI prediction: one generation per instance, in order; stops when the
        client leaves."""
        predictions = await unless_disconnected(request, _predict(body, generator, caller))
        return {"predictions": predictions}

    return router


async def _predict(
    body: PredictRequest, generator: Generator, caller: RequestInfo
) -> list[dict[str, Any]]:
    model = body.parameters.model or (await generator.list_models())[0].id
    requests = [_to_generation(instance, model, body.parameters) for instance in body.instances]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(complete(generator, request, caller, _fields(index)))
                for index, request in enumerate(requests)
            ]
    except ExceptionGroup as failures:
        # The first failure speaks for the request; the other instances were cancelled.
        raise failures.exceptions[0] from None
    return [_prediction(task.result()) for task in tasks]


def _fields(index: int) -> FieldNames:
    """Vertex's names for the fields of instance ``index``'s generation."""
    return FieldNames(
        {
            "model": "parameters.model",
            "options": "parameters",
            "options.max_tokens": "parameters.max_output_tokens",
            "options.stop": "parameters.stop_sequences",
            "prompt": f"instances.{index}.prompt",
            "messages": f"instances.{index}.messages",
        }
    )


def _to_generation(instance: Instance, model: str, parameters: Parameters) -> GenerationRequest:
    options = parameters.sampling()
    if instance.messages is not None:
        messages = tuple(message.to_chat_message() for message in instance.messages)
        return GenerationRequest(model=model, messages=messages, options=options)
    return GenerationRequest(model=model, prompt=instance.prompt, options=options)


def _prediction(completion: Completion) -> dict[str, Any]:
    usage = completion.usage
    return {
        "content": completion.text,
        "finish_reason": completion.reason,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        },
    }


__all__ = ["build_router"]
