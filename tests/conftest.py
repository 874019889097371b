"""Test fixtures: a fresh, migrated database per test on SQLite or PostgreSQL.

``JIG_TEST_DB=postgresql`` (with ``JIG_TEST_PG_URL``) runs the whole suite on
PostgreSQL; the default is SQLite. scripts/test.sh runs both.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from jig.plugins import default_extensions
from runtime import api, auth, clock
from runtime.core import Runtime
from runtime.loader import load_apps, load_texts

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "apps"
BACKEND = os.environ.get("JIG_TEST_DB", "sqlite")
FROZEN_NOW = dt.datetime(2026, 11, 20, 10, 0, 0)


def _pg_admin_url() -> str:
    url = os.environ.get("JIG_TEST_PG_URL")
    if not url:
        pytest.skip("JIG_TEST_PG_URL not set (run scripts/test.sh)")
    return url


def fresh_database(tmp: Path, prefix: str = "jt_") -> Iterator[str]:
    """The URL of an empty database (a file under ``tmp``, or a PostgreSQL database), dropped afterwards."""
    if BACKEND == "sqlite":
        yield f"sqlite:///{tmp / 'jig.db'}"
        return
    admin = _pg_admin_url()
    name = prefix + uuid.uuid4().hex[:12]
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


FULL_COST_HASH = auth.generate_password_hash  # what the product hashes passwords with (scrypt, werkzeug's cost)
TEST_HASH_METHOD = "scrypt:1024:8:1"


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashes() -> Iterator[None]:
    """Passwords made by the tests are hashed with scrypt at 1/32 of the product's cost: the same scheme and
    code path, 2 ms instead of 75 ms per user (hundreds of test users). Hashes carry their own parameters, so
    checking them (here or in a server a test starts) follows. tests/test_security_permissions.py checks the
    product's own cost with FULL_COST_HASH."""
    mp = pytest.MonkeyPatch()
    mp.setattr(auth, "generate_password_hash", lambda password: FULL_COST_HASH(password, method=TEST_HASH_METHOD))
    yield
    mp.undo()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database, dropped after the test."""
    yield from fresh_database(tmp_path)


@pytest.fixture
def frozen_clock() -> Iterator[dt.datetime]:
    with clock.frozen(FROZEN_NOW):
        yield FROZEN_NOW


@pytest.fixture
def make_runtime(database_url: str) -> Iterator[Callable[..., Runtime]]:
    """Build a migrated Runtime from app files or in-memory texts."""
    made: list[Runtime] = []

    def make(apps: list[str | Path] | None = None, texts: dict[str, str] | None = None,
             url: str | None = None, migrate: bool = True, extensions: bool = False,
             settings: dict[str, Any] | None = None) -> Runtime:
        # Definitions always load with every extension (apps carry rules, dashboards...);
        # only extensions=True wires them into the runtime.
        all_exts = default_extensions()
        exts = all_exts if extensions else []
        defs = load_texts(texts, all_exts) if texts is not None else load_apps(apps or [APPS], all_exts)
        rt = Runtime(defs, url or database_url, extensions=exts, settings=settings, definition_extensions=all_exts)
        if migrate:
            rt.migrate()
        rt.extensions.attach(rt)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.db.dispose()


@dataclass
class ApiClient:
    """A Flask test client bound to one user's token."""

    client: Any
    token: str

    def _h(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.token}"}
        h.update(extra or {})
        return h

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self._h(kw.pop("headers", None)), **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(path, json=json, headers=self._h(kw.pop("headers", None)), **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.patch(path, json=json, headers=self._h(kw.pop("headers", None)), **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete(path, headers=self._h(kw.pop("headers", None)), **kw)


@dataclass
class World:
    rt: Runtime
    app: Any
    admin: ApiClient
    planner: ApiClient
    qc: ApiClient
    partner_a: ApiClient
    partner_b: ApiClient
    partners: dict[str, int]

    def as_user(self, username: str, roles: list[str], attributes: dict[str, Any] | None = None) -> ApiClient:
        self.rt.users.add(username, "secret-pass", roles, attributes=attributes)
        return ApiClient(self.app.test_client(), self.rt.users.create_token(username))


@pytest.fixture
def world(make_runtime: Callable[..., Runtime], frozen_clock: dt.datetime) -> World:
    """The three shipped apps with users of each outsourcing role and two partner factories."""
    rt = make_runtime()
    app = api.create_app(rt, {"TESTING": True})
    users = rt.users

    def client(name: str, roles: list[str], attrs: dict[str, Any] | None = None) -> ApiClient:
        users.add(name, "secret-pass", roles, attributes=attrs)
        return ApiClient(app.test_client(), users.create_token(name))

    admin = client("admin", ["admin"])
    a = admin.post("/api/outsourcing/partner", {"name": "华新电镀", "phone": "13800001111"}).get_json()["id"]
    b = admin.post("/api/outsourcing/partner", {"name": "永盛喷涂", "phone": "13900002222"}).get_json()["id"]
    return World(rt=rt, app=app, admin=admin, planner=client("planner", ["planner"]), qc=client("qc", ["qc"]),
                 partner_a=client("pa", ["partner"], {"partner": a}),
                 partner_b=client("pb", ["partner"], {"partner": b}),
                 partners={"a": a, "b": b})


def batch_body(partner: int, **over: Any) -> dict[str, Any]:
    body = {"customer": "宁波精密", "product_no": "P-100", "quantity": 100, "partner": partner,
            "ship_date": "2026-11-18", "expected_return": "2026-11-25"}
    body.update(over)
    return body


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.one_pass("sqlite" | "postgresql", reason=...)``: a slow test whose subject does not depend
    on the database runs in one pass of scripts/test.sh only (the suite's time is a budget)."""
    for item in items:
        mark = item.get_closest_marker("one_pass")
        if mark is not None and mark.args[0] != BACKEND:
            why = mark.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(reason=f"runs in the {mark.args[0]} pass{': ' + why if why else ''}"))
