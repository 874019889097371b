"""Uploads are sniffed and re-encoded; image fields accept only stored files."""

from __future__ import annotations

import io

from PIL import Image

from .conftest import World, batch_body


def _png_with_text() -> bytes:
    out = io.BytesIO()
    img = Image.new("RGB", (40, 30), (200, 10, 10))
    from PIL import PngImagePlugin
    meta = PngImagePlugin.PngInfo()
    meta.add_text("Comment", "<script>alert(1)</script>")
    img.save(out, "PNG", pnginfo=meta)
    return out.getvalue()


def test_upload_image_reencoded_and_attached(world: World, tmp_path) -> None:  # noqa: ANN001
    world.rt.files.root = tmp_path
    c = world.planner
    r = c.post("/api/files?image=1", data={"file": (io.BytesIO(_png_with_text()), "../../evil.png")},
               content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    info = r.get_json()
    assert info["content_type"] == "image/jpeg" and info["width"] == 40
    assert info["filename"] == "evil.png"
    stored = (tmp_path / info["key"]).read_bytes()
    assert b"<script>" not in stored
    rec = c.post("/api/outsourcing/batch", batch_body(world.partners["a"], photos=[info["key"]])).get_json()
    assert rec["photos"] == [info["key"]]
    bad = c.post("/api/outsourcing/batch", batch_body(world.partners["a"], photos=["nope"]))
    assert bad.status_code == 422 and "photos" in bad.get_json()["error"]["fields"]
    too_many = c.post("/api/outsourcing/batch", batch_body(world.partners["a"], photos=[info["key"]] * 7))
    assert too_many.status_code == 422
    got = c.get(f"/api/files/{info['key']}")
    assert got.status_code == 200 and got.headers["X-Content-Type-Options"] == "nosniff"
    assert world.app.test_client().get(f"/api/files/{info['key']}").status_code == 401


def test_disguised_files_are_refused(world: World, tmp_path) -> None:  # noqa: ANN001
    world.rt.files.root = tmp_path
    c = world.planner
    fake = c.post("/api/files?image=1", data={"file": (io.BytesIO(b"<html><script>x</script>"), "a.jpg")},
                  content_type="multipart/form-data")
    assert fake.status_code == 400
    exe = c.post("/api/files", data={"file": (io.BytesIO(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\xff\xff"), "a.pdf")},
                 content_type="multipart/form-data")
    assert exe.status_code == 400
    pdf = c.post("/api/files", data={"file": (io.BytesIO(b"%PDF-1.4\n%..."), "spec.pdf")},
                 content_type="multipart/form-data")
    assert pdf.status_code == 201 and pdf.get_json()["content_type"] == "application/pdf"


def test_chinese_csv_is_text_wherever_a_character_meets_the_sniff_cut(world: World, tmp_path) -> None:  # noqa: ANN001
    """Issue 8 item 9: a 3-byte character straddling byte 4096 made the upload 'file type not allowed'."""
    from runtime.files import SNIFF_BYTES
    world.rt.files.root = tmp_path
    c = world.planner
    row = "华新电镀,P-100,100\n".encode()
    for shift in range(8):  # the cut falls before, inside (two offsets) and after a character
        data = b"x" * shift + b"name,product,qty\n" + row * (2 * SNIFF_BYTES // len(row))
        r = c.post("/api/files", data={"file": (io.BytesIO(data), "orders.csv")}, content_type="multipart/form-data")
        assert r.status_code == 201, (shift, r.get_json())
        assert r.get_json()["content_type"] == "text/plain; charset=utf-8"
    # A file that really ends inside a character, or holds invalid UTF-8 before the cut, is not text.
    ends_cut = "华".encode() * 10 + "华".encode()[:2]
    invalid = b"name\n" + b"\xff\xfe" + b"x" * 10
    for data in (ends_cut, invalid):
        r = c.post("/api/files", data={"file": (io.BytesIO(data), "x.csv")}, content_type="multipart/form-data")
        assert r.status_code == 400 and r.get_json()["error"]["fields"] == {"file": "不支持的文件类型"}
