"""Admin pages (users, roles, API tokens) and display tokens for big-screen boards.

A display token opens one dashboard's board without signing in (for a
workshop TV). Only its SHA-256 digest is stored, in ``jig_ui_displays``, a
table this layer owns; it grants nothing else (not the API, not other pages).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from flask import abort, request, url_for
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, select, update

from runtime import clock
from runtime.auth import SYSTEM, Actor
from runtime.bounds import MAX_ID, MAX_INT32
from runtime.errors import RecordError
from runtime.model import pick
from runtime.sqltypes import LocalDateTime

from . import session as sess
from .dashboards import title_column
from .i18n import tr
from .web import actor_or_login, bp, page, rt

DISPLAY_PREFIX = "jigd_"
MAX_CHOICES = 500  # records offered for a link attribute (e.g. the partner a partner user belongs to)
MAX_TOKEN_DAYS = 36_500  # an API token may be made to expire in at most 100 years
_md = MetaData()
displays = Table(
    "jig_ui_displays", _md,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("app", String(48), nullable=False),
    Column("dashboard", String(48), nullable=False),
    Column("label", String(128)),
    Column("created_by", String(64)),
    Column("created_at", LocalDateTime, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)


def define_tables(md: MetaData) -> list[Table]:
    """The UI's own tables (display tokens, import jobs, sessions), created by `jig migrate` with Jig's own tables."""
    from .imports import define_tables as import_tables
    from .session import define_tables as session_tables
    return [displays.to_metadata(md), *import_tables(md), *session_tables(md)]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_display_token(runtime: Any, app: str, dashboard: str, label: str, username: str) -> str:
    token = DISPLAY_PREFIX + secrets.token_urlsafe(32)
    with runtime.db.write() as conn:
        conn.execute(displays.insert().values(token_hash=_digest(token), app=app, dashboard=dashboard, label=label[:128],
                                              created_by=username, created_at=clock.now(), revoked=False))
    return token


def display_actor(app: str, dashboard: str, token: str | None) -> Actor | None:
    """The read-only board actor for a valid display token of exactly this dashboard."""
    if not token or not token.startswith(DISPLAY_PREFIX) or len(token) > 100:
        return None
    with rt().db.read(snapshot=False) as conn:
        row = conn.execute(select(displays).where(displays.c.token_hash == _digest(token))).mappings().first()
    if row is None or row["revoked"] or not hmac.compare_digest(row["app"], app) or row["dashboard"] != dashboard:
        return None
    return Actor(f"display:{row['id']}", frozenset({"admin"}), display_name=row["label"] or "display", via="link")


def _admin() -> Actor:
    actor = actor_or_login()
    if not actor.is_admin:
        abort(403)
    return actor


def all_roles() -> list[str]:
    roles = {"admin"}
    for app in rt().apps.values():
        roles.update(app.roles)
    return sorted(roles)


def role_labels(lang: str) -> dict[str, str]:
    """Each role's label from the definitions in ``lang`` (a role several apps define: their labels joined)."""
    found: dict[str, list[str]] = {"admin": [tr("role_admin", lang)]}
    for app in rt().apps.values():
        for name, label in app.roles.items():
            text = pick(label, lang) or name
            if text not in found.setdefault(name, []):
                found[name].append(text)
    return {name: " / ".join(texts) for name, texts in found.items()}


def user_attributes(lang: str) -> list[dict[str, Any]]:
    """The user attributes the apps declare (``user_attributes:``), with the choices of link attributes."""
    out: dict[str, dict[str, Any]] = {}
    for app in rt().apps.values():
        for name, f in app.user_attributes.items():
            if name in out:
                continue
            choices = None
            if f.type == "link" and f.to in app.entities:
                target = app.entities[f.to]
                table, col = rt().tables.for_entity(target), title_column(target)
                with rt().db.read() as conn:
                    choices = [(str(i), str(t or f"#{i}")) for i, t in conn.execute(
                        select(table.c.id, table.c[col]).order_by(table.c[col]).limit(MAX_CHOICES))]
            elif f.options:
                choices = [(o.value, pick(o.label, lang)) for o in f.options]
            out[name] = {"name": name, "label": pick(f.label, lang) or name, "type": f.type, "choices": choices}
    return list(out.values())


def _attributes_from_form(current: str | None) -> dict[str, Any] | None:
    """The user's attributes after the form: declared ones set from ``attr.NAME`` fields (empty removes),
    undeclared ones kept; None when the form has no attribute fields."""
    given = {k[5:]: v.strip() for k, v in request.form.items() if k.startswith("attr.")}
    if not given:
        return None
    declared = {a["name"]: a for a in user_attributes("zh")}
    attrs = json.loads(current or "{}")
    for name, value in given.items():
        if name not in declared or len(value) > 200:
            abort(400)
        if not value:
            attrs.pop(name, None)
        elif declared[name]["type"] in ("link", "integer"):
            if not (value.isascii() and value.isdigit()) or len(value) > len(str(MAX_ID)):
                abort(400)
            attrs[name] = int(value)
        else:
            attrs[name] = value
    return attrs


def _form_int(name: str, maximum: int = MAX_ID) -> int:
    """A whole number from 1 to ``maximum`` in form field ``name``; anything else is a 400 page."""
    raw = (request.form.get(name) or "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(maximum)) or not 0 < int(raw) <= maximum:
        abort(400)
    return int(raw)


@bp.route("/admin/users", methods=["GET", "POST"])
def admin_users() -> Any:
    actor = _admin()
    message = error = None
    if request.method == "POST":
        f = request.form
        roles = [r for r in f.getlist("roles") if r in all_roles()]
        try:
            if f.get("action") == "add":
                rt().users.add(f.get("username", "").strip(), f.get("password") or None, roles,
                               display_name=f.get("display_name") or None, phone=f.get("phone") or None,
                               attributes=_attributes_from_form(None))
            else:
                username = f.get("username", "")
                if username == SYSTEM.username:
                    abort(400)  # the built-in account rules act as: not edited here
                row = rt().users.get(username)
                rt().users.update(username, roles=roles, password=f.get("password") or None,
                                  active=f.get("active") == "on", display_name=f.get("display_name") or None,
                                  phone=f.get("phone"),
                                  attributes=_attributes_from_form(row["attributes"]) if row else None)
            message = tr("saved", actor.language)
        except RecordError as exc:
            error = exc.message
    users = [{**u, "attrs": json.loads(u["attributes"] or "{}")} for u in rt().users.all()
             if u["username"] != SYSTEM.username]
    return page("admin_users.html", actor=actor, users=users, roles=all_roles(), role_labels=role_labels(actor.language),
                attributes=user_attributes(actor.language), message=message, error=error)


@bp.route("/admin/tokens", methods=["GET", "POST"])
def admin_tokens() -> Any:
    actor = _admin()
    new_token = error = None
    if request.method == "POST":
        try:
            if request.form.get("action") == "revoke":
                rt().users.revoke_token(_form_int("id"))
            else:
                days = (request.form.get("expires_days") or "").strip()
                new_token = rt().users.create_token(request.form.get("username", ""), request.form.get("label", ""),
                                                    _form_int("expires_days", MAX_TOKEN_DAYS) if days else None)
        except RecordError as exc:
            error = exc.message
    return page("admin_tokens.html", actor=actor, tokens=rt().users.tokens_of(), users=rt().users.all(),
                new_token=new_token, error=error)


@bp.route("/admin/displays", methods=["GET", "POST"])
def admin_displays() -> Any:
    actor = _admin()
    new_link = None
    boards = [(a.name, d.name, d) for a in rt().apps.values() for d in a.sections.get("dashboards", {}).values()]
    if request.method == "POST":
        if request.form.get("action") == "revoke":
            with rt().db.write() as conn:
                conn.execute(update(displays).where(displays.c.id == _form_int("id", MAX_INT32)).values(revoked=True))
        else:
            app, _, name = (request.form.get("board") or "").partition("/")
            if not any(a == app and n == name for a, n, _ in boards):
                abort(400)
            token = create_display_token(rt(), app, name, request.form.get("label", ""), actor.username)
            new_link = url_for("jig_ui.board_view", app=app, name=name, token=token, _external=True)
    with rt().db.read() as conn:
        rows = [dict(r) for r in conn.execute(select(displays).order_by(displays.c.id.desc())).mappings()]
    return page("admin_displays.html", actor=actor, rows=rows, boards=boards, new_link=new_link)


__all__ = ["define_tables", "display_actor", "sess"]
