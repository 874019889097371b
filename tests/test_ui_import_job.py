"""Large imports run as background jobs: progress page, JSON progress, all or nothing, row numbers."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from .test_ui_pages import APP, _login
from .ui_support import build


@pytest.fixture
def shop(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    monkeypatch.setenv("JIG_IMPORT_INLINE_ROWS", "100")
    rt, app = build(database_url, tmp_path, texts={"shop.yaml": APP})
    rt.users.add("clerk", "clerk-pass-1", ["clerk"])
    rt.users.add("other", "other-pass-1", ["clerk"])
    return rt, app


def _upload_and_run(c: Any, tok: str, lines: list[str]) -> Any:
    data = ("编号,区域\n" + "\n".join(lines) + "\n").encode("utf-8")
    r = c.post("/a/shop/machine/import", data={"csrf_token": tok, "step": "upload",
                                               "file": (io.BytesIO(data), "machines.csv")}, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    key = re.search(r'name="key" value="([^"]+)"', r.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    return c.post("/a/shop/machine/import", data={"csrf_token": tok, "step": "run", "key": key, "map": ["code", "hall"]})


def _wait(c: Any, url: str, timeout: float = 120) -> dict[str, Any]:
    end = time.monotonic() + timeout
    seen = []
    while time.monotonic() < end:
        job = c.get(url + ".json").get_json()
        seen.append(job["percent"])
        assert 0 <= job["percent"] <= 100 and job["processed"] <= job["total"]
        if job["status"] in ("done", "failed"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"import did not finish: {seen[-5:]}")


def _count(rt: Any) -> int:
    with rt.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(rt.tables["shop.machine"])).scalar_one())


def test_large_import_runs_as_a_job_with_progress(shop: tuple[Any, Any]) -> None:
    rt, app = shop
    c = app.test_client()
    tok = _login(c)
    r = _upload_and_run(c, tok, [f"M{i:05d},{'A区' if i % 2 else 'b'}" for i in range(3000)])
    assert r.status_code == 303
    url = r.headers["Location"]
    assert re.fullmatch(r"(http://localhost)?/imports/\d+", url)
    html = c.get(url).get_data(as_text=True)
    assert "<progress" in html and 'id="import-progress"' in html and "import_job.js" in html
    job = _wait(c, url)
    assert job["status"] == "done" and job["created"] == 3000 and job["percent"] == 100 and job["errors"] == []
    assert _count(rt) == 3000
    html = c.get(url).get_data(as_text=True)
    assert "已导入 3000 条记录" in html
    # only the importing user (or an admin) sees the job
    o = app.test_client()
    _login(o, "other", "other-pass-1")
    assert o.get(url + ".json").status_code == 404 and o.get(url).status_code == 404
    rt.users.add("boss", "boss-pass-1", ["admin"])
    a = app.test_client()
    _login(a, "boss", "boss-pass-1")
    assert a.get(url + ".json").get_json()["created"] == 3000
    assert app.test_client().get(url + ".json").status_code == 302  # signed out: to the sign-in page


def test_job_with_one_bad_row_creates_nothing(shop: tuple[Any, Any]) -> None:
    rt, app = shop
    c = app.test_client()
    tok = _login(c)
    lines = [f"N{i:05d},A区" for i in range(300)]
    lines[250] = "N00250,Z区"   # file row 252: unknown option
    lines[120] = "N00007,b"     # file row 122: duplicate of row 9 within the file
    r = _upload_and_run(c, tok, lines)
    assert r.status_code == 303
    job = _wait(c, r.headers["Location"])
    assert job["status"] == "failed" and job["created"] == 0
    assert sorted({e["row"] for e in job["errors"]}) == [122, 252]
    assert _count(rt) == 0
    html = c.get(r.headers["Location"]).get_data(as_text=True)
    assert "2 行有错误" in html and "<td>252</td>" in html


def test_small_imports_stay_inline(shop: tuple[Any, Any]) -> None:
    rt, app = shop
    c = app.test_client()
    tok = _login(c)
    r = _upload_and_run(c, tok, [f"S{i},b" for i in range(50)])
    assert r.status_code == 200 and "已导入 50 条记录" in r.get_data(as_text=True)
    assert _count(rt) == 50
