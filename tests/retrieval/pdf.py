"""Minimal text PDFs for tests and the sample documents, written by hand (PDF 1.4, ISO
32000-1 sections 7.5 file structure and 9 text): one page per list of lines, Helvetica.

    python -m tests.retrieval.pdf SOURCE.txt OUT.pdf    # pages split at form feeds
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

LINES_PER_PAGE = 48


def text_pdf(pages: Sequence[Sequence[str]]) -> bytes:
    """A PDF whose pages show ``pages`` (lines of Latin-1 text), extractable by pypdf."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * index for index in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = b" ".join(b"%d 0 R" % page_id for page_id in page_ids)
    objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(pages)))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for page_id, lines in zip(page_ids, pages, strict=True):
        shown = b" T* ".join(b"(%s) Tj" % _escape(line) for line in lines)
        stream = b"BT /F1 11 Tf 14 TL 56 780 Td " + shown + b" ET"
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (page_id + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _escape(line: str) -> bytes:
    raw = line.encode("latin-1")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def paginate(text: str) -> list[list[str]]:
    pages = []
    for page in text.split("\f"):
        lines = page.strip("\n").splitlines()
        for first in range(0, max(1, len(lines)), LINES_PER_PAGE):
            pages.append(lines[first : first + LINES_PER_PAGE])
    return pages


if __name__ == "__main__":
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    target.write_bytes(text_pdf(paginate(source.read_text())))
