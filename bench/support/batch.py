"""The hand-written baseline for ``outsourcing.batch``: Flask + SQLAlchemy Core on Jig's own tables.

What a careful developer would write by hand to serve the shipped batch entity with the same answers
(bench/crud.py checks that both answer alike before measuring). gunicorn calls ``baseline_app()``.

Does, per request:
  * auth: ``Authorization: Bearer`` -> sha256 -> {token hash: user} loaded at start; 401 otherwise; role
    planner/manager -> else 403.
  * get: one SELECT by id; ``days_late`` computed in Python (max(0, days from expected_return to the actual
    return or today)); the same JSON as Jig (keys, order, ISO dates, times with the zone's offset).
  * list: the filters the UI uses -- ``state``, ``partner``, ``state__in``, ``expected_return__lt``,
    ``q`` (LIKE on customer and product_no), ``limit``, ``after`` (Jig's cursor) -- anything else 400;
    sort ``created_at DESC, id DESC`` (the entity's list sort), ``next`` cursor.
  * create: the same coercion and validation for the fields a planner sends (text lengths, required,
    quantity >= 1 whole number, process option, ISO dates, ship_date default today, the check
    expected_return >= ship_date, partner link-exists SELECT, readonly/system/unknown fields refused), the
    naming series drawn from Jig's ``jig_naming`` counter (one atomic INSERT .. ON CONFLICT .. RETURNING),
    the INSERT, and a history row in ``jig_history`` with the same diff. One transaction.
  * transition ``start``: SELECT the row (FOR UPDATE on PostgreSQL), version check (409), state check
    (shipped -> processing, 409 otherwise), UPDATE state/version/updated_*, history row with the diff.
NOT done (Jig-only work that the ratio includes): the event rules (``partner_gets_link`` is evaluated by Jig
on every create; the bench's bodies leave ``sms_partner`` false, as the form does by default, so it sends
nothing on either side), the record event/hook dispatch, per-user read filters (partners' row scopes),
the general filter language, messages in the user's language, the definitions-revision check.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from typing import Any

from .engine import baseline_engine
from .shipped import config

FIELDS = ("customer", "product_no", "quantity", "partner", "process", "ship_date", "expected_return",
          "actual_return", "returned_qty", "qc_result", "photos", "remark", "sms_partner")
PROCESSES = ("plating", "painting", "heat_treatment", "machining", "anodizing", "polishing", "other")
WRITABLE = {"customer", "product_no", "quantity", "partner", "process", "ship_date", "expected_return", "remark",
            "sms_partner", "photos"}
LIST_ARGS = {"state", "partner", "state__in", "expected_return__lt", "q", "limit", "after"}


def baseline_app() -> Any:  # noqa: C901 - one self-contained hand-written app
    from zoneinfo import ZoneInfo

    from flask import Flask, jsonify, request
    from sqlalchemy import (
        BigInteger,
        Boolean,
        Column,
        Date,
        DateTime,
        Integer,
        MetaData,
        String,
        Table,
        Text,
        and_,
        bindparam,
        func,
        or_,
        select,
    )
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    cfg = config()
    zone = ZoneInfo(cfg["timezone"])
    engine, sqlite = baseline_engine(cfg["database_url"])

    ts_type = String(19) if sqlite else DateTime()
    date_type = String(10) if sqlite else Date()
    md = MetaData()
    batches = Table(cfg["batch_table"], md, Column("id", Integer, primary_key=True), Column("name", String(140)),
                    Column("state", String(64)), Column("version", Integer), Column("created_at", ts_type),
                    Column("created_by", String(64)), Column("updated_at", ts_type), Column("updated_by", String(64)),
                    Column("customer", String(100)), Column("product_no", String(60)), Column("quantity", BigInteger),
                    Column("partner", BigInteger), Column("process", String(64)), Column("ship_date", date_type),
                    Column("expected_return", date_type), Column("actual_return", ts_type),
                    Column("returned_qty", BigInteger), Column("qc_result", String(64)), Column("photos", Text),
                    Column("remark", Text), Column("sms_partner", Boolean))
    partners = Table(cfg["partner_table"], md, Column("id", Integer, primary_key=True))
    hist = Table(cfg["history_table"], md, Column("id", Integer, primary_key=True), Column("app", String(64)),
                 Column("entity", String(64)), Column("record_id", BigInteger), Column("action", String(16)),
                 Column("transition", String(64)), Column("via", String(16)), Column("username", String(64)),
                 Column("at", ts_type), Column("version", Integer), Column("diff", Text))
    naming_t = Table(cfg["naming_table"], md, Column("key", String(200), primary_key=True),
                     Column("value", BigInteger))
    users = cfg["tokens"]
    upsert = (sqlite_dialect.insert if sqlite else postgresql.insert)(naming_t).values(key=bindparam("k"), value=1)

    app = Flask("baseline")
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
        if not {"planner", "manager", "admin"} & set(u["roles"]):
            return None, error(403, "forbidden", "You may not read batches")
        return u, None

    def as_dt(v: Any) -> dt.datetime | None:
        return dt.datetime.fromisoformat(v) if isinstance(v, str) else v

    def as_date(v: Any) -> dt.date | None:
        return dt.date.fromisoformat(v[:10]) if isinstance(v, str) else v

    def ts(v: Any) -> str | None:
        v = as_dt(v)
        return None if v is None else v.replace(tzinfo=zone).isoformat()

    def short(sent: Any, back: Any) -> int:  # the computed short_qty: how many fewer came back
        return sent - back if back is not None and sent is not None and back < sent else 0

    def out(r: Any, today: dt.date) -> dict[str, Any]:
        due, ret = as_date(r["expected_return"]), as_dt(r["actual_return"])
        late = None if due is None else max(0, ((ret.date() if ret else today) - due).days)
        photos = r["photos"]
        return {"id": r["id"], "name": r["name"], "state": r["state"], "version": r["version"],
                "created_at": ts(r["created_at"]), "created_by": r["created_by"], "updated_at": ts(r["updated_at"]),
                "updated_by": r["updated_by"], "customer": r["customer"], "product_no": r["product_no"],
                "quantity": r["quantity"], "partner": r["partner"], "process": r["process"],
                "ship_date": str(as_date(r["ship_date"])) if r["ship_date"] else None,
                "expected_return": str(due) if due else None, "actual_return": ts(ret),
                "returned_qty": r["returned_qty"], "qc_result": r["qc_result"],
                "photos": json.loads(photos) if isinstance(photos, str) else photos, "remark": r["remark"],
                "sms_partner": None if r["sms_partner"] is None else bool(r["sms_partner"]), "days_late": late,
                "short_qty": short(r["quantity"], r["returned_qty"])}

    def today() -> dt.date:
        return dt.datetime.now(zone).date()

    def now() -> dt.datetime:
        return dt.datetime.now(zone).replace(tzinfo=None, microsecond=0)

    def stamp(v: dt.datetime) -> Any:
        return v.strftime("%Y-%m-%d %H:%M:%S") if sqlite else v

    def write_history(conn: Any, record_id: int, action: str, username: str, at: dt.datetime, version: int,
                      changes: dict[str, Any], transition: str | None = None) -> None:
        conn.execute(hist.insert(), {"app": "outsourcing", "entity": "batch", "record_id": record_id,
                                     "action": action, "transition": transition, "via": "api", "username": username,
                                     "at": stamp(at), "version": version,
                                     "diff": json.dumps(changes, ensure_ascii=False, separators=(",", ":"))})

    @app.get("/api/outsourcing/batch/<int:record_id>")
    def get_batch(record_id: int) -> Any:
        _, err = user()
        if err:
            return err
        with engine.connect() as conn:
            row = conn.execute(select(batches).where(batches.c.id == record_id)).mappings().first()
        if row is None:
            return error(404, "not_found", "Record not found")
        return jsonify(out(row, today()))

    @app.get("/api/outsourcing/batch")
    def list_batches() -> Any:
        _, err = user()
        if err:
            return err
        args = request.args
        problems = {k: "No such field" for k in args if k not in LIST_ARGS}
        q = select(batches)
        if "state" in args:
            q = q.where(batches.c.state == args["state"])
        if "state__in" in args:
            q = q.where(batches.c.state.in_([s.strip() for s in args["state__in"].split(",")]))
        if "partner" in args:
            try:
                q = q.where(batches.c.partner == int(args["partner"]))
            except ValueError:
                problems["partner"] = "Must be a whole number"
        if "expected_return__lt" in args:
            try:
                d = dt.date.fromisoformat(args["expected_return__lt"])
                q = q.where(batches.c.expected_return < (d.isoformat() if sqlite else d))
            except ValueError:
                problems["expected_return__lt"] = "Must be a date (YYYY-MM-DD)"
        if args.get("q"):
            pat = "%" + args["q"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            if sqlite:  # LIKE ignores ASCII case by itself
                q = q.where(or_(batches.c.customer.like(pat, escape="\\"), batches.c.product_no.like(pat, escape="\\")))
            else:  # as Jig does, ignoring case on PostgreSQL too
                pat = pat.lower()
                q = q.where(or_(func.lower(batches.c.customer).like(pat, escape="\\"), func.lower(batches.c.product_no).like(pat, escape="\\")))
        try:
            limit = max(1, min(500, int(args.get("limit") or 20)))
        except ValueError:
            problems["limit"] = "Must be a whole number"
            limit = 20
        if args.get("after"):
            try:
                at, rid = json.loads(base64.urlsafe_b64decode(args["after"].encode() + b"==="))
                t = dt.datetime.fromisoformat(at).astimezone(zone).replace(tzinfo=None)
                t_db = stamp(t)
                q = q.where(or_(batches.c.created_at < t_db, and_(batches.c.created_at == t_db,
                                                                   batches.c.id < int(rid))))
            except (ValueError, TypeError, IndexError, KeyError):
                problems["after"] = "Bad cursor"
        if problems:
            return error(400, "bad_request", "Bad filter", problems)
        day = today()
        with engine.connect() as conn:
            rows = conn.execute(q.order_by(batches.c.created_at.desc(), batches.c.id.desc())
                                .limit(limit + 1)).mappings().all()
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = None
        if more and rows:
            cursor = json.dumps([ts(rows[-1]["created_at"]), rows[-1]["id"]], separators=(",", ":"))
            nxt = base64.urlsafe_b64encode(cursor.encode()).decode().rstrip("=")
        return jsonify({"items": [out(r, day) for r in rows], "next": nxt})

    def text(v: Any, max_len: int) -> str:
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise ValueError("Must be text")
        s = str(v).strip()
        if len(s) > max_len:
            raise ValueError(f"At most {max_len} characters")
        return s

    def whole(v: Any) -> int:
        if isinstance(v, bool):
            raise ValueError("Must be a whole number")
        if isinstance(v, int):
            return v
        try:
            f = float(str(v).strip().replace(",", ""))
        except ValueError:
            raise ValueError("Must be a whole number") from None
        if not f.is_integer():
            raise ValueError("Must be a whole number")
        return int(f)

    def day_value(v: Any) -> dt.date:
        if isinstance(v, str):
            try:
                return dt.date.fromisoformat(v.strip().replace("/", "-")[:10])
            except ValueError:
                pass
        raise ValueError("Must be a date (YYYY-MM-DD)")

    def option(v: Any) -> str:
        if str(v).strip() not in PROCESSES:
            raise ValueError("Choose one of the options")
        return str(v).strip()

    def link(v: Any) -> int:
        return whole(v["id"] if isinstance(v, dict) and "id" in v else v)

    def boolean(v: Any) -> bool:
        if isinstance(v, bool):
            return v
        s = str(v).strip().lower()
        if s in ("1", "true", "yes", "on", "是"):
            return True
        if s in ("0", "false", "no", "off", "否"):
            return False
        raise ValueError("Must be true or false")

    parsers = {"customer": lambda v: text(v, 100), "product_no": lambda v: text(v, 60), "quantity": whole,
               "partner": link, "process": option, "ship_date": day_value, "expected_return": day_value,
               "remark": lambda v: text(v, 100000), "sms_partner": boolean}

    @app.post("/api/outsourcing/batch")
    def create_batch() -> Any:  # noqa: C901 - validation, naming, insert, history
        u, err = user()
        if err:
            return err
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return error(400, "bad_request", "The request body must be a JSON object")
        fields: dict[str, str] = {}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key in ("id", "version", "created_at", "created_by", "updated_at", "updated_by", "name", "state"):
                fields[key] = "System field; it cannot be changed"
            elif key not in FIELDS and key not in ("days_late", "short_qty"):
                fields[key] = "No such field"
            elif key not in WRITABLE or key == "photos":
                if raw not in (None, "", []):
                    fields[key] = "Read-only"
            elif raw is None or (isinstance(raw, str) and not raw.strip()):
                values[key] = None
            else:
                try:
                    values[key] = parsers[key](raw)
                except ValueError as exc:
                    fields[key] = str(exc)
        at = now()
        values.setdefault("sms_partner", False)
        if values.get("ship_date") is None:
            values["ship_date"] = at.date()
        if values.get("quantity") is not None and values["quantity"] < 1 and "quantity" not in fields:
            fields["quantity"] = "At least 1"
        for key in ("customer", "product_no", "quantity", "partner", "expected_return"):
            if values.get(key) is None and key not in fields:
                fields[key] = "Required"
        if values.get("expected_return") and values["expected_return"] < values["ship_date"]:
            fields.setdefault("expected_return", "Expected return cannot be before the ship date")
        with engine.begin() as conn:
            if values.get("partner") is not None and "partner" not in fields and conn.execute(
                    select(partners.c.id).where(partners.c.id == values["partner"])).first() is None:
                fields["partner"] = "The linked record does not exist"
            if fields:
                return error(422, "validation_failed", f"{len(fields)} field(s) need attention", fields)
            key = f"outsourcing.batch:WF{at:%Y%m}-#"
            number = conn.execute(upsert.on_conflict_do_update(index_elements=["key"], set_={
                "value": naming_t.c.value + 1}).returning(naming_t.c.value), {"k": key}).scalar_one()
            row = {k: values.get(k) for k in FIELDS}
            row.update(name=f"WF{at:%Y%m}-{number:04d}", state="shipped", version=1, created_at=stamp(at),
                       created_by=u["username"], updated_at=stamp(at), updated_by=u["username"])  # type: ignore[index]
            stored = dict(row)
            if sqlite:
                stored.update(ship_date=row["ship_date"].isoformat(), expected_return=row["expected_return"].isoformat())
            rid = int(conn.execute(batches.insert(), stored).inserted_primary_key[0])
            row["id"] = rid
            result = out(row, at.date())
            changes = {k: [None, result[k]] for k in ("name", "state", *FIELDS)
                       if result[k] not in (None, [], "")}
            write_history(conn, rid, "create", u["username"], at, 1, changes)  # type: ignore[index]
        return jsonify(result), 201

    @app.post("/api/outsourcing/batch/<int:record_id>/transitions/<name>")
    def transition(record_id: int, name: str) -> Any:
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
            q = select(batches).where(batches.c.id == record_id)
            row = conn.execute(q if sqlite else q.with_for_update()).mappings().first()
            if row is None:
                return error(404, "not_found", "Record not found")
            if row["version"] != version:
                return error(409, "stale", f"Changed by someone else (now version {row['version']})")
            if row["state"] != "shipped":
                return error(409, "wrong_state", "Start Processing is not possible in this state")
            new = {"state": "processing", "version": version + 1, "updated_at": stamp(at),
                   "updated_by": u["username"]}  # type: ignore[index]
            conn.execute(batches.update().where(batches.c.id == record_id), new)
            after = {**row, **new}
            write_history(conn, record_id, "transition", u["username"], at, version + 1,  # type: ignore[index]
                          {"state": ["shipped", "processing"]}, transition="start")
        return jsonify(out(after, at.date()))

    return app
