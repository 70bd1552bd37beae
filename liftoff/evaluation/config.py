"""The evaluation service's settings: one object, read from the environment once.

Evaluation-specific variables carry the ``LIFTOFF_EVAL_`` prefix; the standard names other
tools already use are honoured too (``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` name the
default target, as in ``docker-compose.yml``), and logs follow the gateway's
``LIFTOFF_LOG_FORMAT`` / ``LIFTOFF_LOG_LEVEL`` unless ``LIFTOFF_EVAL_LOG_*`` says otherwise.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TARGET = "http://127.0.0.1:8000/v1"
DEFAULT_STORE = Path.home() / ".cache" / "liftoff" / "evaluation.sqlite3"


def _env(name: str, *standard: str) -> AliasChoices:
    return AliasChoices(f"LIFTOFF_EVAL_{name}", *standard)


class Settings(BaseSettings):
    """Configuration of the evaluation service (``liftoff.evaluation.main:app``) and
    ``liftoff eval``."""

    # hide_input_in_errors: an invalid value (a database URL, a key) is never echoed back.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    # Where runs live: a SQLite file (WAL; the parent directory is created when missing), or,
    # when a database URL is set, Postgres (postgresql://user:password@host:port/db), which
    # several replicas share. Connections per process, and seconds to connect or answer.
    store: Path = Field(default=DEFAULT_STORE, validation_alias=_env("STORE"))
    database_url: SecretStr | None = Field(default=None, validation_alias=_env("DATABASE_URL"))
    database_pool_size: int = Field(
        default=8, ge=1, le=100, validation_alias=_env("DATABASE_POOL_SIZE")
    )
    database_timeout: float = Field(
        default=10.0, gt=0, le=300, validation_alias=_env("DATABASE_TIMEOUT")
    )
    # A process owns each run it works on by a lease it renews every third of this many
    # seconds; a process gone this long loses its runs to another (see ``resume_on_start``).
    lease_seconds: float = Field(
        default=30.0, ge=1, le=3600, validation_alias=_env("LEASE_SECONDS")
    )

    # The default target of a run: any OpenAI-compatible base URL (the gateway by default),
    # the key sent to it, and the model (empty: the first model the target lists).
    target: str = Field(default=DEFAULT_TARGET, validation_alias=_env("TARGET", "OPENAI_BASE_URL"))
    target_api_key: SecretStr | None = Field(
        default=None, validation_alias=_env("TARGET_API_KEY", "OPENAI_API_KEY")
    )
    model: str = Field(default="", validation_alias=_env("MODEL"))

    # Generation: requests in flight per run (default, and the most a run may ask for),
    # retries of one request (the openai client's own, with backoff), seconds per request.
    concurrency: int = Field(default=4, ge=1, le=256, validation_alias=_env("CONCURRENCY"))
    max_concurrency: int = Field(default=32, ge=1, le=256, validation_alias=_env("MAX_CONCURRENCY"))
    retries: int = Field(default=3, ge=0, le=20, validation_alias=_env("RETRIES"))
    request_timeout: float = Field(default=300.0, gt=0, validation_alias=_env("REQUEST_TIMEOUT"))
    probe_timeout: float = Field(default=10.0, gt=0, validation_alias=_env("PROBE_TIMEOUT"))

    # Input limits: bytes per request body, seconds for the body to arrive, examples per
    # request (scores) or dataset (runs).
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024, gt=0, validation_alias=_env("MAX_BODY_BYTES")
    )
    body_timeout: float = Field(default=60.0, gt=0, validation_alias=_env("BODY_TIMEOUT"))
    max_examples: int = Field(default=100_000, ge=1, validation_alias=_env("MAX_EXAMPLES"))

    # Processes that score (each loads WordNet once); requests beyond them wait their turn.
    score_workers: int = Field(default=1, ge=1, le=64, validation_alias=_env("SCORE_WORKERS"))
    # Continue runs a crash or restart interrupted: when the service starts, and whenever a
    # run's owner (another replica on the same store) has been gone for ``lease_seconds``.
    resume_on_start: bool = Field(default=True, validation_alias=_env("RESUME_ON_START"))

    # Optional API keys clients must send (Authorization: Bearer, or x-api-key); comma-separated.
    api_keys: SecretStr | None = Field(default=None, validation_alias=_env("API_KEYS"))

    log_format: Literal["json", "text"] = Field(
        default="json", validation_alias=_env("LOG_FORMAT", "LIFTOFF_LOG_FORMAT")
    )
    log_level: str = Field(default="INFO", validation_alias=_env("LOG_LEVEL", "LIFTOFF_LOG_LEVEL"))

    @field_validator("target")
    @classmethod
    def _target_is_http(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the target must be an http(s) URL, not {url!r}")
        return url.rstrip("/")

    @field_validator("database_url", mode="before")
    @classmethod
    def _empty_database_url_is_unset(cls, url: object) -> object:
        # Compose passes unset variables as empty strings.
        return None if url == "" else url

    @field_validator("database_url")
    @classmethod
    def _database_is_postgres(cls, url: SecretStr | None) -> SecretStr | None:
        # The URL carries a password: the message never repeats it.
        if url is not None and not re.match(r"postgres(ql)?://", url.get_secret_value()):
            raise ValueError("LIFTOFF_EVAL_DATABASE_URL must be a postgresql:// URL")
        return url

    @property
    def api_key_list(self) -> list[str]:
        if self.api_keys is None:
            return []
        return [key.strip() for key in self.api_keys.get_secret_value().split(",") if key.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
