"""Collections, their documents, and plain retrieval (chunks and scores, no answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from liftoff.retrieval.deps import RetrievalDep
from liftoff.retrieval.errors import ERRORS
from liftoff.retrieval.protocol import CollectionCreate, SearchRequest
from liftoff.retrieval.records import CollectionSettings
from liftoff.retrieval.service import check_source

router = APIRouter(prefix="/v1/collections", tags=["collections"], responses=ERRORS)
MAX_OFFSET = 2**31 - 1
_DOCUMENT_BODY = {
    "requestBody": {
        "required": True,
        "description": "the file's bytes; the format comes from Content-Type or the extension",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("text/markdown", "text/plain", "text/html", "application/pdf",
                          "application/octet-stream")
        },
    }
}  # fmt: skip


@router.get("")
async def list_collections(retrieval: RetrievalDep) -> dict[str, Any]:
    """Every collection, by name."""
    collections = await retrieval.collections()
    return {"object": "list", "data": [c.model_dump(mode="json") for c in collections]}


@router.post("", status_code=201)
async def create_collection(body: CollectionCreate, retrieval: RetrievalDep) -> JSONResponse:
    """A new, empty collection; the embedding model and its dimension are recorded."""
    defaults = retrieval.settings
    settings = CollectionSettings(
        chunk_size=body.chunk_size or defaults.chunk_size,
        chunk_overlap=defaults.chunk_overlap if body.chunk_overlap is None else body.chunk_overlap,
        min_score=defaults.min_score if body.min_score is None else body.min_score,
    )
    collection = await retrieval.create_collection(body.name, settings)
    return JSONResponse(
        collection.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/v1/collections/{collection.name}"},
    )


@router.get("/{name}")
async def get_collection(name: str, retrieval: RetrievalDep) -> dict[str, Any]:
    """One collection: settings, embedding model, dimension, document and chunk counts."""
    return (await retrieval.collection(name)).model_dump(mode="json")


@router.delete("/{name}", status_code=204)
async def delete_collection(name: str, retrieval: RetrievalDep) -> Response:
    """Delete a collection with all its documents and chunks."""
    await retrieval.delete_collection(name)
    return Response(status_code=204)


@router.get("/{name}/documents")
async def list_documents(
    name: str,
    retrieval: RetrievalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Documents by source: format, size, SHA-256, chunk count, when ingested."""
    found = await retrieval.documents(name, limit=limit, offset=offset)
    return {"object": "list", "data": [d.model_dump(mode="json") for d in found]}


@router.put("/{name}/documents/{source:path}", openapi_extra=_DOCUMENT_BODY)
async def put_document(
    name: str, source: str, request: Request, retrieval: RetrievalDep
) -> JSONResponse:
    """Ingest a file as the document ``source`` (a relative path), replacing its chunks if
    it changed: 201 created, 200 replaced or unchanged (``status`` says which)."""
    data = await request.body()  # bounded by the body-size middleware
    document, status = await retrieval.ingest(
        name, check_source(source), data, request.headers.get("content-type")
    )
    return JSONResponse(
        {**document.model_dump(mode="json"), "status": status},
        status_code=201 if status == "created" else 200,
    )


@router.delete("/{name}/documents/{source:path}", status_code=204)
async def delete_document(name: str, source: str, retrieval: RetrievalDep) -> Response:
    """Delete one document and its chunks."""
    await retrieval.delete_document(name, source)
    return Response(status_code=204)


@router.post("/{name}/search")
async def search(name: str, body: SearchRequest, retrieval: RetrievalDep) -> dict[str, Any]:
    """The chunks nearest to ``query`` that pass ``min_score`` (the collection's unless
    given), best first, with their cosine similarity as ``score``."""
    query = retrieval.check_query(body.query, param="query")
    found = await retrieval.search(name, query, k=body.k, min_score=body.min_score)
    return {
        "object": "list",
        "collection": name,
        "query": query,
        "min_score": found.min_score,
        "data": [hit.model_dump(mode="json") for hit in found.relevant],
    }
