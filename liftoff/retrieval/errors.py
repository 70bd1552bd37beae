"""The retrieval service's exceptions, all rendered in OpenAI's error shape.

    ServiceError (liftoff.server.errors)            500
     ├── InvalidRequest                             400  ``param`` names the field
     │    ├── DocumentRejected                      400  empty, binary or unreadable document
     │    └── ChunkTooLong                          400  a piece of text the embedding model
     │                                                   refuses even at the smallest split
     ├── Forbidden → ReadOnly                       403  writes to a read-only index
     ├── NotFound → CollectionNotFound              404  also DocumentNotFound
     ├── Conflict                                   409
     │    ├── CollectionExists                      409
     │    └── EmbeddingModelChanged                 409  the collection was embedded with
     │                                                   another model or dimension
     ├── PayloadTooLarge                            413  document over the size limit
     ├── UnsupportedFormat                          415  not Markdown, text, HTML or PDF
     ├── GatewayError                               502  the gateway failed or refused this
     │                                                   service's own key or model
     ├── Unavailable → GatewayUnavailable           503  gateway unreachable or busy
     │             └── StoreUnavailable             503  database unreachable
     └── GatewayTimeout                             504

The gateway's errors become these in one place, ``liftoff.retrieval.gateway``. Messages
never carry keys or database URLs.
"""

from __future__ import annotations

from liftoff.server.errors import (
    Conflict,
    ErrorShapes,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    Unavailable,
    openai_error_body,
)
from liftoff.server.openapi import OpenAIError, error_responses

__all__ = [
    "ERRORS",
    "SHAPES",
    "ChunkTooLong",
    "CollectionExists",
    "CollectionNotFound",
    "Conflict",
    "DocumentNotFound",
    "DocumentRejected",
    "EmbeddingModelChanged",
    "GatewayError",
    "GatewayTimeout",
    "GatewayUnavailable",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "ReadOnly",
    "ServiceError",
    "StoreUnavailable",
    "UnsupportedFormat",
]

SHAPES = ErrorShapes(openai_error_body)

ERRORS = error_responses(
    OpenAIError,
    {
        400: "invalid request (the message names the field)",
        401: "missing or invalid API key",
        403: "the index is read-only",
        404: "unknown collection, document, model or route",
        408: "the request body arrived too slowly",
        409: "the collection exists, or was embedded with another model than this service's",
        413: "request body or document too large",
        415: "unsupported document format",
        502: "the gateway failed or refused this service's key or model",
        503: "the gateway or the database is unavailable; see Retry-After",
        504: "the gateway did not answer in time",
    },
)


class DocumentRejected(InvalidRequest):
    error_type = "document_rejected"


class ChunkTooLong(InvalidRequest):
    error_type = "chunk_too_long"


class ReadOnly(Forbidden):
    error_type = "read_only"


class CollectionNotFound(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"collection {name!r} does not exist; create it with POST /v1/collections or "
            f"'liftoff rag ingest PATH --collection {name}'",
            param="collection",
        )


class DocumentNotFound(NotFound):
    def __init__(self, collection: str, source: str) -> None:
        super().__init__(f"collection {collection!r} has no document {source!r}", param="source")


class CollectionExists(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} already exists", param="name")


class EmbeddingModelChanged(Conflict):
    error_type = "embedding_model_changed"


class UnsupportedFormat(ServiceError):
    status_code = 415
    error_type = "unsupported_format"


class GatewayError(ServiceError):
    status_code = 502
    error_type = "gateway_error"


class GatewayUnavailable(Unavailable):
    error_type = "gateway_unavailable"


class StoreUnavailable(Unavailable):
    error_type = "store_unavailable"


class GatewayTimeout(ServiceError):
    status_code = 504
    error_type = "gateway_timeout"
