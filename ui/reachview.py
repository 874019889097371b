"""The list page's filters across links and child tables, and the record page's related records.

``list: {filters: [materials.material_batch, partner.city]}`` adds one filter control per path
(by the type of the field it reaches), submitted as the API's path filters (runtime/reach.py).
The record page lists the records linking to it (runtime/related.py) with counts, each linking
to the list filtered by that path; only relations the user may read are shown.
"""

from __future__ import annotations

from typing import Any

from flask import url_for

from runtime import related
from runtime.auth import Actor
from runtime.model import EntityDef, pick
from runtime.relations import walk

from .i18n import tr


def path_label(ent: EntityDef, dotted: str, lang: str) -> str:
    found = walk(ent, dotted)
    if found is None:
        return dotted
    hops, _, leaf = found
    return " · ".join(pick(f.label, lang) or f.name for f in [*hops, leaf])


def filter_specs(ent: EntityDef, lang: str) -> list[dict[str, Any]]:
    """The list page's controls for the declared path filters (the same kinds as for columns)."""
    specs = []
    for name in ent.extra.get("list_filters", []):
        found = walk(ent, name)
        if found is None:
            continue
        f = found[2]
        control, label = f.ft.filter_control, path_label(ent, name, lang)
        if control in ("option", "options"):
            specs.append({"name": name + ("__contains" if control == "options" else ""), "label": label,
                          "kind": "choice", "options": [(o.value, pick(o.label, lang)) for o in f.options]})
        elif control == "yesno":
            specs.append({"name": name, "label": label, "kind": "choice",
                          "options": [("true", tr("yes", lang)), ("false", tr("no", lang))]})
        elif control in ("date", "number"):
            specs.append({"name": name, "label": label, "kind": "range", "input": control})
        elif control == "link":
            specs.append({"name": name, "label": label, "kind": "link", "to": f.to, "app": ent.app})
        else:
            specs.append({"name": name + "__contains", "label": label, "kind": "text"})
    return specs


def link_target(ent: EntityDef, key: str) -> EntityDef | None:
    """The entity a link path filter (``materials.material_batch``) names records of, for its chip."""
    found = walk(ent, key) if "." in key else None
    if found is None or found[2].type != "link" or not found[2].to:
        return None
    return found[1].sibling(found[2].to)


def related_view(rt: Any, actor: Actor, ent: EntityDef, record_id: int, lang: str) -> list[dict[str, Any]]:
    """The record page's related records: label, count, and the filtered list's URL."""
    out = []
    for r in related.counts(rt, actor, ent, record_id, lang):
        out.append({**r, "url": url_for("jig_ui.list_view", app=ent.app, entity=r["entity"],
                                        **{r["path"]: record_id})})
    return out
