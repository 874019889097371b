"""The delivery log: every SMS, webhook and ERP write-back in the outbox, for admins.

Each row shows its state (waiting, sent, retrying, dead, undeliverable, cancelled), attempts, the
provider's answer (class and message) and whom it was for; filters by rule, recipient, state and
kind; keyset pages (the outbox grows without bound). Dead and undeliverable rows can be retried
(an undeliverable SMS resolves its recipient again: the user may have a phone number by now) or
cancelled; both are kept. Today's use of each number's daily SMS limit is shown above.

Admins only: the log holds everyone's phone numbers and message texts. The page reads the outbox
through the runtime (``runtime.outbox``) and the daily limits through ``runtime.outbox.DeliveryLimits``
(the rules extension offers it), so this layer does not import the rules.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import abort, flash, redirect, request, url_for

from runtime import clock, reasons
from runtime.auth import Actor
from runtime.bounds import MAX_ID
from runtime.model import pick
from runtime.outbox import STATES, DeliveryLimits

from .i18n import tr
from .web import actor_or_login, bp, page, rt

PAGE_SIZE = 50
FILTERS = ("state", "kind", "rule", "recipient")
BADGE = {"pending": "blue", "sending": "cyan", "retry": "yellow", "sent": "green", "dead": "red",
         "undeliverable": "orange", "cancelled": "grey"}


def _admin() -> Actor:
    actor = actor_or_login()
    if not actor.is_admin:
        abort(403)
    return actor


def _rules(lang: str) -> list[tuple[str, str]]:
    """(source, label) of every rule in the definitions, for the rule filter."""
    out = []
    for app in rt().apps.values():
        for rule in app.sections.get("rules", []) or []:
            out.append((f"rule:{rule.name}", f"{pick(app.title, lang)} · {pick(rule.label, lang)}"))
    return out


def _args() -> dict[str, str]:
    """The filters given, each a short plain string (anything else is a 400)."""
    args = {k: (request.args.get(k) or "").strip() for k in FILTERS}
    args = {k: v for k, v in args.items() if v}
    if any(len(v) > 120 for v in args.values()) or args.get("state", "pending") not in STATES:
        abort(400)
    return args


def _before() -> int | None:
    raw = request.args.get("before") or ""
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_ID)):
        abort(400)
    return int(raw)


def _answer_class(row: dict[str, Any]) -> str:
    """The provider's answer in one word: ok, unreachable, or the first word of the error (rate_limited,
    invalid_recipient, HTTP ...) when it is one."""
    if row["status"] == "sent":
        return "ok"
    if row["status"] == "undeliverable":
        return "unreachable"
    word = (row["last_error"] or "").split(" ", 1)[0]
    return word if word.replace("_", "").isalpha() and word.islower() else ("error" if row["last_error"] else "")


def _view(row: dict[str, Any], rule_labels: dict[str, str], lang: str = "zh") -> dict[str, Any]:
    try:
        payload = json.loads(row["payload"])
    except ValueError:
        payload = {}
    try:
        result = json.loads(row["result"]) if row["result"] else {}
    except ValueError:
        result = {}
    who = payload.get("recipient") or {}
    to = payload.get("to") or result.get("to") or ""
    if row["kind"] == "webhook":
        to = str(payload.get("url") or "")
    elif row["kind"] == "erp":
        to = " · ".join(str(payload.get(k) or "") for k in ("connector", "operation", "number"))
    target = who.get("label") or ""
    message = reasons.render(result.get("reason"), row["last_error"], lang) if row["last_error"] else ""
    if row["status"] == "sent":
        message = " ".join(f"{k}={v}" for k, v in result.items() if k in ("provider_id", "status", "forwarded"))
    answer = _answer_class(row)
    if answer and message.startswith(answer + " "):
        message = message[len(answer) + 1:]
    return {**row, "to": to, "who": target if target != to else "", "text": payload.get("text") or "",
            "rule": rule_labels.get(row["source"] or "", row["source"] or ""), "answer": answer,
            "message": message, "badge": BADGE.get(row["status"], "grey"),
            "can_retry": row["status"] in ("dead", "undeliverable"),
            "can_cancel": row["status"] in ("dead", "undeliverable", "pending", "retry")}


@bp.route("/admin/deliveries")
def delivery_log() -> Any:
    actor = _admin()
    args, before = _args(), _before()
    rules = _rules(actor.language)
    labels = dict(rules)
    rows = rt().outbox.search(status=args.get("state"), kind=args.get("kind"), source=args.get("rule"),
                              text=args.get("recipient"), before=before, limit=PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    next_url = (url_for("jig_ui.delivery_log") + "?" + urlencode({**args, "before": rows[-1]["id"]})) if more else None
    first_url = (url_for("jig_ui.delivery_log") + ("?" + urlencode(args) if args else "")) if before else None
    limits = rt().services.find(DeliveryLimits)
    usage = limits.usage(clock.today()) if limits is not None else []
    if args.get("rule") and args["rule"] not in labels:
        rules.append((args["rule"], args["rule"]))
    kinds = sorted({"sms", "webhook", *rt().outbox.handlers})
    return page("delivery_log.html", actor=actor, rows=[_view(r, labels, actor.language) for r in rows], args=args, rules=rules,
                kinds=kinds, states=STATES, counts=rt().outbox.counts(), usage=usage, next_url=next_url,
                first_url=first_url, back=request.full_path if request.query_string else request.path)


def _back() -> Any:
    target = request.form.get("back") or ""
    if not target.startswith("/admin/deliveries") or "//" in target or "\\" in target:
        target = url_for("jig_ui.delivery_log")
    return redirect(target)


@bp.route("/admin/deliveries/<int:item_id>/retry", methods=["POST"])
def delivery_retry(item_id: int) -> Any:
    actor = _admin()
    row = rt().outbox.get(item_id) if item_id <= MAX_ID else None
    if row is None:
        abort(404)
    if row["status"] not in ("dead", "undeliverable") or not rt().outbox.retry(item_id):
        flash(tr("delivery_not_retried", actor.language, id=item_id, state=tr("ds_" + row["status"],
                                                                                   actor.language)), "error")
    else:
        flash(tr("delivery_retried", actor.language, id=item_id), "ok")
    return _back()


@bp.route("/admin/deliveries/<int:item_id>/cancel", methods=["POST"])
def delivery_cancel(item_id: int) -> Any:
    actor = _admin()
    row = rt().outbox.get(item_id) if item_id <= MAX_ID else None
    if row is None:
        abort(404)
    if rt().outbox.cancel(item_id, f"cancelled by {actor.username}"):
        flash(tr("delivery_cancelled", actor.language, id=item_id), "ok")
    else:
        flash(tr("delivery_not_cancelled", actor.language, id=item_id,
                 state=tr("ds_" + row["status"], actor.language)), "error")
    return _back()
