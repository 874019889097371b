"""Must-show 3: photo uploads through a shared link — oversize (413), a script renamed .jpg, polyglots
and a decompression bomb are refused; a normal photo is stored re-encoded, without EXIF, downscaled,
under a generated name outside the static folder; uploads are limited in count."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from runtime import clock
from runtime import files as filestore
from runtime.auth import SYSTEM

from .links_support import Shop, page_token


@pytest.fixture
def shop(database_url: str, tmp_path: Path) -> Shop:
    return Shop(database_url, tmp_path)


def _jpeg(w: int = 64, h: int = 48, exif: bool = False) -> bytes:
    out = io.BytesIO()
    img = Image.new("RGB", (w, h), (180, 60, 20))
    if exif:
        ex = Image.Exif()
        ex[0x010F] = "EvilCam"          # Make
        ex[0x0131] = "secret-software"  # Software
        gps = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}
        ex[0x8825] = gps               # GPS position of the shop floor
        img.save(out, "JPEG", exif=ex.tobytes())
    else:
        img.save(out, "JPEG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_bomb() -> bytes:
    """A few hundred bytes declaring 100,000 × 100,000 pixels (10 gigapixels when decoded)."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 20000, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _upload(shop: Shop, tok: str, csrf: str, data: bytes, name: str = "photo.jpg") -> Any:
    return shop.app.test_client().post(f"/l/{tok}/files", data={"file": (io.BytesIO(data), name)},
                                       headers={"X-Link-Token": csrf}, content_type="multipart/form-data")


ATTACKS = [  # (what, bytes, file name, status)
    ("oversize", b"\xff\xd8\xff" + b"0" * (filestore.MAX_BYTES + 200 * 1024), "big.jpg", 413),
    ("script renamed .jpg", b"<script>alert(document.cookie)</script>", "photo.jpg", 400),
    ("html renamed .jpg", b"<!doctype html><html><body onload=alert(1)>", "photo.jpg", 400),
    ("jpeg + html polyglot", _jpeg() + b"<html><script>alert(1)</script></html>", "photo.jpg", 400),
    ("png + zip polyglot", None, "photo.png", 400),  # filled below
    ("decompression bomb", _png_bomb(), "bomb.png", 400),
    ("svg with script", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "a.jpg", 400),
    ("empty", b"", "photo.jpg", 400),
]


def _png_zip() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(out, "PNG")
    return out.getvalue() + b"PK\x03\x04" + b"\x00" * 26 + b"evil.php<?php system($_GET['c']); ?>"


@pytest.mark.parametrize("what,data,name,status", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_upload_attacks_are_refused(shop: Shop, what: str, data: bytes | None, name: str, status: int) -> None:
    tok = shop.issue("partner_update", shop.a["id"])
    _html, csrf = page_token(shop.app.test_client(), tok)
    r = _upload(shop, tok, csrf, _png_zip() if data is None else data, name)
    assert r.status_code == status, (what, r.get_data(as_text=True)[:300])
    assert set(r.get_json()["error"]) >= {"code", "message", "fields"}
    stored = list(Path(shop.rt.files.root).glob("*")) if Path(shop.rt.files.root).exists() else []
    assert stored == [], what


def test_oversize_through_the_api_is_413_too(shop: Shop) -> None:
    from runtime.errors import TooLarge
    with pytest.raises(TooLarge):
        shop.rt.files.save(b"0" * (filestore.MAX_BYTES + 1), "x.jpg", image=True, username="planner")


def test_a_normal_photo_is_reencoded_without_exif_and_downscaled(shop: Shop) -> None:
    tok = shop.issue("partner_update", shop.a["id"])
    c = shop.app.test_client()
    _html, csrf = page_token(c, tok)
    original = _jpeg(4000, 3000, exif=True)
    assert b"EvilCam" in original and Image.open(io.BytesIO(original)).getexif()
    r = _upload(shop, tok, csrf, original, "../../static/evil.jpg")
    assert r.status_code == 201, r.get_json()
    info = r.get_json()
    assert max(info["width"], info["height"]) == filestore.MAX_EDGE
    root = Path(shop.rt.files.root)
    stored_path = root / info["key"]
    stored = stored_path.read_bytes()
    assert b"EvilCam" not in stored and b"secret-software" not in stored
    img = Image.open(io.BytesIO(stored))
    assert img.format == "JPEG" and dict(img.getexif()) == {} and img.size == (2560, 1920)
    # a generated name, inside the files folder (not under the web's static folder), nothing else written
    assert [p.name for p in root.iterdir()] == [info["key"]] and "evil" not in info["key"]
    static = Path(__file__).resolve().parent.parent / "ui" / "static"
    assert not (static / "evil.jpg").exists() and root.resolve() != static.resolve()
    # attaching it through the link, then the record holds it and staff may download it
    r = c.post(f"/l/{tok}", json={"action": "start", "version": 1, "worker_name": "王",
                                  "values": {"photos": [info["key"]]}}, headers={"X-Link-Token": csrf})
    assert r.status_code == 200, r.get_json()
    assert shop.rt.records.get(SYSTEM, shop.batch_ent, shop.a["id"])["photos"] == [info["key"]]


def test_upload_count_is_limited(shop: Shop) -> None:
    from ui import linkweb
    tok = shop.issue("partner_update", shop.a["id"])
    c = shop.app.test_client()
    _html, csrf = page_token(c, tok)
    limit = shop.store.definition("shop", "partner_update").max_photos * linkweb.UPLOADS_PER_HOUR_FACTOR
    small = _jpeg(8, 8)
    with clock.frozen(clock.now()):  # the limit counts per clock hour: no upload may fall into the next one
        codes = [_upload(shop, tok, csrf, small).status_code for _ in range(limit + 1)]
    assert codes[:limit] == [201] * limit and codes[-1] == 429
    # and a record takes at most max_photos new photos in one report
    tok2 = shop.issue("partner_update", shop.b["id"])
    _html, csrf2 = page_token(c, tok2)
    assert csrf2, _html[:400]
    answers = [_upload(shop, tok2, csrf2, small).get_json() for _ in range(7)]
    keys = [a["key"] for a in answers if "key" in a]
    assert len(keys) == 7, answers
    r = c.post(f"/l/{tok2}", json={"action": "start", "version": 1, "worker_name": "王", "values": {"photos": keys}},
               headers={"X-Link-Token": csrf2})
    assert r.status_code in (400, 422) and "photos" in r.get_json()["error"]["fields"]


def test_a_link_without_photo_fields_takes_no_uploads(shop: Shop) -> None:
    text = shop  # the report link has photos; a link editing only text would refuse: checked on a copy
    lk = text.store.definition("shop", "partner_update")
    saved = list(lk.edit)
    try:
        lk.edit[:] = ["remark"]
        tok = shop.issue("partner_update", shop.a["id"])
        _html, csrf = page_token(shop.app.test_client(), tok)
        assert _upload(shop, tok, csrf, _jpeg()).status_code == 403
    finally:
        lk.edit[:] = saved
