"""Settings every service reads the same way, and errors that never repeat a value.

Each service has one pydantic-settings class deriving from :class:`ServiceSettings`. Its
validation errors name the environment variables at fault and never the values read:
pydantic's own message carries ``input_value`` (for a check across fields, every variable
read, API keys included), so ``hide_input_in_errors`` is on, and the services' validators
say what is wrong without quoting what they got. Entry points load settings with
:func:`load_settings`, which turns a ``ValidationError`` into a :class:`SettingsError`
without a trace of the original (``raise ... from None``):

    >>> from pydantic_settings import SettingsConfigDict
    >>> class Demo(ServiceSettings):
    ...     model_config = SettingsConfigDict(env_prefix="DEMO_")
    ...     port: int = 8000
    >>> import os; os.environ["DEMO_PORT"] = "sk-pasted-in-the-wrong-place"
    >>> load_settings(Demo)
    Traceback (most recent call last):
    ...
    liftoff.server.settings.SettingsError: DEMO_PORT: Input should be a valid integer, unable to parse string as an integer
    >>> del os.environ["DEMO_PORT"]
"""  # noqa: E501

from __future__ import annotations

import os
from typing import Any, TypeVar

from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)


class ServiceSettings(BaseSettings):
    """Base of every service's settings: unknown variables ignored, frozen once read, and
    no input value in any validation error."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


class SettingsError(ValueError):
    """The environment does not describe a valid configuration; one line per problem, each
    naming its variable. Carries no value that was read."""


def load_settings(settings_class: type[S]) -> S:
    """``settings_class()`` read from the environment; raises :class:`SettingsError`."""
    try:
        return settings_class()
    except ValidationError as exc:
        raise SettingsError(describe(settings_class, exc)) from None


def describe(settings_class: type[BaseSettings], exc: ValidationError) -> str:
    """One line per problem: ``VARIABLE: what is wrong`` (the values are left out)."""
    lines = []
    for problem in exc.errors(include_input=False, include_url=False):
        message = str(problem["msg"]).removeprefix("Value error, ")
        field = str(problem["loc"][0]) if problem["loc"] else ""
        variable = variable_name(settings_class, field) if field else ""
        lines.append(f"{variable}: {message}" if variable else message)
    return "\n".join(lines)


def variable_name(settings_class: type[BaseSettings], location: str) -> str:
    """The environment variable behind an error's location (a field's name, or its first
    alias, as pydantic reports it): of the field's aliases, the first one set (the one
    pydantic-settings read), else the first; without aliases, prefix and name."""
    for name, info in settings_class.model_fields.items():
        alias: Any = info.validation_alias or info.alias
        names = _alias_names(alias)
        if location != name and location not in names:
            continue
        if names:
            present = {variable.upper() for variable in os.environ}
            return next((n for n in names if n.upper() in present), names[0])
        prefix = str(settings_class.model_config.get("env_prefix", ""))
        return f"{prefix}{name}".upper()
    return location.upper()


def _alias_names(alias: Any) -> list[str]:
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return [alias] if isinstance(alias, str) else []
