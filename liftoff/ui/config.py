"""The chat UI's settings: one object, read from the environment once.

UI variables carry the ``LIFTOFF_UI_`` prefix; the standard names other tools use for an
OpenAI-compatible server are honoured for the gateway (``OPENAI_BASE_URL``,
``OPENAI_API_KEY``), and logs follow the gateway's ``LIFTOFF_LOG_FORMAT`` /
``LIFTOFF_LOG_LEVEL`` unless ``LIFTOFF_UI_LOG_*`` says otherwise.

Exposure follows the rule every Liftoff service follows: a login is required whenever the UI
binds beyond loopback or a login is configured, and it refuses to start exposed without one
(``LIFTOFF_UI_AUTH=off`` says otherwise, explicitly, for a platform gate such as IAP).
"""

from __future__ import annotations

import hmac
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from liftoff.server.access import Exposure
from liftoff.server.settings import ServiceSettings, load_settings

DEFAULT_GATEWAY = "http://127.0.0.1:8000/v1"
DEFAULT_DATA_DIR = Path.home() / ".cache" / "liftoff" / "ui"
MIN_PASSWORD_CHARS = 8
MAX_USERS = 100
# An HTTP header name (RFC 9110 token characters, the usual subset).
_HEADER_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _env(name: str, *standard: str) -> AliasChoices:
    return AliasChoices(f"LIFTOFF_UI_{name}", *standard)


class Settings(ServiceSettings):
    """Configuration of the chat UI (``liftoff.ui.main:app``).

    >>> s = Settings(_env_file=None, users=SecretStr("ana:correct-horse"))
    >>> (s.auth_required, s.check_password("ana", "correct-horse"), s.check_password("ana", "x"))
    (True, True, False)
    """

    model_config = SettingsConfigDict(populate_by_name=True)

    host: str = Field(default="127.0.0.1", validation_alias=_env("HOST"))
    port: int = Field(default=8003, ge=1, le=65535, validation_alias=_env("PORT", "PORT"))

    # The gateway: an OpenAI-compatible base URL and the key the UI sends it (server-side:
    # the browser never sees it). Retrieval: a second OpenAI-compatible base URL whose models
    # (``rag:<collection>``) join the picker; optional.
    gateway_url: str = Field(
        default=DEFAULT_GATEWAY, validation_alias=_env("GATEWAY_URL", "OPENAI_BASE_URL")
    )
    gateway_api_key: SecretStr | None = Field(
        default=None, validation_alias=_env("GATEWAY_API_KEY", "OPENAI_API_KEY")
    )
    retrieval_url: str | None = Field(default=None, validation_alias=_env("RETRIEVAL_URL"))
    retrieval_api_key: SecretStr | None = Field(
        default=None, validation_alias=_env("RETRIEVAL_API_KEY")
    )

    # Seconds to connect, and to wait for the next streamed token.
    connect_timeout: float = Field(default=5.0, gt=0, validation_alias=_env("CONNECT_TIMEOUT"))
    request_timeout: float = Field(default=300.0, gt=0, validation_alias=_env("REQUEST_TIMEOUT"))

    # Generation defaults shown in the settings panel, and the bounds a user may choose in.
    default_model: str = Field(default="", validation_alias=_env("DEFAULT_MODEL"))
    default_temperature: float = Field(
        default=0.7, ge=0, le=2, validation_alias=_env("DEFAULT_TEMPERATURE")
    )
    default_max_tokens: int = Field(default=256, ge=1, validation_alias=_env("DEFAULT_MAX_TOKENS"))
    max_tokens_limit: int = Field(default=4096, ge=1, validation_alias=_env("MAX_TOKENS_LIMIT"))

    # Conversation history sent with each question: the latest messages, at most this many
    # and this many characters in all; one message at most max_message_chars.
    max_history_messages: int = Field(
        default=20, ge=0, le=1000, validation_alias=_env("MAX_HISTORY_MESSAGES")
    )
    max_history_chars: int = Field(default=32_000, ge=0, validation_alias=_env("MAX_HISTORY_CHARS"))
    max_message_chars: int = Field(default=16_000, ge=1, validation_alias=_env("MAX_MESSAGE_CHARS"))
    max_models: int = Field(default=200, ge=1, le=10_000, validation_alias=_env("MAX_MODELS"))

    # Who may use the UI. "auto": a login is required when the UI binds beyond loopback or a
    # login is configured. Password logins: "user:password" pairs, comma-separated. Header
    # login: the name of a header a trusted proxy in front sets to the user's identity (e.g.
    # X-Goog-Authenticated-User-Email behind IAP); never set it without such a proxy.
    auth: Literal["auto", "on", "off"] = Field(default="auto", validation_alias=_env("AUTH"))
    users: SecretStr | None = Field(default=None, validation_alias=_env("USERS"))
    auth_header: str | None = Field(default=None, validation_alias=_env("AUTH_HEADER"))
    # Signs the login cookie (Chainlit's CHAINLIT_AUTH_SECRET); random per process when
    # unset, which logs everyone out on a restart and cannot be shared by replicas.
    auth_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("AUTH_SECRET", "CHAINLIT_AUTH_SECRET")
    )

    # Chainlit's working directory: its config, translations and upload area.
    data_dir: Path = Field(default=DEFAULT_DATA_DIR, validation_alias=_env("DATA_DIR"))

    log_format: Literal["json", "text"] = Field(
        default="json", validation_alias=_env("LOG_FORMAT", "LIFTOFF_LOG_FORMAT")
    )
    log_level: str = Field(default="INFO", validation_alias=_env("LOG_LEVEL", "LIFTOFF_LOG_LEVEL"))

    @field_validator("gateway_url")
    @classmethod
    def _gateway_is_http(cls, url: str) -> str:
        return _http_url(url)

    @field_validator("retrieval_url")
    @classmethod
    def _retrieval_is_http(cls, url: str | None) -> str | None:
        return _http_url(url) if url and url.strip() else None

    @field_validator("auth_header")
    @classmethod
    def _is_header_name(cls, name: str | None) -> str | None:
        if name is None or not name.strip():
            return None
        if not set(name) <= _HEADER_CHARS or len(name) > 100:
            raise ValueError("not an HTTP header name")
        return name.lower()

    @field_validator("users")
    @classmethod
    def _users_are_valid(cls, users: SecretStr | None) -> SecretStr | None:
        if users is None or not users.get_secret_value().strip():
            return None
        pairs = _pairs(users)
        if len(pairs) > MAX_USERS:
            raise ValueError(f"at most {MAX_USERS} users")
        for name, password in pairs:
            if not name or password is None:
                raise ValueError("LIFTOFF_UI_USERS takes user:password pairs, comma-separated")
            if len(password) < MIN_PASSWORD_CHARS:
                raise ValueError(f"a password is shorter than {MIN_PASSWORD_CHARS} characters")
        return users

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.default_max_tokens > self.max_tokens_limit:
            raise ValueError("LIFTOFF_UI_DEFAULT_MAX_TOKENS exceeds LIFTOFF_UI_MAX_TOKENS_LIMIT")
        problem = self.exposure.problem()
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def exposure(self) -> Exposure:
        """The shared exposure rule applied to the UI (``liftoff.server.access``), with
        logins for keys."""
        return Exposure(
            service="the UI",
            host=self.host,
            auth=self.auth,
            has_keys=bool(self.users or self.auth_header),
            keys_variable="LIFTOFF_UI_USERS=user:password (comma-separated pairs) or "
            "LIFTOFF_UI_AUTH_HEADER behind an authenticating proxy",
            auth_variable="LIFTOFF_UI_AUTH",
            credential="a login",
        )

    @property
    def binds_beyond_loopback(self) -> bool:
        return self.exposure.beyond_loopback

    @property
    def auth_required(self) -> bool:
        return self.exposure.keys_required

    @property
    def login_enabled(self) -> bool:
        return self.auth != "off" and bool(self.users or self.auth_header)

    def check_password(self, user: str, password: str) -> bool:
        """Whether ``user:password`` is configured; every pair is compared (constant time)."""
        if self.users is None:
            return False
        presented = f"{user}\0{password}".encode()
        found = False
        for name, secret in _pairs(self.users):
            found |= hmac.compare_digest(f"{name}\0{secret}".encode(), presented)
        return found


def _http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")  # never the URL: it may carry a password
    return url.rstrip("/")


def _pairs(users: SecretStr) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for item in users.get_secret_value().split(","):
        if item.strip():
            name, colon, password = item.strip().partition(":")
            pairs.append((name.strip(), password if colon else None))
    return pairs


@lru_cache
def get_settings() -> Settings:
    """The settings, read once; raises ``SettingsError`` naming the variables at fault."""
    return load_settings(Settings)
