"""The plant the seed stories run in (tests/test_stories.py): Jig as `jig serve` builds it, one database per module,
Kingdee's simulator, and the jobs run either by the embedded backend (SQLite pass) or by RQ workers against the
real Redis (PostgreSQL pass, ``JIG_TEST_REDIS_URL``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select

from jig.app import Jig, create_app
from jig.config import Settings
from rules.service import rules_of
from runtime import clock

from .conftest import BACKEND
from .links_support import challenge_answer, page_token
from .ui_support import ROOT, login

PUBLIC = "http://jig.factory.test"
PEOPLE = [  # username, roles, phone, attributes
    ("admin", ["admin"], None),
    ("pmc", ["planner"], "13700000001"),           # PMC / planner (work orders and outsourcing)
    ("zhang", ["supervisor"], "13700000002"),      # the team leader and workshop supervisor
    ("wang", ["operator"], None),                  # a worker on the line
    ("qc", ["qc"], None),
    ("maint", ["maintainer"], "13700000003"),
    ("builder", ["builder"], None),
]


@dataclass
class Staff:
    """A signed-in browser session: the pages, and the JSON API the pages' scripts call (session + CSRF)."""

    client: Any
    csrf: str

    def _h(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def html(self, path: str) -> str:
        r = self.client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.get_data(as_text=True)[:300])
        return str(r.get_data(as_text=True))

    def api(self, method: str, path: str, body: Any = None, status: int | tuple[int, ...] = (200, 201)) -> Any:
        r = getattr(self.client, method)(path, json=body, headers=self._h())
        want = status if isinstance(status, tuple) else (status,)
        assert r.status_code in want, (method, path, r.status_code, r.get_data(as_text=True)[:600])
        return r.get_json(silent=True)

    def form(self, path: str, data: dict[str, Any]) -> Any:
        return self.client.post(path, data={**data, "csrf_token": self.csrf})


@dataclass
class Plant:
    jig: Jig
    app: Any
    tmp: Path
    redis: Any = None
    chromium: Chromium | None = None  # the SQLite pass only
    frozen: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    sessions: dict[tuple[str, Any], Staff] = field(default_factory=dict)

    def s(self, user: str) -> Staff:
        """``user`` signed in (again every few hours of the story: sessions expire)."""
        now = clock.now()
        key = (user, now.date(), now.hour // 4)
        if key not in self.sessions:
            c = self.app.test_client()
            self.sessions[key] = Staff(c, login(c, user, f"{user}-pass-1"))
        return self.sessions[key]

    @property
    def rt(self) -> Any:
        return self.jig.current()

    def go(self, at: dt.datetime) -> None:
        """The story's clock is at ``at`` from now on (until the next ``go``)."""
        self.frozen.close()
        self.frozen = contextlib.ExitStack()
        self.frozen.enter_context(clock.frozen(at))

    def tick(self, at: dt.datetime) -> None:
        """The jobs at ``at``: due schedules, then what their runs queued, as the deployment runs them."""
        self.go(at)
        self.jig.refresh()
        rt = self.jig.runtime
        if self.redis is None:
            for _ in range(3):
                rules_of(rt).jobs.run_once()
            return
        from rq import Queue

        from rules import jobs
        queue = Queue(jobs.QUEUE, connection=self.redis)
        for _ in range(4):  # schedules first, then the outbox rows their runs wrote
            counts = jobs.enqueue_due(rt, queue)
            if not counts["schedules"] and not counts["outbox"]:
                break
            jobs.worker_class()([queue], connection=self.redis, runtime_source=self.jig).work(burst=True)

    def shot(self, user: str | None, path: str, name: str, full: bool = False) -> None:
        """A screenshot for docs/tour.md (SQLite pass, ``JIG_TOUR_SHOTS`` set): ``path`` as ``user`` sees it, or
        a shared link's token on a phone when ``user`` is None."""
        c = self.chromium
        if c is None or c.out is None:
            return
        if user is None:
            page = c.phone(path)
            page.wait_for_load_state("networkidle")
            c.shot(page, name, full)
            page.context.close()
        else:
            c.page_shot(user, path, name, full)

    def sms(self, since: int = 0) -> list[dict[str, Any]]:
        log = self.rt.tables.system["jig_sms_log"]
        with self.rt.db.read() as conn:
            return [dict(r) for r in conn.execute(select(log).where(log.c.id > since).order_by(log.c.id)).mappings()]

    def last_sms_id(self) -> int:
        rows = self.sms()
        return int(rows[-1]["id"]) if rows else 0

    def issue_link(self, who: str, app: str, entity: str, record_id: int, link: str) -> str:
        """The record page's 分享链接/二维码: issue a link, read its URL off the page (what the QR encodes)."""
        s = self.s(who)
        r = s.form(f"/a/{app}/{entity}/{record_id}/links", {"link": link})
        assert r.status_code == 302, r.get_data(as_text=True)[:400]
        return link_token(s.html(f"/a/{app}/{entity}/{record_id}/links"))


def link_token(text: str) -> str:
    found = re.findall(r"/l/([A-Za-z0-9_\-.]{20,})", text)
    assert found, text[:800]
    return str(found[-1])


def build_plant(url: str, tmp: Path, redis_url: str | None) -> Plant:
    settings = Settings(database_url=url, apps=[str(ROOT / "apps")], secret_key="stories-secret-" + "s" * 32,
                        files_dir=str(tmp / "files"), var_dir=str(tmp / "var"), redis_url=redis_url,
                        public_url=PUBLIC)
    jig = Jig(settings, refresh_seconds=0.0)
    app = create_app(settings, jig)
    redis = None
    if redis_url:
        from redis import Redis
        redis = Redis.from_url(redis_url)
        redis.flushdb()
    plant = Plant(jig, app, tmp, redis)
    for user, roles, phone in PEOPLE:
        jig.runtime.users.add(user, f"{user}-pass-1", roles, phone=phone, display_name=user)
    return plant


def number(html: str, title: str) -> str:
    m = re.search(r"<h2>" + re.escape(title) + r'</h2>\s*<div class="number">([^<]*)<', html)
    assert m, (title, html[:1500])
    return m.group(1).strip()


def photo(color: tuple[int, int, int] = (200, 120, 40), kind: str = "JPEG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(out, kind)
    return out.getvalue()


class LinkPage:
    """A phone on a shared link: opens the page, uploads photos, posts the form as the page's script does."""

    def __init__(self, app: Any, token: str):
        self.client = app.test_client()
        self.token = token
        self.html, self.csrf = page_token(self.client, token)
        assert self.csrf, self.html[:500]

    def upload(self, data: bytes, name: str) -> str:
        r = self.client.post(f"/l/{self.token}/files", data={"file": (io.BytesIO(data), name)},
                             headers={"X-Link-Token": self.csrf}, content_type="multipart/form-data")
        assert r.status_code == 201, r.get_data(as_text=True)[:300]
        return str(r.get_json()["key"])

    def post(self, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        if "challenge" not in body and "data-exp=" in self.html:
            body = {**body, "challenge": challenge_answer(self.html)}
        r = self.client.post(f"/l/{self.token}", json=body, headers={"X-Link-Token": self.csrf})
        assert r.status_code == status, r.get_data(as_text=True)[:600]
        return dict(r.get_json())


def redis_url() -> str | None:
    return os.environ.get("JIG_TEST_REDIS_URL") if BACKEND == "postgresql" else None


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}


class Chromium:
    """The SQLite pass's browser on the served plant: a few steps done by tapping, as people do them, and the
    tour's screenshots (written to ``JIG_TOUR_SHOTS``, e.g. docs/screenshots, when it is set)."""

    def __init__(self, browser: Any, url: str):
        self.browser = browser
        self.url = url
        out = os.environ.get("JIG_TOUR_SHOTS")
        self.out = Path(out) if out else None
        self._staff: dict[Any, Any] = {}

    def staff(self, user: str) -> Any:
        now = clock.now()
        key = (user, now.date(), now.hour // 4)  # signed in again as the story's days go by (sessions expire)
        if key not in self._staff:
            ctx = self.browser.new_context(viewport={"width": 1280, "height": 860}, base_url=self.url,
                                           locale="zh-CN")
            ctx.set_default_timeout(15000)
            page = ctx.new_page()
            page.goto("/login")
            page.get_by_label("用户名").fill(user)
            page.get_by_label("密码").fill(f"{user}-pass-1")
            page.get_by_role("button", name="登录").click()
            page.wait_for_url(re.compile(r".*/$"))
            self._staff[key] = page
        return self._staff[key]

    def phone(self, token: str) -> Any:
        ctx = self.browser.new_context(base_url=self.url, **PHONE)
        ctx.set_default_timeout(15000)
        page = ctx.new_page()
        page.goto(f"/l/{token}")
        return page

    def shot(self, page: Any, name: str, full: bool = False) -> None:
        if self.out is not None:
            page.screenshot(path=str(self.out / f"tour-{name}.png"), full_page=full)

    def page_shot(self, user: str, path: str, name: str, full: bool = False) -> None:
        if self.out is not None:
            page = self.staff(user)
            page.goto(path)
            page.wait_for_load_state("networkidle")
            self.shot(page, name, full)
