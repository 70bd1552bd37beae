"""The gateway's settings: one object, read from the environment once.

Every variable carries the ``LIFTOFF_`` prefix except the standard names other tools
already use (``OLLAMA_HOST``, ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``PORT``,
``AIP_HTTP_PORT``, ``AIP_HEALTH_ROUTE``, ``AIP_PREDICT_ROUTE``, and google-genai's own
``GEMINI_API_KEY``, ``GOOGLE_API_KEY``, ``GOOGLE_GENAI_USE_VERTEXAI``, ``GOOGLE_CLOUD_PROJECT``,
``GOOGLE_CLOUD_LOCATION``, ``GOOGLE_GEMINI_BASE_URL``, ``GOOGLE_VERTEX_BASE_URL``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from liftoff.server.access import Exposure
from liftoff.server.settings import ServiceSettings, load_settings

BackendName = Literal["ollama", "openai", "gemini", "llamacpp"]

DEFAULT_OLLAMA_MODEL = "llama3.1:8b"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "liftoff"


class Settings(ServiceSettings):
    """Configuration of the generation gateway (``liftoff.api.main:app``). Validation errors
    name the variables at fault, never a value (``liftoff.server.settings``)."""

    model_config = SettingsConfigDict(env_prefix="LIFTOFF_")

    backend: BackendName = "llamacpp"
    # Ollama: a model tag; openai: the served model's id; gemini: a Gemini model id (no
    # default: Google retires model ids); llamacpp: a GGUF path, or empty for the packaged
    # Gemma 3 270M.
    model: str = ""
    # The embedding model, served beside the chat model; requests name one or the other.
    # llamacpp: a GGUF path, or empty for the packaged all-MiniLM-L6-v2; ollama: an Ollama tag
    # (all-minilm, nomic-embed-text), pulled with the chat model; openai: the id the server
    # serves it under; gemini: a Gemini embedding model. Empty on those three: none is named
    # (ollama and openai then embed with whatever model a request names, as the server does).
    embedding_model: str = Field(default="", max_length=4096)

    host: str = "127.0.0.1"
    # Cloud Run sets PORT and Vertex AI sets AIP_HTTP_PORT; whichever is present wins.
    port: int = Field(
        default=8000,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("AIP_HTTP_PORT", "PORT", "LIFTOFF_PORT"),
    )

    # Seconds: waiting for a connection, and waiting for the whole generation.
    connect_timeout: float = Field(default=5.0, gt=0)
    request_timeout: float = Field(default=300.0, gt=0)

    # Largest max_tokens / num_predict / max_output_tokens a request may ask for.
    max_tokens_limit: int = Field(default=16384, ge=1)
    max_prompt_chars: int = Field(default=1_000_000, ge=1)
    # Answers one request may ask for (OpenAI's n): each is a generation of its own.
    max_choices: int = Field(default=8, ge=1, le=128)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    body_timeout: float = Field(default=10.0, gt=0, description="seconds for a whole body")
    vertex_max_body_bytes: int = Field(default=1_500_000, gt=0)
    vertex_health_route: str = Field(
        default="/health", validation_alias=AliasChoices("AIP_HEALTH_ROUTE")
    )
    vertex_predict_route: str = Field(
        default="/predict", validation_alias=AliasChoices("AIP_PREDICT_ROUTE")
    )

    # Authentication. "auto": keys are required when the gateway binds beyond loopback or
    # keys are configured; "off" must be said explicitly and is logged loudly.
    auth: Literal["auto", "on", "off"] = "auto"
    api_keys: SecretStr | None = None
    api_keys_file: Path | None = None
    metrics_public: bool = False

    # Limits. Rate limits are per key (per client address without authentication); the
    # concurrency limit defaults to what the backend generates in parallel.
    rate_limit_rpm: int | None = Field(default=None, ge=1)
    rate_limit_tpm: int | None = Field(default=None, ge=1)
    # Rate limits shared by every instance through Redis (Memorystore): redis://[:password@]
    # host:port/db, rediss:// with TLS, or unix:///path. Unset: each instance limits on its own.
    # Seconds Redis may take to answer before this instance limits on its own for a while.
    redis_url: SecretStr | None = None
    redis_timeout: float = Field(default=0.25, gt=0, le=10)
    max_concurrency: int | None = Field(default=None, ge=1)
    ollama_num_parallel: int | None = Field(
        default=None, ge=1, validation_alias=AliasChoices("OLLAMA_NUM_PARALLEL")
    )
    max_queue: int = Field(default=64, ge=0)
    queue_timeout: float = Field(default=30.0, gt=0)
    cors_origins: str = ""

    # Logs: JSON lines by default; prompts and completions only when asked for.
    log_format: Literal["json", "text"] = "json"
    log_level: str = "INFO"
    log_prompts: bool = False

    # Shutdown on SIGTERM: readiness turns 503 at once; after drain_seconds the server stops
    # accepting; streams still running after grace_seconds end with an in-stream error.
    shutdown_drain_seconds: float = Field(default=0.0, ge=0)
    shutdown_grace_seconds: float = Field(default=8.0, ge=0)

    # Embedded llama.cpp.
    cache_dir: Path = DEFAULT_CACHE_DIR
    context_size: int = Field(default=2048, ge=128, description="tokens per request slot")
    parallel: int = Field(default=2, ge=1, le=64, description="requests generated at once")
    threads: int | None = Field(default=None, ge=1)
    # The chat template: a Jinja file, Jinja source or a llama.cpp built-in name; empty: the
    # GGUF's own (liftoff.api.backends.templates).
    chat_template: str = ""
    # A multimodal projector GGUF for the model: without one, images are refused.
    mmproj: Path | None = None
    # ollama and openai backends: "native" forwards tools to the server; "constrained" makes
    # tool calls through structured output (liftoff.api.tools), for servers that do not
    # enforce tool_choice (llama.cpp's). The embedded engine is always constrained.
    tool_calls: Literal["native", "constrained"] = "native"
    # Tokens an embedding input may have; default, and at most: the embedding model's window.
    embedding_context_size: int | None = Field(default=None, ge=8)

    # Ollama.
    ollama_host: str = Field(
        default="http://127.0.0.1:11434", validation_alias=AliasChoices("OLLAMA_HOST")
    )
    ollama_keep_alive: str = "5m"
    ollama_pull: bool = True
    ollama_num_ctx: int | None = Field(default=None, ge=128)
    # On Cloud Run: call a private Ollama service with a Google identity token for this
    # audience (Ollama's service URL).
    ollama_id_token_audience: str | None = None

    # Any OpenAI-compatible server.
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL")
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY")
    )

    # Gemini through google-genai, with the SDK's own variable names: the Gemini API with an
    # API key, or Vertex AI (GOOGLE_GENAI_USE_VERTEXAI=true) with Application Default
    # Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, or the metadata server).
    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GOOGLE_API_KEY", "GEMINI_API_KEY")
    )
    gemini_vertexai: bool = Field(
        default=False,
        validation_alias=AliasChoices("GOOGLE_GENAI_USE_VERTEXAI"),
    )
    google_cloud_project: str | None = Field(
        default=None, validation_alias=AliasChoices("GOOGLE_CLOUD_PROJECT")
    )
    google_cloud_location: str = Field(
        default="global", validation_alias=AliasChoices("GOOGLE_CLOUD_LOCATION")
    )
    # Another endpoint for the same REST API (a proxy, Private Service Connect, a test fake).
    gemini_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("GOOGLE_GEMINI_BASE_URL")
    )
    vertex_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("GOOGLE_VERTEX_BASE_URL")
    )

    @field_validator("vertex_health_route", "vertex_predict_route")
    @classmethod
    def _route_starts_with_slash(cls, route: str) -> str:
        if not route.startswith("/"):
            raise ValueError("a route must start with '/'")
        return route

    @field_validator("redis_url", "rate_limit_rpm", "rate_limit_tpm", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose passes unset variables as empty strings.
        return None if value == "" else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_is_redis(cls, url: SecretStr | None) -> SecretStr | None:
        # The URL may carry a password: the message never repeats it.
        if url is not None and not url.get_secret_value().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("LIFTOFF_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        return url

    @field_validator("ollama_host")
    @classmethod
    def _ollama_host_has_scheme(cls, host: str) -> str:
        # OLLAMA_HOST is often given as "host:port", as the ollama CLI accepts.
        return host if "://" in host else f"http://{host}"

    @model_validator(mode="after")
    def _backend_is_configured(self) -> Settings:
        if self.backend == "openai" and not self.openai_base_url:
            raise ValueError("LIFTOFF_BACKEND=openai needs OPENAI_BASE_URL")
        if self.backend == "openai" and not self.model:
            raise ValueError("LIFTOFF_BACKEND=openai needs LIFTOFF_MODEL (the served model id)")
        if self.backend == "gemini":
            if not self.model:
                raise ValueError(
                    "LIFTOFF_BACKEND=gemini needs LIFTOFF_MODEL: a Gemini model id, as the "
                    "Gemini API's models.list or Vertex AI's Model Garden names it"
                )
            if not self.gemini_vertexai and self.gemini_api_key is None:
                raise ValueError(
                    "LIFTOFF_BACKEND=gemini needs GEMINI_API_KEY (the Gemini API), or "
                    "GOOGLE_GENAI_USE_VERTEXAI=true with GOOGLE_CLOUD_PROJECT (Vertex AI)"
                )
        return self

    @model_validator(mode="after")
    def _exposed_gateway_has_keys(self) -> Settings:
        problem = self.exposure.problem()
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def ollama_model(self) -> str:
        return self.model or DEFAULT_OLLAMA_MODEL

    @property
    def exposure(self) -> Exposure:
        """The shared exposure rule applied to the gateway (``liftoff.server.access``)."""
        return Exposure(
            service="the gateway",
            host=self.host,
            auth=self.auth,
            has_keys=bool(self.api_keys or self.api_keys_file),
            keys_variable="LIFTOFF_API_KEYS (comma-separated) or LIFTOFF_API_KEYS_FILE",
            auth_variable="LIFTOFF_AUTH",
        )

    @property
    def binds_beyond_loopback(self) -> bool:
        return self.exposure.beyond_loopback

    @property
    def auth_required(self) -> bool:
        return self.exposure.keys_required

    def load_api_keys(self) -> list[str]:
        """Keys from LIFTOFF_API_KEYS and LIFTOFF_API_KEYS_FILE (one per line, # comments)."""
        keys = self.api_keys.get_secret_value().split(",") if self.api_keys else []
        if self.api_keys_file is not None:
            lines = self.api_keys_file.read_text().splitlines()
            keys += [line for line in lines if not line.lstrip().startswith("#")]
        return [key.strip() for key in keys if key.strip()]

    @property
    def concurrency_limit(self) -> int:
        if self.max_concurrency is not None:
            return self.max_concurrency
        if self.backend == "ollama":
            return self.ollama_num_parallel or 4
        if self.backend == "llamacpp":
            return self.parallel
        return 64  # an OpenAI-compatible server batches many requests at once

    @property
    def cors_allow_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]


@lru_cache
def get_settings() -> Settings:
    """The settings, read once; raises ``SettingsError`` naming the variables at fault."""
    return load_settings(Settings)
