"""Documents in, plain text out: Markdown, text, HTML (BeautifulSoup) and PDF (pypdf).

    text = extract(data, source="guide/setup.md", content_type=None)
    text.format, text.text      # ("markdown", "# Setup\\n...")

The format comes from the ``Content-Type`` when it names one of the four, else from the
source's extension; anything else is ``UnsupportedFormat`` (415). Empty files, binary data
sent as text, unreadable or encrypted PDFs and documents without any text are
``DocumentRejected`` (400), each with a message that says which and why.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from liftoff.retrieval.errors import DocumentRejected, UnsupportedFormat

Format = Literal["markdown", "text", "html", "pdf"]

EXTENSIONS: dict[str, Format] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
MEDIA_TYPES: dict[str, Format] = {
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "text",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
}
# Text formats are refused when they hold NUL bytes or many other control characters: that
# is a binary file with a text name, and its "text" would only pollute the index.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


@dataclass(frozen=True)
class Extracted:
    format: Format
    text: str


def detect_format(source: str, content_type: str | None) -> Format:
    """The document's format, from its media type or else its extension; raises
    ``UnsupportedFormat``."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in MEDIA_TYPES:
        return MEDIA_TYPES[media_type]
    suffix = PurePosixPath(source).suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    known = ", ".join(sorted(EXTENSIONS))
    raise UnsupportedFormat(
        f"cannot tell the format of {source!r}"
        + (f" (Content-Type {media_type})" if media_type else "")
        + f": send Markdown, text, HTML or PDF, named {known} or with their media type",
        param="source",
    )


def extract(data: bytes, *, source: str, content_type: str | None = None) -> Extracted:
    """The document's text; raises ``UnsupportedFormat`` or ``DocumentRejected``."""
    document_format = detect_format(source, content_type)
    if not data:
        raise DocumentRejected(f"{source} is empty", param="body")
    if document_format == "pdf":
        text = _pdf_text(data, source)
    else:
        text = _decode(data, source)
        if document_format == "html":
            text = _html_text(text)
    text = _BLANK_LINES.sub("\n\n", text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        raise DocumentRejected(f"{source} holds no text", param="body")
    return Extracted(document_format, text)


def _decode(data: bytes, source: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentRejected(
            f"{source} is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x}): a binary "
            "file, or text in another encoding (convert it to UTF-8)",
            param="body",
        ) from exc
    controls = len(_CONTROL.findall(text))
    if "\x00" in text or controls > max(8, len(text) // 100):
        raise DocumentRejected(
            f"{source} looks binary ({controls} control characters), not text", param="body"
        )
    return text


def _html_text(markup: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    for hidden in soup(["script", "style", "noscript", "template", "head"]):
        hidden.decompose()
    return soup.get_text("\n")


def _pdf_text(data: bytes, source: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    if not data.startswith(b"%PDF-"):
        raise DocumentRejected(f"{source} is not a PDF (no %PDF- header)", param="body")
    # pypdf logs every recoverable defect of a malformed file at WARNING; they are not ours.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentRejected(f"{source} is an encrypted PDF; decrypt it first", param="body")
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise DocumentRejected(f"{source} is not a readable PDF: {exc}", param="body") from exc
    text = "\n\n".join(page.strip() for page in pages)
    if not text.strip():
        raise DocumentRejected(
            f"{source} has no text layer ({len(pages)} pages of images?); run OCR on it first",
            param="body",
        )
    return text
