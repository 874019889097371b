"""Behind a reverse proxy (docs/deploy.md, several `jig serve` behind nginx), a phone's address is the one
nginx puts in X-Forwarded-For when JIG_PROXIES says how many proxies to trust: the shared links' per-address
rate limit then counts each phone, not the proxy. Without JIG_PROXIES the header is not trusted (a phone
could forge it), and /metrics stays closed to anything that came through a proxy either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from jig.app import create_app
from jig.config import Settings
from runtime import clock
from ui import linkweb

from .links_support import Shop


def test_the_link_rate_limit_counts_phones_behind_a_trusted_proxy(database_url: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linkweb, "PER_ADDRESS_PER_MINUTE", 2)
    shop = Shop(database_url, tmp_path)
    token = shop.issue("partner_update", shop.a["id"])
    proxied = create_app(Settings(database_url=database_url, secret_key="proxy-test-" + "x" * 32,
                                  files_dir=str(tmp_path / "files"), proxies=1), shop.rt).test_client()
    direct = shop.app.test_client()

    def get(client: object, phone: str) -> int:
        return client.get(f"/l/{token}", headers={"X-Forwarded-For": phone}).status_code  # type: ignore[attr-defined]

    # the limit counts per clock minute: the clock stands still, so no request falls into the next minute
    with clock.frozen(clock.now()):
        assert [get(proxied, "10.0.0.1") for _ in range(3)] == [200, 200, 429]
        assert get(proxied, "10.0.0.2") == 200  # another phone through the same proxy
        assert [get(direct, f"10.0.1.{i}") for i in range(3)][-1] == 429  # untrusted header: the caller's address
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403
    assert proxied.get("/metrics").status_code == 200  # loopback, no proxy
