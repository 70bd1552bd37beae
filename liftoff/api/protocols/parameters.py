"""The parameter policy, written down once: what the gateway does with every field of each
surface's upstream API reference.

- **honoured**: the field reaches every backend that can do it, with one meaning (the
  backends' tables in ``liftoff.api.backends.wire`` say which); a backend that cannot
  refuses it with a 400 naming it;
- **neutral-only**: accepted at its no-op value(s), refused with a 400 saying why otherwise;
- **refused**: a 400 naming the field and saying why.

Nothing is accepted and then dropped. A null counts as not sent, as the references have it.

References: OpenAI's API reference (the ``openai`` SDK's ``CompletionCreateParams`` for
chat and legacy completions, ``EmbeddingCreateParams``); Ollama's ``docs/api.md`` and
``api/types.go`` (``GenerateRequest``, ``ChatRequest``, ``EmbedRequest``, ``Options``) with
the older options clients still send (ollama-python's ``Options``); Gemini's
``GenerationConfig`` for the Vertex surface's ``parameters``. Tests hold the tables to
those references and to the request models; the README prints them
(``python -m liftoff.api.protocols.parameters``).

Request models declare the honoured and neutral-only fields (typed, with the references'
ranges) and take the others as extras; ``Policy.check`` refuses what must be refused::

    class ChatCompletionRequest(Policed):
        __policy__ = OPENAI_CHAT
        temperature: float | None = Field(default=None, ge=0, le=2)
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from liftoff.api.errors import FieldError


class Treatment(enum.StrEnum):
    HONOURED = "honoured"
    NEUTRAL = "neutral-only"
    REFUSED = "refused"


def _anything(value: Any) -> bool:
    return True


@dataclass(frozen=True)
class Rule:
    """One field: its name as clients send it (dotted inside objects: ``options.top_k``),
    its treatment, and a note (honoured: what it does; neutral-only: the values accepted;
    refused: why). ``option`` names the request field an honoured one becomes, which says
    which backends honour it; ``backends`` says it in words where no table does."""

    name: str
    treatment: Treatment
    note: str
    accepts: Callable[[Any], bool] = _anything
    option: str = ""
    backends: str = ""
    attribute: str = ""  # the request model's attribute, when it is not the name's last part
    values: tuple[Any, ...] = ()  # neutral-only: the values accepted (none: any)

    @property
    def attr(self) -> str:
        return self.attribute or self.name.rpartition(".")[2]


def honoured(name: str, note: str, *, option: str = "", backends: str = "", attr: str = "") -> Rule:
    return Rule(name, Treatment.HONOURED, note, option=option, backends=backends, attribute=attr)


def neutral(name: str, note: str, *values: Any, attr: str = "") -> Rule:
    """Accepted at ``values`` (any value when none are given: the field has nothing to act
    on here, which ``note`` says)."""
    accepts = (lambda value: value in values) if values else _anything
    return Rule(name, Treatment.NEUTRAL, note, accepts=accepts, attribute=attr, values=values)


def refused(name: str, why: str) -> Rule:
    return Rule(name, Treatment.REFUSED, why)


@dataclass(frozen=True)
class Policy:
    """One surface's table, and its check of a request."""

    surface: str
    reference: str
    rules: tuple[Rule, ...]
    camel_case: bool = False  # Vertex: snake_case spellings of the names are accepted too
    location: str = ""  # where the fields sit in the request, for errors: "parameters."
    _by_name: dict[str, Rule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {rule.name: rule for rule in self.rules})

    def rule(self, name: str) -> Rule | None:
        found = self._by_name.get(name)
        if found is None and self.camel_case:
            found = self._by_name.get(_camel(name))
        return found

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def check(self, body: BaseModel, prefix: str = "") -> None:
        """Raise ``FieldError`` (400) for the first field of ``body`` that is refused, not
        at its neutral value, or in no table at all."""
        sent: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
        sent.update(body.model_extra or {})
        for name, value in sent.items():
            rule = self.rule(prefix + name) or self._by_attribute(prefix, name)
            wire = self.location + (rule.name if rule else prefix + name)
            if rule is None:
                raise FieldError(wire, "is not a supported parameter")
            if value is None:
                continue
            if rule.treatment is Treatment.REFUSED:
                raise FieldError(wire, f"is not supported: {rule.note}")
            if rule.treatment is Treatment.NEUTRAL and not rule.accepts(value):
                raise FieldError(wire, f"must be {rule.note}")
            if isinstance(value, BaseModel) and any(
                r.name.startswith(rule.name + ".") for r in self.rules
            ):
                self.check(value, rule.name + ".")

    def _by_attribute(self, prefix: str, attribute: str) -> Rule | None:
        for rule in self.rules:
            if rule.attribute == attribute and rule.name.startswith(prefix):
                return rule
        return None


class Policed(BaseModel):
    """A request model checked against its surface's ``Policy`` once it has validated.
    Its own fields are the honoured and neutral-only ones; anything else arrives as an
    extra, which the policy refuses with its reason. The OpenAPI document says so: no
    additional properties."""

    # Extras are taken only to be refused with the policy's reason, so the document, which
    # clients and fuzzers read, allows none.
    model_config = ConfigDict(
        extra="allow", allow_inf_nan=False, json_schema_extra={"additionalProperties": False}
    )
    __policy__: ClassVar[Policy]

    @model_validator(mode="after")
    def _apply_policy(self) -> Policed:
        type(self).__policy__.check(self)
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        _document_neutral_values(cls, schema, cls.__policy__, "")
        return schema


class Nested(BaseModel):
    """An object inside a policed request (``options``, ``stream_options``): its extras are
    checked by the request's policy, under the object's name (and documented as none).
    ``__rules__`` (a policy and the object's name, ``"options."``) documents the values its
    neutral-only fields accept."""

    __rules__: ClassVar[tuple[Policy, str] | None] = None

    model_config = ConfigDict(
        extra="allow", allow_inf_nan=False, json_schema_extra={"additionalProperties": False}
    )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        if cls.__rules__ is not None:
            _document_neutral_values(cls, schema, *cls.__rules__)
        return schema


def _document_neutral_values(
    model: type[BaseModel], schema: JsonSchemaValue, policy: Policy, prefix: str
) -> None:
    """State in ``model``'s JSON schema the only values each neutral-only field accepts (or
    null), so the OpenAPI document allows what the policy allows."""
    properties = schema.get("properties", {})
    for name in model.model_fields:
        rule = policy.rule(prefix + name) or policy._by_attribute(prefix, name)
        if rule is None or rule.treatment is not Treatment.NEUTRAL or not rule.values:
            continue
        if name in properties:
            described = {key: properties[name][key] for key in ("title", "description")
                         if key in properties[name]}  # fmt: skip
            properties[name] = {"anyOf": [{"enum": list(rule.values)}, {"type": "null"}],
                                **described}  # fmt: skip


def _camel(name: str) -> str:
    head, _, last = name.rpartition(".")
    parts = last.split("_")
    camel = parts[0] + "".join(part[:1].upper() + part[1:] for part in parts[1:])
    return f"{head}.{camel}" if head else camel


# Notes shared by several surfaces -----------------------------------------------------------

_IMAGE_BACKENDS = "llamacpp (with LIFTOFF_MMPROJ), openai, ollama, gemini (data, not URLs)"
_DEPRECATED_FUNCTIONS = "OpenAI's deprecated functions API: send tools and tool_choice"
_RUNTIME = (
    "it sets how the server runs the model, which is the operator's choice "
    "(LIFTOFF_THREADS, LIFTOFF_CONTEXT_SIZE, Ollama's own settings), not a request's"
)
_LEGACY = "Ollama dropped this option (it now ignores it with a warning)"
_TAG = "any value: an identifier for the caller's own bookkeeping, with no effect on the answer"
_STOP = "up to 16 strings of up to 256 characters; the answer ends before the first one"

_SAMPLING_OPENAI = (
    honoured("temperature", "0 to 2; 0 is greedy", option="temperature"),
    honoured("top_p", "0 to 1", option="top_p"),
    honoured("frequency_penalty", "-2 to 2", option="frequency_penalty"),
    honoured("presence_penalty", "-2 to 2", option="presence_penalty"),
    honoured("logit_bias", "token id to a bias of -100 to 100 (up to 1024)", option="logit_bias"),
    honoured("seed", "repeatable sampling", option="seed"),
    honoured("stop", _STOP, option="stop"),
    honoured("n", "1 to 128 answers (LIFTOFF_MAX_CHOICES caps it)", option="choices"),
    honoured("stream", "server-sent events ending in data: [DONE]"),
    honoured("stream_options", "the two below"),
    honoured("stream_options.include_usage", "a last chunk with the usage"),
    neutral(
        "stream_options.include_obfuscation",
        "false: chunks carry no obfuscation padding (a mitigation for OpenAI's own links)",
        False,
    ),
    neutral("user", _TAG),
    # Extensions, as vLLM and llama.cpp's server take them.
    honoured("top_k", "extension: the k likeliest tokens; 0 disables", option="top_k"),
    honoured("min_p", "extension: 0 to 1", option="min_p"),
    honoured("typical_p", "extension: locally typical sampling", option="typical_p"),
    honoured("repeat_penalty", "extension: as Ollama's", option="repeat_penalty"),
    honoured("repeat_last_n", "extension: as Ollama's", option="repeat_last_n"),
)

OPENAI_CHAT = Policy(
    "POST /v1/chat/completions",
    "OpenAI API reference: Create chat completion (openai SDK CompletionCreateParams)",
    (
        honoured("model", "a served model"),
        honoured(
            "messages",
            "system, developer, user, assistant and tool turns; image_url parts",
            backends=f"all (images: {_IMAGE_BACKENDS})",
        ),
        *_SAMPLING_OPENAI,
        honoured("max_completion_tokens", "the answer's token limit", option="max_tokens"),
        honoured(
            "max_tokens", "the answer's token limit (OpenAI's older name)", option="max_tokens"
        ),
        honoured("logprobs", "each output token's log probability", option="logprobs"),
        honoured(
            "top_logprobs", "0 to 20 alternatives per token; needs logprobs", option="logprobs"
        ),
        neutral("metadata", "any value: tags for stored completions; nothing is stored here"),
        neutral("store", "false: the gateway stores no completions", False),
        neutral("safety_identifier", _TAG),
        neutral("prompt_cache_key", _TAG),
        neutral("prompt_cache_retention", "any value: prompt caching is the engine's own"),
        neutral("service_tier", "auto or default: there is one tier", "auto", "default"),
        neutral("modalities", '["text"]: the models here answer in text', ["text"]),
        neutral("reasoning_effort", "none: the models here do not reason", "none"),
        neutral("verbosity", "medium, the default: the models here take no such setting", "medium"),
        honoured(
            "tools",
            "up to 128 functions; calls come back as message.tool_calls; n must be 1",
            backends="all",
        ),
        honoured("tool_choice", "auto, none, required or a named function", backends="all"),
        honoured(
            "parallel_tool_calls",
            "false: at most one call per answer",
            backends="llamacpp, openai, ollama; gemini only true",
        ),
        refused("functions", _DEPRECATED_FUNCTIONS),
        refused("function_call", _DEPRECATED_FUNCTIONS),
        honoured("response_format", "text, json_object or json_schema", backends="all"),
        refused("audio", "the models here answer in text"),
        refused("prediction", "predicted outputs are not offered"),
        refused("web_search_options", "web search is not offered"),
        refused("moderation", "moderation is not offered"),
        refused("prompt_cache_options", "prompt caching is the engine's own"),
    ),
)

OPENAI_COMPLETIONS = Policy(
    "POST /v1/completions",
    "OpenAI API reference: Create completion (openai SDK CompletionCreateParams)",
    (
        honoured("model", "a served model"),
        honoured("prompt", "a string, or a list of one string"),
        *_SAMPLING_OPENAI,
        honoured("max_tokens", "the answer's token limit", option="max_tokens"),
        honoured("logprobs", "0 to 5 alternatives per token", option="logprobs"),
        neutral("best_of", "1: candidates are not ranked server-side", 1),
        neutral("echo", "false: the prompt is not repeated in the answer", False),
        refused("suffix", "fill-in-the-middle is not offered"),
    ),
)

OPENAI_EMBEDDINGS = Policy(
    "POST /v1/embeddings",
    "OpenAI API reference: Create embeddings (openai SDK EmbeddingCreateParams)",
    (
        honoured("model", "a served embedding model"),
        honoured("input", "a string or up to 2048; longer than the window: a 400 naming it"),
        honoured("encoding_format", "float or base64"),
        neutral("user", _TAG),
        refused("dimensions", "the models here have one size"),
    ),
)

_OLLAMA_TOP = (
    honoured("model", "a served model"),
    honoured("stream", "NDJSON, the last line with done and the counts"),
    honoured(
        "keep_alive",
        "how long the model stays loaded after the request",
        option="keep_alive",
        backends="ollama (forwarded); others keep their model loaded, so any value but 0",
    ),
    honoured("logprobs", "each output token's log probability", option="logprobs"),
    honoured("top_logprobs", "0 to 20 alternatives per token", option="logprobs"),
    neutral("think", "false: the models here do not think", False),
    neutral("truncate", "false: a prompt longer than the window is a 400, never cut", False),
    neutral("shift", "false: a full window ends the answer (done_reason length)", False),
    honoured("format", '"json" or a JSON schema; "" (none)', backends="all"),
    refused("_debug_render_only", "debug renderings are not offered"),
)

OLLAMA_OPTIONS: tuple[Rule, ...] = (
    honoured("options.num_ctx", "the request's context window, in tokens", option="num_ctx",
             backends="ollama; llamacpp and llama.cpp's server up to their window"),
    honoured("options.num_predict", "the answer's token limit; -1 and -2: none",
             option="max_tokens"),
    honoured("options.temperature", "0 or more; 0 is greedy", option="temperature"),
    honoured("options.top_k", "the k likeliest tokens; 0 disables", option="top_k"),
    honoured("options.top_p", "0 to 1", option="top_p"),
    honoured("options.min_p", "0 to 1", option="min_p"),
    honoured("options.typical_p", "locally typical sampling; 1 disables", option="typical_p"),
    honoured("options.repeat_penalty", "above 0; 1 disables", option="repeat_penalty"),
    honoured("options.repeat_last_n", "tokens looked back; 0 disables, -1 the whole window",
             option="repeat_last_n"),
    honoured("options.presence_penalty", "", option="presence_penalty"),
    honoured("options.frequency_penalty", "", option="frequency_penalty"),
    honoured("options.seed", "repeatable sampling", option="seed"),
    honoured("options.stop", _STOP, option="stop"),
    neutral("options.num_keep", "any value: the gateway never shifts or truncates a context, "
            "which is all num_keep governs"),
    neutral("options.tfs_z", "1.0: tail-free sampling is gone from llama.cpp and Ollama", 1.0),
    neutral("options.mirostat", "0: Mirostat is not offered", 0),
    neutral("options.mirostat_tau", "any value: Mirostat is off, so it has nothing to act on"),
    neutral("options.mirostat_eta", "any value: Mirostat is off, so it has nothing to act on"),
    neutral("options.penalize_newline", "true: newlines are penalized like any token", True),
    *(refused(f"options.{name}", _RUNTIME)
      for name in ("num_batch", "num_gpu", "main_gpu", "use_mmap", "num_thread")),
    *(refused(f"options.{name}", f"{_LEGACY}; {_RUNTIME}")
      for name in ("numa", "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mlock",
                   "embedding_only")),
)  # fmt: skip

OLLAMA_CHAT = Policy(
    "POST /api/chat",
    "Ollama docs/api.md and api/types.go ChatRequest, Options",
    (
        honoured(
            "messages",
            "system, user, assistant and tool turns; images on user turns",
            backends=f"all (images: {_IMAGE_BACKENDS})",
        ),
        *_OLLAMA_TOP,
        honoured("options", "the model options below"),
        *OLLAMA_OPTIONS,
        honoured(
            "tools", "up to 128 functions; calls come back as message.tool_calls", backends="all"
        ),
    ),
)

OLLAMA_GENERATE = Policy(
    "POST /api/generate",
    "Ollama docs/api.md and api/types.go GenerateRequest, Options",
    (
        honoured("prompt", "templated as a user turn; verbatim with raw"),
        honoured("system", "a system turn before the prompt"),
        honoured("raw", "the prompt goes to the model verbatim"),
        *_OLLAMA_TOP,
        honoured("options", "the model options below"),
        *OLLAMA_OPTIONS,
        honoured(
            "images", "base64 images for the prompt's turn (not with raw)", backends=_IMAGE_BACKENDS
        ),
        neutral("suffix", '"" (none): fill-in-the-middle is not offered', ""),
        neutral("template", '"" (none): the gateway applies the model\'s own template', ""),
        neutral(
            "context",
            "[] (none): a previous answer's token context cannot be carried over; send "
            "the conversation to /api/chat",
            [],
        ),
        refused("width", "image generation is not offered"),
        refused("height", "image generation is not offered"),
        refused("steps", "image generation is not offered"),
    ),
)

OLLAMA_EMBED = Policy(
    "POST /api/embed",
    "Ollama docs/api.md and api/types.go EmbedRequest",
    (
        honoured("model", "a served embedding model"),
        honoured("input", "a string or up to 2048"),
        honoured(
            "truncate",
            "true (the default): inputs longer than the window are cut to "
            "fit; false: a 400 naming the input",
        ),
        honoured("keep_alive", "as on /api/generate", option="keep_alive"),
        neutral("options", "{}: the embedding models here take no options", {}),
        refused("dimensions", "the models here have one size"),
    ),
)

VERTEX_PARAMETERS = Policy(
    "POST /predict parameters",
    "Gemini GenerationConfig (google-genai types.GenerationConfig); snake_case accepted too",
    (
        honoured("model", "a served model (default: the first)"),
        honoured("temperature", "0 to 2", option="temperature"),
        honoured("topP", "0 to 1", option="top_p", attr="top_p"),
        honoured("topK", "the k likeliest tokens", option="top_k", attr="top_k"),
        honoured(
            "maxOutputTokens",
            "the answer's token limit (also max_tokens)",
            option="max_tokens",
            attr="max_output_tokens",
        ),
        honoured("stopSequences", f"{_STOP} (also stop)", option="stop", attr="stop_sequences"),
        honoured("seed", "repeatable sampling", option="seed"),
        honoured("presencePenalty", "", option="presence_penalty", attr="presence_penalty"),
        honoured("frequencyPenalty", "", option="frequency_penalty", attr="frequency_penalty"),
        honoured(
            "responseLogprobs",
            "each output token's log probability in logprobsResult",
            option="logprobs",
            attr="response_logprobs",
        ),
        honoured(
            "logprobs", "0 to 20 alternatives per token; needs responseLogprobs", option="logprobs"
        ),
        neutral("candidateCount", "1: one prediction per instance", 1, attr="candidate_count"),
        honoured(
            "responseMimeType",
            "text/plain or application/json (any JSON object)",
            backends="all",
            attr="response_mime_type",
        ),
        neutral("responseModalities", '["TEXT"]', ["TEXT"], attr="response_modalities"),
        honoured(
            "responseSchema",
            "Gemini's Schema; needs responseMimeType application/json",
            backends="all",
            attr="response_schema",
        ),
        honoured(
            "responseJsonSchema",
            "a JSON schema; needs responseMimeType application/json",
            backends="all",
            attr="response_json_schema",
        ),
        refused("responseFormat", "send responseMimeType with responseJsonSchema"),
        refused("thinkingConfig", "the models here do not think"),
        refused("speechConfig", "the models here answer in text"),
        refused("audioTimestamp", "the models here take text"),
        refused("audioTranscriptionConfig", "the models here take text"),
        refused("mediaResolution", "instances carry text only"),
        refused("routingConfig", "the gateway serves its configured models"),
        refused("modelSelectionConfig", "the gateway serves its configured models"),
        refused("enableAffectiveDialog", "not offered"),
        refused("enableEnhancedCivicAnswers", "not offered"),
        refused("translationConfig", "not offered"),
    ),
    camel_case=True,
    location="parameters.",
)

POLICIES: Mapping[str, Policy] = {
    policy.surface: policy
    for policy in (
        OPENAI_CHAT,
        OPENAI_COMPLETIONS,
        OPENAI_EMBEDDINGS,
        OLLAMA_CHAT,
        OLLAMA_GENERATE,
        OLLAMA_EMBED,
        VERTEX_PARAMETERS,
    )
}


# The README's tables ----------------------------------------------------------------------

BACKENDS = ("llamacpp", "openai", "ollama", "gemini")


def honoured_by(option: str) -> list[str]:
    """The backends that honour a ``SamplingOptions`` field (their wire tables say)."""
    from liftoff.api.backends.gemini_request import SAMPLING_FIELDS
    from liftoff.api.backends.wire import LLAMACPP_NAMES, OLLAMA_NAMES, OPENAI_NAMES

    tables = {
        "llamacpp": LLAMACPP_NAMES,
        "openai": OPENAI_NAMES,
        "ollama": OLLAMA_NAMES,
        "gemini": SAMPLING_FIELDS,
    }
    names = [backend for backend in BACKENDS if option in tables[backend]]
    if "openai" not in names and option in LLAMACPP_NAMES:
        names.append("openai (llama.cpp's server)")
    return names


def _backends(rule: Rule) -> str:
    if rule.treatment is not Treatment.HONOURED:
        return ""
    if rule.backends:
        return rule.backends
    if rule.option in {"max_tokens", "stop", "seed", "temperature", "top_p", "choices", ""}:
        return "all"
    return ", ".join(honoured_by(rule.option))


def markdown() -> str:
    """The policy as Markdown tables, one per surface (what the README shows)."""
    lines: list[str] = []
    for policy in POLICIES.values():
        lines += [f"#### `{policy.surface}`", "", f"Reference: {policy.reference}.", ""]
        lines += ["| field | treatment | backends | notes |", "|---|---|---|---|"]
        for rule in policy:
            note = rule.note.replace("|", "\\|")
            lines.append(f"| `{rule.name}` | {rule.treatment} | {_backends(rule)} | {note} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_README_SECTION = re.compile(
    r"(<!-- parameters:start -->\n).*?(<!-- parameters:end -->)", re.DOTALL
)


def readme_with_tables(readme: str) -> str:
    """``readme`` with the text between its parameter markers replaced by ``markdown()``."""
    if not _README_SECTION.search(readme):
        raise ValueError("the README has no <!-- parameters:start/end --> markers")
    return _README_SECTION.sub(lambda m: m.group(1) + "\n" + markdown() + "\n" + m.group(2), readme)


if __name__ == "__main__":
    print(markdown(), end="")
