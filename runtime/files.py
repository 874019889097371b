"""Uploaded files for image and file fields: size-limited, sniffed, images re-encoded.

The content decides the type, never the name or the Content-Type header.
Images are decoded with Pillow (only JPEG, PNG, WebP, GIF; decompression-bomb
limits apply, checked from the header before any pixel is decoded), downscaled
to at most MAX_EDGE pixels, re-encoded, and stripped of metadata (EXIF with
its GPS position included), which destroys anything hidden in them. API,
forms, imports and shared links all store files through this one path. Other files are accepted only when their signature is one of
a short allowlist (PDF, XLSX/DOCX zip, plain UTF-8 text/CSV).
"""

from __future__ import annotations

import codecs
import hashlib
import io
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import clock
from .errors import BadRequest, NotFound, TooLarge

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_EDGE = 2560  # longest side of a stored image
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")


@dataclass
class Stored:
    key: str
    filename: str
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "filename": self.filename, "content_type": self.content_type, "size": self.size,
                "width": self.width, "height": self.height}


def polyglot(data: bytes, fmt: str) -> bool:
    """An image that is also something else: bytes after the image's own end (HTML, ZIP, a script...).

    Text hidden in metadata needs no refusal: re-encoding drops it. A file with a payload after the
    image would still be that payload to another program, so it is refused outright.
    """
    tail = b""
    if fmt == "PNG":
        end = data.rfind(b"IEND")
        tail = data[end + 8:] if end >= 0 else b""
    elif fmt == "JPEG":
        end = data.rfind(b"\xff\xd9")
        tail = data[end + 2:] if end >= 0 else b""
    elif fmt == "GIF":
        end = data.rfind(b"\x00;")
        tail = data[end + 2:] if end >= 0 else b""
    elif fmt == "WEBP" and len(data) >= 8:
        tail = data[int.from_bytes(data[4:8], "little") + 8:]
    return bool(tail.strip(b"\x00\r\n\t "))


def _reencode_image(data: bytes) -> tuple[bytes, str, int, int]:
    from PIL import Image, ImageOps
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
            if img.width * img.height > MAX_PIXELS or getattr(img, "n_frames", 1) > 1 and \
                    img.width * img.height * img.n_frames > MAX_PIXELS:
                raise Image.DecompressionBombError(f"{img.width}x{img.height} is more than {MAX_PIXELS} pixels")
            if polyglot(data, img.format or ""):
                raise ValueError("the image carries other content (polyglot)")
            img.load()
            img = ImageOps.exif_transpose(img)
            if max(img.width, img.height) > MAX_EDGE:
                img = img.copy()
                img.thumbnail((MAX_EDGE, MAX_EDGE), Image.Resampling.LANCZOS)
            has_alpha = img.mode in ("RGBA", "LA", "P")
            out = io.BytesIO()
            if has_alpha:
                img.convert("RGBA").save(out, "PNG", optimize=True)
                kind = "image/png"
            else:
                img.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
                kind = "image/jpeg"
            return out.getvalue(), kind, img.width, img.height
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadRequest(f"not a readable image ({exc.__class__.__name__})", {"file": "图片无法识别"}) from None


SNIFF_BYTES = 4096


def _sniff_document(data: bytes) -> str | None:
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"PK\x03\x04"):
        return "application/zip"
    if _is_utf8_text(data):
        return "text/plain; charset=utf-8"
    return None


def _is_utf8_text(data: bytes) -> bool:
    """Whether the first SNIFF_BYTES are UTF-8 text without NULs.

    The cut may fall inside a multi-byte character (a Chinese character is 3 bytes): an incremental
    decoder accepts a character left incomplete at the cut, unless the file really ends there.
    """
    prefix = data[:SNIFF_BYTES]
    if b"\x00" in prefix:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(prefix, final=len(data) <= SNIFF_BYTES)
    except UnicodeDecodeError:
        return False
    return True


class FileStore:
    def __init__(self, db: Any, table: Any, root: str | Path):
        self.db = db
        self.table = table
        self.root = Path(root)

    def save(self, data: bytes, filename: str, *, image: bool, username: str | None) -> Stored:
        if len(data) > MAX_BYTES:
            raise TooLarge(f"file larger than {MAX_BYTES // (1024 * 1024)} MB", {"file": "文件过大"})
        width = height = None
        if image:
            data, content_type, width, height = _reencode_image(data)
        else:
            sniffed = _sniff_document(data)
            if sniffed is None:
                try:
                    data, content_type, width, height = _reencode_image(data)
                except BadRequest:
                    raise BadRequest("file type not allowed", {"file": "不支持的文件类型"}) from None
            else:
                content_type = sniffed
        key = secrets.token_urlsafe(24)
        safe_name = "".join(ch for ch in Path(filename or "file").name if ch.isprintable() and ch not in '\\/:*?"<>|')[:200]
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / key).write_bytes(data)
        with self.db.write() as conn:
            conn.execute(self.table.insert().values(
                key=key, filename=safe_name or "file", content_type=content_type, size=len(data),
                sha256=hashlib.sha256(data).hexdigest(), width=width, height=height, uploaded_by=username,
                created_at=clock.now()))
        return Stored(key, safe_name or "file", content_type, len(data), width, height)

    def open(self, key: str) -> tuple[dict[str, Any], bytes]:
        with self.db.read() as conn:
            row = conn.execute(self.table.select().where(self.table.c.key == key)).mappings().first()
        path = self.root / key
        if row is None or not path.is_file():
            raise NotFound("no such file")
        return dict(row), path.read_bytes()
