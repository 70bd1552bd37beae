"""The parameter policy: one table per surface holding every field of the upstream API
reference, in step with the request models and the README; every refused field, and every
neutral-only one at another value, is a 400 naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.genai import types as genai_types
from ollama import _types as ollama_types
from openai.types import completion_create_params, embedding_create_params
from openai.types.chat import (
    chat_completion_stream_options_param,
)
from openai.types.chat import (
    completion_create_params as chat_params,
)
from pydantic import BaseModel

from liftoff.api.protocols import ollama, openai, vertex
from liftoff.api.protocols.parameters import (
    OLLAMA_CHAT,
    OLLAMA_EMBED,
    OLLAMA_GENERATE,
    OPENAI_CHAT,
    OPENAI_COMPLETIONS,
    OPENAI_EMBEDDINGS,
    POLICIES,
    VERTEX_PARAMETERS,
    Policy,
    Rule,
    Treatment,
    markdown,
    readme_with_tables,
)
from tests.api.protocols.conftest import ServeBackend
from tests.api.scripted_backend import ScriptedBackend

REPO = Path(__file__).resolve().parents[3]


def _keys(*typed_dicts: type) -> set[str]:
    return {key for typed in typed_dicts for key in typed.__annotations__}


def _names(policy: Policy, prefix: str = "") -> set[str]:
    return {r.name.removeprefix(prefix) for r in policy if "." not in r.name.removeprefix(prefix)}


# api/types.go fields that ollama-python 0.6 does not have yet.
OLLAMA_GO_ONLY = {"truncate", "shift", "_debug_render_only"}
OLLAMA_GO_OPTIONS_ONLY = {"min_p"}

REFERENCES: list[tuple[Policy, set[str]]] = [
    (OPENAI_CHAT, _keys(chat_params.CompletionCreateParamsBase,
                        chat_params.CompletionCreateParamsStreaming)),
    (OPENAI_COMPLETIONS, _keys(completion_create_params.CompletionCreateParamsBase,
                               completion_create_params.CompletionCreateParamsStreaming)),
    (OPENAI_EMBEDDINGS, _keys(embedding_create_params.EmbeddingCreateParams)),
    (OLLAMA_CHAT, set(ollama_types.ChatRequest.model_fields) | OLLAMA_GO_ONLY),
    (OLLAMA_GENERATE, set(ollama_types.GenerateRequest.model_fields) | OLLAMA_GO_ONLY),
    (OLLAMA_EMBED, set(ollama_types.EmbedRequest.model_fields)),
    (VERTEX_PARAMETERS, {field.alias or name
                         for name, field in genai_types.GenerationConfig.model_fields.items()}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "reference"), REFERENCES, ids=lambda p: getattr(p, "surface", "")
)
def test_every_field_of_the_upstream_reference_has_a_treatment(
    policy: Policy, reference: set[str]
) -> None:
    assert reference - _names(policy) == set()


def test_every_ollama_option_has_a_treatment() -> None:
    reference = set(ollama_types.Options.model_fields) | OLLAMA_GO_OPTIONS_ONLY
    assert reference - {r.name.removeprefix("options.") for r in OLLAMA_CHAT} == set()
    assert {r.name for r in OLLAMA_CHAT if r.name.startswith("options.")} == {
        r.name for r in OLLAMA_GENERATE if r.name.startswith("options.")
    }


def test_stream_options_have_a_treatment() -> None:
    reference = _keys(chat_completion_stream_options_param.ChatCompletionStreamOptionsParam)
    assert {f"stream_options.{key}" for key in reference} <= {r.name for r in OPENAI_CHAT}


MODELS: list[tuple[Policy, type[BaseModel], str]] = [
    (OPENAI_CHAT, openai.ChatCompletionRequest, ""),
    (OPENAI_CHAT, openai.StreamOptions, "stream_options."),
    (OPENAI_COMPLETIONS, openai.CompletionRequest, ""),
    (OPENAI_EMBEDDINGS, openai.EmbeddingRequest, ""),
    (OLLAMA_CHAT, ollama.ChatRequest, ""),
    (OLLAMA_CHAT, ollama.Options, "options."),
    (OLLAMA_GENERATE, ollama.GenerateRequest, ""),
    (OLLAMA_EMBED, ollama.EmbedRequest, ""),
    (VERTEX_PARAMETERS, vertex.Parameters, ""),
]


@pytest.mark.parametrize(
    ("policy", "model", "prefix"), MODELS, ids=lambda m: getattr(m, "__name__", "")
)
def test_the_request_model_declares_exactly_the_fields_it_accepts(
    policy: Policy, model: type[BaseModel], prefix: str
) -> None:
    """Honoured and neutral-only fields are typed fields of the model; refused ones are not
    (they arrive as extras and are refused with their reason). A field the model grows
    without a row, or a row flipped to honoured without a field, fails here."""

    def row(attribute: str) -> Rule | None:
        return policy.rule(prefix + attribute) or next(
            (r for r in policy if r.attribute == attribute), None
        )

    for attribute in model.model_fields:
        found = row(attribute)
        assert found is not None, f"{attribute} has no row in {policy.surface}"
        assert found.treatment is not Treatment.REFUSED, f"{attribute} is declared but refused"
    declared = set(model.model_fields)
    for rule in policy:
        name = rule.name.removeprefix(prefix)
        if (prefix and not rule.name.startswith(prefix)) or "." in name:
            continue
        if rule.treatment is Treatment.REFUSED:
            assert rule.attr not in declared, f"{rule.name} is refused but declared"
        elif not (prefix == "" and rule.name in {"options", "stream_options"}):
            assert rule.attr in declared, f"{rule.name} is {rule.treatment} but not declared"


def test_the_readme_shows_the_tables_the_code_holds() -> None:
    readme = (REPO / "README.md").read_text()
    assert readme_with_tables(readme) == readme, (
        "README.md's parameter tables are stale: run "
        "`python -m liftoff.api.protocols.parameters` and paste them between the markers"
    )
    assert markdown() in readme


# What each surface answers -------------------------------------------------------------------

BODIES: dict[str, dict[str, Any]] = {
    "POST /v1/chat/completions": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    "POST /v1/completions": {"model": "m", "prompt": "hi"},
    "POST /v1/embeddings": {"model": "m", "input": "hi"},
    "POST /api/chat": {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                       "stream": False},
    "POST /api/generate": {"model": "m", "prompt": "hi", "stream": False},
    "POST /api/embed": {"model": "m", "input": "hi"},
    "POST /predict parameters": {"instances": [{"prompt": "hi"}]},
}  # fmt: skip
PATHS = {surface: surface.split()[1] for surface in BODIES}
# A value each neutral-only field does not accept.
NOT_NEUTRAL: dict[str, Any] = {
    "stream_options.include_obfuscation": True, "store": True, "service_tier": "flex",
    "modalities": ["text", "audio"], "reasoning_effort": "low", "verbosity": "high",
    "best_of": 2, "echo": True, "think": True, "truncate": True, "shift": True,
    "options.tfs_z": 0.5, "options.mirostat": 2, "options.penalize_newline": False,
    "options": {"num_ctx": 8}, "candidateCount": 2, "responseMimeType": "application/json",
    "responseModalities": ["AUDIO"], "tools": [{"type": "function"}], "format": "json",
    "images": ["aGk="], "suffix": "x", "template": "{{ .Prompt }}", "context": [1, 2],
}  # fmt: skip


def _body(surface: str, name: str, value: Any) -> dict[str, Any]:
    body = dict(BODIES[surface])
    head, _, last = name.partition(".")
    if surface.startswith("POST /predict"):
        body["parameters"] = {"model": "m", name: value}
    elif last:
        body[head] = {last: value}
    else:
        body[name] = value
    return body


def _cases(treatment: Treatment) -> list[Any]:
    cases = []
    for surface, policy in POLICIES.items():
        for rule in policy:
            if rule.treatment is not treatment:
                continue
            if treatment is Treatment.NEUTRAL and rule.name.removeprefix("options.") not in {
                n.removeprefix("options.") for n in NOT_NEUTRAL
            }:
                continue  # accepted at any value: nothing to refuse
            cases.append(pytest.param(surface, rule, id=f"{PATHS[surface]} {rule.name}"))
    return cases


def _error(response: Any, path: str) -> tuple[str, str | None]:
    error = response.json()["error"]
    if path.startswith("/v1/"):
        return error["message"], error["param"]
    return error, None


@pytest.mark.parametrize(("surface", "rule"), _cases(Treatment.REFUSED))
async def test_a_refused_field_is_a_400_naming_it_and_saying_why(
    serve_backend: ServeBackend, surface: str, rule: Rule
) -> None:
    gateway = serve_backend(ScriptedBackend([0]))
    path = PATHS[surface]
    response = await gateway.client.post(path, json=_body(surface, rule.name, {"any": 1}))
    assert response.status_code == 400, response.text
    message, param = _error(response, path)
    name = f"parameters.{rule.name}" if path == "/predict" else rule.name
    assert message == f"{name} is not supported: {rule.note}"
    assert param in (None, name)


@pytest.mark.parametrize(("surface", "rule"), _cases(Treatment.NEUTRAL))
async def test_a_neutral_only_field_at_another_value_is_a_400_naming_it(
    serve_backend: ServeBackend, surface: str, rule: Rule
) -> None:
    gateway = serve_backend(ScriptedBackend([0]))
    path = PATHS[surface]
    value = NOT_NEUTRAL.get(rule.name, NOT_NEUTRAL.get(rule.name.removeprefix("options.")))
    response = await gateway.client.post(path, json=_body(surface, rule.name, value))
    assert response.status_code == 400, response.text
    message, _ = _error(response, path)
    name = f"parameters.{rule.name}" if path == "/predict" else rule.name
    assert message == f"{name} must be {rule.note}"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {**BODIES["POST /v1/chat/completions"], "frequency_penalty": 0,
                                  "presence_penalty": 0, "n": 1, "store": False, "user": "u1",
                                  "logit_bias": {}, "parallel_tool_calls": True, "tools": None,
                                  "stream_options": None, "metadata": {"a": "b"},
                                  "service_tier": "auto", "reasoning_effort": None}),
        ("/v1/completions", {**BODIES["POST /v1/completions"], "best_of": 1, "echo": False,
                             "logprobs": None, "suffix": None}),
        ("/api/generate", {**BODIES["POST /api/generate"], "think": False, "keep_alive": "5m",
                           "options": {"num_keep": 4, "tfs_z": 1.0, "mirostat": 0,
                                       "mirostat_tau": 5.0, "penalize_newline": True}}),
        ("/predict", {"instances": [{"prompt": "hi"}],
                      "parameters": {"model": "m", "candidateCount": 1,
                                     "responseMimeType": "text/plain", "frequencyPenalty": 0}}),
    ],
)  # fmt: skip
async def test_what_clients_send_at_neutral_values_is_accepted(
    serve_backend: ServeBackend, path: str, body: dict[str, Any]
) -> None:
    gateway = serve_backend(ScriptedBackend([0]))
    response = await gateway.client.post(path, json=body)
    assert response.status_code == 200, response.text


async def test_a_field_in_no_table_is_not_a_supported_parameter(
    serve_backend: ServeBackend,
) -> None:
    gateway = serve_backend(ScriptedBackend([0]))
    response = await gateway.client.post(
        "/v1/chat/completions", json={**BODIES["POST /v1/chat/completions"], "creativity": 11}
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "creativity is not a supported parameter"
