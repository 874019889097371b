"""Relations into an entity, from the definitions: the links (direct, or from child-table rows) to it.

A relation's **key** is ``<entity>.<link>`` or ``<entity>.<child_table>.<link>``, its **path** the
list filter that finds its records (runtime/reach.py). An entity's ``related:`` list may label some
of them; those come first. Used by runtime/related.py (counts, embedding) and the record page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import EntityDef, Label, pick


@dataclass(frozen=True)
class Relation:
    key: str  # "complaint.lot", "lot.materials.material_batch"
    source: EntityDef  # the (root) entity whose records link here
    path: str  # its filter: "lot", "materials.material_batch"
    label: Label


def step(ent: EntityDef, f: Any) -> EntityDef | None:
    """The entity a field leads to (its child rows, or the linked record), else None."""
    if f is None:
        return None
    if f.type == "table":
        return f.child  # type: ignore[no-any-return]
    if f.type == "link" and f.to:
        return ent.sibling(f.to)
    return None


def walk(ent: EntityDef, dotted: str) -> tuple[list[Any], EntityDef, Any] | None:
    """(fields followed, entity reached, leaf field) of a path ``a.b.c``; None when it leads nowhere."""
    parts = dotted.split(".")
    hops, cur = [], ent
    for part in parts[:-1]:
        nxt = step(cur, cur.fields.get(part))
        if nxt is None:
            return None
        hops.append(cur.fields[part])
        cur = nxt
    leaf = cur.fields.get(parts[-1])
    return (hops, cur, leaf) if leaf is not None else None


def relations(ent: EntityDef) -> list[Relation]:
    """Every relation into ``ent``: declared ones (with their labels) first, then the derived ones."""
    if ent.owner is None or ent.is_child:
        return []
    found: dict[str, Relation] = {}
    for src in ent.owner.entities.values():
        for f in src.fields.values():
            if f.type == "link" and f.to == ent.name:
                found[f"{src.name}.{f.name}"] = Relation(f"{src.name}.{f.name}", src, f.name, _label(src, [f]))
            elif f.type == "table" and f.child is not None:
                for cf in f.child.fields.values():
                    if cf.type == "link" and cf.to == ent.name:
                        key = f"{src.name}.{f.name}.{cf.name}"
                        found[key] = Relation(key, src, f"{f.name}.{cf.name}", _label(src, [f, cf]))
    declared = [(d["from"], d.get("label")) for d in ent.extra.get("related", [])]
    out = [Relation(k, found[k].source, found[k].path, label or found[k].label)
           for k, label in declared if k in found]
    return out + [r for k, r in found.items() if k not in {d for d, _ in declared}]


def _label(src: EntityDef, via: list[Any]) -> Label:
    return {lang: f"{pick(src.title, lang) or src.name}（{' · '.join(pick(f.label, lang) or f.name for f in via)}）"
            if lang == "zh" else
            f"{pick(src.title, lang) or src.name} ({' · '.join(pick(f.label, lang) or f.name for f in via)})"
            for lang in ("zh", "en")}


def compile_related(app: Any, ctx: Any) -> None:
    """Check each entity's ``related:`` list against the links into it; keep it in ``entity.extra['related']``."""
    from .compiler import label
    from .expressions import suggest
    ents = app.raw.get("entities") if isinstance(app.raw.get("entities"), dict) else {}
    for ename, ent in app.entities.items():
        spec = ents.get(ename) if isinstance(ents.get(ename), dict) else {}
        declared = spec.get("related") if isinstance(spec.get("related"), list) else []
        known = [r.key for r in relations(ent)]
        kept = []
        for i, item in enumerate(declared):
            if not isinstance(item, dict) or not isinstance(item.get("from"), str):
                continue  # the schema said so
            if item["from"] not in known:
                ctx.error(("entities", ename, "related", i, "from"),
                          f"'{item['from']}' does not link to {ename}",
                          suggest(item["from"], known) or f"links into {ename}: {', '.join(known) or 'none'}")
                continue
            kept.append({"from": item["from"], "label": label(item["label"], item["from"])
                         if "label" in item else None})
        ent.extra["related"] = kept
        _list_filters(ent, spec.get("list"), ("entities", ename, "list", "filters"), ctx)


def _list_filters(ent: EntityDef, spec: Any, path: tuple[Any, ...], ctx: Any) -> None:
    """``list: {filters: [materials.material_batch, partner.city]}``: extra filter controls on the list page."""
    raw = spec.get("filters") if isinstance(spec, dict) and isinstance(spec.get("filters"), list) else []
    kept = []
    for i, name in enumerate(raw):
        if not isinstance(name, str):
            continue
        found = walk(ent, name) if "." in name else None
        if found is None or len(found[0]) > 3 or not found[2].stored or found[2].ft.is_file:
            ctx.error((*path, i), f"'{name}' is not a path to a field across a link or child table",
                      "e.g. materials.material_batch or partner.city (at most three steps); "
                      "plain fields get a filter when they are list columns")
            continue
        kept.append(name)
    ent.extra["list_filters"] = kept
