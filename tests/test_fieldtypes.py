"""The registry of field types: adding a type means adding one class (here a test-only ``rating`` plugin),
every type answers every capability, and ad-hoc lists of type names do not creep back into the callers."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import BigInteger, select

from builder.palette import field_palette
from jig.app import create_app
from jig.config import Settings
from jig.plugins import builtin_extensions
from runtime.core import Runtime
from runtime.errors import DefinitionErrors
from runtime.extensions import Extensions, hookimpl
from runtime.fieldtypes import BUILTIN, FieldType, FieldValueError
from runtime.fieldtypes.base import CAPABILITIES, OPS
from runtime.fieldtypes.builtin import IntegerType
from runtime.loader import load_texts
from runtime.messages import t
from runtime.model import FieldDef, Option

from .ui_support import csrf, login

ROOT = Path(__file__).resolve().parent.parent
STAR, HOLLOW = "★", "☆"


class RatingType(IntegerType):
    """A rating: a whole number from 1 to 5, entered as a number or as stars, shown as stars."""

    name = "rating"
    label = ("评分", "Rating")

    def keys(self) -> dict[str, dict[str, Any]]:
        return {}  # always 1..5: no min/max of its own

    def parse(self, f: FieldDef, value: Any, lang: str) -> Any:
        if isinstance(value, str) and value.strip() and set(value.strip()) <= {STAR, HOLLOW}:
            value = value.count(STAR)
        n = super().parse(f, value, lang)
        if n < 1:
            raise FieldValueError(t("min", lang, min=1))
        if n > 5:
            raise FieldValueError(t("max", lang, max=5))
        return n

    def openapi(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "integer", "minimum": 1, "maximum": 5}

    def cell(self, f: FieldDef | None, value: Any, lang: str) -> dict[str, Any]:
        return {"text": STAR * value + HOLLOW * (5 - value), "badge": None}

    def from_text(self, f: FieldDef, text: str, lookup: Any) -> Any:
        return text.count(STAR) if text and set(text) <= {STAR, HOLLOW} else text


class RatingPlugin:
    """A third-party extension that adds one field type."""

    name = "rating-test"

    @hookimpl
    def field_types(self) -> list[Any]:
        return [RatingType]


APP = """
app: shop
title: {zh: 车间, en: Shop}
roles: [clerk]
entities:
  review:
    title: {zh: 评价, en: Review}
    fields:
      title: {type: text, label: {zh: 标题, en: Title}, required: true}
      stars: {type: rating, label: {zh: 评分, en: Stars}, required: true}
    list: {columns: [title, stars], sort: -stars}
    permissions:
      clerk: {read: true, create: true, update: true}
"""


def _extensions() -> Extensions:
    return Extensions([*builtin_extensions(), RatingPlugin()])


def test_a_type_added_by_one_class_works_end_to_end(database_url: str, tmp_path: Path) -> None:
    exts = _extensions()
    assert exts.field_types["rating"].name == "rating" and "rating" not in BUILTIN
    # the definition validates with the plugin, is refused without it, and the type's keys are checked
    with pytest.raises(DefinitionErrors, match="rating"):
        load_texts({"shop.yaml": APP})
    with pytest.raises(DefinitionErrors, match="'scale' does not apply to a rating field"):
        load_texts({"shop.yaml": APP.replace("required: true}\n    list", "required: true, scale: 2}\n    list")}, exts)
    defs = load_texts({"shop.yaml": APP}, exts)
    rt = Runtime(defs, database_url, extensions=exts, definition_extensions=exts,
                 settings={"files_dir": str(tmp_path / "files")})
    rt.migrate()
    try:
        ent = rt.apps["shop"].entities["review"]
        assert isinstance(ent.fields["stars"].ft, RatingType)
        assert isinstance(rt.tables.for_entity(ent).c.stars.type, BigInteger)  # the column it declared
        app = create_app(Settings(database_url=database_url, secret_key="ft-test-secret-" + "x" * 32,
                                  files_dir=str(tmp_path / "files")), rt)
        rt.users.add("clerk", "clerk-pass-1", ["clerk"])
        api = {"Authorization": f"Bearer {rt.users.create_token('clerk')}"}
        c = app.test_client()

        # API: create and read with the type's coercion; a bad value is a 422 naming the field
        r = c.post("/api/shop/review", json={"title": "good", "stars": "4"}, headers=api)
        assert r.status_code == 201 and r.get_json()["stars"] == 4, r.get_json()
        rid = r.get_json()["id"]
        assert c.post("/api/shop/review", json={"title": "stars", "stars": STAR * 2}, headers=api).get_json()["stars"] == 2
        for bad in (7, 0, "many", 2.5):
            r = c.post("/api/shop/review", json={"title": "bad", "stars": bad}, headers=api)
            assert r.status_code == 422 and "stars" in r.get_json()["error"]["fields"], (bad, r.get_json())
        assert c.get(f"/api/shop/review/{rid}", headers=api).get_json()["stars"] == 4

        # OpenAPI: the type's schema
        spec = c.get("/api/openapi.json", headers=api).get_json()
        stars = next(s["properties"]["stars"] for n, s in spec["components"]["schemas"].items() if n.endswith("Review"))
        assert stars["minimum"] == 1 and stars["maximum"] == 5 and stars["type"] == "integer"

        # list filter and sort, with the operators an integer has (no text operators)
        items = c.get("/api/shop/review?stars__gte=3&sort=-stars", headers=api).get_json()["items"]
        assert [i["stars"] for i in items] == [4]
        assert [i["stars"] for i in c.get("/api/shop/review?sort=stars", headers=api).get_json()["items"]] == [2, 4]
        assert c.get("/api/shop/review?stars__contains=3", headers=api).status_code == 400
        assert c.get("/api/shop/review?stars=9", headers=api).status_code == 400

        # web form: the widget the type names; list: its cell rendering
        tok = login(c, "clerk", "clerk-pass-1")
        form = c.get("/a/shop/review/new").get_data(as_text=True)
        assert re.search(r'data-field="stars" data-type="rating" data-widget="number"', form)
        assert 'step="1"' in form
        assert STAR * 4 + HOLLOW in c.get("/a/shop/review").get_data(as_text=True)

        # import from CSV: stars and numbers both convert
        data = ("标题,评分\nimported,★★★\nnumbered,5\n").encode()
        r = c.post("/a/shop/review/import", data={"csrf_token": tok, "step": "upload",
                                                    "file": (io.BytesIO(data), "reviews.csv")},
                   content_type="multipart/form-data")
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        key = re.search(r'name="key" value="([^"]+)"', r.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
        r = c.post("/a/shop/review/import", data={"csrf_token": tok, "step": "run", "key": key,
                                                    "map": ["title", "stars"]})
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        table = rt.tables.for_entity(ent)
        with rt.db.read() as conn:
            got = dict(conn.execute(select(table.c.title, table.c.stars)).all())
        assert got["imported"] == 3 and got["numbered"] == 5

        # the designer's palette lists it, with its label
        palette = field_palette("zh", rt.field_types)
        assert {"type": "rating", "label": "评分", "start": {}} in palette
        assert [p["type"] for p in palette][:len(BUILTIN)] == list(BUILTIN)
        assert csrf(c, "/")  # still signed in: nothing above broke the session
    finally:
        rt.db.dispose()


def test_the_documented_example_type_works() -> None:
    text = (ROOT / "docs" / "fieldtypes.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/fieldtypes.md", "exec"), scope)  # noqa: S102 - our own documentation
    types = Extensions([scope["Ratings"]()]).field_types
    f = FieldDef(name="stars", type="rating", label={}, ft=types["rating"])
    assert types["rating"].coerce(f, "★★★☆☆") == 3 and types["rating"].cell(f, 2, "zh")["text"] == "★★☆☆☆"
    with pytest.raises(FieldValueError):
        types["rating"].coerce(f, 6)


def test_an_extension_cannot_take_a_builtin_name() -> None:
    class Text2(RatingType):
        name = "text"

    class Clash:
        @hookimpl
        def field_types(self) -> list[Any]:
            return [Text2]

    with pytest.raises(ValueError, match="'text' is declared twice"):
        Extensions([Clash()]).field_types  # noqa: B018


KNOWN_WIDGETS = {"text", "longtext", "number", "boolean", "date", "datetime", "select", "multiselect", "link",
                 "files", "computed", "table"}
KNOWN_CONTROLS = {"", "text", "option", "options", "yesno", "date", "number", "link"}


def _sample(ft: FieldType) -> FieldDef:
    f = FieldDef(name="x", type=ft.name, label={"zh": "x", "en": "x"}, ft=ft,
                 options=[Option("a", {"zh": "甲", "en": "A"})], to="other")
    ft.prepare(f)
    return f


@pytest.mark.parametrize("name", list(_extensions().field_types))
def test_every_type_answers_every_capability(name: str) -> None:
    ft = _extensions().field_types[name]
    missing = [cap for cap in CAPABILITIES if not hasattr(ft, cap)]
    assert missing == []
    f = _sample(ft)
    assert ft.name == name and all(ft.label) and ft.palette_label("en") == ft.label[1]
    assert isinstance(ft.keys(), dict) and isinstance(ft.start(), dict)
    assert ft.coerce(f, None) is None
    assert isinstance(ft.type_signature(f), str)
    assert set(ft.filter_ops(f)) <= set(OPS)
    assert ft.widget in KNOWN_WIDGETS, "the web form (ui/templates/_widgets.html) renders only these"
    assert ft.filter_control in KNOWN_CONTROLS
    assert ft.expr_type in {"text", "int", "dec", "bool", "date", "datetime", "list", "any"}
    if ft.stored:
        assert ft.sql_type(f) is not None
        assert isinstance(ft.openapi(f), dict)
    else:
        with pytest.raises(NotImplementedError):
            ft.sql_type(f)
    assert isinstance(ft.cell(f, 1 if ft.json_type is int else [] if ft.is_list else "a", "zh")["text"], str)
    ft.from_cell(f, "a", None)  # a spreadsheet cell converts (coerce judges it afterwards)
    assert ft.to_cell(f, 1, "1") is not None


def test_the_form_template_renders_every_widget() -> None:
    html = (ROOT / "ui" / "templates" / "_widgets.html").read_text(encoding="utf-8")
    assert {w for w in KNOWN_WIDGETS if w != "table"} <= set(re.findall(r"w == '(\w+)'", html))


# modules that once listed field types by name; they ask the field's type now (runtime/fieldtypes)
ASK_THE_TYPE = ["runtime/compiler.py", "runtime/listquery.py", "runtime/tables.py", "runtime/openapi.py",
                "runtime/records.py", "runtime/validation.py", "runtime/model.py", "runtime/file_access.py",
                "runtime/schema/__init__.py", "ui/values.py", "ui/web.py", "ui/dashboards.py", "ui/transfer.py",
                "ui/linkview.py", "ui/linkweb.py", "ui/linkspec.py", "builder/palette.py",
                "ui/templates/_widgets.html", "ui/templates/form.html", "ui/templates/link.html"]
TYPE_NAMES = "|".join(BUILTIN)
AD_HOC = [
    re.compile(r"\b(?:f|fd|cf|c|field|kind|ftype|t)(?:\.type)? (?:not )?in \(\s*['\"](?:" + TYPE_NAMES + r")['\"]"),
    re.compile(r"\b(?:TEXT|FILE|LIST)_(?:TYPES|KINDS)\b"),
    re.compile(r"\b(?:f|fd|cf|c|field)\.type (?:not )?in [A-Z_]+\b"),
]


def test_no_ad_hoc_lists_of_field_types_creep_back() -> None:
    """``f.type in ("image", "file")`` spread over callers is what the registry replaced; a type-specific
    behaviour is a capability of the type class. A line that truly needs a list says so with ``# type-list-ok``."""
    found = []
    for rel in ASK_THE_TYPE:
        for i, line in enumerate((ROOT / rel).read_text(encoding="utf-8").splitlines(), 1):
            if "type-list-ok" not in line and any(p.search(line) for p in AD_HOC):
                found.append(f"{rel}:{i}: {line.strip()}")
    assert found == []


def test_yes_no_formulas_and_datetimes_read_as_people_say_them() -> None:
    """A computed yes/no shows 是/否 (not "False"); a datetime on a board or dashboard table is not ISO text."""
    computed, stamp = BUILTIN["computed"], BUILTIN["datetime"]
    assert computed.cell(None, False, "zh")["text"] == "否" and computed.cell(None, True, "en")["text"] == "Yes"
    assert computed.value_label(None, True, "zh") == "是" and computed.cell(None, None, "zh")["text"] == ""
    assert stamp.value_label(None, "2026-12-03T20:00:00+08:00", "zh") == "2026-12-03 20:00"
