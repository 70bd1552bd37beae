"""Vertex AI custom-container surface: ``AIP_HEALTH_ROUTE`` and ``AIP_PREDICT_ROUTE``.

``{"instances": [{"prompt": ...} | {"messages": [...]}], "parameters": {...}}`` in,
``{"predictions": [...]}`` out, one prediction per instance in instance order. Vertex's
predict protocol has no streaming form, so neither does this surface.

``parameters`` takes Gemini's ``GenerationConfig`` names (camelCase, or snake_case);
what each does is in ``liftoff.api.protocols.parameters.VERTEX_PARAMETERS``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from liftoff.api.backends.base import (
    Completion,
    GenerationRequest,
    ResponseFormat,
    SamplingOptions,
    TokenLogprob,
)
from liftoff.api.config import Settings
from liftoff.api.deps import CallerDep, GeneratorDep
from liftoff.api.errors import FieldError, InvalidRequest
from liftoff.api.generation import Generator
from liftoff.api.protocols.bounds import MAX_INSTANCES, MAX_MESSAGES, ModelName, Seed, StopList
from liftoff.api.protocols.errors import OLLAMA_ERRORS, FieldNames
from liftoff.api.protocols.health import readiness
from liftoff.api.protocols.openai import Message, to_chat_messages
from liftoff.api.protocols.parameters import VERTEX_PARAMETERS, Policed
from liftoff.api.protocols.streaming import complete
from liftoff.api.protocols.tool_fields import JSONObject, gemini_schema
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


def _names(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Parameters(Policed):
    """Vertex's generation parameters, named as Gemini's ``GenerationConfig`` names them;
    snake_case spellings are accepted too."""

    __policy__ = VERTEX_PARAMETERS

    model: ModelName | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1, validation_alias=_names("top_p", "topP"))
    top_k: int | None = Field(default=None, ge=0, validation_alias=_names("top_k", "topK"))
    max_output_tokens: int | None = Field(
        default=None,
        ge=1,
        validation_alias=_names("max_output_tokens", "maxOutputTokens", "max_tokens"),
    )
    stop_sequences: StopList | None = Field(
        default=None, validation_alias=_names("stop_sequences", "stopSequences", "stop")
    )
    seed: Seed | None = None
    presence_penalty: float | None = Field(
        default=None, validation_alias=_names("presence_penalty", "presencePenalty")
    )
    frequency_penalty: float | None = Field(
        default=None, validation_alias=_names("frequency_penalty", "frequencyPenalty")
    )
    response_logprobs: bool | None = Field(
        default=None, validation_alias=_names("response_logprobs", "responseLogprobs")
    )
    logprobs: int | None = Field(default=None, ge=0, le=20)
    candidate_count: int | None = Field(
        default=None, validation_alias=_names("candidate_count", "candidateCount")
    )
    response_modalities: list[str] | None = Field(
        default=None, validation_alias=_names("response_modalities", "responseModalities")
    )
    # Structured output, named as Gemini's generationConfig names it: "application/json"
    # alone asks for any JSON object; with a response schema, JSON matching it.
    response_mime_type: Literal["text/plain", "application/json"] | None = Field(
        default=None, validation_alias=AliasChoices("response_mime_type", "responseMimeType")
    )
    # Gemini's Schema (OpenAPI's subset: "OBJECT", nullable...), or plain JSON Schema.
    response_schema: JSONObject | None = Field(
        default=None, validation_alias=AliasChoices("response_schema", "responseSchema")
    )
    response_json_schema: JSONObject | None = Field(
        default=None, validation_alias=AliasChoices("response_json_schema", "responseJsonSchema")
    )

    @property
    def schema_field(self) -> str:
        """The name of the schema this request sent, for errors about it."""
        if self.response_json_schema is not None:
            return "parameters.response_json_schema"
        return "parameters.response_schema"

    def response_format(self) -> ResponseFormat | None:
        if self.response_schema is not None and self.response_json_schema is not None:
            raise InvalidRequest(
                "parameters.response_json_schema: send it or response_schema, not both",
                param="parameters.response_json_schema",
            )
        schema = self.response_json_schema
        if self.response_schema is not None:
            schema = gemini_schema(self.response_schema)
        if schema is not None and self.response_mime_type != "application/json":
            raise InvalidRequest(
                f'{self.schema_field} needs parameters.response_mime_type "application/json"',
                param="parameters.response_mime_type",
            )
        if self.response_mime_type != "application/json":
            return None
        if schema is None:
            return ResponseFormat("json_object")
        return ResponseFormat("json_schema", schema)

    def sampling(self) -> SamplingOptions:
        if self.logprobs is not None and not self.response_logprobs:
            raise FieldError("parameters.logprobs", "needs responseLogprobs: true")
        return SamplingOptions(
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            max_tokens=self.max_output_tokens,
            stop=tuple(self.stop_sequences or ()),
            seed=self.seed,
            # 0 is no penalty on every backend: the same as leaving it to the backend.
            frequency_penalty=self.frequency_penalty or None,
            presence_penalty=self.presence_penalty or None,
            logprobs=(self.logprobs or 0) if self.response_logprobs else None,
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
                group.create_task(
                    complete(generator, request, caller, _fields(index, body.parameters))
                )
                for index, request in enumerate(requests)
            ]
    except ExceptionGroup as failures:
        # The first failure speaks for the request; the other instances were cancelled.
        raise failures.exceptions[0] from None
    return [_prediction(task.result()) for task in tasks]


def _fields(index: int, parameters: Parameters) -> FieldNames:
    """Vertex's names for the fields of instance ``index``'s generation."""
    return FieldNames(
        {
            "model": "parameters.model",
            "options": "parameters",
            "options.max_tokens": "parameters.max_output_tokens",
            "options.stop": "parameters.stop_sequences",
            "response_format": parameters.schema_field,
            "options.logprobs": "parameters.logprobs",
            "prompt": f"instances.{index}.prompt",
            "messages": f"instances.{index}.messages",
        }
    )


def _to_generation(instance: Instance, model: str, parameters: Parameters) -> GenerationRequest:
    options = parameters.sampling()
    response_format = parameters.response_format()
    if instance.messages is not None:
        messages = to_chat_messages(instance.messages)
        return GenerationRequest(
            model=model, messages=messages, options=options, response_format=response_format
        )
    return GenerationRequest(
        model=model, prompt=instance.prompt, options=options, response_format=response_format
    )


def _prediction(completion: Completion) -> dict[str, Any]:
    usage = completion.usage
    prediction: dict[str, Any] = {
        "content": completion.text,
        "finish_reason": completion.reason,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        },
    }
    if completion.logprobs:
        prediction["logprobsResult"] = _logprobs_result(completion.logprobs)
    return prediction


def _logprobs_result(logprobs: tuple[TokenLogprob, ...]) -> dict[str, Any]:
    """Gemini's ``logprobsResult``: the chosen token at each step, and the top candidates."""
    return {
        "chosenCandidates": [
            {"token": entry.token, "logProbability": entry.logprob} for entry in logprobs
        ],
        "topCandidates": [
            {"candidates": [{"token": alt.token, "logProbability": alt.logprob}
                            for alt in entry.top]}
            for entry in logprobs
        ],
    }  # fmt: skip


__all__ = ["build_router"]
