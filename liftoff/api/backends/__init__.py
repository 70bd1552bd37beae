"""Backends behind the gateway, and the factory that picks one from the settings."""

from __future__ import annotations

from liftoff.api.backends.base import Backend
from liftoff.api.config import Settings


def create_backend(settings: Settings) -> Backend:
    """The backend ``LIFTOFF_BACKEND`` names, configured from the settings."""
    if settings.backend == "ollama":
        from liftoff.api.backends.google_identity import GoogleIdentityToken
        from liftoff.api.backends.ollama import OllamaBackend

        audience = settings.ollama_id_token_audience
        return OllamaBackend(
            host=settings.ollama_host,
            model=settings.ollama_model,
            keep_alive=settings.ollama_keep_alive,
            pull_if_missing=settings.ollama_pull,
            num_ctx=settings.ollama_num_ctx,
            embedding_model=settings.embedding_model,
            connect_timeout=settings.connect_timeout,
            timeout=settings.request_timeout,
            auth=GoogleIdentityToken(audience) if audience else None,
            tool_calls=settings.tool_calls,
        )
    if settings.backend == "openai":
        from liftoff.api.backends.openai import OpenAIBackend

        if settings.openai_base_url is None:  # also enforced by Settings
            raise ValueError("LIFTOFF_BACKEND=openai needs OPENAI_BASE_URL")
        key = settings.openai_api_key
        return OpenAIBackend(
            settings.openai_base_url,
            model=settings.model,
            embedding_model=settings.embedding_model,
            api_key=key.get_secret_value() if key else None,
            connect_timeout=settings.connect_timeout,
            timeout=settings.request_timeout,
            tool_calls=settings.tool_calls,
        )
    if settings.backend == "gemini":
        from liftoff.api.backends.gemini import GeminiBackend

        key = settings.gemini_api_key
        return GeminiBackend(
            settings.model,
            embedding_model=settings.embedding_model,
            api_key=None if settings.gemini_vertexai or key is None else key.get_secret_value(),
            vertexai=settings.gemini_vertexai,
            project=settings.google_cloud_project,
            location=settings.google_cloud_location,
            base_url=settings.vertex_base_url
            if settings.gemini_vertexai
            else settings.gemini_base_url,
            timeout=settings.request_timeout,
            probe_timeout=settings.connect_timeout,
        )
    from liftoff.api.backends.llamacpp import LlamaCppBackend
    from liftoff.api.backends.templates import choose_template
    from liftoff.api.model_files import resolve_embedding_gguf, resolve_gguf

    gguf = resolve_gguf(settings.model, settings.cache_dir)
    return LlamaCppBackend(
        gguf,
        context_size=settings.context_size,
        parallel=settings.parallel,
        threads=settings.threads,
        chat_template=choose_template(gguf, settings.chat_template),
        mmproj=settings.mmproj,
        embedding_gguf=resolve_embedding_gguf(settings.embedding_model, settings.cache_dir),
        embedding_context_size=settings.embedding_context_size,
    )


__all__ = ["Backend", "create_backend"]
