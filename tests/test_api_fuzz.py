"""Property-based fuzz of the REST API, driven by its own OpenAPI document: no input gives a 5xx.

For every operation in ``GET /api/openapi.json`` (plus /api/me and /api/files) hypothesis draws
path parameters (real, huge, negative and odd ids; unknown transitions), query parameters (the
documented filter fields x every operator x hostile values, sort, limit, cursors), and bodies
(records built from the input schema, then mutated: wrong types, extra fields, nulls, deep nesting,
huge strings and numbers; or no object at all), sent as admin, planner, partner, a user without a
role, or nobody. Every answer must be below 500, and every 4xx must have the JSON error shape.

Bounded: JIG_FUZZ_EXAMPLES examples (default 2000: about 20 s on SQLite, 35 s on PostgreSQL on a 2-core machine),
derandomized so CI sees the same requests every run. ``JIG_FUZZ_EXAMPLES=5000 JIG_FUZZ_RANDOM=1``
runs it longer, with fresh randomness. What is covered is documented in docs/security.md ("API fuzz").
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
from collections import Counter
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.listquery import OPS

from .conftest import World

EXAMPLES = int(os.environ.get("JIG_FUZZ_EXAMPLES", "2000"))
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("JIG_FUZZ_RANDOM"),
                         database=None, suppress_health_check=list(HealthCheck), print_blob=True)

HUGE_INTS = [0, -1, 1, 2, 3, 2 ** 31, 2 ** 31 - 1, 2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, -2 ** 63, -2 ** 63 - 1,
             2 ** 64, 10 ** 40, 10 ** 300]
ODD_TEXT = ["", " ", "0", "-0", "1e400", "-1e400", "1e-400", "9" * 40, "1" * 5000, "NaN", "nan", "inf", "-Infinity",
            "0x10", "1_000", "1,000", "１２３", "١٢", "1.5", "1.", ".5", "1e999999999", "2026-02-30",
            "2026-11-20T25:61", "2026-11-20T10:00:00+99:00", "9999-12-31T23:59:59", "9999-12-31T23:59:59-12:00",
            "0001-01-01T00:00:00+14:00", "0001-01-01", "true", "null",
            "[]", "{}", "'; drop table x;--", "%", "_", "\\", "\x00", "a\x00b", "\ud7ff", "\ud800", "x\udfff",
            "😀", "华新电镀" * 300, "a" * 70_000,
            "<script>alert(1)</script>", "../../etc/passwd", "\u202e", "\r\n", "a,b,,c", ",", "-", "--", "+"]
ROLES = ("admin", "planner", "partner", "norole", "anonymous")


def _deep(depth: int, leaf: Any = 1) -> Any:
    out: Any = leaf
    for i in range(depth):
        out = [out] if i % 2 else {"a": out}
    return out


scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(HUGE_INTS), st.integers(), st.text(max_size=40),
    st.sampled_from(ODD_TEXT),
    st.floats(allow_nan=False, allow_infinity=False),  # NaN/inf are not JSON; sent as text instead
)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)
hostile = st.one_of(json_values, st.builds(_deep, st.sampled_from([5, 31, 33, 200, 900])))


class _Pick:
    """Choices for building plausible records: from hypothesis (fuzz) or from a seeded Random (seeding)."""

    def __init__(self, draw: Any = None, rnd: random.Random | None = None) -> None:
        self.draw, self.rnd = draw, rnd

    def choice(self, items: list[Any]) -> Any:
        return self.draw(st.sampled_from(items)) if self.draw else self.rnd.choice(items)  # type: ignore[union-attr]

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi)) if self.draw else self.rnd.randint(lo, hi)  # type: ignore[union-attr]


def _valid_value(schema: dict[str, Any], pick: _Pick) -> Any:
    """A plausible value for one property of the input schema."""
    if "oneOf" in schema:
        schema = schema["oneOf"][0]
    kind = schema.get("type")
    if "enum" in schema:
        return pick.choice(schema["enum"]) if schema["enum"] else None
    if kind == "integer" and "id of a" in schema.get("description", ""):
        return pick.integer(1, 3)
    if kind == "integer":
        return pick.integer(schema.get("minimum", 0), schema.get("maximum", 50))
    if kind == "boolean":
        return pick.choice([True, False])
    if kind == "array":
        items = schema.get("items", {})
        if "keys of uploaded files" in schema.get("description", ""):
            return []
        if items.get("type") == "object":
            return [_valid_object(items, pick) for _ in range(pick.integer(1, 2))]
        return [_valid_value(items, pick) for _ in range(pick.integer(0, 2))]
    if kind == "object":
        return _valid_object(schema, pick)
    fmt = schema.get("format")
    if fmt == "date":
        return pick.choice(["2026-11-18", "2026-11-25", "2027-01-01"])
    if fmt == "date-time":
        return pick.choice(["2026-11-20T10:00:00+08:00", "2026-11-20 08:00"])
    if fmt == "email":
        return "a@b.cn"
    if "pattern" in schema:
        return pick.choice(["1", "2.5", "100.25", "3"])
    return pick.choice(["宁波精密", "P-100", "13800001111", "x"]) + str(pick.integer(0, 999))


def _valid_object(schema: dict[str, Any], pick: _Pick) -> dict[str, Any]:
    props = schema.get("properties", {})
    out = {}
    for name, sub in props.items():
        if sub.get("description") == "computed" or name in ("id", "created_at", "updated_at"):
            continue
        if name in schema.get("required", []) or pick.choice([True, False]):
            out[name] = _valid_value(sub, pick)
    return out


@st.composite
def bodies(draw: Any, schema: dict[str, Any] | None) -> tuple[str, bytes | None]:
    """(content type, raw body): a mutated record, or something that is not a record at all."""
    shape = draw(st.sampled_from(["record"] * 6 + ["small"] * 3 + ["none", "json", "deep", "broken"]))
    props = [k for k, v in (schema or {}).get("properties", {}).items() if v.get("description") != "computed"]
    if shape == "small" and props:  # one plausible change at a plausible version: reaches updates and rules
        name = draw(st.sampled_from(props))
        # a plausible value, or (a third of the time) a wrong one: reaches validation (422) as well as updates
        value = _valid_value(schema["properties"][name], _Pick(draw)) if draw(st.integers(0, 2)) else draw(hostile)  # type: ignore[index]
        return "application/json", json.dumps({name: value, "version": draw(st.sampled_from([1, 1, 2]))}).encode()
    if shape == "none":
        return "application/json", None
    if shape == "json":
        return "application/json", json.dumps(draw(hostile)).encode()  # ASCII escapes carry lone surrogates
    if shape == "deep":
        n = draw(st.sampled_from([32, 33, 999, 2000, 100_000]))
        return "application/json", (draw(st.sampled_from(["[", '{"a":'])) * n).encode()
    if shape == "broken":
        return draw(st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"])), \
            draw(st.sampled_from([b"{", b"\xff\xfe", b'{"a":1}' * 3, b"NaN", b"{'a': 1}", b"\x00" * 10]))
    record = _valid_object(schema, _Pick(draw)) if schema else {}
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
        keys = list((schema or {}).get("properties", {})) + ["version", "id", "state", "extra_field", "__proto__"]
        record[draw(st.sampled_from(keys))] = draw(hostile)
    if draw(st.integers(0, 3)):
        record["version"] = draw(st.sampled_from([1, 1, 1, 1, 2, 3, 0, -1, 2 ** 63, "1", "x", 1.5, True, None, [1]]))
    return "application/json", json.dumps(record).encode()


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@st.composite
def cursors(draw: Any) -> str:
    raw = draw(st.one_of(st.builds(lambda v: json.dumps(v).encode(), st.lists(json_values, max_size=4)),
                         st.builds(lambda n: b"[" * n + b"]" * n, st.sampled_from([2, 1000, 5000])),
                         st.binary(max_size=40)))
    return draw(st.one_of(st.just(base64.urlsafe_b64encode(raw).decode().rstrip("=")), st.sampled_from(ODD_TEXT)))


@st.composite
def list_query(draw: Any, params: list[dict[str, Any]]) -> str:
    fields = [p["name"] for p in params if p["name"] not in ("sort", "limit", "after", "q", "count")]
    fields += ["id", "version", "state", "name", "created_at", "updated_by", "nope", "", "lines", "photos"]
    pairs: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(fields))
        op = draw(st.sampled_from([*OPS, "", "near", "in__in"]))
        key = f"{name}__{op}" if op else name
        pairs.append((key, _as_text(draw(st.one_of(st.sampled_from(ODD_TEXT), json_values)))))
    if draw(st.booleans()):
        terms = draw(st.lists(st.sampled_from([f, "-" + f, "+" + f]) if (f := draw(st.sampled_from(fields))) else
                              st.just(""), max_size=8))
        pairs.append(("sort", ",".join(terms) if draw(st.booleans()) else ",".join([fields[0]] * 2000)))
    if draw(st.booleans()):
        pairs.append(("limit", _as_text(draw(st.one_of(st.sampled_from(HUGE_INTS), st.sampled_from(ODD_TEXT))))))
    if draw(st.booleans()):
        pairs.append(("after", draw(cursors())))
    for extra in ("q", "count", "lang"):
        if draw(st.integers(0, 4)) == 0:
            pairs.append((extra, draw(st.sampled_from(ODD_TEXT))))
    return "&".join(f"{_q(k)}={_q(v)}" for k, v in pairs)


def _q(text: str) -> str:
    return quote(text, safe="", errors="surrogatepass")  # a lone surrogate goes out as invalid UTF-8 bytes


path_ids = st.sampled_from(["1", "2", "3"] * 8 + [str(n) for n in HUGE_INTS] +
                           ["abc", "1.5", "%00", "１", "1e3", "0x1", "-0", "9" * 5000, "%2e%2e", "%201"])


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = [(m.upper(), path, op) for path, item in doc["paths"].items()
           for m, op in item.items() if m in ("get", "post", "patch", "delete")]
    ops += [("GET", "/api/me", {}), ("GET", "/api/files/{key}", {}), ("PUT", "/api/outsourcing/batch/{id}", {}),
            ("GET", "/api/openapi.json", {})]
    return ops


def _resolve(schema: dict[str, Any] | None, doc: dict[str, Any]) -> dict[str, Any] | None:
    if not schema:
        return None
    if "$ref" in schema:
        return doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]  # type: ignore[no-any-return]
    if "allOf" in schema:
        return schema["allOf"][0]  # type: ignore[no-any-return]
    return schema


def check_answer(r: Any, what: str) -> None:
    """No 5xx; every 4xx from the API is the JSON error shape."""
    assert r.status_code < 500, f"{what} -> {r.status_code} {r.get_data(as_text=True)[:300]}"
    if 400 <= r.status_code < 500:
        body = r.get_json(silent=True)
        assert isinstance(body, dict) and set(body) == {"error"}, f"{what} -> {r.status_code} not the error shape"
        err = body["error"]
        assert isinstance(err.get("code"), str) and isinstance(err.get("message"), str), what
        assert isinstance(err.get("fields"), dict), what


def _seed(world: World, doc: dict[str, Any]) -> int:
    """Real records in as many entities as plausible bodies can create (seeded), so fuzzed ids reach rows."""
    rnd = random.Random(8)
    created = 0
    for _ in range(3):  # later passes can link to what earlier passes created
        for path, item in doc["paths"].items():
            schema = _resolve(item.get("post", {}).get("requestBody", {}).get("content", {})
                              .get("application/json", {}).get("schema"), doc)
            if schema is None or "{" in path:
                continue
            for _attempt in range(12):
                if world.admin.post(path, _valid_object(schema, _Pick(rnd=rnd))).status_code == 201:
                    created += 1
                    break
    return created


def test_api_fuzz_gives_no_5xx(world: World) -> None:
    """Bounded fuzz (JIG_FUZZ_EXAMPLES, default 2000 examples): every answer < 500, every 4xx the JSON shape."""
    doc = world.admin.get("/api/openapi.json").get_json()
    assert _seed(world, doc) >= 20
    operations = {(m, path): op for m, path, op in _operations(doc)}
    users = {"admin": world.admin.token, "planner": world.planner.token, "partner": world.partner_a.token,
             "norole": world.as_user("nobody", []).token, "anonymous": None}
    client = world.app.test_client()
    seen: Counter[str] = Counter()

    @FUZZ_SETTINGS
    @given(st.data())
    def one_request(data: Any) -> None:
        method, template = data.draw(st.sampled_from(sorted(operations)), label="operation")
        op = operations[(method, template)]
        path = template.replace("{id}", data.draw(path_ids, label="id"))
        if "{name}" in path:
            names = next((p["schema"].get("enum", []) for p in doc["paths"][template]["parameters"]
                          if p["name"] == "name"), [])
            path = path.replace("{name}", quote(data.draw(st.sampled_from([*names, "nope", "", "..", "名字", "x" * 300])
                                                          if names else st.just("x")), safe=""))
        path = path.replace("{key}", _q(data.draw(st.sampled_from(ODD_TEXT[:30] + ["x", "a\x00b"]))) or "x")
        query = data.draw(list_query(op.get("parameters", [])), label="query") if method == "GET" else ""
        schema = _resolve(op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema"), doc)
        content_type, body = data.draw(bodies(schema), label="body") if method in ("POST", "PATCH", "DELETE") \
            else ("application/json", None)
        who = data.draw(st.sampled_from(ROLES), label="user")
        headers = {"Content-Type": content_type}
        if users[who]:
            headers["Authorization"] = f"Bearer {users[who]}"
        if data.draw(st.integers(0, 5), label="lang") == 0:
            headers["Accept-Language"] = data.draw(st.sampled_from(["en", "zh-CN", "xx", "", "*;q=abc"]))
        url = path + ("?" + query if query else "")
        r = client.open(url, method=method, data=body, headers=headers)
        seen[f"{method} {r.status_code}"] += 1
        check_answer(r, f"{who} {method} {url[:200]} body={(body or b'')[:200]!r}")

    one_request()
    print("API fuzz answers:", dict(sorted(seen.items())))  # shown with pytest -s
    reached = ("GET 200", "POST 201", "POST 422", "PATCH 422", "DELETE 204")
    assert all(seen[k] for k in reached), seen  # the fuzz reaches real reads, writes and validation


def test_file_upload_fuzz_gives_no_5xx(world: World, tmp_path: Any) -> None:
    """Uploads with hostile names, sizes and contents: 201 or 4xx, never 5xx (bounded: JIG_FUZZ_EXAMPLES // 10)."""
    world.rt.files.root = tmp_path
    c = world.planner

    @settings(FUZZ_SETTINGS, max_examples=max(10, EXAMPLES // 10))
    @given(st.binary(max_size=300) | st.sampled_from([b"%PDF-", b"PK\x03\x04", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
                                                       b"GIF89a" + b"\xff" * 30, "华".encode() * 2000]),
           st.sampled_from(["a.csv", "", "../../x", "a" * 1000, "名.pdf", "\x00.png", "CON", ".."]),
           st.sampled_from(["", "?image=1", "?image=true", "?image=" + "9" * 50]))
    def upload(data: bytes, name: str, query: str) -> None:
        r = c.post("/api/files" + query, data={"file": (__import__("io").BytesIO(data), name)},
                   content_type="multipart/form-data")
        check_answer(r, f"upload {name!r} {query} {data[:40]!r}")

    upload()
    check_answer(c.post("/api/files", data=b"not multipart", content_type="multipart/form-data; boundary=x"), "raw")


def test_fuzz_check_rejects_a_5xx() -> None:
    """The fuzz's own oracle: a 500 or a 4xx without the error shape fails it."""
    class R:
        def __init__(self, status: int, body: Any) -> None:
            self.status_code, self._body = status, body

        def get_json(self, silent: bool = False) -> Any:
            return self._body

        def get_data(self, as_text: bool = False) -> str:
            return json.dumps(self._body)

    for bad in (R(500, {"error": {"code": "internal", "message": "x", "fields": {}}}), R(404, {"message": "x"}),
                R(400, None)):
        try:
            check_answer(bad, "probe")
        except AssertionError:
            continue
        raise AssertionError(f"check_answer accepted {bad.status_code}")
    check_answer(R(422, {"error": {"code": "validation_failed", "message": "x", "fields": {"a": "b"}}}), "ok")
    assert re.match(r"\d+", str(EXAMPLES))
