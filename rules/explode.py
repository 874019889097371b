"""The `explode` action: turn order rows into work orders and operations through a multi-level BOM.

For each starting row (an order line: product and quantity) the product's
preferred BOM is found; a record is created for the product (a work order),
with one record per step of the product's routing (its operations). Then
every BOM line pointing to a sub-BOM (a part made in-house) is exploded the
same way, its quantity multiplied down the levels:
``child qty = parent qty × line qty ÷ BOM output quantity`` (exact decimals).
Cycles and runaway depth are refused. All of it happens in the firing's
transaction, so an order is exploded completely or not at all.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, desc, select

from runtime.compiler import CompileContext
from runtime.context import RecordContext, row_loader
from runtime.evaluate import EvaluationError, evaluate
from runtime.expressions import Expr, NameInfo, Scope, suggest
from runtime.fieldtypes import to_json
from runtime.model import AppDef, EntityDef, FieldDef

log = logging.getLogger("jig.rules")
IDENT = r"^[a-z][a-z0-9_]{0,47}$"
_F = {"type": "string", "pattern": IDENT}
_VALUES = {"type": "object", "propertyNames": {"pattern": IDENT},
           "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}}

EXPLODE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["item", "qty", "bom", "create"], "additionalProperties": False,
    "properties": {
        "rows": {**_F, "description": "Table field of the record to start from (e.g. order lines)."},
        "item": {**_F, "description": "Field with the product to make."},
        "qty": {**_F, "description": "Field with the quantity to make."},
        "bom": {"type": "object", "required": ["entity", "product", "lines", "item", "qty"],
                "additionalProperties": False, "properties": {
                    k: _F for k in ("entity", "product", "lines", "item", "qty", "sub_bom", "output", "prefer")}},
        "routing": {"type": "object", "required": ["entity", "product", "steps"], "additionalProperties": False,
                    "properties": {k: _F for k in ("entity", "product", "steps")}},
        "create": {"type": "object", "required": ["entity", "values"], "additionalProperties": False,
                   "properties": {"entity": _F, "values": _VALUES}},
        "operations": {"type": "object", "required": ["entity", "values"], "additionalProperties": False,
                       "properties": {"entity": _F, "values": _VALUES}},
        "max_depth": {"type": "integer", "minimum": 1, "maximum": 20},
    },
}


def _link(name: str, to: str) -> FieldDef:
    return FieldDef(name=name, type="link", label={"zh": name, "en": name}, to=to)


def _synthetic(app: AppDef, name: str, fields: list[FieldDef]) -> EntityDef:
    ent = EntityDef(app=app.name, name=name, title={"zh": name, "en": name}, fields={f.name: f for f in fields},
                    table_name="")
    names: dict[str, NameInfo] = {}
    for f in fields:
        if f.type == "link":
            target = app.entities[f.to or ""]
            names[f.name] = NameInfo("int", target=target.scope, sql=False)
        else:
            names[f.name] = NameInfo({"decimal": "dec", "integer": "int"}.get(f.type, "text"), sql=False)
    ent.scope = Scope(label=f"explode {name}", names=names, user={"username": NameInfo("text")})
    return ent


def compile_explode(app: AppDef, ctx: CompileContext, rule_entity: EntityDef | None, spec: dict[str, Any],
                    path: tuple[str | int, ...]) -> dict[str, Any] | None:
    """Check an explode spec; return what the runner needs, or None after reporting errors."""
    def entity(name: Any, p: tuple[str | int, ...]) -> EntityDef | None:
        ent = app.entities.get(str(name))
        if ent is None:
            ctx.error(p, f"unknown entity '{name}'", suggest(str(name), app.entities))
        return ent

    def field(ent: EntityDef, name: Any, p: tuple[str | int, ...], kind: str | None = None) -> bool:
        f = ent.fields.get(str(name))
        if f is None or (kind is not None and f.type != kind):
            want = f" ({kind} field)" if kind else ""
            ctx.error(p, f"'{name}' is not a field of '{ent.name}'{want}", suggest(str(name), ent.fields))
            return False
        return True

    if rule_entity is None:
        ctx.error(path, "explode needs a record: use an event rule or for_each")
        return None
    start = rule_entity
    if "rows" in spec:
        if not field(rule_entity, spec["rows"], (*path, "rows"), "table"):
            return None
        start = rule_entity.fields[spec["rows"]].child  # type: ignore[assignment]
    ok = field(start, spec["item"], (*path, "item"), "link") & field(start, spec["qty"], (*path, "qty"))
    b = spec["bom"]
    bom = entity(b["entity"], (*path, "bom", "entity"))
    if bom is None or not ok:
        return None
    ok = field(bom, b["product"], (*path, "bom", "product"), "link") and \
        field(bom, b["lines"], (*path, "bom", "lines"), "table")
    if not ok:
        return None
    bom_lines = bom.fields[b["lines"]].child
    assert bom_lines is not None
    ok = field(bom_lines, b["item"], (*path, "bom", "item"), "link") & \
        field(bom_lines, b["qty"], (*path, "bom", "qty"))
    if "sub_bom" in b:
        ok &= field(bom_lines, b["sub_bom"], (*path, "bom", "sub_bom"), "link")
    for key in ("output", "prefer"):
        if key in b:
            ok &= field(bom, b[key], (*path, "bom", key))
    product_entity = start.fields[spec["item"]].to or ""
    routing = steps = None
    if "routing" in spec:
        r = spec["routing"]
        routing = entity(r["entity"], (*path, "routing", "entity"))
        if routing is not None and field(routing, r["product"], (*path, "routing", "product"), "link") and \
                field(routing, r["steps"], (*path, "routing", "steps"), "table"):
            steps = routing.fields[r["steps"]].child
    target = entity(spec["create"]["entity"], (*path, "create", "entity"))
    if target is None or not ok:
        return None
    node_fields = [_link("item", product_entity), FieldDef("qty", "decimal", {}, scale=8),
                   FieldDef("level", "integer", {}), _link("bom", bom.name), _link("source", rule_entity.name)]
    if routing is not None:
        node_fields.append(_link("routing", routing.name))
    node_fields.append(_link("parent", target.name))
    node = _synthetic(app, "node", node_fields)
    values = _exprs(ctx, spec["create"]["values"], node, target, (*path, "create", "values"))
    result: dict[str, Any] = {"spec": spec, "node": node, "target": target, "values": values, "bom": bom,
                              "routing": routing}
    if "operations" in spec:
        op_target = entity(spec["operations"]["entity"], (*path, "operations", "entity"))
        if steps is None:
            ctx.error((*path, "operations"), "operations need routing: {entity, product, steps}", key=True)
        elif op_target is not None:
            step_fields = [*[f for f in steps.fields.values() if f.stored],
                           _link("created", target.name), FieldDef("qty", "decimal", {}, scale=8),
                           _link("item", product_entity), FieldDef("level", "integer", {})]
            step = _synthetic(app, "step", step_fields)
            result.update(op_target=op_target, step=step, steps=steps,
                          op_values=_exprs(ctx, spec["operations"]["values"], step, op_target,
                                           (*path, "operations", "values")))
    return result


def _exprs(ctx: CompileContext, values: dict[str, Any], ent: EntityDef, target: EntityDef,
           path: tuple[str | int, ...]) -> dict[str, Expr]:
    out: dict[str, Expr] = {}
    assert ent.scope is not None
    for key, source in values.items():
        if key not in target.fields:
            ctx.error((*path, key), f"unknown field '{key}' of '{target.name}'", suggest(key, target.fields), key=True)
            continue
        e = ctx.expr(source, ent.scope, (*path, key))
        if e is not None:
            out[key] = e
    return out


class _Exploder:
    def __init__(self, runner: Any, conn: Connection, rule: Any, plan: dict[str, Any], source_id: int):
        self.runner, self.conn, self.rule, self.plan, self.source_id = runner, conn, rule, plan, source_id
        self.rt = runner.rt
        self.loader = row_loader(conn, self.rt.tables)
        self.max_depth = int(plan["spec"].get("max_depth", 10))
        self.created = 0

    def default_bom(self, product: int) -> int | None:
        b = self.plan["spec"]["bom"]
        table = self.rt.tables.for_entity(self.plan["bom"])
        q = select(table.c.id).where(table.c[b["product"]] == product)
        if "prefer" in b:
            q = q.order_by(desc(table.c[b["prefer"]]))
        return self.conn.execute(q.order_by(desc(table.c.id)).limit(1)).scalar()

    def routing_of(self, product: int) -> int | None:
        if self.plan["routing"] is None:
            return None
        r = self.plan["spec"]["routing"]
        table = self.rt.tables.for_entity(self.plan["routing"])
        return self.conn.execute(select(table.c.id).where(table.c[r["product"]] == product)
                                 .order_by(desc(table.c.id)).limit(1)).scalar()

    def node(self, level: int, product: int, qty: Decimal, bom_id: int | None, parent: int | None,
             seen: tuple[int, ...]) -> None:
        if level >= self.max_depth or (bom_id is not None and bom_id in seen):
            log.warning("rule %s: BOM explosion stopped at level %d (cycle or too deep) for product %s",
                        self.rule.key, level, product)
            return
        routing_id = self.routing_of(product)
        values = {"item": product, "qty": qty, "level": level, "bom": bom_id, "source": self.source_id,
                  "routing": routing_id, "parent": parent}
        ctx = RecordContext(self.plan["node"], values, {"username": "system"}, self.loader)
        record = self.runner.create(self.conn, self.rule, self.plan["target"], _eval(self.plan["values"], ctx))
        created_id = record["id"] if record else None
        if created_id is not None:
            self.created += 1
            if routing_id is not None and "op_values" in self.plan:
                self.operations(created_id, routing_id, product, qty, level)
        if bom_id is None:
            return
        b = self.plan["spec"]["bom"]
        bom_row = self.loader(self.plan["bom"], bom_id) or {}
        output = Decimal(str(bom_row.get(b.get("output", ""), None) or 1)) or Decimal(1)
        lines = self.rt.records.children(self.conn, self.plan["bom"].fields[b["lines"]].child, bom_id)
        for line in lines:
            sub = line.get(b["sub_bom"]) if "sub_bom" in b else None
            if sub is None or line.get(b["item"]) is None:
                continue  # a bought-in or raw item: no work order
            child_qty = qty * Decimal(str(line.get(b["qty"]) or 0)) / output
            self.node(level + 1, int(line[b["item"]]), child_qty, int(sub), created_id,
                      (*seen, bom_id))

    def operations(self, created_id: int, routing_id: int, product: int, qty: Decimal, level: int) -> None:
        steps = self.rt.records.children(self.conn, self.plan["steps"], routing_id)
        for step in steps:
            values = {**step, "created": created_id, "qty": qty, "item": product, "level": level}
            ctx = RecordContext(self.plan["step"], values, {"username": "system"}, self.loader)
            self.runner.create(self.conn, self.rule, self.plan["op_target"], _eval(self.plan["op_values"], ctx))


def _eval(exprs: dict[str, Expr], ctx: RecordContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, expr in exprs.items():
        try:
            out[name] = to_json(evaluate(expr, ctx))
        except EvaluationError:
            out[name] = None
    return out


def explode(runner: Any, conn: Connection, rule: Any, plan: dict[str, Any], record_id: int,
            ctx: RecordContext | None) -> int:
    """Run one explode action for one record; returns how many records it created at the top levels."""
    if ctx is None:
        return 0
    spec = plan["spec"]
    exploder = _Exploder(runner, conn, rule, plan, record_id)
    if "rows" in spec:
        child = rule.entity.fields[spec["rows"]].child
        rows = runner.rt.records.children(conn, child, record_id)
    else:
        rows = [dict(ctx)]
    for row in rows:
        product, qty = row.get(spec["item"]), row.get(spec["qty"])
        if product is None or qty is None:
            continue
        exploder.node(0, int(product), Decimal(str(qty)), exploder.default_bom(int(product)), None, ())
    return exploder.created
