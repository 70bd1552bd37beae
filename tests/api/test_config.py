"""Settings: defaults, standard variable names, and refusal of incomplete configuration."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from liftoff.api.config import Settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "AIP_HTTP_PORT", "LIFTOFF_PORT", "OLLAMA_HOST", "OPENAI_BASE_URL",
                 "OPENAI_API_KEY", "LIFTOFF_BACKEND", "LIFTOFF_MODEL"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_nothing_configured_means_the_embedded_backend_on_8000() -> None:
    settings = Settings()
    assert settings.backend == "llamacpp"
    assert settings.port == 8000
    assert settings.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("env", "port"),
    [
        ({"PORT": "9090"}, 9090),
        ({"AIP_HTTP_PORT": "7080"}, 7080),
        ({"PORT": "9090", "AIP_HTTP_PORT": "7080"}, 7080),
        ({"LIFTOFF_PORT": "8123"}, 8123),
    ],
)
def test_port_follows_cloud_run_and_vertex(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], port: int
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings().port == port


def test_ollama_host_without_scheme_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "ollama:11434")
    assert Settings().ollama_host == "http://ollama:11434"


def test_ollama_backend_defaults_to_llama_3_1_8b(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFTOFF_BACKEND", "ollama")
    assert Settings().ollama_model == "llama3.1:8b"


def test_openai_backend_without_base_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFTOFF_BACKEND", "openai")
    monkeypatch.setenv("LIFTOFF_MODEL", "m")
    with pytest.raises(ValidationError, match="needs OPENAI_BASE_URL"):
        Settings()


def test_unknown_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFTOFF_BACKEND", "tgi")
    with pytest.raises(ValidationError, match="backend"):
        Settings()


def test_api_key_is_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFTOFF_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LIFTOFF_MODEL", "m")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    assert "sk-very-secret" not in repr(Settings())
