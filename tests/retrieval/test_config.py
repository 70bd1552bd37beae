"""Settings: the exposure rule, consistent chunking, and no database password in errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from liftoff.retrieval.config import Settings


def settings(**env: str) -> Settings:
    return Settings.model_validate(env)


def test_loopback_without_keys_needs_no_auth() -> None:
    assert not settings().auth_required


def test_binding_beyond_loopback_requires_keys() -> None:
    with pytest.raises(ValidationError, match="needs API keys"):
        settings(LIFTOFF_HOST="0.0.0.0")
    exposed = settings(LIFTOFF_RAG_HOST="0.0.0.0", LIFTOFF_API_KEYS="sk-a, sk-b")
    assert exposed.auth_required and exposed.load_api_keys() == ["sk-a", "sk-b"]
    assert not settings(LIFTOFF_RAG_HOST="0.0.0.0", LIFTOFF_RAG_AUTH="off").auth_required


def test_overlap_must_be_smaller_than_the_chunk() -> None:
    with pytest.raises(ValidationError, match="CHUNK_OVERLAP"):
        settings(LIFTOFF_RAG_CHUNK_SIZE="100", LIFTOFF_RAG_CHUNK_OVERLAP="100")


def test_a_non_postgres_database_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as caught:
        settings(LIFTOFF_RAG_DATABASE_URL="mysql://root:hunter2@db/rag")
    assert "hunter2" not in str(caught.value)


def test_the_gateway_url_follows_the_openai_convention() -> None:
    chosen = settings(OPENAI_BASE_URL="http://gateway:8000/v1/", OPENAI_API_KEY="sk-gw")
    assert chosen.gateway_url == "http://gateway:8000/v1"
    assert chosen.gateway_api_key is not None
    assert "sk-gw" not in repr(chosen)
