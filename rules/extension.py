"""The rules extension: adds `rules:`, `templates:` and `sms:` to the language and runs them.

It subscribes to the runtime's record events (event rules), registers the
scheduled rules (and the jobs other layers publish in ``runtime.schedules``)
with the scheduler, registers the SMS and webhook outbox handlers, and starts
the embedded job thread when Jig serves without Redis. What it attached is
``rules.service.rules_of(runtime)``.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import BigInteger, Column, Date, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

from runtime import indexplan
from runtime.compiler import CompileContext
from runtime.extensions import hookimpl
from runtime.model import AppDef
from runtime.sqltypes import LocalDateTime

from .actions import ActionRunner
from .delivery import SmsDelivery, WebhookDelivery
from .engine import RuleEngine
from .scheduler import Job, Scheduler
from .service import RulesService
from .sms.base import SMS_CONFIG_SCHEMA
from .spec import ACTION_SCHEMA, IDENT, RULE_SCHEMA, TEMPLATE_SCHEMA, compile_rules, compile_templates

log = logging.getLogger("jig.rules")


class RulesExtension:
    name = "rules"

    @hookimpl
    def schema_sections(self) -> dict[str, dict[str, Any]]:
        return {
            "rules": {"type": "object", "propertyNames": {"pattern": IDENT},
                      "additionalProperties": {"$ref": "#/$defs/rule"},
                      "description": "Rules: what the system does by itself (reminders, follow-ups)."},
            "templates": {"type": "object", "propertyNames": {"pattern": IDENT},
                          "additionalProperties": TEMPLATE_SCHEMA,
                          "description": "Message templates (Chinese text with {{ variables }})."},
            "sms": SMS_CONFIG_SCHEMA,
        }

    @hookimpl
    def schema_defs(self) -> dict[str, dict[str, Any]]:
        return {"rule": RULE_SCHEMA, "rule_action": ACTION_SCHEMA}

    @hookimpl
    def compile(self, app: AppDef, ctx: CompileContext, apps: dict[str, AppDef]) -> None:
        templates = compile_templates(app, ctx)
        app.sections["templates"] = templates
        app.sections["rules"] = compile_rules(app, ctx, templates)
        for rule in app.sections["rules"]:  # a scheduled rule's `when` selects in SQL: plan its index
            if rule.schedule is not None and rule.entity is not None and rule.when is not None:
                indexplan.plan(rule.entity, indexplan.condition_index(rule.entity, rule.when))
        # the schema already insists that secrets are ${ENV} references
        app.sections["sms"] = app.raw.get("sms") or {"provider": "log"}

    @hookimpl
    def define_tables(self, metadata: MetaData) -> list[Table]:
        firings = Table(
            "jig_rule_firings", metadata,
            Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
            Column("rule", String(100), nullable=False),
            Column("record_id", BigInteger, nullable=False),
            Column("occurrence", String(100), nullable=False),
            Column("fired_at", LocalDateTime, nullable=False),
            UniqueConstraint("rule", "record_id", "occurrence", name="uq_jig_rule_firings_key"),
        )
        schedules = Table(
            "jig_schedules", metadata,
            Column("name", String(120), primary_key=True),
            Column("next_run_at", LocalDateTime, nullable=False),
            Column("last_run_at", LocalDateTime),
            Column("lease_until", LocalDateTime),
            Column("leased_by", String(64)),
            Column("last_status", Text),
            Column("last_ms", Integer),
            Column("missed_total", Integer, nullable=False, default=0),
            Column("runs", Integer, nullable=False, default=0),
        )
        sms_log = Table(
            "jig_sms_log", metadata,
            Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
            Column("key", String(200), nullable=False),
            Column("app", String(48)),
            Column("to", String(32), nullable=False),
            Column("template", String(64), nullable=False),
            Column("text", Text, nullable=False),
            Column("status", String(24), nullable=False),
            Column("provider_id", String(100)),
            Column("detail", String(500)),
            Column("day", Date, nullable=False),
            Column("at", LocalDateTime, nullable=False),
            Index("ix_jig_sms_log_limit", "to", "template", "day"),
        )
        return [firings, schedules, sms_log]

    @hookimpl
    def attach(self, runtime: Any) -> None:
        rt = runtime
        system = rt.tables.system
        rules = [r for app in rt.apps.values() for r in app.sections.get("rules", [])]
        templates = {name: app.sections.get("templates", {}) for name, app in rt.apps.items()}
        runner = ActionRunner(rt, templates, rules)
        engine = RuleEngine(rt, rules, runner, system["jig_rule_firings"])
        for event in ("record.created", "record.updated", "record.transitioned", "record.deleted"):
            # only the entities some rule listens on: other writes build no event and re-read nothing
            keys = {f"{app}.{entity}" for (app, entity, kind) in engine.by_event if f"record.{kind}" == event}
            rt.hooks.subscribe(event, engine.on_event, entities=keys)
        scheduler = Scheduler(rt.db, system["jig_schedules"], rt.schedules)
        for rule in rules:
            if rule.schedule is not None and rule.enabled:
                scheduler.add(Job(f"rule:{rule.key}", rule.schedule,
                                  lambda worker, renew, r=rule: engine.run_scheduled(r, worker, renew)))
        sms_settings = {name: app.sections.get("sms") or {"provider": "log"} for name, app in rt.apps.items()}
        sms = SmsDelivery(rt, system["jig_sms_log"], sms_settings, readdress=runner.readdress,
                          limits={(a, n): t.limit_per_day for a, ts in templates.items() for n, t in ts.items()})
        rt.outbox.register("sms", sms)
        rt.services.put(sms)  # a runtime.outbox.DeliveryLimits: today's use of each number's daily limit
        rt.outbox.register("webhook", WebhookDelivery())
        service = rt.services.put(RulesService(engine, scheduler, rules))
        if not rt.settings.get("redis_url") and rt.settings.get("embedded_jobs", True):
            from .jobs import EmbeddedJobs
            jobs = EmbeddedJobs(rt, scheduler)
            rt.hooks.subscribe("runtime.started", lambda _rt: jobs.start())
            rt.hooks.subscribe("runtime.stopping", lambda _rt: jobs.stop())
            service.jobs = jobs

    @hookimpl
    def cli_commands(self) -> list[Any]:
        from .cli import commands
        return commands()

    @hookimpl
    def metrics(self, runtime: Any) -> list[Any]:
        from .metrics import samples
        return samples(runtime)
