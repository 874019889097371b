"""Shared helpers for the UI tests: a served Jig (waitress in a thread) and a Chromium launcher."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jig.app import create_app
from jig.config import Settings
from jig.plugins import default_extensions
from runtime.core import Runtime
from runtime.loader import load_apps, load_texts

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("JIG_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# A Chinese user's browser, so that Chromium's own words (a file input's button, a date input's placeholder) are
# Chinese too, as on the shop floor's phones: on Linux Chromium takes its language from LANGUAGE, not --lang
# (scripts/test.sh installs chromium-l10n, which holds the Chinese words). LANG stays: it is the file names'
# encoding, and a zh_CN locale may not be installed.
CHROMIUM_ENV = {**os.environ, "LANGUAGE": "zh_CN"}


def build(database_url: str, tmp: Path, texts: dict[str, str] | None = None) -> tuple[Runtime, Any]:
    """A migrated runtime with every default extension, and its WSGI app (as jig serve builds them)."""
    exts = default_extensions()
    defs = load_texts(texts, exts) if texts is not None else load_apps([ROOT / "apps"], exts)
    rt = Runtime(defs, database_url, extensions=exts, settings={"files_dir": str(tmp / "files")})
    rt.migrate()  # creates the UI's own tables too (define_tables)
    app = create_app(Settings(database_url=database_url, secret_key="ui-test-secret-" + "x" * 32,
                              files_dir=str(tmp / "files")), rt)
    return rt, app


@dataclass
class Served:
    rt: Runtime
    url: str


def serve(app: Any) -> tuple[Any, str]:
    import waitress
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=6)
    threading.Thread(target=server.run, daemon=True).start()
    return server, f"http://127.0.0.1:{server.effective_port}"


def launch_browser() -> Iterator[Any]:
    if os.environ.get("JIG_TEST_DB", "sqlite") != "sqlite":
        pytest.skip("browser tests drive the pages once, in the SQLite pass (the pages are the same on PostgreSQL)")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    # a busy CI machine (both test passes at once, Chromium, servers) can take seconds to publish a definition:
    # waiting up to 20 s for what the page will show is patience, not a timing assertion
    sync_api.expect.set_options(timeout=20_000)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=CHROMIUM_ENV, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def csrf(client: Any, path: str = "/login") -> str:
    """The CSRF token of ``client``'s session, as the page at ``path`` shows it."""
    import re
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def login(client: Any, user: str, password: str) -> str:
    """Sign ``client`` in through the login form; returns the session's CSRF token."""
    r = client.post("/login", data={"username": user, "password": password, "csrf_token": csrf(client)})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    return csrf(client, "/")
