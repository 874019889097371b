"""Issue 16, first run: the demo factory, and a walk-through of every page as every demo role.

One demo database per module (``jig demo``'s generator, SQLite only like the browser tests): the data is
checked for what a new user should find (every state, late work, overdue batches, MTTR), then every
account signs in (Flask test client) and opens every page of every app its role may see — home, each
list, new form, a record, kanban, dashboards, notifications — which must answer 200, show data, and show
no untranslated English in the Chinese UI. One Chromium smoke signs in for real on a phone.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from jig import demo
from jig.demo import catalog, maintenance, outsourcing
from runtime import clock, permissions
from tests.ui_support import build, launch_browser, login, serve
from ui.linkspec import links_on

pytestmark = pytest.mark.skipif(os.environ.get("JIG_TEST_DB", "sqlite") != "sqlite",
                                reason="the demo walk-through runs once, in the SQLite pass (pages are the same)")

# Latin words the Chinese UI may show, each with its reason. Anything else in the visible text of a page
# (record data aside: codes with digits, the demo's own material grades and model names, usernames) is
# an untranslated string.
ALLOWED = {
    "Jig": "the product's name",
    "ERP": "the term factories use (金蝶/用友 are ERPs)", "BOM": "the term used on Chinese shop floors",
    "PMC": "the planner role's usual Chinese title (计划员/PMC)", "MTTR": "maintenance KPI, used as is",
    "MTBF": "maintenance KPI, used as is",
    "SMS": "short for 短信 in delivery lists", "QR": "二维码 is shown with QR", "Excel": "a product name",
    "English": "the language switch names the other language in that language",
    "FBillNo": "Kingdee's field name, quoted in a help text", "FNumber": "Kingdee's field name, quoted in a help text",
    "PRD": "Kingdee's form id PRD_MO, quoted in a help text", "MO": "Kingdee's form id PRD_MO",
    "API": "the API page is called API", "CSV": "a file format", "csv": "a file name's extension",
    "xlsx": "a file format", "PNG": "a file format (QR download)", "SVG": "a file format (QR download)",
    "URL": "used as is in Chinese UIs (链接 URL)", "Ctrl": "a key's name (Ctrl+P prints)",
    "ID": "used as is in Chinese UIs (ERP 分录ID)",
    "ms": "a unit (the dashboard's computing time)", "kg": "a unit",
    "system": "the built-in account rules act as (an account name, like the demo's usernames)",
}
WORD = re.compile(r"[A-Za-z]{2,}")
CODE = re.compile(r"\S*\d\S*")  # anything with a digit is a code, number, date or unit (record data)


def _data_words() -> set[str]:
    """Latin words that are record data of the demo (material grades, model names, usernames)."""
    text = repr((catalog.CUSTOMERS, catalog.ITEMS, catalog.ROUTINGS, maintenance.MACHINES, maintenance.FAULTS,
                 outsourcing.PARTNERS, [p.username for p in demo.PEOPLE]))
    return set(WORD.findall(CODE.sub(" ", text)))


class _Text(HTMLParser):
    """What a person sees: text nodes and the labels in attributes, not scripts, styles or values."""

    SKIP = {"script", "style", "template", "noscript"}
    ATTRS = ("placeholder", "title", "aria-label", "alt")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        a = dict(attrs)
        self.parts += [a[k] or "" for k in self.ATTRS if a.get(k)]
        if tag == "input" and a.get("type") in ("submit", "button") and a.get("value"):
            self.parts.append(a["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def untranslated(html: str, data: set[str]) -> set[str]:
    p = _Text()
    p.feed(html)
    text = CODE.sub(" ", " ".join(p.parts))
    return {w for w in WORD.findall(text) if w not in ALLOWED and w not in data}


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    tmp = tmp_path_factory.mktemp("demo")
    rt, app = build(f"sqlite:///{tmp / 'demo.db'}", tmp)
    rt.extensions.attach(rt)  # rules and jobs, as `jig demo` has them: releasing an order explodes its BOM
    logins = demo.prepare(rt, factory=True)
    assert [u for u, _, _ in logins] == [p.username for p in demo.PEOPLE]
    yield rt, app
    rt.db.dispose()


def _count(rt: Any, key: str, column: str = "state") -> Counter[Any]:
    table = rt.tables[key]
    with rt.db.read() as conn:
        return Counter(conn.execute(select(table.c[column])).scalars())


def test_the_demo_factory_has_a_month_of_realistic_data_and_keeps_it(factory: tuple[Any, Any]) -> None:
    rt, _app = factory
    orders = _count(rt, "work_order_tracking.sales_order")
    assert 45 <= sum(orders.values()) <= 55 and set(orders) == {"draft", "released", "in_production", "completed",
                                                               "closed"}, orders
    assert {"planned", "released", "in_progress", "completed"} <= set(_count(rt, "work_order_tracking.work_order"))
    assert {"pending", "started", "abnormal", "done"} <= set(_count(rt, "work_order_tracking.operation"))
    batches = _count(rt, "outsourcing.batch")
    assert set(batches) == {"shipped", "processing", "awaiting_qc", "done"} and sum(batches.values()) >= 30, batches
    table = rt.tables["outsourcing.batch"]
    with rt.db.read() as conn:
        out = conn.execute(select(table.c.expected_return).where(table.c.state.in_(("shipped", "processing")))).all()
    today = clock.today()
    assert any(r.expected_return < today for r in out) and any(r.expected_return >= today for r in out)
    assert len(_count(rt, "outsourcing.partner", "id")) == 3
    assert len(_count(rt, "maintenance.equipment", "id")) == 12
    assert sum(_count(rt, "maintenance.meter_reading", "id").values()) >= 48
    repairs = _count(rt, "maintenance.repair_request")
    assert repairs["archived"] >= 15 and {"reported", "accepted", "repairing", "verifying"} <= set(repairs)
    # three-level BOMs: an order for FG-1001 made work orders for FG-1001, SF-2001 and SF-3001
    products = {v: k for k, v in _ids(rt, "work_order_tracking.product").items()}
    made = {products[p] for p in _count(rt, "work_order_tracking.work_order", "product")}
    assert {"FG-1001", "SF-2001", "SF-3001"} <= made, made
    # history over the last month (back-dated through the clock), by the people who did it
    hist = rt.tables.system["jig_history"]
    with rt.db.read() as conn:
        rows = conn.execute(select(hist.c.at, hist.c.username)).all()
    assert (max(r.at for r in rows) - min(r.at for r in rows)).days >= 25
    assert {"planner", "worker", "maint", "qc", "partner", "supervisor"} <= {r.username for r in rows}
    before = {k: _count(rt, k, "id") for k in ("work_order_tracking.operation", "maintenance.repair_request")}
    demo.prepare(rt, factory=True)  # idempotent: a second `jig demo` keeps the data
    assert {k: _count(rt, k, "id") for k in before} == before


def _ids(rt: Any, key: str) -> dict[str, int]:
    table = rt.tables[key]
    with rt.db.read() as conn:
        return {r.code: r.id for r in conn.execute(select(table.c.code, table.c.id))}


def _pages(rt: Any, actor: Any, client: Any) -> Iterator[str]:
    """Every page of every app ``actor`` may see; record pages from the lists' first rows."""
    from ui import dashboards as dash
    yield "/"
    yield "/notifications"
    if actor.is_admin:
        yield from ("/admin/tokens", "/admin/displays", "/a/outsourcing/batch/import")
    for app in rt.apps.values():
        for ent in app.entities.values():
            if ent.parent is not None or not permissions.may_at_all(actor, ent, "read"):
                continue
            base = f"/a/{app.name}/{ent.name}"
            yield base
            if permissions.may_create(actor, ent):
                yield base + "/new"
            if ent.workflow is not None:
                yield base + "/kanban"
            html = client.get(base).get_data(as_text=True)
            first = re.search(rf'href="{re.escape(base)}/(\d+)"', html)
            assert first, f"{actor.username}: {base} shows no records"
            yield f"{base}/{first.group(1)}"
            if actor.is_admin:  # the record's print page and its shared links, where the app has some
                yield f"{base}/{first.group(1)}/print"
                if links_on(app, ent.name):
                    yield f"{base}/{first.group(1)}/links"
        for d in app.sections.get("dashboards", {}).values():
            if dash.may_open(actor, d):
                yield f"/d/{app.name}/{d.name}"


def test_every_role_sees_every_page_with_data_and_in_chinese(factory: tuple[Any, Any]) -> None:
    rt, app = factory
    data = _data_words()
    found: dict[str, set[str]] = {}
    seen_roles: set[tuple[str, ...]] = set()
    for person in demo.PEOPLE:
        if person.roles in seen_roles:
            continue  # worker2/worker3 see what worker sees
        seen_roles.add(person.roles)
        actor = rt.users.actor_for(person.username)
        client = app.test_client()
        login(client, person.username, demo.DEMO_PASSWORD)
        for path in _pages(rt, actor, client):
            r = client.get(path)
            assert r.status_code == 200, (person.username, path, r.status_code)
            words = untranslated(r.get_data(as_text=True), data)
            if words:
                found[f"{person.username} {path}"] = words
    assert not found, "untranslated strings:\n" + "\n".join(f"{k}: {sorted(v)}" for k, v in found.items())


def test_the_scanner_finds_english_and_ignores_data() -> None:
    data = _data_words()
    assert untranslated("<p>保存</p><script>var Save = 1</script><p>FG-1001 SPCC 大族 G3015H</p>", data) == set()
    assert untranslated('<button title="Delete">删除</button><p>No records</p>', data) == {"Delete", "No", "records"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


def test_a_worker_signs_in_on_a_phone_and_finds_the_operations(browser: Any, factory: tuple[Any, Any]) -> None:
    rt, app = factory
    server, url = serve(app)
    expect = pytest.importorskip("playwright.sync_api").expect
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, base_url=url, locale="zh-CN")
    ctx.set_default_timeout(8000)
    try:
        page = ctx.new_page()
        page.goto("/login")
        page.locator("input[name=username]").fill("worker")
        page.locator("input[name=password]").fill(demo.DEMO_PASSWORD)
        page.locator("form button[type=submit], form input[type=submit]").first.click()
        expect(page.locator(".app-card h2", has_text="生产工单跟踪")).to_be_visible()
        page.goto("/a/work_order_tracking/operation")
        expect(page.locator("a[href^='/a/work_order_tracking/operation/']").first).to_be_visible()
        shots = os.environ.get("JIG_DEMO_SCREENSHOTS")  # docs/screenshots are refreshed with this set
        if shots:
            page.screenshot(path=str(Path(shots) / "demo-worker-phone.png"), full_page=False)
            desk = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=url, locale="zh-CN")
            p2 = desk.new_page()
            p2.goto("/login")
            p2.locator("input[name=username]").fill("planner")
            p2.locator("input[name=password]").fill(demo.DEMO_PASSWORD)
            p2.locator("form button[type=submit], form input[type=submit]").first.click()
            p2.goto("/d/work_order_tracking/production")
            p2.wait_for_timeout(800)
            p2.screenshot(path=str(Path(shots) / "demo-production-board.png"), full_page=True)
            desk.close()
    finally:
        ctx.close()
        server.close()
