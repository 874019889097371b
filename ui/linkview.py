"""What the mobile page of a link shows: only the link's fields, its record and its own history."""

from __future__ import annotations

from typing import Any

from runtime import workflow
from runtime.auth import SYSTEM
from runtime.model import EntityDef, pick

from . import dashboards as dash
from .i18n import tr
from .linkstore import LinkStore, Resolved, hash_token
from .values import cell, input_value, label_of, link_maps

HISTORY_SHOWN = 8


def _input(ent: EntityDef, name: str, value: Any, lang: str, prefill: Any) -> dict[str, Any]:
    f = ent.fields[name]
    spec: dict[str, Any] = {"name": name, "label": pick(f.label, lang), "type": f.type,
                            # a link form takes photos from the camera; other files are not uploaded through it
                            "widget": "photo" if f.ft.image else "text" if f.ft.is_file else f.ft.widget,
                            "multi": f.ft.multi, "required": f.required,
                            "value": input_value(f, value) if value not in (None, [], "") else (prefill or ""),
                            "help": pick(f.help, lang) if f.help else ""}
    if f.ft.widget == "select":
        spec["options"] = [(o.value, pick(o.label, lang)) for o in f.options]
    if f.ft.multi:
        spec["count"] = len(value or [])
    if f.ft.widget == "number":
        spec["step"] = f.ft.step
    return spec


def page_context(rt: Any, store: LinkStore, res: Resolved, token: str, lang: str) -> dict[str, Any]:
    from .linkweb import entity_of, link_actor
    lk = res.link
    ent = entity_of(lk)
    actor = link_actor(res, None, lang)
    record: dict[str, Any] = {}
    transitions: list[dict[str, str]] = []
    history: list[dict[str, Any]] = []
    on_title = ""
    if lk.creates:
        on = rt.apps[lk.app].entities[lk.on]
        rid = int(res.row["record_id"])
        on_title = dash.link_titles(rt, on, [rid], lang).get(rid, f"#{rid}")
    else:
        record = rt.records.get(actor, ent, int(res.row["record_id"]))
        with rt.db.read() as conn:
            ctx = rt.records.context(conn, ent, record, actor)
            transitions = [{"name": t_.name, "label": pick(t_.label, lang), "require": ",".join(t_.require)}
                           for t_ in sorted(workflow.available(rt.records, actor, ent, ctx),
                                            key=lambda x: lk.transitions.index(x.name))]  # the link's order
        history = _history(rt, store, ent, record, lang)
    shown_cols = [c for c in lk.show if c not in lk.edit]
    maps = link_maps(rt, ent, [record], shown_cols, lang) if record else {}
    shown = [{"label": label_of(ent, c, lang), **cell(rt, ent, c, record.get(c), lang, maps)}
             for c in shown_cols if record and record.get(c) not in (None, "", [])]
    prefill = {k: str(request_arg(k))[:200] for k in lk.prefill if request_arg(k)}
    editing = bool(lk.creates or transitions or (lk.edit and not ent.workflow))
    if transitions and not any(t_["require"] for t_ in transitions) and ent.workflow and \
            record.get("state") == ent.workflow.initial:
        editing = False  # a start screen: one big button (report in as few taps as possible)
    inputs = [_input(ent, n, record.get(n), lang, prefill.get(n)) for n in lk.edit] if editing else []
    state = ""
    if record.get("state") and ent.workflow:
        st = ent.workflow.states.get(record["state"])
        state = pick(st.label, lang) if st else record["state"]
    th = hash_token(token)
    return {
        "link": lk, "label": pick(lk.label, lang), "entity_title": pick(ent.title, lang), "record": record,
        "title": record.get("name") or on_title or pick(ent.title, lang), "on_title": on_title, "state": state,
        "state_color": (ent.workflow.states[record["state"]].color if state and record["state"] in
                        ent.workflow.states else "grey") if ent.workflow else "grey",
        "shown": shown, "inputs": inputs, "transitions": transitions, "history": history,
        "workers": store.workers(lk.identify_roles) if lk.identify_roles else [],
        "challenge": store.challenge(th) if lk.challenge else None,
        "csrf": store.page_csrf(th), "post_url": f"/l/{token}", "files_url": f"/l/{token}/files",
        "storage_key": "jig-link-" + th[:16], "save": bool(lk.edit) and not lk.creates and not ent.workflow,
        "other_lang": "en" if lang == "zh" else "zh",
        "finished": not lk.creates and not transitions and bool(ent.workflow),
    }


def request_arg(name: str) -> str:
    from flask import request
    return request.args.get(name, "")


def _history(rt: Any, store: LinkStore, ent: EntityDef, record: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    entries = rt.records.history(SYSTEM, ent, int(record["id"]))[-HISTORY_SHOWN:]
    uses = store.uses_of(ent.app, ent.name, int(record["id"]))
    out = []
    for e in reversed(entries):
        title = tr({"create": "created", "update": "updated"}.get(e["action"], "transition"), lang)
        if e.get("transition") and ent.workflow and e["transition"] in ent.workflow.transitions:
            title = pick(ent.workflow.transitions[e["transition"]].label, lang)
        who = e.get("user") or ""
        use = uses.get(int(e.get("version") or 0)) if e.get("via") == "link" else None
        if use:
            who = use.get("worker") or tr("link_someone", lang)
        elif who.startswith("link-") or e.get("via") != "link":
            who = tr("link_staff", lang) if e.get("via") != "link" else tr("link_someone", lang)
        out.append({"title": title, "at": (e.get("at") or "")[5:16].replace("T", " "), "who": who,
                    "via_link": e.get("via") == "link"})
    return out
