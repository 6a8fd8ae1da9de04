"""A minimal PDF reader for tests: pages, their text and the images they draw.

The virtual environment has no PDF library, and the reports are written by matplotlib, whose
PDFs are simple: uncompressed object headers, page content in FlateDecode streams, and text
shown with Tj/TJ in Type 3 fonts using single-byte (cp1252) strings. This reader handles that
much and nothing more.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

OBJECT = re.compile(rb"(\d+) 0 obj\s*(.*?)\s*endobj", re.S)
STREAM = re.compile(rb"^(.*?)stream\r?\n(.*?)\r?\nendstream", re.S)
TEXT_SHOW = re.compile(rb"\[(.*?)\]\s*TJ|\((.*?)(?<!\\)\)\s*Tj", re.S)
STRING = re.compile(rb"\(((?:\\.|[^\\)])*)\)", re.S)
ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"(": b"(", b")": b")", b"\\": b"\\"}


@dataclass
class PdfPage:
    text: str
    image_draws: int
    path_operators: int


@dataclass
class PdfDocument:
    pages: list[PdfPage] = field(default_factory=list)
    info: bytes = b""


def _unescape(raw: bytes) -> bytes:
    def replace(match: re.Match) -> bytes:
        escaped = match.group(1)
        if escaped[:1].isdigit():
            return bytes([int(escaped, 8)])
        return ESCAPES.get(escaped, escaped)

    return re.sub(rb"\\([0-7]{1,3}|.)", replace, raw, flags=re.S)


def _content_text(content: bytes) -> str:
    pieces = []
    for array, single in TEXT_SHOW.findall(content):
        strings = STRING.findall(array) if array else [single]
        pieces.append(b"".join(_unescape(string) for string in strings).decode("cp1252", errors="replace"))
    return "\n".join(pieces)


def read_pdf(path: Path) -> PdfDocument:
    """Parse `path` into pages in document order; raise ValueError when it is not a PDF."""
    raw = Path(path).read_bytes()
    if not raw.startswith(b"%PDF-") or b"%%EOF" not in raw[-1024:]:
        raise ValueError(f"{path} is not a complete PDF file")
    objects = {int(number): body for number, body in OBJECT.findall(raw)}

    def stream_of(number: int) -> bytes:
        match = STREAM.match(objects[number])
        if match is None:
            raise ValueError(f"object {number} of {path} has no stream")
        dictionary, data = match.groups()
        return zlib.decompress(data) if b"/FlateDecode" in dictionary else data

    document = PdfDocument()
    root = next(body for body in objects.values() if re.search(rb"/Type\s*/Catalog", body))
    pages_number = int(re.search(rb"/Pages\s+(\d+) 0 R", root).group(1))
    kids = re.search(rb"/Kids\s*\[(.*?)\]", objects[pages_number], re.S).group(1)
    for page_number in (int(number) for number in re.findall(rb"(\d+) 0 R", kids)):
        page = objects[page_number]
        if not re.search(rb"/Type\s*/Page\b", page):
            raise ValueError(f"object {page_number} of {path} is not a page")
        content = stream_of(int(re.search(rb"/Contents\s+(\d+) 0 R", page).group(1)))
        document.pages.append(
            PdfPage(
                text=_content_text(content),
                image_draws=len(re.findall(rb"/I\d+\s+Do", content)),
                path_operators=len(re.findall(rb"\s(?:re|l|c)\s", content)),
            )
        )
    info = re.search(rb"/Info\s+(\d+) 0 R", raw)
    document.info = objects.get(int(info.group(1)), b"") if info else b""
    return document
