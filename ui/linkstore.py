"""Shared links in the database: issuing, resolving, counting uses, rate limits, challenges, PINs.

A link's token is ``HMAC-SHA256(secret key, link id + 128 random bits)``,
URL-safe (192 bits). Only its SHA-256 digest is stored, so the database alone
yields no usable link; the server can print the same QR code again (the
traveller is re-printable) because it holds the secret. Revoking ends a link
for good; a new link gets a new token.

Rate limits and used challenges live in ``jig_link_hits`` (one row per key
and minute), so every process of a deployment shares them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from runtime import clock
from runtime.auth import Actor
from runtime.linkscope import LinkGrant, LinkIssuer
from runtime.model import pick
from runtime.sqltypes import LocalDateTime

from .linkspec import LinkDef

ID = BigInteger().with_variant(Integer(), "sqlite")
TOKEN_CHARS = 32
CHALLENGE_SECONDS = 600


def define_tables(md: MetaData) -> list[Table]:
    links = Table(
        "jig_links", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("app", String(48), nullable=False),
        Column("name", String(48), nullable=False),
        Column("on_entity", String(48), nullable=False),
        Column("record_id", BigInteger, nullable=False),
        Column("nonce", String(32), nullable=False),
        Column("token_hash", String(64), nullable=False, unique=True),
        Column("created_by", String(64)),
        Column("created_at", LocalDateTime, nullable=False),
        Column("expires_at", LocalDateTime),
        Column("max_uses", Integer),
        Column("uses", Integer, nullable=False, default=0),
        Column("revoked", Boolean, nullable=False, default=False),
        Column("revoked_by", String(64)),
        Column("last_used_at", LocalDateTime),
        Index("ix_jig_links_record", "app", "on_entity", "record_id"),
    )
    uses = Table(
        "jig_link_uses", md,
        Column("id", ID, primary_key=True, autoincrement=True),
        Column("link_id", BigInteger, nullable=False),
        Column("app", String(48), nullable=False),
        Column("entity", String(48), nullable=False),
        Column("record_id", BigInteger, nullable=False),
        Column("version", Integer),
        Column("action", String(48), nullable=False),
        Column("worker", String(64)),
        Column("address", String(64)),
        Column("at", LocalDateTime, nullable=False),
        Index("ix_jig_link_uses_record", "app", "entity", "record_id", "version"),
    )
    hits = Table(
        "jig_link_hits", md,
        Column("key", String(120), primary_key=True),
        Column("window", BigInteger, primary_key=True),
        Column("count", Integer, nullable=False),
    )
    pins = Table(
        "jig_link_pins", md,
        Column("username", String(64), primary_key=True),
        Column("pin_hash", String(256), nullable=False),
        Column("updated_at", LocalDateTime, nullable=False),
    )
    return [links, uses, hits, pins]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Resolved:
    row: dict[str, Any]
    link: LinkDef


class LinkStore(LinkIssuer):
    def __init__(self, rt: Any, secret: str):
        if not secret:
            raise RuntimeError("shared links need a secret key (JIG_SECRET_KEY)")
        self.rt = rt
        self.secret = secret.encode()
        sys = rt.tables.system
        self.links, self.uses, self.hits, self.pins = (sys["jig_links"], sys["jig_link_uses"], sys["jig_link_hits"],
                                                       sys["jig_link_pins"])

    # ---- tokens ------------------------------------------------------------

    def _token(self, link_id: int, nonce: str) -> str:
        mac = hmac.new(self.secret, f"jig-link:{link_id}:{nonce}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode()[:TOKEN_CHARS]

    def token_of(self, row: dict[str, Any]) -> str:
        return self._token(int(row["id"]), row["nonce"])

    def definition(self, app: str, name: str) -> LinkDef | None:
        a = self.rt.apps.get(app)
        return a.sections.get("links", {}).get(name) if a else None

    def issue(self, conn: Connection, link: LinkDef, record_id: int, username: str | None, *,
              expires_hours: int | None = -1, max_uses: int | None = -1) -> dict[str, Any]:
        now = clock.now()
        hours = link.expires_hours if expires_hours == -1 else expires_hours
        nonce = secrets.token_hex(16)  # 128 random bits
        row = {"app": link.app, "name": link.name, "on_entity": link.on, "record_id": int(record_id),
               "nonce": nonce, "token_hash": "pending-" + secrets.token_hex(24), "created_by": username,
               "created_at": now, "expires_at": now + dt.timedelta(hours=hours) if hours else None,
               "max_uses": link.uses if max_uses == -1 else max_uses, "uses": 0, "revoked": False}
        link_id = int(conn.execute(self.links.insert().values(**row)).inserted_primary_key[0])
        token = self._token(link_id, nonce)
        conn.execute(update(self.links).where(self.links.c.id == link_id).values(token_hash=hash_token(token)))
        return {**row, "id": link_id, "token_hash": hash_token(token)}

    def _live(self, now: dt.datetime) -> Any:
        c = self.links.c
        return and_(c.revoked.is_(False), or_(c.expires_at.is_(None), c.expires_at > now),
                    or_(c.max_uses.is_(None), c.uses < c.max_uses))

    def reuse_or_issue(self, conn: Connection, link: LinkDef, record_id: int, username: str | None) -> dict[str, Any]:
        """The record's newest live link of this definition, or a new one (travellers, SMS)."""
        c = self.links.c
        now = clock.now()
        soon = now + dt.timedelta(days=1)
        row = conn.execute(select(self.links).where(
            c.app == link.app, c.name == link.name, c.record_id == int(record_id), self._live(now),
            or_(c.expires_at.is_(None), c.expires_at > soon)).order_by(c.id.desc()).limit(1)).mappings().first()
        return dict(row) if row else self.issue(conn, link, record_id, username)

    def grant(self, res: Resolved) -> LinkGrant:
        lk = res.link
        ent = self.rt.apps[lk.app].entities[lk.entity]
        return LinkGrant(link_id=int(res.row["id"]), name=lk.name, entity=ent.key,
                         record_id=None if lk.creates else int(res.row["record_id"]),
                         read=frozenset(lk.show) | frozenset(lk.edit), write=frozenset(lk.edit),
                         transitions=frozenset(lk.transitions), create=lk.creates)

    def actor(self, res: Resolved, worker: dict[str, str] | None, lg: str = "zh") -> Actor:
        """Who acts through a link: the picked user (or link-<id>), no roles, via link, with the link's grant."""
        name = worker["username"] if worker and worker.get("username") else f"link-{res.row['id']}"
        display = (worker or {}).get("name") or pick(res.link.label, lg)
        return Actor(username=name[:64], roles=frozenset(), display_name=display[:128], via="link", language=lg,
                     link=self.grant(res))

    def of_record(self, app: str, on_entity: str, record_id: int) -> list[dict[str, Any]]:
        c = self.links.c
        with self.rt.db.read() as conn:
            rows = conn.execute(select(self.links).where(c.app == app, c.on_entity == on_entity,
                                                         c.record_id == record_id).order_by(c.id.desc()).limit(200))
            return [dict(r) for r in rows.mappings()]

    def get(self, link_id: int) -> dict[str, Any] | None:
        with self.rt.db.read() as conn:
            row = conn.execute(select(self.links).where(self.links.c.id == link_id)).mappings().first()
        return dict(row) if row else None

    def revoke(self, link_id: int, username: str) -> None:
        with self.rt.db.write() as conn:
            conn.execute(update(self.links).where(self.links.c.id == link_id).values(revoked=True,
                                                                                     revoked_by=username))

    def resolve(self, token: str) -> Resolved | None:
        """The live link for a token, or None (unknown, tampered, revoked, expired, used up, definition gone)."""
        if not isinstance(token, str) or len(token) != TOKEN_CHARS:
            return None
        with self.rt.db.read(snapshot=False) as conn:
            row = conn.execute(select(self.links).where(self.links.c.token_hash == hash_token(token),
                                                        self._live(clock.now()))).mappings().first()
        if row is None or not hmac.compare_digest(self.token_of(dict(row)), token):
            return None
        link = self.definition(row["app"], row["name"])
        return Resolved(dict(row), link) if link is not None else None

    def count_use(self, conn: Connection, row: dict[str, Any], *, entity: str, record_id: int, version: int | None,
                  action: str, worker: str | None, address: str | None) -> bool:
        """Count one use in the write's transaction; False when the link died meanwhile (used up, revoked)."""
        now = clock.now()
        n = conn.execute(update(self.links).where(self.links.c.id == row["id"], self._live(now))
                         .values(uses=self.links.c.uses + 1, last_used_at=now)).rowcount
        if not n:
            return False
        conn.execute(self.uses.insert().values(link_id=row["id"], app=row["app"], entity=entity,
                                               record_id=record_id, version=version, action=action[:48],
                                               worker=(worker or "")[:64] or None, address=(address or "")[:64],
                                               at=now))
        return True

    def uses_of(self, app: str, entity: str, record_id: int) -> dict[int, dict[str, Any]]:
        """Link uses of a record by the version they wrote (to name link and worker in the history)."""
        u, lk = self.uses.c, self.links.c
        with self.rt.db.read() as conn:
            rows = conn.execute(select(u.version, u.worker, u.link_id, lk.name).join(
                self.links, lk.id == u.link_id).where(u.app == app, u.entity == entity, u.record_id == record_id)
                .limit(2000)).mappings()
            return {int(r["version"] or 0): dict(r) for r in rows}

    # ---- rate limits and challenges ----------------------------------------

    def hit(self, key: str, limit: int, *, window_seconds: int = 60) -> bool:
        """Count a request against ``key``; False when it is over ``limit`` in the current window."""
        window = int(clock.now().timestamp()) // window_seconds
        h = self.hits.c
        with self.rt.db.write() as conn:
            n = conn.execute(update(self.hits).where(h.key == key[:120], h.window == window)
                             .values(count=h.count + 1)).rowcount
            if not n:
                try:
                    with conn.begin_nested():
                        conn.execute(self.hits.insert().values(key=key[:120], window=window, count=1))
                    conn.execute(delete(self.hits).where(h.key == key[:120], h.window < window - 60))
                except IntegrityError:
                    conn.execute(update(self.hits).where(h.key == key[:120], h.window == window)
                                 .values(count=h.count + 1))
            count = conn.execute(select(h.count).where(h.key == key[:120], h.window == window)).scalar_one()
        return int(count) <= limit

    def count(self, key: str, *, window_seconds: int = 60) -> int:
        window = int(clock.now().timestamp()) // window_seconds
        h = self.hits.c
        with self.rt.db.read(snapshot=False) as conn:
            return int(conn.execute(select(h.count).where(h.key == key[:120], h.window == window)).scalar() or 0)

    def claim(self, conn: Connection, key: str) -> bool:
        """Mark ``key`` (a form's submit id) as used in the write's transaction; False when it was."""
        try:
            with conn.begin_nested():
                conn.execute(self.hits.insert().values(key=key[:120], window=0, count=1))
        except IntegrityError:
            return False
        return True

    def challenge(self, token_hash: str) -> dict[str, Any]:
        a, b = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
        # the expiry carries a random nonce: two pages with the same sum in the same second differ
        exp = f"{int(clock.now().timestamp()) + CHALLENGE_SECONDS}.{secrets.token_hex(8)}"
        return {"question": f"{a} + {b} = ?", "exp": exp, "sig": self._challenge_sig(token_hash, a + b, exp)}

    def _challenge_sig(self, token_hash: str, answer: int, exp: str) -> str:
        return hmac.new(self.secret, f"jig-challenge:{token_hash}:{answer}:{exp}".encode(),
                        hashlib.sha256).hexdigest()[:32]

    def check_challenge(self, conn: Connection, token_hash: str, data: Any) -> bool:
        """A right answer, signed for this link, not expired and not used before (claimed in ``conn``)."""
        if not isinstance(data, dict):
            return False
        exp, sig = str(data.get("exp"))[:40], str(data.get("sig"))
        try:
            answer, until = int(str(data.get("answer"))[:6]), int(exp.split(".")[0][:12])
        except ValueError:
            return False
        if until < int(clock.now().timestamp()) or len(sig) != 32:
            return False
        if not hmac.compare_digest(self._challenge_sig(token_hash, answer, exp), sig):
            return False
        return self.claim(conn, "challenge:" + sig)

    def page_csrf(self, token_hash: str) -> str:
        return hmac.new(self.secret, f"jig-link-csrf:{token_hash}".encode(), hashlib.sha256).hexdigest()[:32]

    # ---- PINs ----------------------------------------------------------------

    def set_pin(self, username: str, pin: str) -> None:
        with self.rt.db.write() as conn:
            conn.execute(delete(self.pins).where(self.pins.c.username == username))
            conn.execute(self.pins.insert().values(username=username, pin_hash=generate_password_hash(pin),
                                                   updated_at=clock.now()))

    def pin_ok(self, username: str, pin: str) -> bool:
        with self.rt.db.read() as conn:
            h = conn.execute(select(self.pins.c.pin_hash).where(self.pins.c.username == username)).scalar()
        return bool(h) and check_password_hash(h, pin)

    def workers(self, roles: list[str]) -> list[dict[str, str]]:
        """Active users with one of ``roles``: the names a link's person picks from."""
        return [{"username": u["username"], "name": u["display_name"] or u["username"]}
                for u in self.rt.users.all() if u["active"] and set(u["roles"] or []) & set(roles)
                and u["username"] != "system"][:300]
