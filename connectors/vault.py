"""Connector secrets typed in the browser: stored encrypted in the database, never shown again.

A definition refers to a stored secret as ``${secret:name}`` (``name`` like an identifier); the
value lives only in ``jig_connector_secrets``, encrypted with a key from the environment
(``JIG_SECRETS_KEY``, any long random text). Without that key nothing is stored (the caller gets a
clear 4xx) and a connector that needs a stored secret fails with one clear line. The API answers
only who set a secret and when.

Encryption is authenticated, from the standard library (``cryptography`` is not among Jig's
dependencies): an encryption key and a MAC key are derived from ``JIG_SECRETS_KEY`` with
HMAC-SHA256; the text is XORed with an HMAC-SHA256 keystream (counter mode, a random 128-bit nonce
per value) and the nonce and ciphertext are authenticated with HMAC-SHA256 (encrypt-then-MAC), so a
wrong key or a changed row is detected, never decrypted into garbage.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
from typing import Any

from sqlalchemy import Column, Connection, MetaData, String, Table, Text, select

from runtime import clock
from runtime.sqltypes import LocalDateTime

from .template import SECRET, Stored

KEY_ENV = "JIG_SECRETS_KEY"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
VERSION = b"jig1"
MAX_VALUE = 4096


class SecretError(Exception):
    """No key configured, a wrong key, or a changed row: one clear line for the operator."""


def define_table(md: MetaData) -> Table:
    return Table(
        "jig_connector_secrets", md,
        Column("name", String(64), primary_key=True),
        Column("ciphertext", Text, nullable=False),
        Column("set_at", LocalDateTime, nullable=False),
        Column("set_by", String(64)),
    )


def configured() -> bool:
    return bool(os.environ.get(KEY_ENV, "").strip())


def _keys() -> tuple[bytes, bytes]:
    raw = os.environ.get(KEY_ENV, "").strip()
    if not raw:
        raise SecretError(f"{KEY_ENV} is not set: stored connector secrets cannot be encrypted or read")
    master = hashlib.sha256(raw.encode()).digest()
    return (hmac.new(master, b"jig secrets: encryption", hashlib.sha256).digest(),
            hmac.new(master, b"jig secrets: authentication", hashlib.sha256).digest())


def _stream(key: bytes, nonce: bytes, n: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hmac.new(key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        counter += 1
    return bytes(out[:n])


def encrypt(plain: str) -> str:
    enc, mac = _keys()
    data = plain.encode()
    nonce = secrets.token_bytes(16)
    body = bytes(a ^ b for a, b in zip(data, _stream(enc, nonce, len(data)), strict=True))
    tag = hmac.new(mac, VERSION + nonce + body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(VERSION + nonce + body + tag).decode()


def decrypt(token: str) -> str:
    enc, mac = _keys()
    try:
        blob = base64.urlsafe_b64decode(token.encode())
    except ValueError:
        raise SecretError("a stored secret is unreadable") from None
    if len(blob) < 4 + 16 + 32 or blob[:4] != VERSION:
        raise SecretError("a stored secret is unreadable")
    nonce, body, tag = blob[4:20], blob[20:-32], blob[-32:]
    if not hmac.compare_digest(tag, hmac.new(mac, VERSION + nonce + body, hashlib.sha256).digest()):
        raise SecretError(f"a stored secret does not match {KEY_ENV} (was the key changed?)")
    return bytes(a ^ b for a, b in zip(body, _stream(enc, nonce, len(body)), strict=True)).decode()


def put(rt: Any, name: str, value: str, user: str | None) -> dict[str, Any]:
    """Encrypt and store ``value`` under ``name`` (replacing it); returns what may be shown."""
    if not NAME.match(name):
        raise ValueError("a secret's name is lower-case letters, digits and _ (e.g. kingdee_app_secret)")
    if not value or len(value) > MAX_VALUE:
        raise ValueError(f"a secret is 1 to {MAX_VALUE} characters")
    cipher = encrypt(value)
    t = rt.tables.system["jig_connector_secrets"]
    now = clock.now()
    with rt.db.write() as conn:
        conn.execute(t.delete().where(t.c.name == name))
        conn.execute(t.insert().values(name=name, ciphertext=cipher, set_at=now, set_by=user))
    return {"name": name, "set_at": now.isoformat(), "set_by": user}


def listing(rt: Any) -> list[dict[str, Any]]:
    """Every stored secret: its name, when and by whom it was set; never the value."""
    t = rt.tables.system["jig_connector_secrets"]
    with rt.db.read() as conn:
        return [{"name": n, "set_at": at.isoformat() if isinstance(at, dt.datetime) else at, "set_by": by}
                for n, at, by in conn.execute(select(t.c.name, t.c.set_at, t.c.set_by).order_by(t.c.name))]


def names_in(raw: Any) -> set[str]:
    return set(SECRET.findall(json.dumps(raw, ensure_ascii=False, default=str)))


def load(rt: Any, raw: Any, conn: Connection | None = None) -> Stored:
    """The stored secrets ``raw`` refers to, decrypted; any that cannot be read are left out with the
    reason (using one fails with that reason, so a connector not needing them still works)."""
    wanted = names_in(raw)
    if not wanted:
        return Stored()
    t = rt.tables.system["jig_connector_secrets"]
    q = select(t.c.name, t.c.ciphertext).where(t.c.name.in_(sorted(wanted)))
    if conn is None:
        with rt.db.read() as c:
            found = c.execute(q).all()
    else:
        found = conn.execute(q).all()
    out = Stored()
    for n, c in found:
        try:
            out[n] = decrypt(c)
        except SecretError as exc:
            out.problem = str(exc)
    if not configured():
        out.problem = f"{KEY_ENV} is not set"
    return out
