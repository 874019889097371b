"""Static files: every page links fingerprinted URLs, served gzip-compressed with a year of caching;
plain URLs still work and revalidate; ETag/304; no way out of the static folders."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from ui import assets

from .ui_support import ROOT, build, login

ASSET = re.compile(r'(?:src|href)="(/(?:ui|builder)/static/[^"]+)"')


def _links(html: str) -> list[str]:
    return [u.replace("&amp;", "&") for u in ASSET.findall(html)]


def test_pages_send_fingerprinted_compressed_assets(database_url: str, tmp_path: Path) -> None:
    rt, app = build(database_url, tmp_path)
    try:
        rt.users.add("boss", "boss-pass-1", ["admin"])
        c = app.test_client()
        login(c, "boss", "boss-pass-1")
        seen: set[str] = set()
        for path in ("/d/outsourcing/board", "/board/outsourcing/board", "/a/outsourcing/batch", "/builder"):
            r = c.get(path)
            assert r.status_code == 200, path
            urls = _links(r.get_data(as_text=True))
            assert urls and all("?v=" in u for u in urls), (path, urls)
            seen.update(urls)
        # the dashboard pages send the custom ECharts build, never the full one
        assert any("vendor/echarts.custom.min.js?v=" in u for u in seen)
        assert not (ROOT / "ui" / "static" / "vendor" / "echarts.min.js").exists()
        for url in sorted(seen):
            r = c.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
            assert r.status_code == 200, url
            assert r.headers["Cache-Control"] == assets.IMMUTABLE, url
            assert "Set-Cookie" not in r.headers, url  # a publicly cacheable response must not refresh a session
            plain = c.get(url.split("?")[0])
            assert plain.headers["Cache-Control"] == "no-cache" and plain.headers.get("Content-Encoding") is None
            if len(plain.data) >= assets.MIN_GZIP:
                assert r.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in r.headers["Vary"], url
                assert gzip.decompress(r.data) == plain.data
            # revalidation: the same representation -> 304 without a body
            again = c.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": r.headers["ETag"]})
            assert again.status_code == 304 and again.data == b""
        echarts = next(u for u in seen if "echarts" in u)
        assert len(c.get(echarts, headers={"Accept-Encoding": "gzip"}).data) < 300_000  # not a megabyte on 4G
        # a stale fingerprint gets the current file, but is not cached for a year
        stale = c.get("/ui/static/jig.js?v=000000000000")
        assert stale.status_code == 200 and stale.headers["Cache-Control"] == "no-cache"
        # a link page (no session) links its assets the same way
        link_css = c.get(assets_url(app, "link.css"))
        assert link_css.headers["Cache-Control"] == assets.IMMUTABLE
        for bad in ("/ui/static/../web.py", "/ui/static/%2e%2e/web.py", "/ui/static/nope.js", "/builder/static/../api.py",
                    "/ui/static/vendor"):
            assert c.get(bad).status_code == 404, bad
        assert c.head("/ui/static/jig.css").status_code == 200
    finally:
        rt.db.dispose()


def assets_url(app: object, filename: str) -> str:
    with app.test_request_context():  # type: ignore[attr-defined]
        return assets.asset_url(filename)
