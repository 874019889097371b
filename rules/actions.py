"""What rules do when they fire. Every action works inside the firing's transaction.

Side effects on the outside world (SMS, webhooks) are only *recorded* here,
as outbox rows with idempotency keys derived from the firing key; delivery
happens later in a worker. Changes to records go through the runtime's
record services, so they are validated and written to history (via=rule).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from decimal import Decimal
from typing import Any

import jinja2
from sqlalchemy import Connection, select

from runtime import workflow
from runtime.auth import SYSTEM
from runtime.context import RecordContext, row_loader
from runtime.errors import RecordError
from runtime.evaluate import EvaluationError, evaluate
from runtime.fieldtypes import to_json
from runtime.limits import LimitExceeded
from runtime.model import pick
from runtime.reasons import Reason

from .recipients import Recipient, from_value, role_labels, user_recipients
from .spec import Action, RuleDef, Template

log = logging.getLogger("jig.rules")
RULE_ACTOR = SYSTEM.using("rule")

# SMS text is plain text, so no HTML escaping; messages shown in the web UI are escaped there.
_TEXT = jinja2.Environment(autoescape=False, undefined=jinja2.ChainableUndefined)  # noqa: S701


def render(template: str, values: dict[str, Any]) -> str:
    return _TEXT.from_string(template).render(**{k: _plain(v) for k, v in values.items()})


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return format(v.normalize(), "f") if v == v.to_integral_value() else format(v, "f")
    return to_json(v) if not isinstance(v, (str, int)) else v


WRITES = frozenset({"set", "update", "transition", "create", "explode"})  # actions that may change records
LINK_PLACEHOLDER = "[[jig-link]]"  # replaced by the record's shared-link URL(s) at delivery


class ActionRunner:
    def __init__(self, rt: Any, templates: dict[str, dict[str, Template]], rules: list[RuleDef] | None = None):
        self.rt = rt
        self.templates = templates
        self.rules = rules or []

    def run(self, conn: Connection, rule: RuleDef, items: list[tuple[int, RecordContext | None]], occurrence: str,
            occ_by_id: dict[int, str] | None = None) -> list[str]:
        """Run the rule's actions for its firing records; returns why recipients could not be reached."""
        occ_by_id = occ_by_id or {}
        items = list(items)
        last = len(rule.actions) - 1
        problems: list[str] = []
        for index, action in enumerate(rule.actions):
            if action.kind == "sms":
                problems += self._sms(conn, rule, action, index, items, occurrence, occ_by_id)
                continue
            for pos, (record_id, ctx) in enumerate(items):
                key = f"{rule.key}:{record_id}:{occ_by_id.get(record_id, occurrence)}:{index}"
                getattr(self, "_" + action.kind)(conn, rule, action, record_id, ctx, key)
                if action.kind in WRITES and index < last and ctx is not None:
                    items[pos] = (record_id, self._fresh(conn, rule, record_id, ctx))
        if problems:  # the admins are told once per firing (or chunk of a scheduled run), each in their language
            said = [p for p in problems if isinstance(p, Reason)]
            self.rt.notifications.add(conn, title=lambda lang: (("短信无法送达：" if lang == "zh" else
                                                                 "SMS cannot be delivered: ")
                                                                + (pick(rule.label, lang) or rule.name))[:200],
                                      body=lambda lang: "\n".join(p.in_lang(lang) for p in said)[:4000],
                                      roles=["admin"], app=rule.app,
                                      link="/admin/deliveries?state=undeliverable", source=f"rule:{rule.name}")
        return problems

    def _fresh(self, conn: Connection, rule: RuleDef, record_id: int, ctx: RecordContext) -> RecordContext:
        """The firing's record as it is now, after an action changed it or a record it links to.

        A context caches linked records and computed values; the next action must see the changes
        the previous ones made (two ``+5`` updates through one link add 10), in order.
        """
        ent = ctx.ent
        values = {k: v for k, v in ctx.items() if not (k in ent.fields and ent.fields[k].type == "computed")}
        if ent.parent is None and record_id:
            table = self.rt.tables.for_entity(ent)
            row = conn.execute(select(table).where(table.c.id == record_id)).mappings().first()
            if row is not None:
                values.update(row)
        return RecordContext(ent, values, ctx.user, ctx.loader)

    # ---- outside world (through the outbox) ----------------------------------

    def _sms(self, conn: Connection, rule: RuleDef, action: Action, index: int,
             items: list[tuple[int, RecordContext | None]], occurrence: str, occ_by_id: dict[int, str]) -> list[str]:
        """One outbox row per recipient and batch; a recipient that cannot be reached gets an
        ``undeliverable`` row with the reason (never dropped), and the admins a notification.
        Returns the reasons, for the run's report."""
        problems: list[str] = []
        for key, payload, problem in self.sms_messages(conn, rule, action, index, items, occurrence, occ_by_id):
            added = self.rt.outbox.add(conn, "sms", payload, key=key, app=rule.app, source=f"rule:{rule.name}",
                                       undeliverable=problem)
            if problem and added:
                problems.append(Reason("in_rule", rule=rule.label or rule.name, reason=problem))
        return problems

    def sms_messages(self, conn: Connection, rule: RuleDef, action: Action, index: int,
                     items: list[tuple[int, RecordContext | None]], occurrence: str,
                     occ_by_id: dict[int, str]) -> list[tuple[str, dict[str, Any], str | None]]:
        """The messages an sms action sends for these records: (idempotency key, outbox payload, why the
        recipient cannot be reached or None) each, one per recipient (and per ``batch_by`` group). The rule
        editor's test shows the same list without sending."""
        tpl = self.templates.get(rule.app, {}).get(action.spec["template"])
        if tpl is None:
            return []
        groups: dict[tuple[str, Any], list[tuple[int, RecordContext | None]]] = defaultdict(list)
        whom: dict[str, Recipient] = {}
        for record_id, ctx in items:
            refs: set[str] = set()
            for rcpt in self.recipients(conn, rule, action, ctx, record_id):
                ref = rcpt.phone if rcpt.phone and rcpt.reachable else rcpt.ref
                if ref in refs:
                    continue  # one message per number (a user may also be the record's contact)
                refs.add(ref)
                whom.setdefault(ref, rcpt)
                group = ctx.get(rule.batch_by) if (rule.batch_by and ctx is not None) else record_id
                groups[(ref, group)].append((record_id, ctx))
        out: list[tuple[str, dict[str, Any], str | None]] = []
        for (ref, group), members in groups.items():
            rcpt = whom[ref]
            params = self._params(action, members)
            link = None
            if action.spec.get("link"):  # the URL is made when the message is delivered (see delivery.py)
                params["link"] = LINK_PLACEHOLDER
                link = {"name": action.spec["link"], "records": [r for r, _ in members]}
            ids = ",".join(str(r) for r, _ in members)
            occ = ",".join(sorted({occ_by_id.get(r, occurrence) for r, _ in members}))
            digest = hashlib.sha1(f"{ids}|{occ}".encode()).hexdigest()[:16]
            key = f"sms:{rule.key}:{index}:{ref}:{group if rule.batch_by else ''}:{digest}"
            payload = {"app": rule.app, "rule": rule.name, "action": index, "to": rcpt.phone, "template": tpl.name,
                       "provider_template": tpl.provider_template, "params": params,
                       "text": render(tpl.text, params), "limit_per_day": tpl.limit_per_day,
                       "records": [r for r, _ in members], "recipient": {**rcpt.who, "label": rcpt.label}}
            if link is not None:
                payload["link"] = link
            out.append((key, payload, rcpt.problem))
        return out

    def _params(self, action: Action, members: list[tuple[int, RecordContext | None]]) -> dict[str, Any]:
        """Template values; for a batch, each value lists every record's value (、-joined)."""
        per_record: dict[str, list[str]] = defaultdict(list)
        for _, ctx in members:
            for key, expr in action.exprs.items():
                if key.startswith("param.") and ctx is not None:
                    try:
                        value = _plain(evaluate(expr, ctx))
                    except EvaluationError:
                        value = ""
                    per_record[key[6:]].append("" if value is None else str(value))
        params: dict[str, Any] = {k: "、".join(dict.fromkeys(v)) if len(members) > 1 else v[0]
                                  for k, v in per_record.items()}
        params["count"] = len(members)
        return params

    def recipients(self, conn: Connection, rule: RuleDef, action: Action, ctx: RecordContext | None,
                   record_id: int | None = None) -> list[Recipient]:
        """Everyone an SMS action addresses for one record: the ``to`` expression's number, the named users
        and the holders of the roles, each with a phone number or the reason it cannot be reached."""
        found: list[Recipient] = []
        if "to" in action.exprs and ctx is not None:
            try:
                value = evaluate(action.exprs["to"], ctx)
            except EvaluationError:
                value = None
            found.append(from_value(value, str(action.spec.get("to")), record_id))
        found += user_recipients(conn, self.rt.tables.system["jig_users"], users=action.spec.get("to_users") or [],
                                 roles=action.spec.get("to_roles") or [],
                                 role_labels=role_labels(self.rt.apps, rule.app))
        return found

    def readdress(self, conn: Connection, payload: dict[str, Any]) -> list[Recipient]:
        """Who an outbox SMS recorded as undeliverable goes to now (its recipient resolved again: the user
        may have a phone number by now, the role a holder, the record's phone field a value)."""
        who = payload.get("recipient") or {}
        if "user" in who:
            return user_recipients(conn, self.rt.tables.system["jig_users"], users=[who["user"]])
        if "role" in who:
            return user_recipients(conn, self.rt.tables.system["jig_users"], roles=[who["role"]],
                                   role_labels=role_labels(self.rt.apps, payload.get("app") or ""))
        rule = next((r for r in self.rules if r.app == payload.get("app") and r.name == payload.get("rule")), None)
        index = payload.get("action")
        if rule is None or rule.entity is None or not isinstance(index, int) or index >= len(rule.actions):
            return [Recipient(None, who, str(who.get("field", "?")), Reason("rule_gone", rule=payload.get("rule")))]
        table = self.rt.tables.for_entity(rule.entity)
        found: list[Recipient] = []
        for record_id in payload.get("records") or []:
            row = conn.execute(select(table).where(table.c.id == int(record_id))).mappings().first()
            if row is None:
                found.append(Recipient(None, who, str(who.get("field")), f"记录 #{record_id} 已删除"))
                continue
            ctx = RecordContext(rule.entity, dict(row), RULE_ACTOR.context(), row_loader(conn, self.rt.tables))
            found += [r for r in self.recipients(conn, rule, rule.actions[index], ctx, int(record_id))
                      if r.who.get("field") == who.get("field")]
        return found

    def _webhook(self, conn: Connection, rule: RuleDef, action: Action, record_id: int,
                 ctx: RecordContext | None, key: str) -> None:
        body: dict[str, Any] = {"rule": rule.name, "app": rule.app, "record_id": record_id}
        if ctx is not None:
            if rule.entity is not None:
                body["entity"] = rule.entity.name
            for name, expr in action.exprs.items():
                try:
                    body[name] = to_json(evaluate(expr, ctx))
                except EvaluationError:
                    body[name] = None
        payload = {"url": action.spec["url"], "secret": action.spec.get("secret"),
                   "timeout": action.spec.get("timeout", 10), "body": body}
        self.rt.outbox.add(conn, "webhook", payload, key="webhook:" + key, app=rule.app, source=f"rule:{rule.name}")

    # ---- inside Jig --------------------------------------------------------

    def _notify(self, conn: Connection, rule: RuleDef, action: Action, record_id: int,
                ctx: RecordContext | None, key: str) -> None:
        values = dict(ctx) if ctx is not None else {}
        if ctx is not None and rule.entity is not None:
            for f in rule.entity.computed_fields():
                values[f.name] = ctx[f.name]
        users = list(action.spec.get("users") or [])
        if action.spec.get("user_field") and ctx is not None and ctx.get(action.spec["user_field"]):
            users.append(str(ctx.get(action.spec["user_field"])))
        texts = action.texts or {}
        if ctx is not None:  # each {{ ... }} was compiled as an expression: link paths follow their links
            for key, expr in action.exprs.items():
                if key.startswith("tpl."):
                    try:
                        values["jig_t" + key[4:]] = evaluate(expr, ctx)
                    except (EvaluationError, LimitExceeded):
                        values["jig_t" + key[4:]] = ""
        message = render(texts.get("message", action.spec["message"]), values)
        title = render(texts["title"], values) if "title" in texts else \
            render(action.spec.get("title") or "", values) or message[:60]
        link = f"/a/{rule.app}/{rule.entity.name}/{record_id}" if rule.entity is not None and record_id else None
        self.rt.notifications.add(conn, title=title, body=message, users=users, roles=action.spec.get("roles") or [],
                                  app=rule.app, link=link, source=f"rule:{rule.name}")

    def _set(self, conn: Connection, rule: RuleDef, action: Action, record_id: int,
             ctx: RecordContext | None, key: str) -> None:
        assert rule.entity is not None and ctx is not None
        values = {name: to_json(evaluate(expr, ctx)) for name, expr in action.exprs.items()}
        self._guarded(lambda: self.rt.records.update(RULE_ACTOR, rule.entity, record_id, values, None, conn=conn),
                      rule, "set")

    def _update(self, conn: Connection, rule: RuleDef, action: Action, record_id: int,
                ctx: RecordContext | None, key: str) -> None:
        assert ctx is not None and action.target is not None
        target_id = ctx.get(action.spec["link"])
        if target_id is None:
            return
        values = {name: to_json(evaluate(expr, ctx)) for name, expr in action.exprs.items()}
        self._guarded(lambda: self.rt.records.update(RULE_ACTOR, action.target, int(target_id), values, None,
                                                     conn=conn), rule, "update")

    def _transition(self, conn: Connection, rule: RuleDef, action: Action, record_id: int,
                    ctx: RecordContext | None, key: str) -> None:
        assert rule.entity is not None
        ent, target_id = rule.entity, record_id
        if action.spec.get("link"):  # a transition of the linked record (through the same system actor)
            assert ctx is not None and action.target is not None
            ref = ctx.get(action.spec["link"])
            if ref is None:
                return
            ent, target_id = action.target, int(ref)
        self._guarded(lambda: workflow.take(self.rt.records, RULE_ACTOR, ent, target_id,
                                            action.spec["name"], {}, None, conn=conn), rule, "transition")

    def _create(self, conn: Connection, rule: RuleDef, action: Action, record_id: int,
                ctx: RecordContext | None, key: str) -> None:
        assert action.target is not None
        row_field = action.spec.get("for_each_row")
        sources: list[Any] = [ctx]
        if row_field and ctx is not None and rule.entity is not None:
            child = rule.entity.fields[row_field].child
            assert child is not None
            rows = self.rt.records.children(conn, child, record_id)
            sources = [RecordContext(child, r, RULE_ACTOR.context(), row_loader(conn, self.rt.tables)) for r in rows]
        for source in sources:
            values = {}
            for name, expr in action.exprs.items():
                try:
                    values[name] = to_json(evaluate(expr, source)) if source is not None else None
                except EvaluationError:
                    values[name] = None
            self.create(conn, rule, action.target, values)

    def _explode(self, conn: Connection, rule: RuleDef, action: Action, record_id: int,
                 ctx: RecordContext | None, key: str) -> None:
        from .explode import explode
        explode(self, conn, rule, action.spec["plan"], record_id, ctx)

    def create(self, conn: Connection, rule: RuleDef, target: Any, values: dict[str, Any]) -> dict[str, Any] | None:
        return self._guarded(lambda: self.rt.records.create(RULE_ACTOR, target, values, conn=conn), rule, "create")

    def _guarded(self, fn: Any, rule: RuleDef, what: str) -> Any:
        """A record error (validation, wrong state) skips this action for this record and is logged."""
        try:
            return fn()
        except RecordError as exc:
            log.warning("rule %s: %s skipped: %s %s", rule.key, what, exc.message, exc.fields or "")
            return None
