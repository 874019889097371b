"""Talking to an ERP: auth, signing, timeouts, retries with backoff and jitter,
re-login on a lost session, failure detection in HTTP 200 answers, a circuit
breaker, and a masked log of every request and its outcome."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import logging
import random
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

import requests
from sqlalchemy import select

from runtime import clock

from . import state
from .spec import Connector, ErrorRule, Request
from .template import Context, MissingEnv, text_of

log = logging.getLogger("jig.connectors")
SENSITIVE = re.compile(r"pass|secret|token|session|signature|appdata|cookie|authorization|pwd", re.I)
MAX_LOGGED = 2000


class ErpError(Exception):
    def __init__(self, message: str, *, transient: bool, session_lost: bool = False, status: int | None = None,
                 retry_after: float | None = None, unexpected: bool = False, html: bool = False):
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.session_lost = session_lost
        self.status = status
        self.retry_after = retry_after  # seconds the ERP asked us to wait (Retry-After)
        self.unexpected = unexpected    # an answer not of the expected shape (a login page, a cut-off body)
        self.html = html                # ... an HTML page: the ERP did not process the request


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def skew_of(date_header: str | None) -> float | None:
    """How far the ERP's clock (its HTTP ``Date``) is ahead of Jig's (negative: behind), in seconds."""
    if not date_header:
        return None
    if date_header.count("GMT") > 1:  # the header twice (a proxy added its own): the last is the origin's
        date_header = date_header.rsplit(",", 2)[-2] + "," + date_header.rsplit(",", 1)[-1]
    try:
        when = email.utils.parsedate_to_datetime(date_header.strip())
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return (clock.to_local(when) - clock.now()).total_seconds()


class CircuitOpen(ErpError):
    def __init__(self, message: str):
        super().__init__(message, transient=True)


class Masker:
    """Hides secrets: values read from ${ENV}, session ids and tokens, sensitive keys and headers."""

    def __init__(self, secrets: set[str]):
        self.secrets = secrets

    def text(self, s: str) -> str:
        for secret in sorted((x for x in self.secrets if len(x) >= 3), key=len, reverse=True):
            if secret in s:
                s = s.replace(secret, "***")
        return s

    def value(self, v: Any, key: str = "") -> Any:
        if key and SENSITIVE.search(key) and v not in (None, "", [], {}):
            return "***"
        if isinstance(v, dict):
            return {k: self.value(x, str(k)) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v[:20]] + (["…"] if len(v) > 20 else [])
        if isinstance(v, str):
            return self.text(v)
        return v

    def url(self, url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        q = [(k, "***" if SENSITIVE.search(k) else v) for k, v in urllib.parse.parse_qsl(parts.query, True)]
        return self.text(urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(q, safe="$,'@:*"))))


def dig(data: Any, path: tuple[str, ...] | list[str]) -> Any:
    for part in path:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and str(part).lstrip("-").isdigit() and -len(data) <= int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _find(data: Any, key: str, depth: int = 0) -> dict[str, Any] | None:
    """The first mapping holding ``key``, searching nested mappings and the first item of lists."""
    if depth > 8:
        return None
    if isinstance(data, dict):
        if key in data:
            return data
        for v in data.values():
            if isinstance(v, (dict, list)):
                hit = _find(v, key, depth + 1)
                if hit is not None:
                    return hit
    elif isinstance(data, list) and data:
        first = data[0]
        if isinstance(first, (dict, list)):
            return _find(first, key, depth + 1)
    return None


def _matches(obj: dict[str, Any], cond: dict[str, Any]) -> bool:
    return all(_same(dig(obj, k.split(".")), v) for k, v in cond.items())


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, bool) or isinstance(a, bool):
        return a is b or str(a).lower() == str(b).lower()
    return a == b or str(a) == str(b)


def check_errors(rules: list[ErrorRule], status: int, text: str, data: Any) -> ErpError | None:
    """The failure this answer reports, if any (whatever its HTTP status)."""
    for r in rules:
        if r.status and status not in r.status:
            continue
        if r.text and r.text not in text:
            continue
        msg = ""
        if r.find:
            obj = _find(data, r.find)
            if obj is None:
                continue
            if r.failed_if and not _matches(obj, r.failed_if):
                continue
            if r.failed_unless and _matches(obj, r.failed_unless):
                continue
            msg = text_of(dig(obj, r.message.split("."))) if r.message else ""
        elif not (r.text or r.status):
            continue
        msg = msg or (r.text or f"HTTP {status}")
        return ErpError(msg, transient=r.transient or r.session_lost, session_lost=r.session_lost, status=status)
    return None


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return rng.uniform(ceiling / 2, ceiling)


def kingdee_headers(path: str, sign: dict[str, str], now: float | None = None, nonce: str | None = None) -> dict[str, str]:
    """Kingdee's signed headers (as the official SDK computes them)."""
    ts = str(int(now if now is not None else time.time()))
    nonce = nonce or uuid.uuid4().hex
    enc = urllib.parse.quote(path, safe="")
    to_sign = f"POST\n{enc}\n\nx-api-nonce:{nonce}\nx-api-timestamp:{ts}\n"

    def mac(key: str, msg: str) -> str:
        digest = hmac.new(key.encode(), msg.encode(), hashlib.sha256).hexdigest()
        return base64.b64encode(digest.encode()).decode()
    app_data = base64.b64encode(",".join([sign.get("acct_id", ""), sign.get("user", ""), str(sign.get("lcid", 2052)),
                                          sign.get("org", "")]).encode()).decode()
    return {
        "X-Api-ClientID": sign.get("client_id", ""), "X-Api-Auth-Version": "2.0", "x-api-timestamp": ts,
        "x-api-nonce": nonce, "x-api-signheaders": "x-api-timestamp,x-api-nonce",
        "X-Api-Signature": mac(sign.get("client_secret", ""), to_sign),
        "X-Kd-Appkey": sign.get("app_id", ""), "X-Kd-Appdata": app_data,
        "X-Kd-Signature": mac(sign.get("app_secret", ""), sign.get("app_id", "") + app_data),
    }


def _host(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.netloc or url[:100]


class Client:
    """One connector's HTTP client (one per sync run or worker; not shared across threads)."""

    def __init__(self, rt: Any, conn: Connector, *, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None):
        self.rt = rt
        self.c = conn
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.http = requests.Session()
        self.secrets = conn.secrets
        from . import vault
        self.stored = vault.load(rt, conn.raw)  # ${secret:name}: decrypted for this client only
        self.secrets.update(self.stored.values())
        self.mask = Masker(self.secrets)
        self.logged_in = False
        self.token: str | None = None
        self.token_until = 0.0
        self.skew: float | None = None  # the ERP's clock minus Jig's, from the last answer's Date header
        self._vars: dict[str, Any] | None = None

    # ---- values ----------------------------------------------------------

    def vars(self) -> dict[str, Any]:
        if self._vars is None:
            base = Context({}, self.secrets, self.stored)
            try:
                self._vars = {k: r(base) for k, r in self.c.vars.items()}
            except MissingEnv as exc:
                raise self.missing(exc) from None
        return self._vars

    def missing(self, exc: MissingEnv) -> ErpError:
        """A ``${ENV}`` reference that is not set: one clear line, not a traceback (and not retried)."""
        return ErpError(f"connector {self.c.name}: {exc}", transient=False)

    def context(self, values: dict[str, Any] | None = None) -> Context:
        ctx = Context({"vars": self.vars(), **(values or {})}, self.secrets, self.stored)
        if self.token:
            ctx["token"] = self.token
        return ctx

    def base_url(self) -> str:
        try:
            return str(self.c.base_url(self.context())).rstrip("/")
        except MissingEnv as exc:
            raise self.missing(exc) from None

    # ---- auth ------------------------------------------------------------

    def _ensure_auth(self, operation: str | None) -> None:
        a = self.c.auth
        kind = a.get("type", "none")
        if kind == "session" and not self.logged_in:
            data, _ = self._send(a["login"], self.context(), operation, login=True)
            if a.get("ok") and not _matches(data if isinstance(data, dict) else {}, a["ok"]):
                msg = text_of(dig(data, ["Message"])) or "login refused"
                raise ErpError(f"login failed: {msg}", transient=False)
            for v in (self.http.cookies.values()):
                self.secrets.add(v)
            if isinstance(data, dict):
                for k in ("KDSVCSessionId", "SessionId"):
                    if data.get(k):
                        self.secrets.add(str(data[k]))
            self.logged_in = True
        elif kind == "token" and (self.token is None or time.monotonic() >= self.token_until):
            self.token = None
            data, _ = self._send(a["login"], self.context(), operation, login=True)
            if a.get("ok") and not _matches(data if isinstance(data, dict) else {}, a["ok"]):
                raise ErpError("token request refused", transient=False)
            tok = dig(data, str(a["token_path"]).split("."))
            if not tok:
                raise ErpError("no token in the answer", transient=True)
            self.token = str(tok)
            self.secrets.add(self.token)
            self.token_until = time.monotonic() + float(a.get("expires_in", 3600)) * 0.9

    def probe(self, operation: str | None) -> None:
        """Log in (where the connector has a session or token), which also tells us the ERP's clock;
        failures here are left to the first real request, which retries and reports them."""
        try:
            self._check_circuit()
            self._ensure_auth(operation)
        except (ErpError, MissingEnv):
            self.invalidate()

    def invalidate(self) -> None:
        self.logged_in = False
        self.token = None
        self.http.cookies.clear()

    def _auth_parts(self, ctx: Context) -> tuple[dict[str, str], dict[str, str], Any]:
        a = self.c.auth
        kind = a.get("type", "none")
        headers: dict[str, str] = {}
        query: dict[str, str] = {}
        auth = None
        if kind == "basic":
            auth = (text_of(a["username"](ctx)), text_of(a["password"](ctx)))
        elif kind == "bearer":
            tok = text_of(a["token"](ctx))
            self.secrets.add(tok)
            headers["Authorization"] = f"Bearer {tok}"
        elif kind == "api_key":
            val = text_of(a["value"](ctx))
            self.secrets.add(val)
            (headers if a.get("in", "header") == "header" else query)[a["name"]] = a.get("prefix", "") + val
        elif kind == "token" and self.token:
            (headers if a.get("in", "query") == "header" else query)[a.get("name", "token")] = \
                a.get("prefix", "") + self.token
        return headers, query, auth

    # ---- one request -----------------------------------------------------

    def _send(self, req: Request | None, ctx: Context, operation: str | None, *, url: str | None = None,
              login: bool = False, attempt: int = 1) -> tuple[Any, int]:
        """Send once; returns (json, status) or raises ErpError. Logs the exchange (masked)."""
        if req is None and url is None:
            raise ErpError("no request", transient=False)
        method = req.method if req is not None else "GET"
        path = text_of(req.path(ctx)) if req is not None else ""
        full = url if url is not None else self.base_url() + path
        if url is not None and not url.startswith("http"):
            base = self.base_url()
            full = base + (url if url.startswith("/") else "/" + url)
            path = urllib.parse.urlsplit(full).path
        params = {k: text_of(v) for k, v in (req.query(ctx) if req is not None and req.query else {}).items()}
        headers = {k: text_of(v) for k, v in (req.headers(ctx) if req is not None and req.headers else {}).items()}
        body = req.body(ctx) if req is not None and req.has_body and req.body is not None else None
        if not login:
            h, q, auth = self._auth_parts(ctx)
            headers.update(h)
            params.update(q)
        else:
            auth = None
        if self.c.sign:
            sctx = self.context()
            sign = {k: text_of(r(sctx)) for k, r in self.c.sign.items()}
            headers.update(kingdee_headers(path or "/", sign))
        started = time.monotonic()
        status: int | None = None
        text = ""
        outcome = "ok"
        error: ErpError | None = None
        data: Any = None
        try:
            resp = self.http.request(method, full, params=params or None, json=body, headers=headers or None,
                                     auth=auth, timeout=self.c.timeout)
            status = resp.status_code
            text = resp.text
            skew = skew_of(resp.headers.get("Date"))
            if skew is not None:
                self.skew = skew
            try:
                data = resp.json() if text.strip() else None
            except ValueError:
                data = None
            error = check_errors(self.c.errors, status, text, data)
            if error is None:
                if status in (401, 403) and self.c.auth.get("type") in ("session", "token"):
                    error = ErpError(f"HTTP {status}", transient=True, session_lost=True, status=status)
                elif status >= 500 or status in (408, 425, 429):
                    error = ErpError(f"HTTP {status}", transient=True, status=status,
                                     retry_after=retry_after(resp.headers.get("Retry-After"))
                                     if status in (429, 503) else None)
                elif status >= 400:
                    error = ErpError(f"HTTP {status}: {text[:200]}", transient=False, status=status)
                elif data is None and text.strip():
                    html = text.lstrip()[:1].startswith("<")
                    what = ("an HTML page (a login page? the session may have expired)" if html
                            else "not JSON (cut off?)")
                    error = ErpError(f"the answer is {what}: {' '.join(text[:120].split())}", transient=True,
                                     status=status, unexpected=True, html=html)
        except requests.Timeout:
            error = ErpError(f"timeout after {self.c.timeout[1]:g} s ({_host(full)})", transient=True)
        except requests.ConnectionError as exc:
            error = ErpError(f"connection to {_host(full)} failed: {type(exc).__name__}", transient=True)
        except MissingEnv as exc:
            error = ErpError(str(exc), transient=False)
        if error is not None:
            outcome = "session_lost" if error.session_lost else ("retry" if error.transient else "error")
        url_logged = full + ("?" + urllib.parse.urlencode(params) if params else "")
        self._log(operation, method, url_logged, attempt, status, int((time.monotonic() - started) * 1000), outcome,
                  error.message if error else None, body, text)
        if error is not None:
            raise error
        return data, status or 0

    def _log(self, operation: str | None, method: str, url: str, attempt: int, status: int | None, ms: int,
             outcome: str, error: str | None, body: Any, text: str) -> None:
        t = self.rt.tables.system["jig_connector_requests"]
        req = json.dumps(self.mask.value(body), ensure_ascii=False, default=str)[:MAX_LOGGED] if body is not None \
            else None
        try:
            resp = self.mask.value(json.loads(text)) if text and len(text) < 200000 else None
            resp_text = json.dumps(resp, ensure_ascii=False)[:MAX_LOGGED] if resp is not None else \
                self.mask.text(text[:MAX_LOGGED])
        except ValueError:
            resp_text = self.mask.text(text[:MAX_LOGGED])
        with self.rt.db.write() as conn:
            conn.execute(t.insert().values(
                connector=self.c.name, operation=operation, at=clock.now(), method=method, url=self.mask.url(url)[:2000],
                attempt=attempt, status=status, ms=ms, outcome=outcome,
                error=self.mask.text(error)[:2000] if error else None, request=req, response=resp_text))
        if outcome != "ok":
            log.info("%s %s %s -> %s %s", self.c.name, method, self.mask.url(url)[:200], status, outcome)

    # ---- with retries and the circuit breaker ------------------------------

    def call(self, req: Request | None, values: dict[str, Any] | None = None, *, operation: str | None = None,
             url: str | None = None, ok_errors: list[str] | None = None, retry: bool = True,
             expect: Callable[[Any], Any] | None = None) -> Any:
        """Send with retries; ``retry=False`` for writes that are not idempotent by themselves (a lost
        session is still re-established and the request sent again: the ERP refused it unprocessed).

        An answer that is not of the expected shape (not JSON, an HTML login page, or one ``expect``
        rejects) may come from a dead session: the session is dropped and re-established at once, the
        first time without counting as a failed attempt."""
        attempts = int(self.c.retry.get("attempts", 5))
        base = float(self.c.retry.get("backoff", 0.5))
        cap = float(self.c.retry.get("max_backoff", 30))
        last: ErpError | None = None
        relogged = False
        attempt = 0
        while attempt < attempts:
            attempt += 1
            self._check_circuit()
            try:
                self._ensure_auth(operation)
                ctx = values if hasattr(values, "secrets") else self.context(values)
                data, _ = self._send(req, ctx, operation, url=url, attempt=attempt)
                if expect is not None:
                    try:
                        expect(data)
                    except ErpError as bad:
                        bad.unexpected = True
                        raise
                self._success()
                return data
            except MissingEnv as exc:
                raise self.missing(exc) from None
            except ErpError as exc:
                if ok_errors and any(s in exc.message for s in ok_errors):
                    self._success()
                    return {"ok_error": exc.message}
                last = exc
                if exc.session_lost:
                    self.invalidate()
                    continue  # log in again at once
                if exc.unexpected and self.c.auth.get("type") in ("session", "token"):
                    self.invalidate()  # whatever comes next, not on this session
                    if not relogged and (retry or exc.html):
                        relogged = True
                        attempt -= 1  # re-establishing the session once is not a failed attempt
                        continue
                if not exc.transient or not retry:
                    break
                if attempt < attempts:
                    self.sleep(self.wait(exc, attempt, base, cap))
        assert last is not None
        if retry or not last.transient:
            self._failure(last)  # (a caller that retries a whole sequence itself reports its final failure)
        raise last

    def wait(self, exc: ErpError, attempt: int, base: float, cap: float) -> float:
        """Seconds before the next attempt: backoff, or what the ERP asked for (Retry-After), capped."""
        pause = backoff(attempt, base, cap, self.rng)
        if exc.retry_after is not None:
            pause = max(pause, min(exc.retry_after, float(self.c.retry.get("max_retry_after", 120))))
        return pause

    def _check_circuit(self) -> None:
        with self.rt.db.read() as conn:
            t = self.rt.tables.system["jig_connector_state"]
            row = conn.execute(select(t.c.open_until, t.c.failures, t.c.last_error).where(
                t.c.connector == self.c.name, t.c.operation == state.CIRCUIT)).first()
        self._failures = int(row.failures) if row else 0
        if row is not None and row.open_until is not None and row.open_until > clock.now():
            raise CircuitOpen(f"connector {self.c.name} is paused until {row.open_until:%H:%M:%S} "
                              f"after {row.failures} failures in a row; last error: {row.last_error or '?'}")

    def _success(self) -> None:
        if getattr(self, "_failures", 0):
            with self.rt.db.write() as conn:
                state.get_state(conn, self.rt, self.c.name, state.CIRCUIT)
                state.set_state(conn, self.rt, self.c.name, state.CIRCUIT, failures=0, open_until=None)
            self._failures = 0

    def _failure(self, exc: ErpError) -> None:
        threshold = int(self.c.circuit.get("failures", 5))
        pause = float(self.c.circuit.get("pause", 300))
        with self.rt.db.write() as conn:
            st = state.get_state(conn, self.rt, self.c.name, state.CIRCUIT, lock=True)
            failures = int(st["failures"]) + 1
            values: dict[str, Any] = {"failures": failures, "last_error": self.mask.text(exc.message)[:2000]}
            if failures >= threshold and not (st["open_until"] and st["open_until"] > clock.now()):
                values["open_until"] = clock.now() + dt.timedelta(seconds=pause)
                self.rt.notifications.add(
                    conn, title=f"ERP 连接已暂停：{self.c.title}"[:200],
                    body=f"连续 {failures} 次失败，暂停 {pause:g} 秒。最后错误：{self.mask.text(exc.message)}",
                    roles=["admin"], app=self.c.app, source=f"connector:{self.c.name}")
            state.set_state(conn, self.rt, self.c.name, state.CIRCUIT, **values)
        self._failures = failures
