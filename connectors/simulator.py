"""A realistic ERP simulator: Kingdee K/3 Cloud WebAPI, Yonyou U8 OpenAPI and SAP B1 Service Layer.

Serves the sales-order endpoints of all three (and Kingdee's PRD_MORPT
production report writes: Save / Submit / Audit) from one in-memory store,
and injects faults on demand (``POST /_sim/faults``): 5xx answers, timeouts,
dropped connections, lost sessions answered with HTTP 200, error objects
nested in row lists, duplicate rows across pages, slow pages and records that
change while a sync runs. Write faults strike before or after the write takes
effect (the ERP saved the document but the answer never arrived), which is
what makes idempotent pushes necessary. ``jig mock-erp`` runs it; tests run it
in a thread on 127.0.0.1.

Switches (``POST /_sim/faults {"switches": [...]}``, ``jig mock-erp --switch``) make it misbehave the
way real ERPs do, persistently rather than at random: ``skew`` (the ERP's clock is ``skew_s`` behind,
for its data and its HTTP ``Date``), ``collation`` (bill numbers with hyphens, sorted and compared
the way a SQL Server Windows collation does: hyphens ignored), ``invalid`` (some orders have no
customer until :meth:`Erp.fix` repairs them without a new modify time), ``malformed`` (some orders
come back with a column missing until fixed), ``html_session`` (sessions expire and the ERP answers
with an HTML login page on HTTP 200), ``own_numbers`` (Save ignores Jig's bill number and assigns its
own) and ``retry_after`` (429 / 503 answers with ``Retry-After``; earlier retries are refused again).
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import random
import re
import socket
import threading
import time
import uuid
from email.utils import format_datetime
from typing import Any

from flask import Flask, Response, request
from werkzeug.serving import WSGIRequestHandler, make_server

from runtime import clock

from .simulator_kingdee import kd_query, kd_signature_ok, kd_write

KD = "/K3Cloud/Kingdee.BOS.WebApi.ServicesStub."
LOST = "会话信息已丢失，请重新登录"
FAULTS = ("5xx", "timeout", "drop", "session", "nested_error", "duplicate", "slow", "change")
SWITCHES = ("skew", "collation", "invalid", "malformed", "html_session", "own_numbers", "retry_after")
LOGIN_PAGE = "<!DOCTYPE html><html><head><title>金蝶云星空 登录</title></head><body><form>请登录</form></body></html>"


def _ts(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")


class Erp:
    """The ERP's data and behaviour (thread-safe)."""

    def __init__(self, *, acct_id: str = "sim", user: str = "jig", app_id: str = "jig-app",
                 app_secret: str = "sim-secret", password: str = "sim-pass", client_secret: str | None = None,
                 seed: int = 7):
        self.lock = threading.RLock()
        self.acct_id, self.user, self.app_id, self.app_secret = acct_id, user, app_id, app_secret
        self.password = password
        self.client_secret = client_secret
        self.orders: dict[str, dict[str, Any]] = {}
        self.nos: list[str] = []           # bill numbers, sorted
        self.by_modify: list[tuple[str, str]] = []  # (modify, no), sorted; stale entries skipped
        self.reports: dict[str, list[dict[str, Any]]] = {}  # PRD_MORPT by FBillNo (a list: duplicates show)
        self.sessions: set[str] = set()
        self.tokens: set[str] = set()
        self.rng = random.Random(seed)
        self.fault_rate = 0.0
        self.fault_kinds: tuple[str, ...] = FAULTS
        self.timeout_s = 1.0
        self.slow_s = 0.05
        self.stats: dict[str, int] = {"requests": 0}
        self.next_entry = 100000
        self.next_id = 1
        self.switches: set[str] = set()
        self.skew = dt.timedelta(0)
        self.switch_rate = 0.1          # share of requests that expire the session / are rate limited
        self.blocked_until = 0.0        # retry_after: monotonic time before which requests get 429
        self.early = 0                  # retry_after: requests that came before Retry-After had passed
        self.customers = [(f"C{i:04d}", f"客户{i:04d}") for i in range(1, 51)]
        self.materials = [(f"P{i:05d}", f"产品{i:05d}") for i in range(1, 201)]

    # ---- data --------------------------------------------------------------

    def add_order(self, no: str | None = None, *, lines: int | None = None, when: dt.datetime | None = None,
                  closed: bool = False) -> dict[str, Any]:
        with self.lock:
            when = when or self.now()
            if no is None:
                hyphen = "collation" in self.switches and self.next_id % 3 == 0
                no = f"XSDD-{self.next_id:08d}" if hyphen else f"XSDD{self.next_id:08d}"
            cust = self.rng.choice(self.customers)
            day = when.date()
            order = {"id": self.next_id, "no": no, "date": day.isoformat(), "cust": cust[0], "cust_name": cust[1],
                     "modify": _ts(when), "closed": "B" if closed else "A", "status": "C", "lines": []}
            if "invalid" in self.switches and self.next_id % 7 == 0:
                order["cust"] = order["cust_name"] = ""  # fails validation in Jig until fixed
            if "malformed" in self.switches and self.next_id % 11 == 0:
                order["bad_shape"] = True  # answered with a column missing until fixed
            self.next_id += 1
            for _ in range(lines if lines is not None else self.rng.randint(1, 3)):
                mat = self.rng.choice(self.materials)
                order["lines"].append({"entry": self.next_entry, "mat": mat[0], "mat_name": mat[1],
                                       "qty": self.rng.randint(1, 500),
                                       "delivery": (day + dt.timedelta(days=self.rng.randint(3, 40))).isoformat()})
                self.next_entry += 1
            if no not in self.orders:
                bisect.insort(self.nos, no, key=self.collate)
            self.orders[no] = order
            self.by_modify.append((order["modify"], no))
            if len(self.by_modify) > 1 and self.by_modify[-2][0] > order["modify"]:
                self.by_modify.sort()
            return order

    def seed(self, n: int, *, lines: int | None = None, when: dt.datetime | None = None) -> None:
        with self.lock:
            for _ in range(n):
                self.add_order(lines=lines, when=when)

    def change(self, no: str | None = None, *, close: bool = False) -> dict[str, Any]:
        """Change an order as a user of the ERP would: a quantity, a date, maybe close it."""
        with self.lock:
            no = no or self.rng.choice(self.nos)
            o = self.orders[no]
            line = self.rng.choice(o["lines"])
            line["qty"] += 1
            if close:
                o["closed"] = "B"
            o["modify"] = _ts(max(self.now(), dt.datetime.fromisoformat(o["modify"]) + dt.timedelta(seconds=1)))
            self.by_modify.append((o["modify"], no))
            if len(self.by_modify) > 1 and self.by_modify[-2][0] > o["modify"]:
                self.by_modify.sort()
            return o

    def now(self) -> dt.datetime:
        """The ERP's own clock (``skew`` behind or ahead of Jig's)."""
        return clock.now() + self.skew

    def collate(self, no: str) -> tuple[str, str]:
        """The server's sort order for bill numbers (``collation``: hyphens ignored, as SQL Server's word sort)."""
        return (no.replace("-", ""), no) if "collation" in self.switches else (no, no)

    def _candidates(self, since: str | None, after: str | None) -> list[str]:
        key = self.collate
        if since is None or len(self.by_modify) > 2 * len(self.nos):
            start = bisect.bisect_right(self.nos, key(after), key=key) if after else 0
            return self.nos[start:]
        i = bisect.bisect_left(self.by_modify, (since, ""))
        if len(self.by_modify) - i > len(self.nos) // 2:
            start = bisect.bisect_right(self.nos, key(after), key=key) if after else 0
            return self.nos[start:]
        return sorted({no for _, no in self.by_modify[i:] if (not after or key(no) > key(after)) and no in self.orders},
                      key=key)

    def set_switches(self, switches: list[str] | tuple[str, ...] | set[str], *, skew_s: float | None = None,
                     rate: float | None = None) -> None:
        unknown = set(switches) - set(SWITCHES)
        if unknown:
            raise ValueError(f"unknown switch(es) {sorted(unknown)}; known: {', '.join(SWITCHES)}")
        with self.lock:
            self.switches = set(switches)
            self.skew = dt.timedelta(seconds=(-600 if skew_s is None else skew_s) if "skew" in self.switches else 0)
            if rate is not None:
                self.switch_rate = rate
            self.nos.sort(key=self.collate)

    def fix(self) -> list[str]:
        """The ERP's data is repaired (customer filled in, rows complete) without touching the modify time."""
        with self.lock:
            fixed = []
            for no, o in self.orders.items():
                if not o["cust"] or o.get("bad_shape"):
                    if not o["cust"]:
                        o["cust"], o["cust_name"] = self.customers[0]
                    o.pop("bad_shape", None)
                    fixed.append(no)
            return fixed

    def delete(self, no: str) -> None:
        """The ERP deletes a bill: it no longer appears in any query."""
        with self.lock:
            self.orders.pop(no, None)
            if no in self.nos:
                self.nos.remove(no)

    # ---- faults --------------------------------------------------------------

    def set_faults(self, rate: float = 0.0, kinds: list[str] | tuple[str, ...] | None = None, seed: int | None = None,
                   timeout_s: float | None = None, slow_s: float | None = None) -> None:
        with self.lock:
            self.fault_rate = rate
            self.fault_kinds = tuple(kinds or FAULTS)
            if seed is not None:
                self.rng.seed(seed)
            if timeout_s is not None:
                self.timeout_s = timeout_s
            if slow_s is not None:
                self.slow_s = slow_s

    def pick_fault(self, allowed: tuple[str, ...]) -> str | None:
        with self.lock:
            self.stats["requests"] += 1
            kinds = [k for k in self.fault_kinds if k in allowed]
            if not kinds or self.rng.random() >= self.fault_rate:
                return None
            kind = self.rng.choice(kinds)
            self.stats[kind] = self.stats.get(kind, 0) + 1
            return kind

    def chance(self) -> bool:
        with self.lock:
            return self.rng.random() < self.switch_rate

    def report_counts(self) -> dict[str, int]:
        """Production reports per Jig document (its number, or the key it wrote when the ERP numbers itself)."""
        with self.lock:
            out: dict[str, int] = {}
            for no, docs in self.reports.items():
                for d in docs:
                    k = d.get("desc") or no
                    out[k] = out.get(k, 0) + 1
            return out


# ---------------------------------------------------------------------------- the web app

def _drop() -> Response:
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    return Response("", status=500)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, mimetype="application/json")


def create_app(erp: Erp) -> Flask:
    app = Flask("jig_mock_erp")
    app.config["JSON_AS_ASCII"] = False

    def common(kind_allowed: tuple[str, ...]) -> tuple[str | None, Response | None]:
        """Faults that look the same everywhere; returns (fault, early response)."""
        fault = erp.pick_fault(kind_allowed)
        if fault == "5xx":
            return fault, Response("Service Unavailable", status=erp.rng.choice([500, 502, 503]))
        if fault == "timeout":
            time.sleep(erp.timeout_s)
            return fault, _json({"late": True})
        if fault == "drop":
            return fault, _drop()
        if fault == "slow":
            time.sleep(erp.slow_s)
        if fault == "change":
            with erp.lock:
                if erp.nos:
                    erp.change()
                erp.add_order()
        return fault, None

    @app.before_request
    def rate_limited() -> Response | None:
        if "retry_after" not in erp.switches or request.path.startswith("/_sim"):
            return None
        with erp.lock:
            now = time.monotonic()
            if now < erp.blocked_until:
                erp.early += 1
                wait = erp.blocked_until - now
            elif erp.chance():
                erp.blocked_until = now + 1.0
                wait = 1.0
            else:
                return None
            status = erp.rng.choice([429, 503])
        resp = Response("Too Many Requests" if status == 429 else "Service Unavailable", status=status)
        resp.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
        return resp

    # ---- control ------------------------------------------------------------

    @app.post("/_sim/faults")
    def faults() -> Response:
        body = request.get_json(force=True) or {}
        erp.set_faults(float(body.get("rate", 0)), body.get("kinds"), body.get("seed"), body.get("timeout_s"),
                       body.get("slow_s"))
        if "switches" in body:
            try:
                erp.set_switches(body.get("switches") or [], skew_s=body.get("skew_s"), rate=body.get("switch_rate"))
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)
        if body.get("fix"):
            erp.fix()
        return _json({"ok": True})

    @app.post("/_sim/orders")
    def orders() -> Response:
        body = request.get_json(force=True) or {}
        erp.seed(int(body.get("count", 0)), lines=body.get("lines"))
        for _ in range(int(body.get("change", 0))):
            erp.change()
        return _json({"orders": len(erp.orders)})

    @app.get("/_sim/state")
    def sim_state() -> Response:
        return _json({"orders": len(erp.orders), "reports": erp.report_counts(), "stats": erp.stats,
                      "switches": sorted(erp.switches)})

    # ---- Kingdee ------------------------------------------------------------

    def kd_params() -> Any:
        body = request.get_json(force=True, silent=True) or {}
        if isinstance(body, dict) and "parameters" in body:
            return body["parameters"]
        return body

    @app.post(KD + "AuthService.<method>.common.kdsvc")
    def kd_login(method: str) -> Response:
        fault, early = common(("5xx", "timeout", "drop", "slow"))
        if early is not None:
            return early
        p = kd_params()
        if method == "ValidateUser":
            vals = p if isinstance(p, list) else [p.get("acctid"), p.get("username"), p.get("password"), p.get("lcid")]
            ok = vals[:3] == [erp.acct_id, erp.user, erp.password]
        elif method in ("LoginByAppSecret", "LoginByAppSecret2"):
            vals = p if isinstance(p, list) else [p.get("acctid"), p.get("username"), p.get("appid"),
                                                  p.get("appsecret"), p.get("lcid")]
            ok = [str(v) for v in vals[:4]] == [erp.acct_id, erp.user, erp.app_id, erp.app_secret]
        else:
            return _json({"Message": f"unknown method {method}"}, 404)
        if not ok:
            return _json({"LoginResultType": 0, "Message": "用户名或密码错误", "IsSuccessByAPI": False})
        sid = uuid.uuid4().hex
        with erp.lock:
            erp.sessions.add(sid)
        resp = _json({"LoginResultType": 1, "Message": "", "KDSVCSessionId": sid, "IsSuccessByAPI": True,
                      "Context": {"UserId": 100008, "UserName": erp.user, "DBid": erp.acct_id}})
        resp.set_cookie("kdservice-sessionid", sid)
        return resp

    def kd_session_ok() -> bool:
        if erp.client_secret is not None and not kd_signature_ok(erp, request):
            return False
        return request.cookies.get("kdservice-sessionid") in erp.sessions

    def login_page() -> Response:  # what an expired session gets from some servers: HTTP 200, HTML
        return Response(LOGIN_PAGE, status=200, mimetype="text/html")

    def kd_lost() -> Response:
        return _json({"Result": {"ResponseStatus": {"ErrorCode": 500, "IsSuccess": False, "Errors": [
            {"FieldName": None, "Message": LOST, "DIndex": 0}], "MsgCode": 1}}})

    @app.post(KD + "DynamicFormService.<method>.common.kdsvc")
    def kd_form(method: str) -> Response:
        query = method in ("ExecuteBillQuery", "BillQuery")
        allowed = FAULTS if query else ("5xx", "timeout", "drop", "session", "slow")
        fault = erp.pick_fault(allowed)
        html = "html_session" in erp.switches
        if fault == "session" or (html and erp.chance()):
            with erp.lock:
                erp.sessions.clear()
            return login_page() if html else kd_lost()
        if not kd_session_ok():
            return login_page() if html else kd_lost()
        if fault == "slow":
            time.sleep(erp.slow_s)
        if fault == "change":
            with erp.lock:
                if erp.nos:
                    erp.change()
                erp.add_order()
        before = fault in ("5xx", "timeout", "drop") and (query or erp.rng.random() < 0.5)
        if before:
            return _fault_response(erp, fault)
        p = kd_params()
        if query:
            data = p[0] if isinstance(p, list) else p.get("data", p)
            if isinstance(data, str):
                data = json.loads(data)
            if fault == "nested_error":
                return _json([[{"Result": {"ResponseStatus": {"ErrorCode": 500, "IsSuccess": False, "Errors": [
                    {"FieldName": None, "Message": "服务器繁忙，请稍后再试", "DIndex": 0}], "MsgCode": 9}}}]])
            result = kd_query(erp, data, duplicate=fault == "duplicate")
        else:
            formid, data = (p[0], p[1]) if isinstance(p, list) else (p.get("formid"), p.get("data"))
            if isinstance(data, str):
                data = json.loads(data)
            result = kd_write(erp, method, formid, data or {})
        if fault in ("5xx", "timeout", "drop"):
            return _fault_response(erp, fault)  # the write took effect; the answer is lost
        return _json(result)

    # ---- Yonyou U8 ----------------------------------------------------------

    @app.get("/system/token")
    def u8_token() -> Response:
        fault, early = common(("5xx", "timeout", "drop", "slow"))
        if early is not None:
            return early
        a = request.args
        if (a.get("from_account"), a.get("app_key"), a.get("app_secret")) != (erp.acct_id, erp.app_id,
                                                                             erp.app_secret):
            return _json({"errcode": "40001", "errmsg": "app_key 或 app_secret 错误"})
        tok = uuid.uuid4().hex
        with erp.lock:
            erp.tokens.add(tok)
        return _json({"errcode": "0", "errmsg": "", "token": {"id": tok, "expiresIn": 7200}})

    @app.get("/api/saleorderlist/batch_get")
    def u8_orders() -> Response:
        fault, early = common(("5xx", "timeout", "drop", "slow", "session", "duplicate", "change"))
        if early is not None:
            return early
        if fault == "session":
            with erp.lock:
                erp.tokens.clear()
        if request.args.get("token") not in erp.tokens:
            return _json({"errcode": "20002", "errmsg": "token 无效或已过期"})
        a = request.args
        page = int(a.get("page_index", 1))
        size = int(a.get("rows_per_page", 20))
        since, until = a.get("date_begin") or "", a.get("date_end") or "9999"
        with erp.lock:
            nos = [no for no in erp._candidates(since or None, None)
                   if since <= erp.orders[no]["modify"] <= until]
            total = len(nos)
            start = (page - 1) * size - (1 if fault == "duplicate" and page > 1 else 0)
            chosen = [erp.orders[no] for no in nos[start:(page * size)]]
            rows = [{"code": o["no"], "date": o["date"], "cuscode": o["cust"], "cusname": o["cust_name"],
                     "modifytime": o["modify"], "closed": o["closed"] == "B",
                     "entry": [{"inventorycode": ln["mat"], "quantity": ln["qty"]} for ln in o["lines"]]}
                    for o in chosen]
        return _json({"errcode": "0", "errmsg": "", "page_index": page, "rows_per_page": size, "row_count": total,
                      "page_count": max(1, -(-total // size)), "saleorderlist": rows})

    # ---- SAP Business One Service Layer -----------------------------------------

    @app.post("/b1s/v1/Login")
    def b1_login() -> Response:
        fault, early = common(("5xx", "timeout", "drop", "slow"))
        if early is not None:
            return early
        body = request.get_json(force=True, silent=True) or {}
        if (body.get("CompanyDB"), body.get("UserName"), body.get("Password")) != (erp.acct_id, erp.user,
                                                                                   erp.password):
            return _json({"error": {"code": 100000027, "message": {"lang": "en-us",
                                                                   "value": "Login failed"}}}, 401)
        sid = uuid.uuid4().hex
        with erp.lock:
            erp.sessions.add(sid)
        resp = _json({"odata.metadata": "$metadata#B1Sessions/@Element", "SessionId": sid, "Version": "1000190",
                      "SessionTimeout": 30})
        resp.set_cookie("B1SESSION", sid)
        resp.set_cookie("ROUTEID", ".node1")
        return resp

    @app.get("/b1s/v1/Orders")
    def b1_orders() -> Response:
        fault, early = common(("5xx", "timeout", "drop", "slow", "session", "duplicate", "change"))
        if early is not None:
            return early
        if fault == "session":
            with erp.lock:
                erp.sessions.clear()
        if request.cookies.get("B1SESSION") not in erp.sessions:
            return _json({"error": {"code": 301, "message": {"lang": "en-us", "value": "Invalid session."}}}, 401)
        a = request.args
        skip = int(a.get("$skip", 0))
        size = 20
        flt = a.get("$filter", "")
        m = re.search(r"UpdateDate ge '([^']*)'", flt)
        since = m.group(1).replace("T", " ") if m else ""
        with erp.lock:
            nos = [no for no in erp.nos if erp.orders[no]["modify"] >= since]
            nos.sort(key=lambda no: erp.orders[no]["id"])
            start = max(0, skip - (1 if fault == "duplicate" and skip else 0))
            chosen = [erp.orders[no] for no in nos[start:skip + size]]
            rows = [{"DocEntry": o["id"], "DocNum": o["no"], "CardCode": o["cust"], "CardName": o["cust_name"],
                     "DocDate": o["date"], "DocDueDate": max(ln["delivery"] for ln in o["lines"]),
                     "UpdateDate": o["modify"].replace(" ", "T"),
                     "DocumentStatus": "bost_Close" if o["closed"] == "B" else "bost_Open"} for o in chosen]
            more = skip + size < len(nos)
        out: dict[str, Any] = {"odata.metadata": "$metadata#Orders", "value": rows}
        if more:
            q = {k: v for k, v in a.items() if k != "$skip"}
            from urllib.parse import urlencode
            out["@odata.nextLink"] = "/b1s/v1/Orders?" + urlencode({**q, "$skip": skip + size}, safe="$,'")
        return _json(out)

    return app


def _fault_response(erp: Erp, fault: str) -> Response:
    if fault == "timeout":
        time.sleep(erp.timeout_s)
        return _json({"late": True})
    if fault == "drop":
        return _drop()
    return Response("Service Unavailable", status=503)


def _handler(erp: Erp, quiet: bool) -> type[WSGIRequestHandler]:
    class Handler(WSGIRequestHandler):
        def date_time_string(self, timestamp: float | None = None) -> str:
            """The HTTP ``Date`` header tells the ERP's own time (``skew``)."""
            return format_datetime(clock.to_aware(erp.now()).astimezone(dt.UTC), usegmt=True)

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            if not quiet:
                super().log_request(*args, **kwargs)

        def log_error(self, *args: Any) -> None:
            if not quiet:
                super().log_error(*args)
    return Handler


class Simulator:
    """The simulator served in a background thread (for tests, the demo and benchmarks)."""

    def __init__(self, erp: Erp | None = None, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True):
        self.erp = erp or Erp()
        self.server = make_server(host, port, create_app(self.erp), threaded=True,
                                  request_handler=_handler(self.erp, quiet))
        self.url = f"http://{host}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="mock-erp")

    def start(self) -> Simulator:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
