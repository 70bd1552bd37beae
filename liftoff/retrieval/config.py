"""The retrieval service's settings: one object, read from the environment once.

Variables carry the ``LIFTOFF_RAG_`` prefix. Where the whole local stack shares a value the
stack-wide name is honoured too: ``LIFTOFF_HOST`` (what ``liftoff up`` binds every service
to; ``UVICORN_HOST`` before it, what the image binds), ``LIFTOFF_API_KEYS`` (the keys clients
send), ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` (the gateway this service calls) and
``LIFTOFF_LOG_FORMAT`` / ``LIFTOFF_LOG_LEVEL``. Exposure follows the rule every service shares
(``liftoff.server.access``); validation errors never carry a value.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator

from liftoff.server.access import Exposure
from liftoff.server.settings import ServiceSettings, load_settings

DEFAULT_GATEWAY = "http://127.0.0.1:8000/v1"
DEFAULT_STORE = Path.home() / ".cache" / "liftoff" / "retrieval.sqlite3"


def _env(name: str, *standard: str) -> AliasChoices:
    return AliasChoices(f"LIFTOFF_RAG_{name}", *standard)


class Settings(ServiceSettings):
    """Configuration of the retrieval service (``liftoff.retrieval.main:app``)."""

    # Storage: a SQLite file with sqlite-vec (default), or Postgres with pgvector when a
    # database URL is set (several replicas share it). READ_ONLY serves a baked index.
    store: Path = Field(default=DEFAULT_STORE, validation_alias=_env("STORE"))
    database_url: SecretStr | None = Field(default=None, validation_alias=_env("DATABASE_URL"))
    read_only: bool = Field(default=False, validation_alias=_env("READ_ONLY"))
    pool_size: int = Field(default=8, ge=1, le=256, validation_alias=_env("POOL_SIZE"))
    # Postgres: candidates an HNSW search keeps (pgvector's hnsw.ef_search); more is slower and
    # finds more of the true nearest chunks.
    pg_ef_search: int = Field(default=200, ge=1, le=1000, validation_alias=_env("PG_EF_SEARCH"))

    # The gateway that embeds and answers (any OpenAI-compatible base URL), its key, and the
    # models. Empty model names mean the model the gateway's /v1/models lists for embeddings
    # or for chat (its `capabilities`), or, from a gateway that does not say, its first.
    gateway_url: str = Field(
        default=DEFAULT_GATEWAY, validation_alias=_env("GATEWAY_URL", "OPENAI_BASE_URL")
    )
    gateway_api_key: SecretStr | None = Field(
        default=None, validation_alias=_env("GATEWAY_API_KEY", "OPENAI_API_KEY")
    )
    chat_model: str = Field(default="", max_length=256, validation_alias=_env("CHAT_MODEL"))
    embedding_model: str = Field(
        default="", max_length=256, validation_alias=_env("EMBEDDING_MODEL")
    )
    # Seconds to connect, and to wait for a whole embedding batch or the next streamed token.
    connect_timeout: float = Field(default=5.0, gt=0, validation_alias=_env("CONNECT_TIMEOUT"))
    request_timeout: float = Field(default=300.0, gt=0, validation_alias=_env("REQUEST_TIMEOUT"))
    # Texts per embedding request.
    embed_batch: int = Field(default=32, ge=1, le=2048, validation_alias=_env("EMBED_BATCH"))

    # Defaults of new collections: chunking as the reference (800 characters, 100 overlap)
    # and the similarity below which a chunk does not count as relevant (cosine, -1..1; it
    # depends on the embedding model: 0.3 is all-MiniLM-L6-v2's, the gateway's default, as
    # measured on the sample set; see docs/retrieval.md).
    chunk_size: int = Field(default=800, ge=50, le=8000, validation_alias=_env("CHUNK_SIZE"))
    chunk_overlap: int = Field(default=100, ge=0, le=4000, validation_alias=_env("CHUNK_OVERLAP"))
    min_score: float = Field(default=0.3, ge=-1, le=1, validation_alias=_env("MIN_SCORE"))
    # Chunks retrieved per question, by default and at most.
    top_k: int = Field(default=4, ge=1, le=50, validation_alias=_env("TOP_K"))
    max_top_k: int = Field(default=50, ge=1, le=1000, validation_alias=_env("MAX_TOP_K"))
    # Rewrite a follow-up question into a standalone search query with the chat model.
    rewrite: bool = Field(default=True, validation_alias=_env("REWRITE"))

    # Input limits: bytes of one document (and of any request body), seconds for a body to
    # arrive, characters of a question or search query.
    max_document_bytes: int = Field(
        default=32 * 1024 * 1024, gt=0, validation_alias=_env("MAX_DOCUMENT_BYTES")
    )
    body_timeout: float = Field(default=60.0, gt=0, validation_alias=_env("BODY_TIMEOUT"))
    max_query_chars: int = Field(default=4000, ge=1, validation_alias=_env("MAX_QUERY_CHARS"))

    # Who may call: keys are required when the service binds beyond loopback or keys are
    # configured; "off" must be said explicitly (behind Cloud Run IAM, for instance).
    host: str = Field(
        default="127.0.0.1", validation_alias=_env("HOST", "UVICORN_HOST", "LIFTOFF_HOST")
    )
    port: int = Field(default=8002, ge=1, le=65535, validation_alias=_env("PORT"))
    auth: Literal["auto", "on", "off"] = Field(default="auto", validation_alias=_env("AUTH"))
    api_keys: SecretStr | None = Field(
        default=None, validation_alias=_env("API_KEYS", "LIFTOFF_API_KEYS")
    )
    api_keys_file: Path | None = Field(
        default=None, validation_alias=_env("API_KEYS_FILE", "LIFTOFF_API_KEYS_FILE")
    )
    metrics_public: bool = Field(default=False, validation_alias=_env("METRICS_PUBLIC"))

    log_format: Literal["json", "text"] = Field(
        default="json", validation_alias=_env("LOG_FORMAT", "LIFTOFF_LOG_FORMAT")
    )
    log_level: str = Field(default="INFO", validation_alias=_env("LOG_LEVEL", "LIFTOFF_LOG_LEVEL"))

    @field_validator("gateway_url")
    @classmethod
    def _gateway_is_http(cls, url: str) -> str:
        if not re.match(r"https?://", url):
            raise ValueError("the gateway URL must be an http(s) URL")  # never the URL
        return url.rstrip("/")

    @field_validator("database_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, url: object) -> object:
        # Compose passes unset variables as empty strings.
        return None if url == "" else url

    @field_validator("database_url")
    @classmethod
    def _database_is_postgres(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not re.match(r"postgres(ql)?://", url.get_secret_value()):
            # Never echo the URL: it may carry a password.
            raise ValueError("LIFTOFF_RAG_DATABASE_URL must be a postgresql:// URL")
        return url

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"LIFTOFF_RAG_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than "
                f"LIFTOFF_RAG_CHUNK_SIZE ({self.chunk_size})"
            )
        if self.top_k > self.max_top_k:
            raise ValueError("LIFTOFF_RAG_TOP_K must not exceed LIFTOFF_RAG_MAX_TOP_K")
        problem = self.exposure.problem()
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def exposure(self) -> Exposure:
        """The shared exposure rule applied to this service (``liftoff.server.access``)."""
        return Exposure(
            service="the retrieval service",
            host=self.host,
            auth=self.auth,
            has_keys=bool(self.api_keys or self.api_keys_file),
            keys_variable="LIFTOFF_RAG_API_KEYS (or LIFTOFF_API_KEYS)",
            auth_variable="LIFTOFF_RAG_AUTH",
        )

    @property
    def auth_required(self) -> bool:
        return self.exposure.keys_required

    def load_api_keys(self) -> list[str]:
        """Keys from LIFTOFF_RAG_API_KEYS and LIFTOFF_RAG_API_KEYS_FILE (one per line, #
        comments)."""
        keys = self.api_keys.get_secret_value().split(",") if self.api_keys else []
        if self.api_keys_file is not None:
            lines = self.api_keys_file.read_text().splitlines()
            keys += [line for line in lines if not line.lstrip().startswith("#")]
        return [key.strip() for key in keys if key.strip()]


@lru_cache
def get_settings() -> Settings:
    """The settings, read once; raises ``SettingsError`` naming the variables at fault."""
    return load_settings(Settings)
