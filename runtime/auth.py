"""Users, roles and API tokens.

Passwords are hashed with scrypt (werkzeug); API tokens are random 256-bit
secrets stored only as SHA-256 digests, so a stolen database yields no usable
token. Resolved tokens are cached for a few seconds per process to keep the
per-request cost to a dictionary lookup; revoking clears the local cache.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from . import clock
from .database import Database
from .errors import BadRequest, Conflict, NotFound

TOKEN_PREFIX = "jig_"
TOKEN_CACHE_SECONDS = 10.0
MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
VIA = ("api", "web", "link", "rule", "connector", "import", "cli", "system")


@dataclass(frozen=True)
class Actor:
    """Who is acting, with which roles, and through which channel."""

    username: str
    roles: frozenset[str] = frozenset()
    attributes: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    display_name: str = ""
    via: str = "api"
    user_id: int | None = None
    language: str = "zh"
    link: Any = field(default=None, hash=False, compare=False)  # a LinkGrant when acting through a shared link

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def context(self) -> dict[str, Any]:
        """What expressions see as ``user``."""
        return {**self.attributes, "username": self.username, "display_name": self.display_name or self.username}

    def using(self, via: str) -> Actor:
        return replace(self, via=via)


SYSTEM = Actor("system", frozenset({"admin"}), display_name="系统", via="system")


PHONE_RE = re.compile(r"^\+?[0-9]{5,20}$")  # digits, optionally +country code (spaces and dashes stripped)


def normal_phone(phone: str | None) -> str | None:
    """A phone number as stored: spaces, dashes and brackets stripped, empty as None; BadRequest if it is not
    a number (an SMS to it could never be delivered)."""
    if phone is None or not phone.strip():
        return None
    n = re.sub(r"[\s\-()]", "", phone)
    if not PHONE_RE.match(n):
        raise BadRequest(f"手机号“{phone}”无效 / not a phone number: {phone!r}", {"phone": "invalid"})
    return n


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Users:
    def __init__(self, db: Database, tables: dict[str, Any]):
        self.db = db
        self.users = tables["jig_users"]
        self.tokens = tables["jig_tokens"]
        self._cache: dict[str, tuple[float, Actor | None]] = {}
        self._lock = threading.Lock()

    # ---- users -------------------------------------------------------------

    def add(self, username: str, password: str | None, roles: list[str], *, display_name: str | None = None,
            attributes: dict[str, Any] | None = None, phone: str | None = None, language: str = "zh") -> int:
        if not username or len(username) > 64:
            raise BadRequest("username must be 1-64 characters")
        with self.db.write() as conn:
            exists = conn.execute(select(self.users.c.id).where(self.users.c.username == username)).first()
            if exists:
                raise Conflict(f"user '{username}' already exists")
            result = conn.execute(self.users.insert().values(
                username=username, display_name=display_name or username,
                password_hash=generate_password_hash(password) if password else None,
                roles=sorted(set(roles)), attributes=json.dumps(attributes or {}, ensure_ascii=False),
                phone=normal_phone(phone), language=language, active=True, failed_logins=0, created_at=clock.now()))
            return int(result.inserted_primary_key[0])

    def ensure_system(self, conn: Any) -> None:
        """The built-in 'system' account that rules and connectors act as (it can never sign in)."""
        if conn.execute(select(self.users.c.id).where(self.users.c.username == SYSTEM.username)).first() is None:
            conn.execute(self.users.insert().values(
                username=SYSTEM.username, display_name=SYSTEM.display_name, password_hash=None, roles=["admin"],
                attributes="{}", language="zh", active=False, failed_logins=0, created_at=clock.now()))

    def update(self, username: str, *, password: str | None = None, roles: list[str] | None = None,
               attributes: dict[str, Any] | None = None, active: bool | None = None,
               display_name: str | None = None, phone: str | None = None) -> None:
        values: dict[str, Any] = {}
        if password is not None:
            values["password_hash"] = generate_password_hash(password)
            values["failed_logins"] = 0
            values["locked_until"] = None
        if roles is not None:
            values["roles"] = sorted(set(roles))
        if attributes is not None:
            values["attributes"] = json.dumps(attributes, ensure_ascii=False)
        if active is not None:
            values["active"] = active
        if display_name is not None:
            values["display_name"] = display_name
        if phone is not None:  # "" clears the number
            values["phone"] = normal_phone(phone)
        if not values:
            return
        with self.db.write() as conn:
            n = conn.execute(update(self.users).where(self.users.c.username == username).values(**values)).rowcount
            if not n:
                raise NotFound(f"no user '{username}'")
        self.clear_cache()

    def get(self, username: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute(select(self.users).where(self.users.c.username == username)).mappings().first()
        return dict(row) if row else None

    def all(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(select(self.users).order_by(self.users.c.username)).mappings().all()
        return [{k: v for k, v in r.items() if k != "password_hash"} for r in rows]

    def actor(self, row: Any, via: str = "api") -> Actor:
        return Actor(username=row["username"], roles=frozenset(row["roles"] or []),
                     attributes=json.loads(row["attributes"] or "{}"), display_name=row["display_name"] or "",
                     via=via, user_id=row["id"], language=row["language"] or "zh")

    def actor_for(self, username: str, via: str = "api") -> Actor | None:
        row = self.get(username)
        return self.actor(row, via) if row and row["active"] else None

    def login(self, username: str, password: str, via: str = "web") -> Actor | None:
        """Check a password; after repeated failures the account is locked for a while."""
        now = clock.now()
        with self.db.write() as conn:
            row = conn.execute(select(self.users).where(self.users.c.username == username)).mappings().first()
            if row is None or not row["active"] or not row["password_hash"]:
                check_password_hash(_DUMMY_HASH, password)  # same timing for unknown users
                return None
            if row["locked_until"] and row["locked_until"] > now:
                check_password_hash(_DUMMY_HASH, password)  # a locked account answers like a wrong password
                return None
            if check_password_hash(row["password_hash"], password):
                conn.execute(update(self.users).where(self.users.c.id == row["id"])
                             .values(failed_logins=0, locked_until=None))
                return self.actor(row, via)
            failed = (row["failed_logins"] or 0) + 1
            values: dict[str, Any] = {"failed_logins": failed}
            if failed >= MAX_FAILED_LOGINS:
                values.update(failed_logins=0, locked_until=now + LOCKOUT)
            conn.execute(update(self.users).where(self.users.c.id == row["id"]).values(**values))
            return None

    def is_locked(self, username: str) -> bool:
        row = self.get(username)
        return bool(row and row["locked_until"] and row["locked_until"] > clock.now())

    # ---- tokens ------------------------------------------------------------

    def create_token(self, username: str, label: str = "", expires_days: int | None = None) -> str:
        """Create a token and return it; only its digest is stored, so show it once."""
        row = self.get(username)
        if row is None:
            raise NotFound(f"no user '{username}'")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = clock.now()
        with self.db.write() as conn:
            conn.execute(self.tokens.insert().values(
                user_id=row["id"], token_hash=hash_token(token), label=label, prefix=token[:10],
                created_at=now, expires_at=now + dt.timedelta(days=expires_days) if expires_days else None,
                revoked=False))
        return token

    def tokens_of(self, username: str | None = None) -> list[dict[str, Any]]:
        q = select(self.tokens.c.id, self.tokens.c.label, self.tokens.c.prefix, self.tokens.c.created_at,
                   self.tokens.c.expires_at, self.tokens.c.last_used_at, self.tokens.c.revoked,
                   self.users.c.username).join(self.users, self.users.c.id == self.tokens.c.user_id)
        if username:
            q = q.where(self.users.c.username == username)
        with self.db.read() as conn:
            return [dict(r) for r in conn.execute(q.order_by(self.tokens.c.id)).mappings()]

    def revoke_token(self, token_id: int) -> None:
        with self.db.write() as conn:
            n = conn.execute(update(self.tokens).where(self.tokens.c.id == token_id).values(revoked=True)).rowcount
        if not n:
            raise NotFound(f"no token {token_id}")
        self.clear_cache()

    def resolve_token(self, token: str, via: str = "api") -> Actor | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        digest = hash_token(token)
        now_mono = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now_mono:
            return hit[1]
        q = (select(self.users, self.tokens.c.expires_at, self.tokens.c.revoked)
             .join(self.tokens, self.tokens.c.user_id == self.users.c.id)
             .where(self.tokens.c.token_hash == digest))
        with self.db.read() as conn:
            row = conn.execute(q).mappings().first()
        actor: Actor | None = None
        if row and not row["revoked"] and row["active"] and (
                row["expires_at"] is None or row["expires_at"] > clock.now()):
            actor = self.actor(row, via)
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[digest] = (now_mono + TOKEN_CACHE_SECONDS, actor)
        return actor

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()


# the scrypt hash of a password nobody has, checked against for unknown or locked users (same timing); written
# out rather than computed, which would cost every process that imports this module a scrypt at start-up
_DUMMY_HASH = ("scrypt:32768:8:1$39wPkd314PQQWPBg$80d2ff7b93fce6548f5daa95dc66794476c2"
               "62e210926952389131ebd28e17f49124805d717aa07cbfac3fffdd36d7743671d97a552b982c12fad7b1780ec5cc")
