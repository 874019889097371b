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
