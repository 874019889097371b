"""The permission audit: every route of the served app × {no session, no role in the app, another partner}.

The table below has one entry per (route, method) of the Flask url_map, so a new route without an
entry fails ``test_every_route_is_in_the_audit_table``. For each entry and each principal the answer
must be a refusal (401/403/404, or a redirect to the sign-in page for pages), or — for routes any
signed-in user may open (their own notifications, /api/me, a list filtered to their own rows) — a
normal answer. In every case the body must not contain partner A's data (its name, phone, customer,
file name, notification), and after all requests nothing stored has changed.

Partner A owns batch ``a``; the principals are: nobody signed in, ``outsider`` (a user whose only
role is in no app), and ``pb`` (partner B: may create batches and read its own rows only).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from runtime import clock
from runtime.auth import SYSTEM
from ui.linkstore import LinkStore

from .ui_support import build

PLANT = """
app: plant
title: {zh: 外协, en: Outsourcing}
roles: [planner, partner]
user_attributes:
  partner: {type: link, to: partner}
entities:
  partner:
    title: {zh: 外协厂, en: Partner}
    fields:
      name: {type: text, required: true}
      phone: {type: phone}
    list: {columns: [name, phone]}
    permissions:
      planner: {read: true, create: true, update: true}
      partner: {read: "id == user.partner"}
  batch:
    title: {zh: 外发单, en: Batch}
    fields:
      customer: {type: text, required: true}
      partner: {type: link, to: partner, required: true}
      partner_phone: {type: computed, returns: text, expr: "partner.phone"}
      qty: {type: integer, min: 1}
      photos: {type: images}
      remark: {type: text}
    list: {columns: [customer, partner, qty, state]}
    workflow:
      initial: shipped
      states: {shipped: {}, processing: {}, done: {final: true}}
      transitions:
        start: {from: shipped, to: processing, roles: [partner, planner]}
        finish: {from: processing, to: done, roles: [planner], require: [qty]}
    permissions:
      planner: {read: true, create: true, update: true, delete: true, transition: true}
      partner:
        read: "partner == user.partner"
        create: true
        update: "partner == user.partner and state == 'shipped'"
        transition: "partner == user.partner"
links:
  partner_update:
    entity: batch
    show: [customer, qty]
    edit: [qty, photos, remark]
    transitions: [start]
dashboards:
  overview:
    title: 总览
    widgets:
      - {type: number, title: 外发, entity: batch}
      - {type: bar, entity: batch, group_by: partner}
      - {type: table, entity: batch, columns: [customer, partner, qty]}
  partners:
    title: 外协厂
    widgets:
      - {type: table, entity: partner, columns: [name, phone]}
documents:
  slip:
    label: 外发单
    entity: batch
    sections: [{fields: [customer, partner, partner_phone, qty]}]
    qr: partner_update
"""

# Partner A's data: none of these may appear in an answer to anyone but A (and planners/admins).
SECRETS = ("华新电镀", "13800001111", "甲方机密客户", "a-secret-photo", "给华新的通知")


def _png() -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


PNG = _png()


@dataclass
class Env:
    rt: Any
    app: Any
    ids: dict[str, Any] = field(default_factory=dict)


@dataclass
class Case:
    """One request of the audit; ``outsider``/``other``: "refuse" or "ok" (allowed, but nothing leaks)."""

    method: str
    path: str
    outsider: str = "refuse"
    other: str = "refuse"
    json: Any = None
    form: dict[str, Any] | None = None


def _png_upload() -> dict[str, Any]:
    return {"file": (io.BytesIO(PNG), "x.png")}


# (rule, method) -> cases; {a}, {pa}, {key}, {job} and {token} are filled from the environment.
CASES: dict[tuple[str, str], list[Case]] = {
    ("/", "GET"): [Case("GET", "/", "ok", "ok")],
    ("/a/<app>/<entity>", "GET"): [Case("GET", "/a/plant/batch", other="ok"),
                                   Case("GET", "/a/plant/batch?partner={pa}", other="ok"),  # the filter chip
                                   Case("GET", "/a/plant/partner", other="ok")],
    ("/a/<app>/<entity>/<int:record_id>", "GET"): [Case("GET", "/a/plant/batch/{a}"),
                                                   Case("GET", "/a/plant/partner/{pa}")],
    ("/a/<app>/<entity>/_rules", "POST"): [Case("POST", "/a/plant/batch/_rules", json={"id": "{a}"}),
                                          Case("POST", "/a/plant/batch/_rules", other="ok",
                                               json={"values": {"partner": "{pa}"}})],
    ("/a/<app>/<entity>/export.<fmt>", "GET"): [Case("GET", "/a/plant/batch/export.csv?partner={pa}", other="ok"),
                                               Case("GET", "/a/plant/batch/export.xlsx", other="ok"),
                                               Case("GET", "/a/plant/partner/export.csv", other="ok")],
    ("/a/<app>/<entity>/import", "GET"): [Case("GET", "/a/plant/batch/import", other="ok"),
                                         Case("GET", "/a/plant/partner/import")],
    ("/a/<app>/<entity>/import", "POST"): [Case("POST", "/a/plant/partner/import", form={"step": "upload"})],
    ("/a/<app>/<entity>/import/template.xlsx", "GET"): [Case("GET", "/a/plant/batch/import/template.xlsx", other="ok"),
                                                       Case("GET", "/a/plant/partner/import/template.xlsx")],
    ("/a/<app>/<entity>/kanban", "GET"): [Case("GET", "/a/plant/batch/kanban", other="ok")],
    ("/a/<app>/<entity>/new", "GET"): [Case("GET", "/a/plant/batch/new", other="ok"),
                                      Case("GET", "/a/plant/partner/new")],
    ("/admin/displays", "GET"): [Case("GET", "/admin/displays")],
    ("/admin/displays", "POST"): [Case("POST", "/admin/displays", form={"board": "plant/overview", "label": "x"})],
    ("/admin/deliveries", "GET"): [Case("GET", "/admin/deliveries"), Case("GET", "/admin/deliveries?recipient=138")],
    ("/admin/deliveries/<int:item_id>/retry", "POST"): [Case("POST", "/admin/deliveries/{dead}/retry", form={})],
    ("/admin/deliveries/<int:item_id>/cancel", "POST"): [Case("POST", "/admin/deliveries/{dead}/cancel", form={})],
    ("/admin/tokens", "GET"): [Case("GET", "/admin/tokens")],
    ("/admin/tokens", "POST"): [Case("POST", "/admin/tokens", form={"username": "pa", "label": "x"})],
    ("/admin/users", "GET"): [Case("GET", "/admin/users")],
    ("/admin/users", "POST"): [Case("POST", "/admin/users", form={"action": "add", "username": "evil",
                                                                  "password": "evil-pass-1", "roles": "admin"})],
    ("/api/<app>/<entity>", "GET"): [Case("GET", "/api/plant/batch", other="ok"),
                                     Case("GET", "/api/plant/batch?partner={pa}", other="ok"),
                                     Case("GET", "/api/plant/partner", other="ok"),
                                     # across links (runtime/reach.py) and embedded links: within the read filters
                                     Case("GET", "/api/plant/batch?partner.name=华新电镀&expand=partner,_related",
                                          other="ok"),
                                     Case("GET", "/api/plant/batch?partner.phone__contains=138&fields=customer",
                                          other="ok")],
    ("/api/<app>/<entity>", "POST"): [Case("POST", "/api/plant/batch", json={"customer": "x", "partner": "{pa}"}),
                                      Case("POST", "/api/plant/partner", json={"name": "x"})],
    ("/api/<app>/<entity>/<int:record_id>", "GET"): [Case("GET", "/api/plant/batch/{a}?expand=partner,_related"),
                                                     Case("GET", "/api/plant/partner/{pa}")],
    ("/api/<app>/<entity>/<int:record_id>", "PATCH"): [Case("PATCH", "/api/plant/batch/{a}",
                                                            json={"version": 1, "remark": "x"}),
                                                       Case("PATCH", "/api/plant/partner/{pa}",
                                                            json={"version": 1, "phone": "1"})],
    ("/api/<app>/<entity>/<int:record_id>", "DELETE"): [Case("DELETE", "/api/plant/batch/{a}?version=1")],
    ("/api/<app>/<entity>/<int:record_id>/related", "GET"): [Case("GET", "/api/plant/partner/{pa}/related"),
                                                             Case("GET", "/api/plant/batch/{a}/related")],
    ("/api/<app>/<entity>/<int:record_id>/history", "GET"): [Case("GET", "/api/plant/batch/{a}/history"),
                                                             Case("GET", "/api/plant/partner/{pa}/history")],
    ("/api/<app>/<entity>/<int:record_id>/transitions/<name>", "POST"): [
        Case("POST", "/api/plant/batch/{a}/transitions/start", json={"version": 1})],
    ("/api/_connectors", "GET"): [Case("GET", "/api/_connectors")],
    ("/api/_connectors/<name>/reports", "GET"): [Case("GET", "/api/_connectors/erp/reports")],
    ("/api/_connectors/<name>/requests", "GET"): [Case("GET", "/api/_connectors/erp/requests")],
    ("/api/_connectors/<name>/runs", "GET"): [Case("GET", "/api/_connectors/erp/runs")],
    ("/api/_connectors/<name>/quarantine", "GET"): [Case("GET", "/api/_connectors/erp/quarantine")],
    ("/api/_connectors/<name>/quarantine.html", "GET"): [Case("GET", "/api/_connectors/erp/quarantine.html")],
    ("/api/_connectors/<name>/sync", "POST"): [Case("POST", "/api/_connectors/erp/sync")],
    # connector setup (admins only): presets, stored secrets (never shown), trying a draft connector
    ("/api/_connectors/_presets", "GET"): [Case("GET", "/api/_connectors/_presets")],
    ("/api/_connectors/_secrets", "GET"): [Case("GET", "/api/_connectors/_secrets")],
    ("/api/_connectors/_secrets/<name>", "PUT"): [Case("PUT", "/api/_connectors/_secrets/erp_key",
                                                       json={"value": "stolen"})],
    ("/api/_connectors/_try/<app>/<name>", "POST"): [Case("POST", "/api/_connectors/_try/plant/erp", json={})],
    ("/connectors/<app>", "GET"): [Case("GET", "/connectors/plant")],
    ("/api/files", "POST"): [Case("POST", "/api/files?image=1", other="ok", form={"upload": True})],
    ("/api/files/<key>", "GET"): [Case("GET", "/api/files/{key}")],
    ("/api/me", "GET"): [Case("GET", "/api/me", "ok", "ok")],
    ("/api/openapi.json", "GET"): [Case("GET", "/api/openapi.json", "ok", "ok")],
    ("/board/<app>/<name>", "GET"): [Case("GET", "/board/plant/overview", other="ok"),
                                    Case("GET", "/board/plant/overview?token=jigd_forged")],
    ("/d/<app>/<name>", "GET"): [Case("GET", "/d/plant/overview", other="ok")],
    ("/imports/<int:job_id>", "GET"): [Case("GET", "/imports/{job}")],
    ("/imports/<int:job_id>.json", "GET"): [Case("GET", "/imports/{job}.json")],
    ("/notifications", "GET"): [Case("GET", "/notifications", "ok", "ok")],
    ("/notifications/read", "POST"): [Case("POST", "/notifications/read", "ok", "ok", form={})],
    ("/ui/notifications.json", "GET"): [Case("GET", "/ui/notifications.json", "ok", "ok")],
    # the builder API: builders and admins only
    ("/api/builder/apps", "GET"): [Case("GET", "/api/builder/apps")],
    ("/api/builder/apps", "POST"): [Case("POST", "/api/builder/apps", json={"app": "evil"})],
    ("/api/builder/apps/<app>", "GET"): [Case("GET", "/api/builder/apps/plant")],
    ("/api/builder/apps/<app>/diff", "GET"): [Case("GET", "/api/builder/apps/plant/diff")],
    ("/api/builder/apps/<app>/draft", "DELETE"): [Case("DELETE", "/api/builder/apps/plant/draft")],
    ("/api/builder/apps/<app>/draft", "PUT"): [Case("PUT", "/api/builder/apps/plant/draft", json={"yaml": "app: plant"})],
    ("/api/builder/apps/<app>/draft/edits", "POST"): [
        Case("POST", "/api/builder/apps/plant/draft/edits", json={"edits": [{"op": "delete", "path": ["entities"]}]})],
    ("/api/builder/apps/<app>/plan", "POST"): [Case("POST", "/api/builder/apps/plant/plan", json={})],
    ("/api/builder/apps/<app>/publish", "POST"): [Case("POST", "/api/builder/apps/plant/publish", json={})],
    ("/api/builder/apps/<app>/rollback", "POST"): [Case("POST", "/api/builder/apps/plant/rollback", json={"number": 1})],
    ("/api/builder/apps/<app>/expression", "POST"): [
        Case("POST", "/api/builder/apps/plant/expression", json={"path": ["entities", "batch", "fields", "qty", "check"],
                                                                  "expr": "qty > 0"})],
    ("/api/builder/functions", "GET"): [Case("GET", "/api/builder/functions")],
    ("/api/builder/apps/<app>/validate", "POST"): [Case("POST", "/api/builder/apps/plant/validate", json={})],
    ("/api/builder/apps/<app>/versions", "GET"): [Case("GET", "/api/builder/apps/plant/versions")],
    ("/api/builder/apps/<app>/versions/<int:number>", "GET"): [Case("GET", "/api/builder/apps/plant/versions/1")],
    ("/api/builder/sheets/infer", "POST"): [Case("POST", "/api/builder/sheets/infer", form={"upload": True})],
    ("/api/builder/sheets/app", "POST"): [Case("POST", "/api/builder/sheets/app",
                                               json={"app": "evil", "entity": "e", "fields": [{"key": "a"}]})],
    # the rule editor's API: builders and admins only
    ("/api/builder/apps/<app>/rules", "GET"): [Case("GET", "/api/builder/apps/plant/rules")],
    ("/api/builder/apps/<app>/rules/<name>/enabled", "POST"): [
        Case("POST", "/api/builder/apps/plant/rules/late/enabled", json={"enabled": False})],
    ("/api/builder/apps/<app>/rules/<name>/test", "POST"): [
        Case("POST", "/api/builder/apps/plant/rules/late/test", json={})],
    ("/api/builder/apps/<app>/rules/<name>/preview", "POST"): [
        Case("POST", "/api/builder/apps/plant/rules/late/preview", json={"record": "{a}"})],
    ("/api/builder/apps/<app>/condition", "POST"): [
        Case("POST", "/api/builder/apps/plant/condition", json={"entity": "batch", "expr": "qty > 1"})],
    ("/api/builder/apps/<app>/recipients", "POST"): [
        Case("POST", "/api/builder/apps/plant/recipients", json={"roles": ["partner"]})],
    ("/api/builder/apps/<app>/records/<entity>", "GET"): [Case("GET", "/api/builder/apps/plant/records/batch")],
    # the designer's pages: builders and admins only
    ("/builder", "GET"): [Case("GET", "/builder")],
    ("/builder/<app>", "GET"): [Case("GET", "/builder/plant")],
    ("/builder/<app>/preview/<entity>", "GET"): [Case("GET", "/builder/plant/preview/batch")],
    ("/builder/<app>/preview/<entity>/links/<link>", "GET"): [Case("GET", "/builder/plant/preview/batch/links/partner_update")],
    ("/builder/<app>/preview/<entity>/records", "GET"): [Case("GET", "/builder/plant/preview/batch/records")],
    ("/builder/<app>/rules", "GET"): [Case("GET", "/builder/plant/rules")],
    # the last case: signing out ends only the caller's own session
    # shared links: staff pages need a reader (or updater) of the record; token pages need a live token
    ("/a/<app>/<entity>/<int:record_id>/links", "GET"): [Case("GET", "/a/plant/batch/{a}/links")],
    ("/a/<app>/<entity>/<int:record_id>/links", "POST"): [Case("POST", "/a/plant/batch/{a}/links",
                                                               form={"link": "partner_update"})],
    ("/a/<app>/<entity>/<int:record_id>/print", "GET"): [Case("GET", "/a/plant/batch/{a}/print")],
    ("/a/<app>/<entity>/<int:record_id>/print/<doc>", "GET"): [Case("GET", "/a/plant/batch/{a}/print/slip"),
                                                                Case("GET", "/a/plant/batch/{a}/print/nodoc")],
    ("/links/<int:link_id>/revoke", "POST"): [Case("POST", "/links/{link}/revoke", form={})],
    ("/links/<int:link_id>/qr.<fmt>", "GET"): [Case("GET", "/links/{link}/qr.svg"),
                                                Case("GET", "/links/{link}/qr.png")],
    ("/admin/link-pins", "POST"): [Case("POST", "/admin/link-pins", form={"username": "pa", "pin": "1234"})],
    ("/l/<token>", "GET"): [Case("GET", "/l/{ltampered}"), Case("GET", "/l/forged")],
    ("/l/<token>", "POST"): [Case("POST", "/l/{ltampered}", json={"action": "start", "version": 1})],
    ("/l/<token>/files", "POST"): [Case("POST", "/l/{ltampered}/files", form={"upload": True})],
    ("/logout", "POST"): [Case("POST", "/logout", "ok", "ok", form={})],
}
# Open to everyone by design: sign-in, language switch, static assets (no data); liveness and readiness
# (no data); /metrics answers loopback callers not behind a proxy, or the JIG_METRICS_TOKEN bearer, and carries
# counts only, never record data (tests/test_observability.py checks both).
PUBLIC = {("/login", "GET"), ("/login", "POST"), ("/lang/<code>", "GET"), ("/static/<path:filename>", "GET"),
          ("/ui/static/<path:filename>", "GET"), ("/builder/static/<path:filename>", "GET"),
          ("/connectors/static/<path:filename>", "GET"),
          ("/healthz", "GET"), ("/readyz", "GET"), ("/metrics", "GET")}


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Env:
    rt, app = build(database_url, tmp_path, texts={"plant.yaml": PLANT})
    E = rt.entity
    pa = rt.records.create(SYSTEM, E("plant", "partner"), {"name": "华新电镀", "phone": "13800001111"})["id"]
    pb = rt.records.create(SYSTEM, E("plant", "partner"), {"name": "永盛喷涂", "phone": "13900002222"})["id"]
    key = rt.files.save(PNG, "a-secret-photo.png", image=True, username="pa").key
    a = rt.records.create(SYSTEM, E("plant", "batch"), {"customer": "甲方机密客户", "partner": pa, "photos": [key]})
    rt.records.create(SYSTEM, E("plant", "batch"), {"customer": "乙方客户", "partner": pb})
    rt.users.add("pa", "pa-pass-1", ["partner"], attributes={"partner": pa})
    rt.users.add("pb", "pb-pass-1", ["partner"], attributes={"partner": pb})
    rt.users.add("outsider", "outsider-pass-1", ["visitor"])
    from ui.imports import imports
    with rt.db.write() as conn:
        rt.notifications.add(conn, title="给华新的通知", users=["pa"])
        job = conn.execute(imports.insert().values(username="pa", app="plant", entity="batch",
                                                   filename="华新电镀.csv", status="done", total=1, processed=1,
                                                   created=1, created_at=clock.now())).inserted_primary_key[0]
        rt.outbox.add(conn, "sms", {"to": "13800001111", "text": "给华新的通知"}, key="audit-sms",
                      undeliverable="test")  # a row the delivery log could retry or cancel
        dead = conn.execute(text("SELECT max(id) FROM jig_outbox")).scalar_one()
        link = rt.services.get(LinkStore).issue(conn, rt.apps["plant"].sections["links"]["partner_update"], a["id"], "pl")
    token = rt.services.get(LinkStore).token_of(link)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    return Env(rt, app, {"a": a["id"], "pa": pa, "pb": pb, "key": key, "job": job, "link": link["id"],
                         "ltampered": tampered, "dead": dead})


def _csrf(client: Any, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def signed_in(app: Any, user: str | None) -> tuple[Any, str]:
    """A test client (signed in as ``user`` unless None) and its CSRF token."""
    c = app.test_client()
    tok = _csrf(c)
    if user is not None:
        r = c.post("/login", data={"username": user, "password": f"{user}-pass-1", "csrf_token": tok})
        assert r.status_code == 302, r.get_data(as_text=True)[:300]
        tok = _csrf(c, "/")
    return c, tok


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = re.fullmatch(r"\{(\w+)\}", value)
        if whole:
            return ids[whole.group(1)]
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def send(client: Any, tok: str, case: Case, ids: dict[str, Any]) -> Any:
    path = _fill(case.path, ids)
    headers = {"X-CSRF-Token": tok}
    if case.form is not None:
        data = {"csrf_token": tok, **_fill(case.form, ids)}
        if data.pop("upload", None):
            data.update(_png_upload())
        if case.method == "POST" and path.endswith("/import"):
            data["file"] = (io.BytesIO("name\n华新电镀\n".encode()), "p.csv")
        return client.open(path, method=case.method, data=data, headers=headers, content_type="multipart/form-data")
    return client.open(path, method=case.method, json=_fill(case.json, ids), headers=headers)


def snapshot(rt: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row, except uploads (anyone signed in may upload), sign-ins and rate-limit counters."""
    out = {}
    with rt.db.read() as conn:
        for name in sorted(inspect(conn).get_table_names()):
            if name in ("jig_files", "jig_ui_sessions", "jig_link_hits"):  # uploads, sign-ins, rate-limit counters
                continue
            out[name] = sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{name}"')).all()), key=repr)
    return out


def _refused(kind: str, r: Any) -> bool:
    if r.status_code == 302:
        return "/login" in r.headers.get("Location", "")
    if r.status_code == 422:  # a link to a record one may not read: answered as for one that does not exist
        from runtime.messages import t
        fields = ((r.get_json(silent=True) or {}).get("error") or {}).get("fields") or {}
        return bool(fields) and set(fields.values()) <= {t("link_missing", "zh"), t("link_missing", "en")}
    return r.status_code in (401, 403, 404)


def test_every_route_is_in_the_audit_table(env: Env) -> None:
    routes = {(r.rule, m) for r in env.app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}}
    missing = sorted(routes - set(CASES) - PUBLIC)
    assert not missing, f"routes without a permission-audit entry (add them to CASES): {missing}"
    assert not sorted(set(CASES) - routes), "entries for routes that no longer exist"


def test_every_route_refuses_or_leaks_nothing(env: Env) -> None:
    ids = env.ids
    principals = {"anonymous": signed_in(env.app, None), "outsider": signed_in(env.app, "outsider"),
                  "other": signed_in(env.app, "pb")}
    before = snapshot(env.rt)
    checked = 0
    ordered = sorted(CASES.items(), key=lambda kv: kv[0] == ("/logout", "POST"))
    for (rule, _method), cases in ordered:
        for case in cases:
            for who, (client, tok) in principals.items():
                r = send(client, tok, case, ids)
                body = r.get_data(as_text=True) if "spreadsheet" not in (r.mimetype or "") else _xlsx_text(r)
                where = f"{who} {case.method} {_fill(case.path, ids)}"
                assert r.status_code < 500, where
                expect = "refuse" if who == "anonymous" else getattr(case, who)
                if who == "anonymous" and (rule, _method) != ("/logout", "POST"):
                    if case.path.startswith("/api/"):
                        assert r.status_code == 401, f"{where}: {r.status_code}"
                    else:  # a page sends to sign-in (a forged board token: 403)
                        assert _refused(rule, r), f"{where}: {r.status_code}"
                elif expect == "refuse":
                    assert _refused(rule, r), f"{where}: {r.status_code} {body[:200]}"
                else:
                    assert r.status_code in (200, 201, 302), f"{where}: {r.status_code} {body[:200]}"
                leaked = [s for s in SECRETS if s in body]
                assert not leaked, f"{where} leaked {leaked}"
                checked += 1
            if (rule, _method) != ("/logout", "POST"):
                for who in ("outsider", "other"):  # the sessions are still the principals' own
                    assert principals[who][0].get("/api/me").status_code == 200, who
    assert snapshot(env.rt) == before
    assert checked == 3 * sum(len(c) for c in CASES.values())
    # and the owner still sees everything: the audit did not refuse by breaking the data
    owner, _tok = signed_in(env.app, "pa")
    assert "甲方机密客户" in owner.get(f"/a/plant/batch/{ids['a']}").get_data(as_text=True)
    assert owner.get(f"/api/files/{ids['key']}").status_code == 200


def _xlsx_text(r: Any) -> str:
    import openpyxl
    wb = openpyxl.load_workbook(io.BytesIO(r.get_data()), read_only=True)
    return "\n".join(str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row)

