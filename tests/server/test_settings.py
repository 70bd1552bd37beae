"""Settings errors name the variables at fault and never repeat a value."""

from __future__ import annotations

import pytest
from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from liftoff.server.settings import ServiceSettings, SettingsError, load_settings

SECRET = "sk-probe-4f1d9c"


class Demo(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_")

    port: int = 8000
    api_key: SecretStr | None = None
    upstream: str = Field(default="", validation_alias=AliasChoices("DEMO_UPSTREAM", "UPSTREAM"))

    @model_validator(mode="after")
    def _needs_upstream(self) -> Demo:
        if self.api_key and not self.upstream:
            raise ValueError("DEMO_API_KEY needs DEMO_UPSTREAM")
        return self


def test_a_check_across_fields_names_the_problem_without_the_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pydantic's own message would print input_value={'api_key': 'sk-...'}.
    monkeypatch.setenv("DEMO_API_KEY", SECRET)
    with pytest.raises(SettingsError) as caught:
        load_settings(Demo)
    assert str(caught.value) == "DEMO_API_KEY needs DEMO_UPSTREAM"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_value_in_the_wrong_variable_is_not_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_PORT", SECRET)
    monkeypatch.setenv("UPSTREAM", "x")
    with pytest.raises(SettingsError) as caught:
        load_settings(Demo)
    assert str(caught.value).startswith("DEMO_PORT: Input should be a valid integer")
    assert SECRET not in str(caught.value)


def test_pydantics_own_error_hides_the_input_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_PORT", SECRET)
    with pytest.raises(ValueError) as caught:
        Demo()
    assert SECRET not in str(caught.value)
