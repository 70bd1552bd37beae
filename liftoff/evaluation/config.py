"""The evaluation service's settings: one object, read from the environment once.

Evaluation-specific variables carry the ``LIFTOFF_EVAL_`` prefix; the standard names other
tools already use are honoured too (``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` name the
default target, as in ``docker-compose.yml``), and logs follow the gateway's
``LIFTOFF_LOG_FORMAT`` / ``LIFTOFF_LOG_LEVEL`` unless ``LIFTOFF_EVAL_LOG_*`` says otherwise.

Exposure follows the rule every service shares (``liftoff.server.access``): API keys are
required when the service binds beyond loopback (``LIFTOFF_EVAL_HOST``, else uvicorn's
``UVICORN_HOST``, else the stack's ``LIFTOFF_HOST``) or keys are configured. Runs generate
only against the targets the operator allows (``LIFTOFF_EVAL_TARGET`` and
``LIFTOFF_EVAL_TARGETS``; public addresses too with ``LIFTOFF_EVAL_ALLOW_ANY_TARGET``), and
the service's own target key goes to ``LIFTOFF_EVAL_TARGET`` alone.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator

from liftoff.server.access import AuthMode, Exposure
from liftoff.server.settings import ServiceSettings, load_settings

DEFAULT_TARGET = "http://127.0.0.1:8000/v1"
DEFAULT_STORE = Path.home() / ".cache" / "liftoff" / "evaluation.sqlite3"


def _env(name: str, *standard: str) -> AliasChoices:
    return AliasChoices(f"LIFTOFF_EVAL_{name}", *standard)


class Settings(ServiceSettings):
    """Configuration of the evaluation service (``liftoff.evaluation.main:app``) and
    ``liftoff eval``. Validation errors name the variables at fault, never a value."""

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
    # Other base URLs runs may name (comma-separated), reached with the caller's key only;
    # and whether any public http(s) address may be named too (never a private one).
    targets: str = Field(default="", validation_alias=_env("TARGETS"))
    allow_any_target: bool = Field(default=False, validation_alias=_env("ALLOW_ANY_TARGET"))

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
    # Seconds one scoring or comparison request may take, its wait for a worker included;
    # the work is stopped after that (and as soon as its client leaves).
    score_timeout: float = Field(default=300.0, gt=0, validation_alias=_env("SCORE_TIMEOUT"))
    # Free bytes the store's disk must keep: below this, readiness is 503 and new runs 507.
    min_free_bytes: int = Field(
        default=64 * 1024 * 1024, ge=0, validation_alias=_env("MIN_FREE_BYTES")
    )
    # Continue runs a crash or restart interrupted: when the service starts, and whenever a
    # run's owner (another replica on the same store) has been gone for ``lease_seconds``.
    resume_on_start: bool = Field(default=True, validation_alias=_env("RESUME_ON_START"))

    # Who may call: where the service binds, and the API keys clients send (Authorization:
    # Bearer, or x-api-key); comma-separated, and/or one per line in a file.
    host: str = Field(
        default="127.0.0.1", validation_alias=_env("HOST", "UVICORN_HOST", "LIFTOFF_HOST")
    )
    auth: AuthMode = Field(default="auto", validation_alias=_env("AUTH"))
    api_keys: SecretStr | None = Field(default=None, validation_alias=_env("API_KEYS"))
    api_keys_file: Path | None = Field(default=None, validation_alias=_env("API_KEYS_FILE"))

    log_format: Literal["json", "text"] = Field(
        default="json", validation_alias=_env("LOG_FORMAT", "LIFTOFF_LOG_FORMAT")
    )
    log_level: str = Field(default="INFO", validation_alias=_env("LOG_LEVEL", "LIFTOFF_LOG_LEVEL"))

    @field_validator("target")
    @classmethod
    def _target_is_a_base_url(cls, url: str) -> str:
        problem = base_url_problem(url)
        if problem is not None:
            raise ValueError(problem)  # never the URL: it may carry a password
        return url.rstrip("/")

    @field_validator("targets")
    @classmethod
    def _targets_are_base_urls(cls, urls: str) -> str:
        for url in split_list(urls):
            problem = base_url_problem(url)
            if problem is not None:
                raise ValueError(f"each entry: {problem}")
        return urls

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
    def exposure(self) -> Exposure:
        """The shared exposure rule applied to this service (``liftoff.server.access``); the
        service refuses to start when it has a problem (``liftoff eval`` serves nothing and
        does not check it)."""
        return Exposure(
            service="the evaluation service",
            host=self.host,
            auth=self.auth,
            has_keys=bool(self.api_keys or self.api_keys_file),
            keys_variable="LIFTOFF_EVAL_API_KEYS (comma-separated) or LIFTOFF_EVAL_API_KEYS_FILE",
            auth_variable="LIFTOFF_EVAL_AUTH",
        )

    @property
    def allowed_targets(self) -> list[str]:
        """The configured target first, then LIFTOFF_EVAL_TARGETS'."""
        return [self.target, *(url.rstrip("/") for url in split_list(self.targets))]

    def load_api_keys(self) -> list[str]:
        """Keys from LIFTOFF_EVAL_API_KEYS and LIFTOFF_EVAL_API_KEYS_FILE (one per line, #
        comments)."""
        keys = split_list(self.api_keys.get_secret_value()) if self.api_keys else []
        if self.api_keys_file is not None:
            lines = self.api_keys_file.read_text().splitlines()
            keys += [line.strip() for line in lines if not line.lstrip().startswith("#")]
        return [key for key in keys if key]


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def base_url_problem(url: str) -> str | None:
    """Why ``url`` is not usable as an OpenAI-compatible base URL, or None. The answer never
    repeats the URL, which may carry credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL with a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (user:password@); send keys as API keys"
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        return "a base URL has no query or fragment"
    del port  # parsed only to reject a malformed one
    return None


@lru_cache
def get_settings() -> Settings:
    """The settings, read once; raises ``SettingsError`` naming the variables at fault."""
    return load_settings(Settings)
