"""The hand-written baseline for ``work_order_tracking.operation``: Flask + SQLAlchemy Core on Jig's tables.

Same shape as bench/support/batch.py (see its docstring for the auth, list and cursor conventions). Per request:
  * get / list (``state``, ``operator``, ``state__in``, ``planned_end__lt``, ``q`` on name and workstation,
    ``limit``, ``after``; sort ``created_at DESC, id DESC``), the same JSON as Jig (decimals as exact strings).
  * create: coercion and validation of the fields a supervisor sends (text lengths, seq >= 1, decimals
    scale 2 >= 0, ISO datetimes, abnormal_reason option, the check planned_end >= planned_start, the
    work-order link-exists SELECT, the operator user-exists SELECT, readonly/system/unknown refused),
    defect_qty default 0, INSERT, the work order's two roll-ups (op_count, reported_qty) recomputed in SQL,
    history row. One transaction.
  * transition ``start``: row lock (PostgreSQL), version and state checks, the guard (the work order is
    released or in progress), actual_start = now, operator = coalesce(operator, the user), UPDATE, the
    work order's roll-ups, history row with the diff.
NOT done: the event/rule dispatch (no event rule of the shipped app fires on operations; Jig still asks), the
record event, per-user read filters, the general filter language, localised messages.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from .engine import baseline_engine
from .shipped import config

FIELDS = ("work_order", "seq", "name", "workstation", "operator", "planned_qty", "good_qty", "defect_qty",
          "planned_start", "planned_end", "actual_start", "actual_end", "abnormal_reason", "note", "photos")
DECIMALS = ("planned_qty", "good_qty", "defect_qty")
TIMES = ("planned_start", "planned_end", "actual_start", "actual_end")
REASONS = ("material_shortage", "equipment_failure", "quality_issue", "other")
READONLY = {"actual_start", "actual_end", "photos"}
LIST_ARGS = {"state", "operator", "state__in", "planned_end__lt", "q", "limit", "after"}


def baseline_app() -> Any:  # noqa: C901 - one self-contained hand-written app
    from zoneinfo import ZoneInfo

    from flask import Flask, jsonify, request
    from sqlalchemy import (
        BigInteger,
        Column,
        DateTime,
        Integer,
        MetaData,
        Numeric,
        String,
        Table,
        Text,
        and_,
        func,
        or_,
        select,
    )

    cfg = config()
    zone = ZoneInfo(cfg["timezone"])
    engine, sqlite = baseline_engine(cfg["database_url"])

    ts_type = String(19) if sqlite else DateTime()
    dec_type = BigInteger if sqlite else Numeric(18, 2, asdecimal=True)
    md = MetaData()
    ops = Table(cfg["op_table"], md, Column("id", Integer, primary_key=True), Column("state", String(64)),
                Column("version", Integer), Column("created_at", ts_type), Column("created_by", String(64)),
                Column("updated_at", ts_type), Column("updated_by", String(64)), Column("work_order", BigInteger),
                Column("seq", BigInteger), Column("name", String(60)), Column("workstation", String(60)),
                Column("operator", String(64)), *(Column(d, dec_type) for d in DECIMALS),
                *(Column(t, ts_type) for t in TIMES), Column("abnormal_reason", String(64)),
                Column("note", Text), Column("photos", Text))
    orders = Table(cfg["wo_table"], md, Column("id", Integer, primary_key=True), Column("state", String(64)),
                   Column("op_count", BigInteger), Column("reported_qty", dec_type))

    def rollups(conn: Any, wo: Any) -> None:
        """The work order's roll-ups, recomputed in SQL as the app's definition declares them."""
        mine = ops.c.work_order == wo
        conn.execute(orders.update().where(orders.c.id == wo).values(
            op_count=select(func.count()).where(mine).scalar_subquery(),
            reported_qty=select(func.sum(ops.c.good_qty)).where(and_(mine, ops.c.state == "done")).scalar_subquery()))
    users_t = Table(cfg["users_table"], md, Column("id", Integer, primary_key=True), Column("username", String(64)))
    hist = Table(cfg["history_table"], md, Column("id", Integer, primary_key=True), Column("app", String(64)),
                 Column("entity", String(64)), Column("record_id", BigInteger), Column("action", String(16)),
                 Column("transition", String(64)), Column("via", String(16)), Column("username", String(64)),
                 Column("at", ts_type), Column("version", Integer), Column("diff", Text))
    users = cfg["tokens"]
    app = Flask("baseline-operation")
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    def error(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> Any:
        return jsonify({"error": {"code": code, "message": message, "fields": fields or {}}}), status

    def user() -> tuple[dict[str, Any] | None, Any]:
        header = request.headers.get("Authorization", "")
        u = users.get(hashlib.sha256(header[7:].strip().encode()).hexdigest()) \
            if header.startswith("Bearer ") else None
        if u is None:
            return None, error(401, "unauthorized", "Sign in or send a valid API token")
        if not {"supervisor", "manager", "admin"} & set(u["roles"]):
            return None, error(403, "forbidden", "You may not read operations")
        return u, None

    def as_dt(v: Any) -> dt.datetime | None:
        return dt.datetime.fromisoformat(v) if isinstance(v, str) else v

    def ts(v: Any) -> str | None:
        v = as_dt(v)
        return None if v is None else v.replace(tzinfo=zone).isoformat()

    def dec(v: Any) -> str | None:
        if v is None:
            return None
        return format(Decimal(v).scaleb(-2) if sqlite else v, "f")

    def out(r: Any) -> dict[str, Any]:
        d = {"id": r["id"], "state": r["state"], "version": r["version"], "created_at": ts(r["created_at"]),
             "created_by": r["created_by"], "updated_at": ts(r["updated_at"]), "updated_by": r["updated_by"]}
        for f in FIELDS:
            v = r[f]
            d[f] = dec(v) if f in DECIMALS else ts(v) if f in TIMES else \
                (json.loads(v) if isinstance(v, str) else v) if f == "photos" else v
        return d

    def now() -> dt.datetime:
        return dt.datetime.now(zone).replace(tzinfo=None, microsecond=0)

    def stamp(v: dt.datetime | None) -> Any:
        return v.strftime("%Y-%m-%d %H:%M:%S") if (sqlite and v is not None) else v

    def history(conn: Any, rid: int, action: str, username: str, at: dt.datetime, version: int,
                changes: dict[str, Any], transition: str | None = None) -> None:
        conn.execute(hist.insert(), {"app": "work_order_tracking", "entity": "operation", "record_id": rid,
                                     "action": action, "transition": transition, "via": "api", "username": username,
                                     "at": stamp(at), "version": version,
                                     "diff": json.dumps(changes, ensure_ascii=False, separators=(",", ":"))})

    def moment(v: Any) -> dt.datetime:
        if isinstance(v, str):
            try:
                t = dt.datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
                return (t.astimezone(zone).replace(tzinfo=None) if t.tzinfo else t).replace(microsecond=0)
            except ValueError:
                pass
        raise ValueError("Must be a date and time")

    @app.get("/api/work_order_tracking/operation/<int:rid>")
    def get_op(rid: int) -> Any:
        _, err = user()
        if err:
            return err
        with engine.connect() as conn:
            row = conn.execute(select(ops).where(ops.c.id == rid)).mappings().first()
        return error(404, "not_found", "Record not found") if row is None else jsonify(out(row))

    @app.get("/api/work_order_tracking/operation")
    def list_ops() -> Any:
        _, err = user()
        if err:
            return err
        args = request.args
        problems = {k: "No such field" for k in args if k not in LIST_ARGS}
        q = select(ops)
        for key in ("state", "operator"):
            if key in args:
                q = q.where(ops.c[key] == args[key])
        if "state__in" in args:
            q = q.where(ops.c.state.in_([s.strip() for s in args["state__in"].split(",")]))
        if "planned_end__lt" in args:
            try:
                q = q.where(ops.c.planned_end < stamp(moment(args["planned_end__lt"])))
            except ValueError:
                problems["planned_end__lt"] = "Must be a date and time"
        if args.get("q"):
            pat = "%" + args["q"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            if sqlite:  # LIKE ignores ASCII case by itself
                q = q.where(or_(ops.c.name.like(pat, escape="\\"), ops.c.workstation.like(pat, escape="\\")))
            else:  # as Jig does, ignoring case on PostgreSQL too
                pat = pat.lower()
                q = q.where(or_(func.lower(ops.c.name).like(pat, escape="\\"), func.lower(ops.c.workstation).like(pat, escape="\\")))
        try:
            limit = max(1, min(500, int(args.get("limit") or 20)))
        except ValueError:
            problems["limit"] = "Must be a whole number"
            limit = 20
        if args.get("after"):
            try:
                at, rid = json.loads(base64.urlsafe_b64decode(args["after"].encode() + b"==="))
                t = stamp(moment(at))
                q = q.where(or_(ops.c.created_at < t, and_(ops.c.created_at == t, ops.c.id < int(rid))))
            except (ValueError, TypeError, IndexError, KeyError):
                problems["after"] = "Bad cursor"
        if problems:
            return error(400, "bad_request", "Bad filter", problems)
        with engine.connect() as conn:
            rows = conn.execute(q.order_by(ops.c.created_at.desc(), ops.c.id.desc()).limit(limit + 1)).mappings().all()
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = None
        if more and rows:
            cursor = json.dumps([ts(rows[-1]["created_at"]), rows[-1]["id"]], separators=(",", ":"))
            nxt = base64.urlsafe_b64encode(cursor.encode()).decode().rstrip("=")
        return jsonify({"items": [out(r) for r in rows], "next": nxt})

    def text(v: Any, n: int) -> str:
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise ValueError("Must be text")
        s = str(v).strip()
        if len(s) > n:
            raise ValueError(f"At most {n} characters")
        return s

    def number(v: Any, scale: int) -> Decimal:
        if isinstance(v, bool):
            raise ValueError("Must be a number")
        try:
            d = Decimal(str(v).strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError("Must be a number") from None
        if not d.is_finite() or d.quantize(Decimal(1).scaleb(-scale)) != d:
            raise ValueError("Must be a number")
        return d.quantize(Decimal(1).scaleb(-scale))

    def reason(v: Any) -> str:
        if str(v).strip() not in REASONS:
            raise ValueError("Choose one of the options")
        return str(v).strip()

    parsers = {"work_order": lambda v: int(number(v["id"] if isinstance(v, dict) else v, 0)),
               "seq": lambda v: int(number(v, 0)), "name": lambda v: text(v, 60), "workstation": lambda v: text(v, 60),
               "operator": lambda v: text(v, 64), "planned_qty": lambda v: number(v, 2),
               "good_qty": lambda v: number(v, 2), "defect_qty": lambda v: number(v, 2), "planned_start": moment,
               "planned_end": moment, "abnormal_reason": reason, "note": lambda v: text(v, 100000)}

    @app.post("/api/work_order_tracking/operation")
    def create_op() -> Any:  # noqa: C901 - validation, insert, history
        u, err = user()
        if err:
            return err
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return error(400, "bad_request", "The request body must be a JSON object")
        fields: dict[str, str] = {}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key in ("id", "version", "created_at", "created_by", "updated_at", "updated_by", "state"):
                fields[key] = "System field; it cannot be changed"
            elif key not in FIELDS:
                fields[key] = "No such field"
            elif key in READONLY:
                if raw not in (None, "", []):
                    fields[key] = "Read-only"
            elif raw is None or (isinstance(raw, str) and not raw.strip()):
                values[key] = None
            else:
                try:
                    values[key] = parsers[key](raw)
                except ValueError as exc:
                    fields[key] = str(exc)
        if values.get("defect_qty") is None:
            values["defect_qty"] = Decimal("0.00")
        if values.get("seq") is not None and values["seq"] < 1:
            fields.setdefault("seq", "At least 1")
        for d in DECIMALS:
            if values.get(d) is not None and values[d] < 0:
                fields.setdefault(d, "At least 0")
        for key in ("work_order", "name"):
            if values.get(key) is None and key not in fields:
                fields[key] = "Required"
        if values.get("planned_end") and values.get("planned_start") and values["planned_end"] < values["planned_start"]:
            fields.setdefault("planned_end", "Planned end cannot be before planned start")
        at = now()
        with engine.begin() as conn:
            if values.get("work_order") is not None and "work_order" not in fields and conn.execute(
                    select(orders.c.id).where(orders.c.id == values["work_order"])).first() is None:
                fields["work_order"] = "The linked record does not exist"
            if values.get("operator") and "operator" not in fields and conn.execute(
                    select(users_t.c.id).where(users_t.c.username == values["operator"])).first() is None:
                fields["operator"] = "No such user"
            if fields:
                return error(422, "validation_failed", f"{len(fields)} field(s) need attention", fields)
            row = {k: values.get(k) for k in FIELDS}
            row.update(state="pending", version=1, created_at=stamp(at), created_by=u["username"],  # type: ignore[index]
                       updated_at=stamp(at), updated_by=u["username"])  # type: ignore[index]
            stored = dict(row)
            for d in DECIMALS:
                if sqlite and stored[d] is not None:
                    stored[d] = int(stored[d].scaleb(2))
            for t in TIMES:
                stored[t] = stamp(stored[t])
            row["id"] = int(conn.execute(ops.insert(), stored).inserted_primary_key[0])
            rollups(conn, stored["work_order"])
            result = out(stored | {"id": row["id"]})
            history(conn, row["id"], "create", u["username"], at, 1,  # type: ignore[index]
                    {k: [None, result[k]] for k in ("state", *FIELDS) if result[k] not in (None, [], "")})
        return jsonify(result), 201

    @app.post("/api/work_order_tracking/operation/<int:rid>/transitions/<name>")
    def transition(rid: int, name: str) -> Any:
        u, err = user()
        if err:
            return err
        if name != "start":
            return error(404, "not_found", "No such transition")
        try:
            version = int(request.args["version"])
        except (KeyError, ValueError):
            return error(400, "bad_request", "version must be a whole number", {"version": "Required"})
        at = now()
        with engine.begin() as conn:
            q = select(ops).where(ops.c.id == rid)
            row = conn.execute(q if sqlite else q.with_for_update()).mappings().first()
            if row is None:
                return error(404, "not_found", "Record not found")
            if row["version"] != version:
                return error(409, "stale", f"Changed by someone else (now version {row['version']})")
            if row["state"] != "pending":
                return error(409, "wrong_state", "Start is not possible in this state")
            if conn.execute(select(orders.c.state).where(orders.c.id == row["work_order"])).scalar() not in (
                    "released", "in_progress"):  # the start guard: not on an unreleased order
                return error(409, "guard_failed", "The work order is not released yet")
            new = {"state": "started", "version": version + 1, "updated_at": stamp(at),
                   "updated_by": u["username"], "actual_start": stamp(at),  # type: ignore[index]
                   "operator": row["operator"] or u["username"]}  # type: ignore[index]
            conn.execute(ops.update().where(ops.c.id == rid), new)
            rollups(conn, row["work_order"])
            after = {**row, **new}
            changes = {"state": ["pending", "started"], "actual_start": [None, ts(at)]}
            if row["operator"] is None:
                changes["operator"] = [None, new["operator"]]
            history(conn, rid, "transition", u["username"], at, version + 1,  # type: ignore[index]
                    changes, transition="start")
        return jsonify(out(after))

    return app
