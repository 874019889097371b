"""Static files of every blueprint: fingerprinted URLs, long caching, gzip.

Templates link static files with ``asset_url('jig.js')`` (the web UI's) or
``asset_url('designer.css', 'jig_designer')`` (another blueprint's). The URL carries
the file's content hash, ``/ui/static/jig.js?v=3f2a9c01b7e4``; a request whose ``v``
matches the file as served now is answered with
``Cache-Control: public, max-age=31536000, immutable``, so a phone opens the
dashboard a second time without asking for its scripts again. Any other request
(no ``v``, an old ``v``, an ES module imported by a relative path) gets
``no-cache`` and revalidates with its ETag (304).

Text files (scripts, styles, SVG, JSON) larger than ``MIN_GZIP`` bytes are sent
gzip-compressed to clients that accept it. Each file is read, hashed and compressed
once per process, at its first request, and again only when its size or
modification time changes (a deploy, or editing during development).
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import threading
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from flask import Flask, Response, abort, current_app, request, url_for
from werkzeug.security import safe_join

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
MIN_GZIP = 512
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml", "application/xml")
HASH_LEN = 12


@dataclass(frozen=True)
class Asset:
    stamp: tuple[int, int]  # (mtime_ns, size) of the file this was read from
    digest: str
    mimetype: str
    raw: bytes
    gz: bytes | None
    modified: float


class StaticResponse(Response):
    """A static file's response: never carries a cookie (a session refresh), since shared caches keep it."""

    def set_cookie(self, *args: Any, **kwargs: Any) -> None:
        return None


class AssetCache:
    """Read-once, per process: the bytes, hash and gzip of each static file served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, Asset] = {}

    def get(self, path: str) -> Asset | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not os.path.isfile(path):
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._files.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached
        with open(path, "rb") as fh:
            raw = fh.read()
        mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        gz = None
        if len(raw) >= MIN_GZIP and mimetype.startswith(COMPRESSIBLE):
            packed = gzip.compress(raw, compresslevel=9, mtime=0)
            gz = packed if len(packed) < len(raw) else None
        asset = Asset(stamp, hashlib.sha256(raw).hexdigest()[:HASH_LEN], mimetype, raw, gz, st.st_mtime)
        with self._lock:
            self._files[path] = asset
        return asset


def _folder(blueprint: str) -> str | None:
    app = current_app
    if blueprint == "":
        return app.static_folder
    bp = app.blueprints.get(blueprint)
    return bp.static_folder if bp is not None and bp.has_static_folder else None


def _cache() -> AssetCache:
    return current_app.extensions.setdefault("jig_assets", AssetCache())  # type: ignore[no-any-return]


def _lookup(blueprint: str, filename: str) -> Asset | None:
    folder = _folder(blueprint)
    path = safe_join(folder, filename) if folder else None
    return _cache().get(path) if path else None


def asset_url(filename: str, blueprint: str = "jig_ui") -> str:
    """The fingerprinted URL of a static file of ``blueprint`` (``""`` for the app's own)."""
    endpoint = f"{blueprint}.static" if blueprint else "static"
    asset = _lookup(blueprint, filename)
    if asset is None:  # a missing file: the plain URL, which answers 404
        return url_for(endpoint, filename=filename)
    return url_for(endpoint, filename=filename, v=asset.digest)


def _accepts_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0


def serve_static() -> Any:
    """A ``before_request`` hook answering every ``<blueprint>.static`` endpoint from the cache."""
    endpoint = request.endpoint or ""
    if not (endpoint == "static" or endpoint.endswith(".static")) or request.method not in ("GET", "HEAD"):
        return None
    blueprint = endpoint.rpartition(".")[0]
    filename = (request.view_args or {}).get("filename", "")
    asset = _lookup(blueprint, filename)
    if asset is None:
        abort(404)
    body, etag = asset.raw, asset.digest
    use_gzip = asset.gz is not None and _accepts_gzip()
    if use_gzip:
        assert asset.gz is not None
        body, etag = asset.gz, asset.digest + "-gz"
    resp = StaticResponse(mimetype=asset.mimetype)
    resp.headers["Cache-Control"] = IMMUTABLE if request.args.get("v") == asset.digest else REVALIDATE
    resp.set_etag(etag)
    resp.headers["Last-Modified"] = formatdate(asset.modified, usegmt=True)
    if asset.gz is not None:
        resp.headers["Vary"] = "Accept-Encoding"
    if request.if_none_match.contains(etag):
        resp.status_code = 304
        return resp
    if use_gzip:
        resp.headers["Content-Encoding"] = "gzip"
    resp.set_data(body)
    return resp


def install(flask_app: Flask) -> None:
    """Serve static files through the cache and give templates ``asset_url`` (idempotent)."""
    if flask_app.extensions.get("jig_assets_installed"):
        return
    flask_app.extensions["jig_assets_installed"] = True
    flask_app.extensions["jig_assets"] = AssetCache()
    flask_app.before_request(serve_static)
    flask_app.jinja_env.globals["asset_url"] = asset_url


__all__ = ["IMMUTABLE", "REVALIDATE", "AssetCache", "asset_url", "install", "serve_static"]
