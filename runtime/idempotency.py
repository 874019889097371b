"""POST with an ``Idempotency-Key``: a client retrying after a dropped connection gets the first answer,
not a second record.

Keys belong to the user who sent them and are kept a day. The key, a fingerprint of the
request (path and body) and the answer are stored in ``jig_idempotency`` in the same
transaction as the record, so:

* the same key with the same request answers the stored answer (same status, same body, header
  ``Idempotent-Replayed: true``) and creates nothing;
* the same key with a different request is refused (422 ``idempotency_key_reused``);
* two copies sent at once create one record: the second waits for the first's transaction on the
  key's unique index (PostgreSQL) or the write lock (SQLite), then answers the stored answer;
* a request that fails (validation, permission...) stores nothing: the client may fix it and send
  it again with the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from . import clock
from .errors import BadRequest, RecordError
from .messages import t

HEADER = "Idempotency-Key"
KEEP = dt.timedelta(days=1)
KEY = re.compile(r"^[\x21-\x7e]{1,200}$")  # visible ASCII, as UUIDs and the usual client libraries send


class KeyReused(RecordError):
    status = 422
    code = "idempotency_key_reused"


def fingerprint(path: str, body: Any) -> str:
    text = json.dumps({"path": path, "body": body}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Idempotency:
    def __init__(self, db: Any, table: Table):
        self.db = db
        self.table = table

    def run(self, scope: str, key: str, path: str, body: Any, make: Callable[[Connection], tuple[int, str]],
            lang: str = "zh") -> tuple[int, str, bool]:
        """Answer a keyed request: ``make(conn)`` (status, JSON text) runs once per key and request;
        returns (status, text, replayed)."""
        if not KEY.match(key):
            raise BadRequest(t("idempotency_key_bad", lang, header=HEADER))
        t_ = self.table
        scope = scope[:64]
        fp = fingerprint(path, body)
        now = clock.now()
        insert = postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert
        with self.db.write() as conn:
            conn.execute(delete(t_).where(t_.c.created_at < now - KEEP))
            mine = conn.execute(insert(t_).values(scope=scope, key=key, fingerprint=fp, status=0, response="",
                                                  created_at=now)
                                .on_conflict_do_nothing(index_elements=["scope", "key"]).returning(t_.c.key)).first()
            if mine is None:
                row = conn.execute(select(t_.c.fingerprint, t_.c.status, t_.c.response).where(
                    t_.c.scope == scope, t_.c.key == key)).one()
                if row.fingerprint != fp:
                    raise KeyReused(t("idempotency_key_reused", lang, header=HEADER))
                return int(row.status), str(row.response), True
            status, text = make(conn)
            conn.execute(t_.update().where(t_.c.scope == scope, t_.c.key == key).values(status=status, response=text))
        return status, text, False
