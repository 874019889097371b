"""Trying a rule without firing it: "test now" in the rule editor and ``jig rules test``.

A rule is tried as written (the draft, or the editor's unsaved version of it),
at a given time if asked ("as if it were Monday 09:00": ``clock.as_of``): the
records it would look at are chosen by the very statement the scheduler runs
(``engine.scan_query``: the condition compiled to SQL), the firing keys say
which of them already fired for this occurrence, and the SMS messages are
built by the actions' own code (``ActionRunner.sms_messages``) without being
written to the outbox. Who cannot be reached (a user without a phone, an
empty number) is listed, never left out. Nothing is written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import jinja2
from sqlalchemy import Connection, and_, select

from runtime import clock
from runtime.context import RecordContext, row_loader
from runtime.errors import DefinitionErrors
from runtime.evaluate import EvaluationError, evaluate
from runtime.model import AppDef
from runtime.sqlcompile import SqlCompiler

from .actions import RULE_ACTOR, ActionRunner, render
from .dryrun import explode_plan, update_plan
from .engine import scan_query
from .reach import unreachable_users
from .service import rules_of
from .spec import RuleDef

LIMIT = 200  # records listed by a test (the count says how many more match)


class TrialError(Exception):
    """The rule cannot be tried as written (definition errors, an entity not published yet)."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or []


def compile_app(rt: Any, app: str, text: str) -> AppDef:
    """``text`` compiled as app ``app`` beside the other published apps (TrialError with every error)."""
    with rt.db.read() as conn:
        texts = rt.publisher.served(conn)
    texts[app] = (texts[app][0] if app in texts else f"{app}.yaml", text)
    try:
        return rt.publisher.load(texts)[app]  # type: ignore[no-any-return]
    except DefinitionErrors as exc:
        raise TrialError("the definition has errors", [e.as_dict() for e in exc.errors]) from None


def find_rule(app_def: AppDef, name: str) -> RuleDef:
    rule = next((r for r in app_def.sections.get("rules", []) if r.name == name), None)
    if rule is None:
        raise TrialError(f"no rule '{name}' in app '{app_def.name}'")
    return rule  # type: ignore[no-any-return]


def _label(row: Any, rule: RuleDef) -> str:
    return str(row.get("name") or f"#{row.get('id')}")


def trial(rt: Any, app_def: AppDef, rule: RuleDef, at: dt.datetime | None = None, limit: int = LIMIT
          ) -> dict[str, Any]:
    """What the rule would do now (or at ``at``): matching records, messages, unreachable recipients."""
    with clock.as_of(at) if at is not None else contextlib.nullcontext():
        try:
            return _trial(rt, app_def, rule, limit)
        except jinja2.TemplateError as exc:
            raise TrialError(f"a message template cannot be rendered: {exc}") from None


def _trial(rt: Any, app_def: AppDef, rule: RuleDef, limit: int) -> dict[str, Any]:
    now = clock.now()
    engine = rules_of(rt).engine
    runner = ActionRunner(rt, {rule.app: app_def.sections.get("templates", {})})
    firings = rt.tables.system["jig_rule_firings"]
    out: dict[str, Any] = {"rule": rule.key, "at": now.isoformat(sep=" "), "enabled": rule.enabled,
                           "records": [], "more": False, "messages": [], "notifications": [], "other": [],
                           "unreachable": []}
    if rule.schedule is not None:
        out["in_window"] = rule.schedule.in_window(now)
        out["schedule"] = rule.schedule.text
    with rt.db.read() as conn:
        items: list[tuple[int, RecordContext | None]] = []
        occ_by_id: dict[int, str] = {}
        if rule.entity is None:
            items = [(0, None)]
        else:
            rows = _matching(rt, rule, conn, limit)
            out["more"] = len(rows) > limit
            for row in rows[:limit]:
                ctx = RecordContext(rule.entity, row, RULE_ACTOR.context(), row_loader(conn, rt.tables))
                occ = engine.occurrence(rule, ctx) if rule.once != "per_event" else ""
                fired = bool(occ) and rule.once != "always" and conn.execute(select(firings.c.id).where(and_(
                    firings.c.rule == rule.key, firings.c.record_id == row["id"],
                    firings.c.occurrence == occ[:100]))).first() is not None
                out["records"].append({"id": row["id"], "name": _label(row, rule), "state": row.get("state"),
                                       "fired": fired})
                if not fired:
                    items.append((row["id"], ctx))
                    occ_by_id[row["id"]] = occ
        names = {r["id"]: r["name"] for r in out["records"]}
        for index, action in enumerate(rule.actions):
            if action.kind == "sms":
                _sms(rt, conn, runner, rule, action, index, items, occ_by_id, names, out)
            elif action.kind == "notify":
                who = rt.notifications.recipients(conn, users=action.spec.get("users") or [],
                                                  roles=action.spec.get("roles") or [])
                for record_id, ctx in items:
                    values = dict(ctx) if ctx is not None else {}
                    if ctx is not None and rule.entity is not None:
                        values.update({f.name: ctx[f.name] for f in rule.entity.computed_fields()})
                    out["notifications"].append({"record": names.get(record_id, ""), "users": who,
                                                 "text": render(action.spec["message"], values)})
            elif action.kind == "update":
                out["other"].append({"action": index, **update_plan(rt, conn, action, items, names)})
            elif action.kind == "explode":
                out["other"].append({"action": index, **explode_plan(rt, conn, rule, action, items, names)})
            else:
                out["other"].append({"action": index, "kind": action.kind, "records": len(items)})
    return out


def _matching(rt: Any, rule: RuleDef, conn: Connection, limit: int) -> list[dict[str, Any]]:
    assert rule.entity is not None
    try:
        table = rt.tables.for_entity(rule.entity)
    except KeyError:
        raise TrialError(f"entity '{rule.entity.name}' is not published yet: publish it first") from None
    # a compiler of its own: the rule may be an unsaved version (its expressions are not the served ones)
    sql = rt.sql if rule in rules_of(rt).rules else SqlCompiler(rt.tables, rt.db.dialect)
    try:
        q = scan_query(sql, rule, table, 0, limit + 1)
        return [dict(r) for r in conn.execute(q).mappings()]
    except Exception as exc:  # noqa: BLE001 - e.g. a field not published yet, or `before.` of an event rule
        raise TrialError(f"the condition cannot be checked on the stored records: {type(exc).__name__}: {exc}"
                         ) from None


def _sms(rt: Any, conn: Connection, runner: ActionRunner, rule: RuleDef, action: Any, index: int,
         items: list[tuple[int, RecordContext | None]], occ_by_id: dict[int, str], names: dict[int, str],
         out: dict[str, Any]) -> None:
    for _key, p, problem in runner.sms_messages(conn, rule, action, index, items, "", occ_by_id):
        if problem:
            continue  # listed under "unreachable" below
        out["messages"].append({"action": index, "to": p["to"], "text": p["text"],
                                "records": [names.get(r, f"#{r}") for r in p["records"]]})
    if "to" in action.exprs:
        for record_id, ctx in items:
            if ctx is None:
                continue
            try:
                value = evaluate(action.exprs["to"], ctx)
            except EvaluationError:
                value = None
            if not value:
                out["unreachable"].append({"kind": "no_number", "action": index, "record": names.get(record_id),
                                           "expr": action.spec.get("to")})
    for problem in unreachable_users(rt, conn, action.spec.get("to_roles") or [], action.spec.get("to_users") or []):
        out["unreachable"].append({**problem, "action": index})


def preview(rt: Any, app_def: AppDef, rule: RuleDef, record_id: int, at: dt.datetime | None = None
            ) -> list[dict[str, Any]]:
    """The SMS texts the rule's sms actions would send for one chosen record (fired or not, matching or not)."""
    with clock.as_of(at) if at is not None else contextlib.nullcontext():
        try:
            return _preview(rt, app_def, rule, record_id)
        except jinja2.TemplateError as exc:
            raise TrialError(f"a message template cannot be rendered: {exc}") from None


def _preview(rt: Any, app_def: AppDef, rule: RuleDef, record_id: int) -> list[dict[str, Any]]:
    if rule.entity is None:
        raise TrialError("this rule has no records to choose from")
    try:
        table = rt.tables.for_entity(rule.entity)
    except KeyError:
        raise TrialError(f"entity '{rule.entity.name}' is not published yet: publish it first") from None
    runner = ActionRunner(rt, {rule.app: app_def.sections.get("templates", {})})
    out: list[dict[str, Any]] = []
    with rt.db.read() as conn:
        row = conn.execute(select(table).where(table.c.id == record_id)).mappings().first()
        if row is None:
            raise TrialError(f"no record #{record_id}")
        ctx = RecordContext(rule.entity, dict(row), RULE_ACTOR.context(), row_loader(conn, rt.tables))
        for index, action in enumerate(rule.actions):
            if action.kind != "sms":
                continue
            tpl = app_def.sections.get("templates", {}).get(action.spec.get("template"))
            messages = [(k, p) for k, p, problem in
                        runner.sms_messages(conn, rule, action, index, [(record_id, ctx)], "", {}) if not problem]
            text = messages[0][1]["text"] if messages else (
                render(tpl.text, runner._params(action, [(record_id, ctx)])) if tpl else "")  # noqa: SLF001
            out.append({"action": index, "to": [p["to"] for _, p in messages], "text": text,
                        "chars": len(text)})
    return out
