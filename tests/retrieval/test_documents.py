"""Text extraction: Markdown, text, HTML and PDF in; empty, binary and unreadable refused."""

from __future__ import annotations

import pytest

from liftoff.retrieval.documents import detect_format, extract
from liftoff.retrieval.errors import DocumentRejected, UnsupportedFormat
from tests.retrieval.pdf import text_pdf


@pytest.mark.parametrize(
    ("source", "content_type", "expected"),
    [
        ("notes.md", None, "markdown"),
        ("NOTES.MARKDOWN", None, "markdown"),
        ("a/b/c.txt", "application/octet-stream", "text"),
        ("page.htm", None, "html"),
        ("paper.pdf", None, "pdf"),
        ("README", "text/markdown; charset=utf-8", "markdown"),
        ("report.pdf", "text/plain", "text"),  # a named media type wins over the extension
    ],
)
def test_format_from_media_type_else_extension(
    source: str, content_type: str | None, expected: str
) -> None:
    assert detect_format(source, content_type) == expected


def test_unknown_formats_are_415_naming_the_supported_ones() -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        detect_format("slides.pptx", "application/vnd.ms-powerpoint")
    assert caught.value.status_code == 415
    assert ".pdf" in caught.value.message and ".md" in caught.value.message


def test_html_loses_markup_scripts_and_styles() -> None:
    page = (
        b"<html><head><title>T</title><style>p{color:red}</style></head><body>"
        b"<h1>Coffee</h1><script>alert('x')</script><p>Grind <b>just</b> before.</p></body></html>"
    )
    text = extract(page, source="c.html").text
    assert "Coffee" in text and "Grind" in text and "before." in text
    assert "alert" not in text and "color" not in text and "<" not in text


def test_pdf_text_comes_out_page_by_page() -> None:
    data = text_pdf([["First page line."], ["Second page (with parentheses)."]])
    extracted = extract(data, source="doc.pdf")
    assert extracted.format == "pdf"
    assert extracted.text.splitlines()[0] == "First page line."
    assert "Second page (with parentheses)." in extracted.text


def test_text_keeps_unicode_and_drops_a_byte_order_mark() -> None:
    text = extract("\ufeffCafé — naïve ✓\r\nnext".encode(), source="u.txt").text
    assert text == "Café — naïve ✓\nnext"


@pytest.mark.parametrize(
    ("data", "source", "reason"),
    [
        (b"", "empty.md", "is empty"),
        (b"   \n\n\t ", "blank.txt", "holds no text"),
        (bytes(range(256)) * 4, "random.txt", "not UTF-8"),
        (b"abc\x00def" * 50, "nul.txt", "looks binary"),
        (b"<html><script>only()</script></html>", "script.html", "holds no text"),
        (b"%PDF-1.4 garbage", "broken.pdf", "not a readable PDF"),
        (b"PK\x03\x04 zip", "fake.pdf", "not a PDF"),
        (text_pdf([[]]), "scan.pdf", "no text layer"),
    ],
)
def test_documents_without_usable_text_are_refused(data: bytes, source: str, reason: str) -> None:
    with pytest.raises(DocumentRejected, match=reason) as caught:
        extract(data, source=source)
    assert caught.value.status_code == 400
