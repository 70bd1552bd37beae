"""``liftoff rag``: feed documents to a running retrieval service.

    liftoff rag ingest docs/ --collection handbook          # every .md .txt .html .pdf below
    liftoff rag ingest report.pdf --collection handbook --url http://rag.internal:8002

The collection is created when it does not exist (``--chunk-size``, ``--chunk-overlap`` and
``--min-score`` apply then). Each file is sent as one document whose source is its path
relative to the folder given; a file that changed replaces its chunks, an unchanged one is
skipped by the service. Files the service refuses (empty, binary, too large, unreadable) are
listed and the rest continue. Exit codes: 0 all ingested, 1 some file refused or the service
failed, 2 a usage error (no such path, no supported file, unreachable service, bad key).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

app = typer.Typer(
    help="Feed documents to the retrieval service (rag:<collection> models).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

EXTENSIONS = (".md", ".markdown", ".txt", ".text", ".html", ".htm", ".pdf")
# Statuses that concern one file; anything else stops the whole ingestion.
FILE_ERRORS = (400, 413, 415)
DOCUMENT_TIMEOUT_S = 900.0  # a long PDF embedded on a CPU takes minutes


def usage_error(message: str) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(2)


@dataclass
class Tally:
    statuses: dict[str, int] = field(default_factory=dict)
    chunks: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)

    def count(self, status: str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    collection: Annotated[str, typer.Option("--collection", "-c", help="Collection name.")],
    url: Annotated[
        str, typer.Option(envvar="LIFTOFF_RAG_URL", help="The retrieval service's URL.")
    ] = "http://127.0.0.1:8002",
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar=["LIFTOFF_RAG_API_KEY", "LIFTOFF_API_KEY"],
            help="Key for the service (default $LIFTOFF_RAG_API_KEY).",
            show_default=False,
        ),
    ] = None,
    chunk_size: Annotated[
        int | None, typer.Option(min=50, max=8000, help="Characters per chunk (new collection).")
    ] = None,
    chunk_overlap: Annotated[
        int | None, typer.Option(min=0, max=4000, help="Characters of overlap (new collection).")
    ] = None,
    min_score: Annotated[
        float | None,
        typer.Option(min=-1.0, max=1.0, help="Similarity a chunk needs to count (new collection)."),
    ] = None,
) -> None:
    """Ingest files and folders (Markdown, text, HTML, PDF) into COLLECTION."""
    files = collect(paths)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    settings = {"chunk_size": chunk_size, "chunk_overlap": chunk_overlap, "min_score": min_score}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=30.0) as client:
        ensure_collection(client, collection, settings)
        tally = send_all(client, collection, files)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(tally.statuses.items()))
    console.print(f"{collection}: {summary or 'nothing sent'}; {tally.chunks} chunks in the "
                  "documents sent", highlight=False)  # fmt: skip
    for source, reason in tally.refused:
        errors.print(f"[yellow]refused[/yellow] {source}: {reason}", highlight=False)
    if tally.refused:
        raise typer.Exit(1)


def collect(paths: list[Path]) -> list[tuple[str, Path]]:
    """``(source, file)`` pairs: a folder's supported files with sources relative to it, or a
    file given by itself under its own name; exits 2 when there is nothing to send."""
    files: list[tuple[str, Path]] = []
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                relative = found.relative_to(path)
                hidden = any(part.startswith(".") for part in relative.parts)
                if found.is_file() and not hidden and found.suffix.lower() in EXTENSIONS:
                    files.append((relative.as_posix(), found))
        elif path.is_file():
            files.append((path.name, path))
        else:
            usage_error(f"{path} does not exist")
    if not files:
        usage_error(f"no {', '.join(EXTENSIONS)} files in {', '.join(map(str, paths))}")
    sources = [source for source, _ in files]
    duplicates = sorted({source for source in sources if sources.count(source) > 1})
    if duplicates:
        usage_error(f"two files would be the same document: {', '.join(duplicates)}")
    return files


def ensure_collection(client: httpx.Client, name: str, settings: dict[str, Any]) -> None:
    response = _call(client, "GET", f"/v1/collections/{quote(name, safe='')}")
    if response.status_code == 200:
        existing = response.json()
        differ = [
            f"{key} is {existing.get(key)}"
            for key, value in settings.items()
            if value is not None and existing.get(key) != value
        ]
        if differ:
            usage_error(
                f"collection {name} exists and its {', '.join(differ)}; these settings apply "
                "when a collection is created: delete it first to change them"
            )
        return
    if response.status_code != 404:
        usage_error(_problem(response))
    body = {"name": name, **{key: value for key, value in settings.items() if value is not None}}
    created = _call(client, "POST", "/v1/collections", json=body)
    if created.status_code != 201:
        usage_error(_problem(created))
    info = created.json()
    console.print(f"created collection {name} ({info['embedding_model']}, {info['dimension']} "
                  f"dimensions)", highlight=False)  # fmt: skip


def send_all(client: httpx.Client, collection: str, files: list[tuple[str, Path]]) -> Tally:
    tally = Tally()
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[chunks]} chunks"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=errors, transient=False) as progress:
        task = progress.add_task("ingesting", total=len(files), chunks=0)
        for source, path in files:
            progress.update(task, description=_short(source))
            data = path.read_bytes()
            response = _call(
                client,
                "PUT",
                f"/v1/collections/{quote(collection, safe='')}/documents/{quote(source)}",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
                timeout=DOCUMENT_TIMEOUT_S,
            )
            if response.status_code in (200, 201):
                document = response.json()
                tally.count(document["status"])
                tally.chunks += int(document["chunks"])
            elif response.status_code in FILE_ERRORS:
                tally.count("refused")
                tally.refused.append((source, _message(response)))
            else:
                progress.stop()
                errors.print(f"[red]error:[/red] {source}: {_problem(response)}", highlight=False)
                raise typer.Exit(1)
            progress.update(task, advance=1, chunks=tally.chunks)
        progress.update(task, description="done")
    return tally


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, path, **kwargs)
    except httpx.TimeoutException:
        usage_error(f"{client.base_url} did not answer {method} {path} in time")
    except httpx.TransportError as exc:
        usage_error(
            f"cannot reach the retrieval service at {client.base_url} ({exc}); is it running "
            "(liftoff up), and is --url right?"
        )


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        return str(error.get("message") if isinstance(error, dict) else error)
    except (ValueError, AttributeError):
        return response.text[:200] or response.reason_phrase


def _problem(response: httpx.Response) -> str:
    if response.status_code == 401:
        return "the service wants an API key: pass --api-key or set LIFTOFF_RAG_API_KEY"
    return f"{response.status_code} from the service: {_message(response)}"


def _short(source: str, width: int = 40) -> str:
    return source if len(source) <= width else "..." + source[-(width - 3) :]
