"""Browser sessions: sign-in, CSRF tokens, secure cookies, the signed-in Actor.

The session cookie is HttpOnly, SameSite=Lax, and Secure whenever the
request came over HTTPS (or ``JIG_SECURE_COOKIES`` is set). Every unsafe
request made with a session (pages and the REST API alike) must carry the
session's CSRF token, as a form field ``csrf_token`` or an ``X-CSRF-Token``
header. A session ends when the user is deactivated or their password
changes (the session remembers a fingerprint of the password hash), when
it is older than its lifetime, and when the user signs out: every sign-in
has a row in ``jig_ui_sessions`` (only the SHA-256 of its random id is
stored), checked on every request and deleted at sign-out, so a copied
cookie replayed after logout is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import replace
from typing import Any

from flask import Flask, g, request, session
from sqlalchemy import Column, Integer, MetaData, String, Table, delete, select

from runtime import clock
from runtime.api import runtime as api_runtime
from runtime.auth import Actor
from runtime.sqltypes import LocalDateTime

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LIFETIME = dt.timedelta(hours=12)

_md = MetaData()
sessions = Table(
    "jig_ui_sessions", _md,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sid_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, nullable=False, index=True),
    Column("created_at", LocalDateTime, nullable=False),
    Column("expires_at", LocalDateTime, nullable=False),
)


def define_tables(md: MetaData) -> list[Table]:
    return [sessions.to_metadata(md)]


def _table() -> Table:
    return runtime().tables.system["jig_ui_sessions"]  # type: ignore[no-any-return]


def runtime() -> Any:
    return api_runtime()


def lang() -> str:
    return "en" if session.get("lang") == "en" else "zh"


def session_lang() -> str | None:
    """The language chosen in this browser session, or None when the request carries no session."""
    chosen = session.get("lang")
    return lang() if chosen else None


def csrf_token() -> str:
    tok = session.get("csrf")
    if not tok:
        tok = session["csrf"] = secrets.token_urlsafe(32)
    return str(tok)


def csrf_ok() -> bool:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    want = session.get("csrf") or ""
    return bool(want) and hmac.compare_digest(str(sent), str(want))


def _fingerprint(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def sign_in(row: dict[str, Any], actor: Actor) -> None:
    keep_lang = session.get("lang")
    sign_out()
    session.clear()
    sid = secrets.token_urlsafe(32)
    now = clock.now()
    table = _table()
    with runtime().db.write() as conn:
        conn.execute(delete(table).where(table.c.expires_at < now))  # forget expired sign-ins
        conn.execute(table.insert().values(sid_hash=_sid_hash(sid), user_id=actor.user_id, created_at=now,
                                           expires_at=now + LIFETIME))
    session.permanent = True
    session["sid"] = sid
    session["uid"] = actor.user_id
    session["user"] = actor.username
    session["pw"] = _fingerprint(row.get("password_hash"))
    session["lang"] = keep_lang or actor.language or "zh"
    session["csrf"] = secrets.token_urlsafe(32)


def sign_out() -> None:
    """End the session on the server (its row is deleted) and clear the cookie."""
    sid = session.get("sid")
    if isinstance(sid, str) and sid:
        table = _table()
        with runtime().db.write() as conn:
            conn.execute(delete(table).where(table.c.sid_hash == _sid_hash(sid)))
    keep_lang = session.get("lang")
    session.clear()
    g.pop("ui_actor", None)
    if keep_lang:
        session["lang"] = keep_lang


def signed_in_actor() -> Actor | None:
    """The Actor of this browser session, or None (no session, signed out, expired, inactive user,
    changed password)."""
    if "ui_actor" in g:
        return g.ui_actor  # type: ignore[no-any-return]
    actor = None
    sid = session.get("sid")
    if isinstance(sid, str) and sid and session.get("user"):
        rt = runtime()
        users, table = rt.users.users, _table()
        with rt.db.read(snapshot=False) as conn:
            row = conn.execute(select(users).join(table, table.c.user_id == users.c.id)
                               .where(table.c.sid_hash == _sid_hash(sid), table.c.expires_at > clock.now())
                               ).mappings().first()
        if row and row["active"] and row["id"] == session.get("uid") and row["username"] == session.get("user") \
                and hmac.compare_digest(str(session.get("pw", "")), _fingerprint(row.get("password_hash"))):
            actor = replace(rt.users.actor(row, "web"), language=lang())
    g.ui_actor = actor
    return actor


def api_session_actor() -> Actor | None:
    """For runtime.api: a session may call the API; unsafe methods need the CSRF header."""
    if request.method not in SAFE_METHODS and not csrf_ok():
        return None
    return signed_in_actor()


def configure(app: Flask) -> None:
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_NAME"] = "jig_session"
    app.config["PERMANENT_SESSION_LIFETIME"] = 12 * 3600
    app.config["JIG_SESSION_ACTOR"] = api_session_actor
    app.config["JIG_SESSION_LANG"] = session_lang
    base = type(app.session_interface)

    class SecureWhenHttps(base):  # type: ignore[valid-type, misc]
        def get_cookie_secure(self, app: Flask) -> bool:
            try:
                return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure
            except RuntimeError:
                return bool(app.config.get("SESSION_COOKIE_SECURE"))

    app.session_interface = SecureWhenHttps()
