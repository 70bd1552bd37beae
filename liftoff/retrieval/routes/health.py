"""Operations: ``/healthz`` (the process lives), ``/readyz`` (the store answers and the
gateway serves the models), ``/metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from liftoff.retrieval.deps import RetrievalDep
from liftoff.retrieval.errors import ERRORS, GatewayUnavailable
from liftoff.server.observability import metrics_response

router = APIRouter(tags=["health"], responses=ERRORS)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(retrieval: RetrievalDep) -> dict[str, str]:
    """The store answers and the gateway serves the chat and embedding models; 503 otherwise."""
    await retrieval.run(retrieval.store.check)
    served = await retrieval.gateway.models()
    embedding, chat = await retrieval.embedding_model(), await retrieval.chat_model()
    missing = [model for model in (embedding, chat) if model not in served]
    if missing:
        raise GatewayUnavailable(
            f"the gateway does not serve {', '.join(sorted(set(missing)))} (it serves: "
            f"{', '.join(served) or 'nothing'}); check LIFTOFF_RAG_EMBEDDING_MODEL and "
            "LIFTOFF_RAG_CHAT_MODEL"
        )
    return {
        "status": "ready",
        "store": retrieval.store.kind,
        "embedding_model": embedding,
        "chat_model": chat,
    }


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    return metrics_response(request)
