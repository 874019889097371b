"""Outbox handlers for what rules record: SMS and webhooks.

SMS: the app's gateway is built from its ``sms:`` settings (secrets only as
``${ENV}`` references), the per-number daily limit of the template is
checked against the SMS log, and the provider's answer is mapped to an
outbox outcome. Webhooks: JSON body signed with HMAC-SHA256 over
``timestamp.body``, sent with a timeout and the idempotency key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from sqlalchemy import Table, func, select

from runtime import clock
from runtime.outbox import DeliveryLimits, Item, Outcome
from runtime.reasons import Reason, joined

from .recipients import Recipient
from .sms.base import SmsStatus, build_gateway

OUTCOME_BY_STATUS = {
    SmsStatus.SENT: "sent", SmsStatus.RATE_LIMITED: "retry", SmsStatus.TRANSIENT: "retry",
    SmsStatus.INVALID_RECIPIENT: "dead", SmsStatus.TEMPLATE_PROBLEM: "alert", SmsStatus.NO_BALANCE: "alert",
}


Readdress = Callable[[Any, dict[str, Any]], list[Recipient]]


class LinkUnavailable(Exception):
    """A message that should carry a shared link cannot get one (configuration)."""


class SmsDelivery(DeliveryLimits):
    def __init__(self, rt: Any, log_table: Table, settings: dict[str, dict[str, Any]],
                 env: Mapping[str, str] | None = None, readdress: Readdress | None = None,
                 limits: dict[tuple[str, str], int | None] | None = None):
        self.rt = rt
        self.log = log_table
        self.settings = settings  # app -> sms settings
        self.env = env if env is not None else os.environ
        self.readdress = readdress  # who an undeliverable row goes to now (ActionRunner.readdress)
        self.limits = limits or {}  # (app, template) -> messages per number and day
        self._gateways: dict[str, Any] = {}

    def gateway(self, app: str) -> Any:
        if app not in self._gateways:
            self._gateways[app] = build_gateway(self.settings.get(app) or {"provider": "log"}, self.env)
        return self._gateways[app]

    def __call__(self, item: Item) -> Outcome:
        if not item.payload.get("to"):  # recorded undeliverable, retried by an admin: who is it now?
            found = self._resolve(item)
            if isinstance(found, Outcome):
                return found
            item = found
        if item.payload.get("link"):
            try:
                item = self._with_link(item)
            except LinkUnavailable as exc:
                return Outcome.alert(str(exc))
        p = item.payload
        app = p.get("app") or item.app or ""
        limit = p.get("limit_per_day")
        today = clock.today()
        if limit:
            with self.rt.db.read() as conn:
                sent = conn.execute(select(func.count()).select_from(self.log).where(
                    self.log.c.to == p["to"], self.log.c.template == p["template"], self.log.c.day == today,
                    self.log.c.status == SmsStatus.SENT)).scalar_one()
            if sent >= int(limit):
                self._write(item, SmsStatus.RATE_LIMITED, None, f"daily limit {limit} reached for this number")
                tomorrow = clock.now().replace(hour=0, minute=0, second=0) + _day()
                return Outcome.retry(f"daily limit of {limit} messages reached", after=(tomorrow - clock.now())
                                     .total_seconds() + 8 * 3600)
        try:
            gateway = self.gateway(app)
        except (ValueError, KeyError) as exc:
            return Outcome.alert(f"SMS settings of app '{app}': {exc}")
        results = gateway.send([p["to"]], p.get("provider_template") or p["template"], p.get("params") or {},
                               p.get("text") or "", item.key)
        result = results[0]
        self._write(item, result.status, result.provider_id, result.detail or result.code)
        kind = OUTCOME_BY_STATUS.get(result.status, "retry")
        detail = f"{result.status} {result.code} {result.detail}".strip()
        if kind == "sent":
            return Outcome.sent(detail, provider_id=result.provider_id)
        if kind == "retry":
            return Outcome.retry(detail, after=result.retry_after)
        return Outcome(kind, detail)

    def _resolve(self, item: Item) -> Item | Outcome:
        """Resolve the recipient of an undeliverable row again. One number: this row is sent to it (and the
        number remembered on the row). Several (a role now held by people): a row for each is added, keyed
        after this one, and this row is settled as forwarded. None: it stays undeliverable, with the reason."""
        from dataclasses import replace
        if self.readdress is None:
            return Outcome.undeliverable(Reason("no_recipient"))
        with self.rt.db.write() as conn:
            found = self.readdress(conn, item.payload)
            reachable = list({r.phone: r for r in found if r.reachable and r.phone}.values())
            problems = [r.problem for r in found if r.problem]
            if not reachable:
                return Outcome.undeliverable(joined(problems) or Reason("no_recipient"))
            if len(reachable) == 1 and not problems:
                self._remember_to(conn, item, reachable[0].phone or "")
                return replace(item, payload={**item.payload, "to": reachable[0].phone})
            for r in [*reachable, *(r for r in found if r.problem)]:
                self.rt.outbox.add(conn, "sms", {**item.payload, "to": r.phone, "recipient": {**r.who, "label": r.label}},
                                   key=f"{item.key}>{r.ref if r.problem else r.phone}"[:200], app=item.app,
                                   source=item.source, undeliverable=r.problem)
        return Outcome.sent(f"forwarded to {len(found)} recipient(s)", forwarded=[r.label for r in found])

    def _remember_to(self, conn: Any, item: Item, phone: str) -> None:
        """The number the row goes to from now on (the payload said nobody): the log shows it, retries use it."""
        from sqlalchemy import update
        t = self.rt.outbox.table
        conn.execute(update(t).where(t.c.id == item.id).values(
            payload=json.dumps({**item.payload, "to": phone}, ensure_ascii=False, default=str)))

    def usage(self, day: Any) -> list[dict[str, Any]]:
        """SMS sent on ``day`` per number and template, with the template's daily limit per number."""
        with self.rt.db.read(snapshot=False) as conn:
            rows = conn.execute(select(self.log.c.app, self.log.c.to, self.log.c.template, func.count())
                                .where(self.log.c.day == day, self.log.c.status == SmsStatus.SENT)
                                .group_by(self.log.c.app, self.log.c.to, self.log.c.template)
                                .order_by(func.count().desc()).limit(200)).all()
        return [{"app": a, "to": to, "template": tpl, "sent": int(n), "limit": self.limits.get((a or "", tpl))}
                for a, to, tpl, n in rows]

    def _with_link(self, item: Item) -> Item:
        """Put each record's shared-link URL into the message (issued, or reused if live, at delivery).

        The outbox row keeps a placeholder: the plaintext token exists only in the message sent.
        """
        from dataclasses import replace

        from .actions import LINK_PLACEHOLDER
        p = item.payload
        from runtime.linkscope import LinkIssuer
        links = self.rt.services.find(LinkIssuer)
        base = str(self.rt.settings.get("public_url") or "").rstrip("/")
        app = p.get("app") or item.app or ""
        link = links.definition(app, p["link"]["name"]) if links is not None else None
        if link is None or not base:
            raise LinkUnavailable(f"cannot put link '{p['link']['name']}' into the message: "
                                  + ("set JIG_PUBLIC_URL (the address phones reach Jig at)" if not base
                                     else "the links extension is not enabled or the link is not defined"))
        with self.rt.db.write() as conn:
            urls = " ".join(f"{base}/l/{links.token_of(links.reuse_or_issue(conn, link, int(r), 'system'))}"
                            for r in p["link"]["records"])
        params = {k: (urls if v == LINK_PLACEHOLDER else v) for k, v in (p.get("params") or {}).items()}
        return replace(item, payload={**p, "params": params,
                                      "text": (p.get("text") or "").replace(LINK_PLACEHOLDER, urls)})

    def _write(self, item: Item, status: str, provider_id: str | None, detail: str) -> None:
        p = item.payload
        with self.rt.db.write() as conn:
            conn.execute(self.log.insert().values(
                key=item.key[:200], app=p.get("app"), to=p["to"], template=p["template"], text=p.get("text") or "",
                status=status, provider_id=provider_id, detail=(detail or "")[:500], day=clock.today(),
                at=clock.now()))


def _day() -> Any:
    import datetime as dt
    return dt.timedelta(days=1)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookDelivery:
    def __init__(self, env: Mapping[str, str] | None = None):
        self.env = env if env is not None else os.environ

    def __call__(self, item: Item) -> Outcome:
        if item.payload.get("link"):
            try:
                item = self._with_link(item)
            except LinkUnavailable as exc:
                return Outcome.alert(str(exc))
        p = item.payload
        body = json.dumps(p["body"], ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": item.key,
                   "User-Agent": "Jig-Webhook/1"}
        secret_ref = p.get("secret")
        if secret_ref:
            name = secret_ref[2:-1]
            secret = self.env.get(name)
            if not secret:
                return Outcome.alert(f"webhook secret {secret_ref} is not set in the environment")
            ts = str(int(time.time()))
            headers["X-Jig-Timestamp"] = ts
            headers["X-Jig-Signature"] = "v1=" + sign(secret, ts, body)
        url = p["url"]
        if url.startswith("${"):
            url = self.env.get(url[2:-1], "")
        try:
            resp = requests.post(url, data=body, headers=headers, timeout=float(p.get("timeout") or 10))
        except requests.RequestException as exc:
            return Outcome.retry(f"{type(exc).__name__}: {exc}"[:300])
        if 200 <= resp.status_code < 300:
            return Outcome.sent(f"HTTP {resp.status_code}", status=resp.status_code)
        if resp.status_code in (408, 425, 429) or resp.status_code >= 500:
            after = resp.headers.get("Retry-After")
            return Outcome.retry(f"HTTP {resp.status_code}", after=float(after) if after and after.isdigit() else None)
        return Outcome.dead(f"HTTP {resp.status_code}: {resp.text[:200]}")
