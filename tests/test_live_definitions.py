"""Live definitions: published without a restart, runtimes that never share state."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from jig.app import Jig
from jig.config import Settings
from runtime.auth import SYSTEM
from runtime.core import Runtime

from .conftest import APPS
from .proc_support import free_port, jig_env, spawn, stop, wait_for

SHOP = """
app: shop
title: {zh: 小店, en: Shop}
entities:
  item:
    title: {zh: 物料, en: Item}
    fields:
      name: {type: text, required: true}
      price: {type: decimal, scale: 2}
      unit_price: {type: computed, returns: decimal, expr: "PRICE"}
  order:
    title: {zh: 订单, en: Order}
    fields:
      item: {type: link, to: item, required: true}
      qty: {type: integer}
      total: {type: computed, returns: decimal, expr: "item.unit_price * qty"}
"""


def test_two_runtimes_in_one_process_never_change_each_other(make_runtime: Callable[..., Runtime],
                                                              tmp_path: Path) -> None:
    """Two versions of one app on two databases, side by side: each computes with its own definitions
    (a process-wide registry of link targets once made the first answer 2000 instead of 20)."""
    v1 = make_runtime(texts={"shop.yaml": SHOP.replace("PRICE", "price")})
    v2 = make_runtime(texts={"shop.yaml": SHOP.replace("PRICE", "price * 100")},
                      url=f"sqlite:///{tmp_path / 'other.db'}")
    answers = []
    for rt in (v1, v2, v1, v2):
        item = rt.records.create(SYSTEM, rt.entity("shop", "item"), {"name": "螺丝", "price": "2"})
        order = rt.records.create(SYSTEM, rt.entity("shop", "order"), {"item": item["id"], "qty": 10})
        answers.append(str(rt.records.get(SYSTEM, rt.entity("shop", "order"), order["id"])["total"]))
    assert [a.rstrip("0").rstrip(".") for a in answers] == ["20", "2000", "20", "2000"]
    assert v1.db.url != v2.db.url


def _publish_color(client: Any, headers: dict[str, str] | None = None) -> Any:
    return client.post("/api/builder/apps/outsourcing/draft/edits", headers=headers or {}, json={"edits": [
        {"op": "set", "path": ["entities", "batch", "fields", "plating_um"], "after": "quantity",
         "value": {"type": "decimal", "scale": 1, "min": 0, "label": {"zh": "电镀厚度 (μm)", "en": "Plating (μm)"}}},
    ]})


def test_a_publish_is_served_without_a_restart(tmp_path: Path, database_url: str) -> None:
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "outsourcing.yaml").write_bytes((APPS / "outsourcing.yaml").read_bytes())
    settings = Settings(database_url=database_url, apps=[str(apps)], secret_key="t" * 40,
                        files_dir=str(tmp_path / "files"))
    jig = Jig(settings, refresh_seconds=0)
    try:
        app = jig.wsgi()
        app.config["TESTING"] = True
        first = jig.runtime
        first.users.add("boss", "boss-pass-1", ["admin"])
        headers = {"Authorization": f"Bearer {first.users.create_token('boss')}"}
        c = app.test_client()
        assert "plating_um" not in c.get("/api/openapi.json", headers=headers).get_data(as_text=True)
        assert _publish_color(c, headers).status_code == 200
        r = c.post("/api/builder/apps/outsourcing/publish", headers=headers, json={"message": "电镀厚度"})
        assert r.status_code == 200, r.get_json()
        assert jig.runtime is not first
        assert "plating_um" in jig.runtime.entity("outsourcing", "batch").fields
        assert "plating_um" in c.get("/api/openapi.json", headers=headers).get_data(as_text=True)
        partner = c.post("/api/outsourcing/partner", headers=headers, json={"name": "华新电镀"}).get_json()["id"]
        body = {"customer": "宁波精密", "product_no": "P-1", "quantity": 5, "partner": partner,
                "ship_date": "2026-11-18", "expected_return": "2026-11-25", "plating_um": "8.5"}
        created = c.post("/api/outsourcing/batch", headers=headers, json=body)
        assert created.status_code == 201, created.get_json()
        assert str(created.get_json()["plating_um"]) in ("8.5", "8.50")
    finally:
        jig.close()


@pytest.mark.slow
def test_two_gunicorn_workers_serve_a_publish_without_restart_or_failed_request(
        tmp_path: Path, database_url: str, make_runtime: Callable[..., Runtime]) -> None:
    """`gunicorn -w 2 jig.wsgi:application`, a client reading and writing all along, a field published
    through the builder API: both workers serve it (API, OpenAPI, the new-record page) and no request fails."""
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "outsourcing.yaml").write_bytes((APPS / "outsourcing.yaml").read_bytes())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "gunicorn.log"
    web = spawn([sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "2", "-b", f"127.0.0.1:{port}",
                 "--timeout", "120", "jig.wsgi:application"], jig_env(tmp_path, database_url, apps), log)
    try:
        wait_for(lambda: requests.get(f"{base}/login", timeout=5).status_code == 200, 90, "gunicorn")
        rt = make_runtime(apps=[apps], migrate=False)
        rt.users.add("boss", "boss-pass-1", ["admin"])
        headers = {"Authorization": f"Bearer {rt.users.create_token('boss')}"}
        partner = requests.post(f"{base}/api/outsourcing/partner", json={"name": "华新电镀"}, headers=headers,
                                timeout=30).json()["id"]
        body = {"customer": "宁波精密", "product_no": "P-1", "quantity": 5, "partner": partner,
                "ship_date": "2026-11-18", "expected_return": "2026-11-25"}
        failures: list[str] = []
        done = threading.Event()
        counts = {"requests": 0}

        def client() -> None:  # reads and writes until the publish has been seen everywhere
            s = requests.Session()
            while not done.is_set():
                for method, path, payload in (("post", "/api/outsourcing/batch", body),
                                              ("get", "/api/outsourcing/batch?limit=5", None)):
                    try:
                        r = s.request(method, base + path, json=payload, headers=headers, timeout=60)
                        if r.status_code >= 400:
                            failures.append(f"{method} {path} -> {r.status_code} {r.text[:200]}")
                    except requests.RequestException as exc:
                        failures.append(f"{method} {path} -> {exc}")
                    counts["requests"] += 1

        thread = threading.Thread(target=client, daemon=True)
        thread.start()
        wait_for(lambda: counts["requests"] >= 10, 60, "the client to get going")
        browser = requests.Session()  # a signed-in browser: the pages, not only the API
        login_page = browser.get(f"{base}/login", timeout=30).text
        token = re.search(r'name="csrf-token" content="([^"]+)"', login_page).group(1)  # type: ignore[union-attr]
        r = browser.post(f"{base}/login", data={"username": "boss", "password": "boss-pass-1", "csrf_token": token},
                         allow_redirects=False, timeout=30)
        assert r.status_code == 302, r.text[:300]

        assert "电镀厚度" not in browser.get(f"{base}/a/outsourcing/batch/new", timeout=30).text
        session = requests.Session()
        r = session.post(f"{base}/api/builder/apps/outsourcing/draft/edits", headers=headers, timeout=60, json={
            "edits": [{"op": "set", "path": ["entities", "batch", "fields", "plating_um"], "after": "quantity",
                       "value": {"type": "decimal", "scale": 1, "label": {"zh": "电镀厚度", "en": "Plating"}}}]})
        # (a field the layout does not place is shown by the form in a section of its own)
        assert r.status_code == 200, r.text
        r = session.post(f"{base}/api/builder/apps/outsourcing/publish", headers=headers, json={}, timeout=60)
        assert r.status_code == 200, r.text
        published_at = counts["requests"]

        def everywhere() -> bool:  # ten answers in a row from any worker, all with the new field
            for _ in range(10):
                doc = session.get(f"{base}/api/openapi.json", headers=headers, timeout=30).text
                page = session.get(f"{base}/api/outsourcing/batch?limit=1", headers=headers, timeout=30).json()
                form = browser.get(f"{base}/a/outsourcing/batch/new", timeout=30).text
                if "plating_um" not in doc or "plating_um" not in page["items"][0] or "电镀厚度" not in form:
                    return False
            return True

        wait_for(everywhere, 60, "both workers to serve the published field", every=0.3)
        r = session.post(f"{base}/api/outsourcing/batch", headers=headers, json={**body, "plating_um": "7.5"},
                         timeout=30)
        assert r.status_code == 201, r.text
        time.sleep(0.5)
        done.set()
        thread.join(30)
        assert counts["requests"] > published_at
        assert not failures, failures[:5]
        assert web.poll() is None
    except AssertionError:
        print(log.read_text(errors="replace")[-5000:])
        raise
    finally:
        stop(web)
