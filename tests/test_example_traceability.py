"""docs/example-traceability.md is true: its app loads, and its two traces answer in one request each.

Also the API around them (runtime/reach.py, runtime/sparse.py, runtime/related.py): filters across
child rows and links with operators and the linked entities' read filters, bad paths as 400s,
``fields=``/``expand=``, ``/related``, the OpenAPI document. One database for the module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from runtime.auth import SYSTEM

from .conftest import ApiClient, fresh_database
from .ui_support import build

DOC = Path(__file__).resolve().parent.parent / "docs" / "example-traceability.md"
TEXT = DOC.read_text(encoding="utf-8")
YAML = re.search(r"^```yaml\n(.*?)^```", TEXT, re.MULTILINE | re.DOTALL).group(1)  # type: ignore[union-attr]
REQUESTS = re.findall(r"^GET (/api/quality/lot\?\S+)$", TEXT, re.MULTILINE)


class Shop:
    def __init__(self, rt: Any, app: Any) -> None:
        self.rt, self.app, self.ids = rt, app, {}
        self.web: dict[str, Any] = {}

    def client(self, name: str, roles: list[str], attrs: dict[str, Any] | None = None) -> ApiClient:
        if self.rt.users.actor_for(name) is None:  # tests may run alone or in any order
            self.rt.users.add(name, "secret-pass", roles, attributes=attrs)
        return ApiClient(self.app.test_client(), self.rt.users.create_token(name))

    def add(self, entity: str, key: str, body: dict[str, Any]) -> int:
        self.ids[key] = self.rt.records.create(SYSTEM, self.rt.entity("quality", entity), body)["id"]
        return self.ids[key]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    tmp = tmp_path_factory.mktemp("trace")
    for url in fresh_database(tmp, "jt_trace_"):
        rt, app = build(url, tmp, texts={"quality.yaml": YAML})
        s = Shop(rt, app)
        s.add("supplier", "yg", {"sname": "甬钢", "city": "宁波"})
        s.add("supplier", "hg", {"sname": "沪钢", "city": "上海"})
        s.add("material_batch", "b17", {"batch_no": "B-17", "material": "钢", "supplier": s.ids["yg"]})
        s.add("material_batch", "b18", {"batch_no": "B-18", "material": "钢", "supplier": s.ids["hg"]})
        s.add("equipment", "c1", {"code": "CNC-01"})
        s.add("equipment", "c2", {"code": "CNC-02"})
        s.add("lot", "sn1", {"serial_no": "SN-001", "team": "A", "equipment": s.ids["c1"], "made_on": "2026-11-02",
                             "materials": [{"material_batch": s.ids["b17"], "qty": 2}]})
        s.add("lot", "sn2", {"serial_no": "SN-002", "team": "B", "equipment": s.ids["c2"], "made_on": "2026-11-03",
                             "flags": ["hold"],
                             "materials": [{"material_batch": s.ids["b17"], "qty": 1},
                                           {"material_batch": s.ids["b18"], "qty": 3}]})
        s.add("lot", "sn3", {"serial_no": "SN-003", "team": "B", "materials": [{"material_batch": s.ids["b18"]}]})
        s.add("inspection", "i1", {"lot": s.ids["sn1"], "result": "pass"})
        s.add("inspection", "i2", {"lot": s.ids["sn2"], "result": "fail",
                                   "measurements": [{"item": "外径", "value": "12.31"}]})
        s.add("complaint", "k1", {"lot": s.ids["sn2"], "customer": "宁波精密", "issue": "外径超差"})
        yield s
        rt.db.dispose()


@pytest.fixture(scope="module")
def qe(shop: Shop) -> ApiClient:
    return shop.client("qe", ["qe"])


def _get(c: ApiClient, url: str, status: int = 200) -> Any:
    r = c.get(url)
    assert r.status_code == status, (url, r.get_json())
    return r.get_json()


def test_the_reverse_trace_in_one_request(shop: Shop, qe: ApiClient) -> None:
    body = _get(qe, REQUESTS[0])
    assert [i["serial_no"] for i in body["items"]] == ["SN-002", "SN-001"]
    assert set(body["items"][0]) == {"id", "serial_no", "team", "_related"}
    complaints = body["items"][0]["_related"]["complaint.lot"]
    assert (complaints["label"], complaints["count"]) == ("该批次的客诉", 1)
    assert [c["customer"] for c in complaints["items"]] == ["宁波精密"]
    assert body["items"][1]["_related"]["complaint.lot"]["count"] == 0
    complaints = _get(qe, "/api/quality/complaint?lot.materials.material_batch.batch_no=B-17&expand=lot")["items"]
    assert [(c["customer"], c["lot"]["serial_no"]) for c in complaints] == [("宁波精密", "SN-002")]


def test_the_forward_trace_in_one_request(shop: Shop, qe: ApiClient) -> None:
    (lot,) = _get(qe, REQUESTS[1])["items"]
    batches = [(m["material_batch"]["batch_no"], m["material_batch"]["supplier"]["sname"]) for m in lot["materials"]]
    assert batches == [("B-17", "甬钢"), ("B-18", "沪钢")]
    assert (lot["team"], lot["equipment"]["code"], lot["equipment"]["title"]) == ("B", "CNC-02", "CNC-02")
    inspections = lot["_related"]["inspection.lot"]
    assert [(i["result"], i["title"]) for i in inspections["items"]] == [("fail", f"#{shop.ids['i2']}")]
    # the same on one record
    one = _get(qe, f"/api/quality/lot/{shop.ids['sn2']}?expand=equipment&fields=serial_no,equipment")
    assert one == {"id": shop.ids["sn2"], "serial_no": "SN-002", "equipment": {**one["equipment"], "code": "CNC-02"}}


@pytest.mark.parametrize(("query", "want"), [
    ("materials.material_batch={b18}", ["SN-003", "SN-002"]),
    ("materials.material_batch__in={b17},{b18}", ["SN-003", "SN-002", "SN-001"]),
    ("materials.material_batch__ne={b17}", ["SN-003", "SN-002"]),  # some row is another batch
    ("materials.qty__gte=2", ["SN-002", "SN-001"]),
    ("materials.qty__isnull=true", ["SN-003"]),
    ("materials.material_batch.supplier.city=" + quote("宁波"), ["SN-002", "SN-001"]),
    ("materials.material_batch.supplier.sname__contains=" + quote("沪"), ["SN-003", "SN-002"]),
    ("equipment.code__startswith=CNC&team=B", ["SN-002"]),
    ("equipment.id={c1}", ["SN-001"]),
])
def test_filters_across_child_rows_and_links(shop: Shop, qe: ApiClient, query: str, want: list[str]) -> None:
    body = _get(qe, "/api/quality/lot?count=true&" + query.format(**shop.ids))
    assert ([i["serial_no"] for i in body["items"]], body["count"]) == (want, len(want))


@pytest.mark.parametrize(("query", "field", "says"), [
    ("materials.material_batch.nope=1", "materials.material_batch.nope", "batch_no"),
    ("team.x=1", "team.x", "equipment, materials"),
    ("materials.material_batch.supplier.city.x=1", "materials.material_batch.supplier.city.x", "3"),
    ("materials.qty__gte=abc", "materials.qty__gte", ""),
    ("materials.qty__contains=1", "materials.qty__contains", "contains"),
    ("materials.material_batch__bogus=1", "materials.material_batch__bogus", "operator"),
    ("materials.material_batch.supplier=x", "materials.material_batch.supplier", ""),
    ("materials__in=1", "materials__in", "in"),
    ("materials.=1", "materials.", "material_batch"),
    (".x=1", ".x", ""),
])
def test_bad_paths_are_400s_with_a_hint(qe: ApiClient, query: str, field: str, says: str) -> None:
    body = _get(qe, "/api/quality/lot?" + query, 400)
    assert says in body["error"]["fields"][field]


def test_linked_records_a_user_cannot_read_stay_hidden(shop: Shop) -> None:
    op = shop.client("op_a", ["operator"], {"team": "A"})
    sales = shop.client("sales", ["sales"])
    body = _get(op, REQUESTS[0])
    assert [i["serial_no"] for i in body["items"]] == ["SN-001"]  # team A only
    assert set(body["items"][0]["_related"]) == {"inspection.lot"}  # operators may not read complaints
    # an inspection reaches lots through the operator's lot filter: team B's lot is never matched
    assert [i["id"] for i in _get(op, "/api/quality/inspection?lot.team=B")["items"]] == []
    assert [i["id"] for i in _get(op, "/api/quality/inspection?lot.serial_no__startswith=SN")["items"]] == \
        [shop.ids["i1"]]
    # sales may not read material batches: no filter through them, and expand leaves their ids
    refused = _get(sales, "/api/quality/lot?materials.material_batch.batch_no=B-17", 403)
    assert "materials.material_batch.batch_no" in refused["error"]["fields"]
    lot = _get(sales, f"/api/quality/lot/{shop.ids['sn1']}?expand=materials.material_batch")
    assert lot["materials"][0]["material_batch"] == shop.ids["b17"]
    assert [r["key"] for r in _get(sales, f"/api/quality/lot/{shop.ids['sn2']}/related")["items"]] == ["complaint.lot"]
    _get(op, f"/api/quality/lot/{shop.ids['sn2']}/related", 404)  # another team's lot


def test_related_counts_and_the_filtered_list(shop: Shop, qe: ApiClient) -> None:
    items = _get(qe, f"/api/quality/material_batch/{shop.ids['b17']}/related")["items"]
    assert [(r["key"], r["count"]) for r in items] == [("lot.materials.material_batch", 2)]
    assert [i["serial_no"] for i in _get(qe, items[0]["list"])["items"]] == ["SN-002", "SN-001"]
    lot = _get(qe, f"/api/quality/lot/{shop.ids['sn2']}/related")["items"]
    assert [(r["label"], r["count"]) for r in lot] == [("该批次的检验", 1), ("该批次的客诉", 1)]


@pytest.mark.parametrize(("query", "field"), [
    ("fields=serial_no,nope", "fields"), ("expand=team", "expand"), ("expand=materials", "expand"),
    ("expand=materials.material_batch.nope", "expand"), ("expand=equipment.code", "expand"),
    ("fields=" + ",".join(["team"] * 40), "fields"),
])
def test_bad_fields_and_expand_are_400s(shop: Shop, qe: ApiClient, query: str, field: str) -> None:
    assert field in _get(qe, "/api/quality/lot?" + query, 400)["error"]["fields"]
    assert field in _get(qe, f"/api/quality/lot/{shop.ids['sn1']}?" + query, 400)["error"]["fields"]


def test_openapi_documents_paths_expand_fields_and_related(qe: ApiClient) -> None:
    doc = _get(qe, "/api/openapi.json")
    listing = doc["paths"]["/api/quality/lot"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"fields", "expand", "materials.material_batch", "equipment.code"} <= names
    assert "/api/quality/lot/{id}/related" in doc["paths"]
    assert {p["name"] for p in doc["paths"]["/api/quality/lot/{id}"]["get"]["parameters"]} >= {"fields", "expand"}


def test_a_related_declaration_must_name_a_link_into_the_entity() -> None:
    from runtime.errors import DefinitionErrors
    from runtime.loader import load_texts
    bad = YAML.replace("from: complaint.lot", "from: complaint.lots")
    with pytest.raises(DefinitionErrors) as e:
        load_texts({"quality.yaml": bad})
    assert "did you mean 'complaint.lot'" in str(e.value)
    bad = YAML.replace("equipment.code]", "equipment.nope]").replace("[materials.material_batch,", "[team.x,")
    with pytest.raises(DefinitionErrors) as e:
        load_texts({"quality.yaml": bad})
    assert [m for m in ("'team.x'", "'equipment.nope'") if m in str(e.value)] == ["'team.x'", "'equipment.nope'"]


def _page(shop: Shop, user: str, path: str) -> str:
    from .ui_support import login
    c = shop.web.get(user)
    if c is None:  # one signed-in browser session per user for the module (signing in hashes a password)
        c = shop.web[user] = shop.app.test_client()
        login(c, user, "secret-pass")
    r = c.get(path)
    assert r.status_code == 200, (path, r.status_code)
    return r.get_data(as_text=True)


def test_the_record_page_lists_related_records_with_counts_and_filtered_lists(shop: Shop, qe: ApiClient) -> None:
    from html import unescape
    html = _page(shop, "qe", f"/a/quality/material_batch/{shop.ids['b17']}")
    found = re.findall(r'<a href="([^"]+)" data-related="([^"]+)">([^<]+) <span class="badge">(\d+)</span>', html)
    assert [(k, label, n) for _, k, label, n in found] == [("lot.materials.material_batch", "生产批次（用料 · 物料批次）", "2")]
    listing = _page(shop, "qe", unescape(found[0][0]))
    assert "SN-001" in listing and "SN-002" in listing and "SN-003" not in listing
    assert re.search(r'value="B-17[^"]*"', listing), re.findall(r'value="[^"]*"', listing)  # the link filter's chip names the batch
    shop.client("op_a", ["operator"], {"team": "A"})
    lot = _page(shop, "op_a", f"/a/quality/lot/{shop.ids['sn1']}")
    assert "该批次的检验" in lot and "该批次的客诉" not in lot  # operators may not read complaints


def test_the_list_page_filters_across_material_rows_and_links(shop: Shop) -> None:
    html = _page(shop, "qe", "/a/quality/lot")
    for name in ("materials.material_batch", "materials.material_batch.supplier.city__contains",
                 "equipment.code__contains"):
        assert f'name="{name}"' in html, name
    assert "用料 · 物料批次 · 供应商 · 城市" in html
    shown = _page(shop, "qe", "/a/quality/lot?materials.material_batch.supplier.city__contains=" + quote("上海"))
    assert "SN-003" in shown and "SN-002" in shown and "SN-001" not in shown
    bad = _page(shop, "qe", "/a/quality/lot?materials.nope=1")
    assert 'class="error"' in bad and "material_batch" in bad
    shop.client("sales", ["sales"])
    refused = _page(shop, "sales", "/a/quality/lot?materials.material_batch.batch_no=B-17")
    assert 'class="error"' in refused and "SN-001" not in refused


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}


def test_a_quality_engineer_traces_a_batch_on_a_phone(shop: Shop) -> None:
    """In Chromium: the batch's page lists the lots that used it; the count opens the filtered list; the list's
    filter panel filters by the supplier's city across the material rows. JIG_WRITE_SCREENSHOTS=1 refreshes
    docs/screenshots/trace-*.png."""
    import os

    from .ui_support import launch_browser, serve
    shop.client("qe", ["qe"])
    for browser in launch_browser():
        expect = pytest.importorskip("playwright.sync_api").expect
        server, url = serve(shop.app)
        ctx = browser.new_context(base_url=url, **PHONE)
        try:
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto("/login")
            page.get_by_label("用户名").fill("qe")
            page.get_by_label("密码").fill("secret-pass")
            page.get_by_role("button", name="登录").click()
            page.wait_for_url(f"{url}/")
            page.goto(f"/a/quality/lot/{shop.ids['sn2']}")
            related = page.locator("#related")
            expect(related.locator("a")).to_have_count(2)
            expect(related).to_contain_text("该批次的客诉")
            assert related.bounding_box()["width"] <= 390
            shots = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
            if os.environ.get("JIG_WRITE_SCREENSHOTS") == "1":
                related.scroll_into_view_if_needed()
                page.screenshot(path=str(shots / "trace-related-phone.png"))
            page.goto(f"/a/quality/material_batch/{shop.ids['b17']}")
            page.locator('#related a[data-related="lot.materials.material_batch"]').click()
            expect(page.locator("#records tbody tr")).to_have_count(2)
            expect(page.locator("#records")).to_contain_text("SN-001")
            page.goto("/a/quality/lot")
            page.locator("label.filters-toggle-label").click()
            page.locator('[name="materials.material_batch.supplier.city__contains"]').fill("上海")
            page.locator("#filters button[type=submit]").click()
            expect(page.locator("#records tbody tr")).to_have_count(2)
            expect(page.locator("#records")).not_to_contain_text("SN-001")
            if os.environ.get("JIG_WRITE_SCREENSHOTS") == "1":
                page.screenshot(path=str(shots / "trace-list-filter.png"), full_page=True)
            assert errors == []
        finally:
            ctx.close()
            server.close()


def test_embedded_related_rows_are_capped_per_record_with_exact_counts(shop: Shop, qe: ApiClient,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime import related
    monkeypatch.setattr(related, "MAX_EMBEDDED", 1)
    items = _get(qe, "/api/quality/material_batch?expand=_related&fields=batch_no")["items"]
    got = {i["batch_no"]: i["_related"]["lot.materials.material_batch"] for i in items}
    assert {k: (v["count"], [r["serial_no"] for r in v["items"]]) for k, v in got.items()} == \
        {"B-17": (2, ["SN-001"]), "B-18": (2, ["SN-002"])}
