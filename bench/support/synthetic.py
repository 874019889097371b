"""The hand-written baseline for the synthetic ``bench.item`` entity: Flask + SQLAlchemy Core on Jig's table.

What a careful developer would write by hand for the same entity (see bench/crud.py's docstring for what it
does and does not do). gunicorn imports this module and calls ``baseline_app()``; the config comes from the
JSON file named by ``JIG_BENCH_CONFIG`` (written by bench/crud.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .engine import baseline_engine

CONFIG_ENV = "JIG_BENCH_CONFIG"


def config() -> dict[str, Any]:
    return json.loads(Path(os.environ[CONFIG_ENV]).read_text())


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
        Numeric,
        String,
        Table,
        select,
    )
    from sqlalchemy.exc import IntegrityError

    cfg = config()
    zone = ZoneInfo(cfg["timezone"])
    engine, sqlite = baseline_engine(cfg["database_url"])

    # How Jig stores values: SQLite keeps times as text, decimals as integer cents; PostgreSQL native types.
    ts_type = String(19) if sqlite else DateTime()
    md = MetaData()
    items = Table(cfg["item_table"], md,
                  Column("id", Integer, primary_key=True), Column("version", Integer),
                  Column("created_at", ts_type), Column("created_by", String(64)),
                  Column("updated_at", ts_type), Column("updated_by", String(64)),
                  Column("code", String(40)), Column("name", String(100)), Column("qty", BigInteger),
                  Column("price", BigInteger if sqlite else Numeric(18, 2, asdecimal=True)),
                  Column("status", String(64)), Column("due", String(10) if sqlite else Date()),
                  Column("category", BigInteger), Column("active", Boolean))
    categories = Table(cfg["category_table"], md, Column("id", Integer, primary_key=True))
    users = cfg["tokens"]  # token sha256 -> {"username", "roles"}
    statuses = ("open", "hold", "closed")

    app = Flask("baseline")
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    def error(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> Any:
        return jsonify({"error": {"code": code, "message": message, "fields": fields or {}}}), status

    def user(action: str) -> tuple[dict[str, Any] | None, Any]:
        header = request.headers.get("Authorization", "")
        u = users.get(hashlib.sha256(header[7:].strip().encode()).hexdigest()) \
            if header.startswith("Bearer ") else None
        if u is None:
            return None, error(401, "unauthorized", "Sign in or send a valid API token")
        if "clerk" not in u["roles"] and "admin" not in u["roles"]:
            return None, error(403, "forbidden", f"You may not {action} items")
        return u, None

    def ts(v: Any) -> str | None:
        if v is None:
            return None
        if isinstance(v, str):
            v = dt.datetime.fromisoformat(v)
        return v.replace(tzinfo=zone).isoformat()

    def out(r: Any) -> dict[str, Any]:
        price = r["price"]
        if price is not None:
            price = format(Decimal(price).scaleb(-2) if sqlite else price, "f")
        due = r["due"]
        return {"id": r["id"], "version": r["version"], "created_at": ts(r["created_at"]),
                "created_by": r["created_by"], "updated_at": ts(r["updated_at"]), "updated_by": r["updated_by"],
                "code": r["code"], "name": r["name"], "qty": r["qty"], "price": price, "status": r["status"],
                "due": due if due is None or isinstance(due, str) else due.isoformat(),
                "category": r["category"], "active": None if r["active"] is None else bool(r["active"])}

    @app.get("/api/bench/item/<int:item_id>")
    def get_item(item_id: int) -> Any:
        _, err = user("read")
        if err:
            return err
        with engine.connect() as conn:
            row = conn.execute(select(items).where(items.c.id == item_id)).mappings().first()
        if row is None:
            return error(404, "not_found", "Record not found")
        return jsonify(out(row))

    @app.get("/api/bench/item")
    def list_items() -> Any:
        _, err = user("read")
        if err:
            return err
        args = request.args
        problems: dict[str, str] = {}
        q = select(items)
        for key in args:
            if key not in ("status", "qty__gte", "limit", "after"):
                problems[key] = "No such field"
        if "status" in args:
            q = q.where(items.c.status == args["status"])
        if "qty__gte" in args:
            try:
                q = q.where(items.c.qty >= int(args["qty__gte"]))
            except ValueError:
                problems["qty__gte"] = "Must be a whole number"
        try:
            limit = max(1, min(500, int(args.get("limit") or 20)))
        except ValueError:
            problems["limit"] = "Must be a whole number"
            limit = 20
        if args.get("after"):
            try:
                after = json.loads(base64.urlsafe_b64decode(args["after"].encode() + b"==="))
                q = q.where(items.c.id < int(after[0]))
            except (ValueError, TypeError, IndexError, KeyError):
                problems["after"] = "Bad cursor"
        if problems:
            return error(400, "bad_request", "Bad filter", problems)
        with engine.connect() as conn:
            rows = conn.execute(q.order_by(items.c.id.desc()).limit(limit + 1)).mappings().all()
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = base64.urlsafe_b64encode(json.dumps([rows[-1]["id"]]).encode()).decode().rstrip("=") \
            if more and rows else None
        return jsonify({"items": [out(r) for r in rows], "next": nxt})

    def text(v: Any, max_len: int) -> str:
        if isinstance(v, bool) or not isinstance(v, (str, int, float, Decimal)):
            raise ValueError("Must be text")
        v = str(v).strip()
        if len(v) > max_len:
            raise ValueError(f"At most {max_len} characters")
        return v

    def number(v: Any, scale: int) -> Decimal:
        if isinstance(v, bool):
            raise ValueError("Must be a number")
        try:
            d = v if isinstance(v, Decimal) else Decimal(str(v).strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError("Must be a number") from None
        if not d.is_finite():
            raise ValueError("Must be a number")
        q = d.quantize(Decimal(1).scaleb(-scale))
        if q != d:
            raise ValueError("Must be a whole number" if scale == 0 else f"At most {scale} decimals")
        if len(q.as_tuple().digits) > 18:
            raise ValueError("Number too big")
        return q

    def day(v: Any) -> dt.date:
        if isinstance(v, str):
            s = v.strip().replace("/", "-")
            try:
                if len(s) > 10 and ("T" in s or " " in s):
                    t = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
                    return (t.astimezone(zone) if t.tzinfo else t).date()
                return dt.date.fromisoformat(s)
            except ValueError:
                pass
        raise ValueError("Must be a date (YYYY-MM-DD)")

    def boolean(v: Any) -> bool:
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, str)):
            s = str(v).strip().lower()
            if s in ("1", "true", "yes", "on", "是"):
                return True
            if s in ("0", "false", "no", "off", "否"):
                return False
        raise ValueError("Must be true or false")

    def select_option(v: Any) -> str:
        s = str(v).strip()
        if s not in statuses:
            raise ValueError("Choose one of: open, hold, closed")
        return s

    def link(v: Any) -> int:
        if isinstance(v, dict) and "id" in v:
            v = v["id"]
        return int(number(v, 0))

    parsers = {"code": lambda v: text(v, 40), "name": lambda v: text(v, 100), "qty": lambda v: int(number(v, 0)),
               "price": lambda v: number(v, 2), "status": select_option, "due": day, "category": link,
               "active": boolean}

    @app.post("/api/bench/item")
    def create_item() -> Any:
        u, err = user("create")
        if err:
            return err
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return error(400, "bad_request", "The request body must be a JSON object")
        fields: dict[str, str] = {}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key in ("id", "version", "state", "name") and key not in parsers:
                continue
            if key in ("created_at", "created_by", "updated_at", "updated_by"):
                fields[key] = "System field; it cannot be changed"
                continue
            parse = parsers.get(key)
            if parse is None:
                fields[key] = "No such field"
                continue
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                values[key] = None
                continue
            try:
                values[key] = parse(raw)
            except ValueError as exc:
                fields[key] = str(exc)
        for key in ("qty", "price"):
            if values.get(key) is not None and values[key] < 0 and key not in fields:
                fields[key] = "At least 0"
        if "status" not in values:
            values["status"] = "open"
        if "active" not in values:
            values["active"] = True
        for key in ("code", "name", "qty", "status", "category"):
            if values.get(key) is None and key not in fields:
                fields[key] = "Required"
        now = dt.datetime.now(zone).replace(tzinfo=None, microsecond=0)
        with engine.begin() as conn:
            if values.get("category") is not None and "category" not in fields and conn.execute(
                    select(categories.c.id).where(categories.c.id == values["category"])).first() is None:
                fields["category"] = "The linked record does not exist"
            if values.get("code") and "code" not in fields and conn.execute(
                    select(items.c.id).where(items.c.code == values["code"]).limit(1)).first() is not None:
                fields["code"] = f"'{values['code']}' already exists"
            if fields:
                return error(422, "validation_failed", f"{len(fields)} field(s) need attention", fields)
            stamp = now.strftime("%Y-%m-%d %H:%M:%S") if sqlite else now
            row = {k: values.get(k) for k in parsers}
            if sqlite:
                if row["price"] is not None:
                    row["price"] = int(row["price"].scaleb(2))
                if row["due"] is not None:
                    row["due"] = row["due"].isoformat()
            row.update(version=1, created_at=stamp, created_by=u["username"], updated_at=stamp,  # type: ignore[index]
                       updated_by=u["username"])  # type: ignore[index]
            try:
                row["id"] = conn.execute(items.insert().values(**row)).inserted_primary_key[0]
            except IntegrityError:
                return error(422, "validation_failed", "1 field(s) need attention",
                             {"code": f"'{values['code']}' already exists"})
        return jsonify(out(row)), 201

    return app
