"""SQL compilation of expressions agrees with Python evaluation (property test).

Random records (with random child rows and records linking to them, none included) are written to a real table; random conditions
built from the language's grammar, aggregates over both included, are evaluated both ways:
the ids the SQL WHERE selects must be exactly the ids whose Python evaluation is true.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from runtime import clock
from runtime.auth import SYSTEM
from runtime.context import RecordContext
from runtime.evaluate import holds, row_function
from runtime.expressions import parse
from runtime.sqlcompile import USER_PARAM

from .conftest import batch_body

APP = """
app: prop
user_attributes:
  site: {type: text}
entities:
  owner:
    fields:
      label: {type: text}
      rank: {type: integer}
  row:
    fields:
      n: {type: integer}
      m: {type: integer}
      price: {type: decimal, scale: 2}
      code: {type: text}
      kind: {type: select, options: [a, b, c]}
      tags: {type: multiselect, options: [x, y, z]}
      flag: {type: boolean}
      due: {type: date}
      at: {type: datetime}
      owner: {type: link, to: owner}
      late: {type: computed, expr: "max(0, days_between(due, today()))"}
      score: {type: computed, expr: "coalesce(n, 0) * 2 - coalesce(m, 0)"}
      net: {type: computed, returns: decimal, expr: "coalesce(price, 0) - 1.5"}
      lsum: {type: computed, expr: "sum(lines, w * qty) - count(lines, ok)"}
      lines:
        type: table
        fields:
          qty: {type: integer}
          w: {type: decimal, scale: 2}
          tag: {type: select, options: [a, b]}
          ok: {type: boolean}
          on: {type: date}
          who: {type: link, to: owner}
  ref:
    fields:
      row: {type: link, to: row}
      v: {type: integer}
      ok: {type: boolean}
"""

NOW = dt.datetime(2026, 11, 20, 10, 30, 0)

ints = st.one_of(st.none(), st.integers(-50, 50))
decs = st.one_of(st.none(), st.decimals(-100, 100, places=2, allow_nan=False, allow_infinity=False))
texts = st.one_of(st.none(), st.sampled_from(["", "a", "ab", "B", "甲", "abc"]))
dates = st.one_of(st.none(), st.dates(dt.date(2026, 10, 1), dt.date(2026, 12, 31)))
times = st.one_of(st.none(), st.datetimes(dt.datetime(2026, 11, 18), dt.datetime(2026, 11, 22)).map(
    lambda d: d.replace(microsecond=0)))
records = st.fixed_dictionaries({
    "n": ints, "m": ints, "price": decs, "code": texts, "kind": st.one_of(st.none(), st.sampled_from("abc")),
    "tags": st.one_of(st.none(), st.lists(st.sampled_from("xyz"), unique=True, max_size=3)),
    "flag": st.one_of(st.none(), st.booleans()), "due": dates, "at": times,
    "owner": st.one_of(st.none(), st.sampled_from([1, 2])),
    "lines": st.lists(st.fixed_dictionaries({
        "qty": st.one_of(st.none(), st.integers(-5, 5)),
        "w": st.one_of(st.none(), st.decimals(-10, 10, places=2, allow_nan=False, allow_infinity=False)),
        "tag": st.one_of(st.none(), st.sampled_from("ab")), "ok": st.one_of(st.none(), st.booleans()),
        "on": dates, "who": st.one_of(st.none(), st.sampled_from([1, 2]))}), max_size=3),
    "refs": st.lists(st.fixed_dictionaries({"v": ints, "ok": st.one_of(st.none(), st.booleans())}), max_size=2),
})

NUM = st.sampled_from(["n", "m", "price", "n + m", "n * 2", "price - 1.5", "abs(m)", "coalesce(n, 0)",
                       "max(n, m)", "min(price, n)", "round(price, 1)", "len(code)", "n / 3", "-n",
                       "owner.rank", "late", "days_between(due, today())", "hours_since(at)",
                       "year(due)", "month(due)", "minutes_since(at)", "n if flag else m", "days_since(due)"])
CONST = st.sampled_from(["0", "1", "-3", "2.5", "10", "0.33"])
TXT = st.sampled_from(["code", "lower(code)", "upper(code)", "owner.label", "user.site", "code + 'x'"])
KIND_CONST = st.sampled_from(["'a'", "'b'", "'c'"])  # a select compares only with its options (checked at load)
TXT_CONST = st.sampled_from(["'a'", "'ab'", "''", "'B'", "'甲'"])
DATE = st.sampled_from(["due", "today()", "add_days(due, 3)", "add_days(today(), -5)"])
TIME = st.sampled_from(["at", "now()", "add_hours(at, 5)", "add_days(due, 1)", "due"])
CMP = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
# aggregates over the child rows: empty tables, empty values and link paths inside included
AGG_NUM = st.sampled_from(["sum(lines.qty)", "count(lines)", "count(lines, qty > parent.n)", "count(lines.w)",
                           "sum(lines.w)", "avg(lines.w)", "avg(lines.qty)", "min(lines.qty)", "max(lines, qty * w)",
                           "sum(lines, qty * 2 + 1)", "lsum", "sum(lines, who.rank)", "count(ref.row)",
                           "sum(ref.row, v)", "max(ref.row, v)", "count(ref.row, ok)"])
AGG_BOOL = st.sampled_from(["any(lines, qty > 1)", "all(lines, qty > 1)", "any(lines, tag == 'a')",
                            "all(lines, ok)", "any(lines, who.label == 'ab')", "all(lines, w <= parent.price)",
                            "any(lines, qty is None)", "all(lines, coalesce(on, today()) >= parent.due)",
                            "any(lines, on > today())", "not any(lines, ok)", "any(ref.row, v > parent.n)",
                            "all(ref.row, ok)"])
AGG_DATE = st.sampled_from(["min(lines.on)", "max(lines.on)"])


@st.composite
def atoms(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 13))
    if kind <= 2:
        return f"{draw(NUM)} {draw(CMP)} {draw(st.one_of(NUM, CONST))}"
    if kind == 3:
        if draw(st.booleans()):
            return f"kind {draw(CMP)} {draw(st.one_of(KIND_CONST, TXT))}"
        return f"{draw(TXT)} {draw(CMP)} {draw(st.one_of(TXT, TXT_CONST))}"
    if kind == 4:
        return f"{draw(DATE)} {draw(CMP)} {draw(DATE)}"
    if kind == 5:
        return f"{draw(TIME)} {draw(CMP)} {draw(TIME)}"
    if kind == 6:
        return draw(st.sampled_from(["kind in ('a', 'b')", "kind not in ('c',)", "'x' in tags", "'z' not in tags",
                                     "n in (1, 2, 3)", "code == None", "code != None", "due is None",
                                     "flag", "not flag", "flag == True", "contains(code, 'b')",
                                     "startswith(code, 'a')"]))
    if kind == 7:
        return draw(st.sampled_from(["n", "code", "price", "late"]))
    if kind == 8:
        return f"{draw(NUM)} {draw(CMP)} {draw(NUM)} {draw(CMP)} {draw(CONST)}"
    if kind == 9:
        return f"coalesce({draw(NUM)}, 0) {draw(CMP)} {draw(CONST)}"
    if kind == 10:
        return draw(AGG_BOOL)
    if kind == 11:
        return f"{draw(AGG_DATE)} {draw(CMP)} {draw(DATE)}"
    return f"{draw(AGG_NUM)} {draw(CMP)} {draw(st.one_of(NUM, CONST, AGG_NUM))}"


conditions = st.recursive(
    atoms(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        inner.map(lambda e: f"not ({e})"),
    ),
    max_leaves=4,
)


def test_sql_and_python_agree(make_runtime) -> None:  # noqa: ANN001
    rt = make_runtime(texts={"prop.yaml": APP})
    ent = rt.entity("prop", "row")
    owner_t = rt.tables["prop.owner"]
    table = rt.tables["prop.row"]
    with rt.db.write() as conn:
        conn.execute(owner_t.insert(), [
            {"id": 1, "label": "ab", "rank": 3, "version": 1, "created_at": NOW, "updated_at": NOW},
            {"id": 2, "label": None, "rank": None, "version": 1, "created_at": NOW, "updated_at": NOW}])
    user = {"site": "ab", "username": "u", "display_name": "u"}

    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
    @given(rows=st.lists(records, min_size=1, max_size=8), source=conditions)
    def check(rows: list[dict], source: str) -> None:
        assert ent.scope is not None
        expr = parse(source, ent.scope, want="bool")
        with clock.frozen(NOW), rt.db.write() as conn:
            _write(conn, rt, rows)
            loaded = [dict(x) for x in conn.execute(select(table).order_by(table.c.id)).mappings()]
            loader = _loader(conn, rt)
            want = [r["id"] for r in loaded if holds(expr, RecordContext(ent, r, user, loader)) is True]
            clause = rt.sql.condition(expr, table)
            params = {USER_PARAM.format("site"): user["site"]}
            got = [x for x in conn.execute(select(table.c.id).where(clause).order_by(table.c.id), params).scalars()]
        assert got == want, f"{source}: SQL {got} != Python {want} for {loaded}"

    check()


def test_sorting_by_a_computed_field_agrees_with_python(make_runtime) -> None:  # noqa: ANN001
    """Lists sort by computed fields in SQL (their expression compiled): the order must be Python's."""
    from runtime.evaluate import evaluate
    rt = make_runtime(texts={"prop.yaml": APP})
    ent = rt.entity("prop", "row")
    table = rt.tables["prop.row"]

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
    @given(rows=st.lists(records, min_size=1, max_size=8), name=st.sampled_from(["late", "score", "net", "lsum"]),
           desc=st.booleans())
    def check(rows: list[dict], name: str, desc: bool) -> None:
        expr = ent.fields[name].expr
        assert expr is not None
        with clock.frozen(NOW), rt.db.write() as conn:
            _write(conn, rt, rows)
            loaded = [dict(x) for x in conn.execute(select(table).order_by(table.c.id)).mappings()]
            loader = _loader(conn, rt)
            values = {r["id"]: evaluate(expr, RecordContext(ent, r, {}, loader)) for r in loaded}
            col = rt.sql.value(expr, table)
            order = (col.desc().nulls_last(), table.c.id.desc()) if desc else (col.asc().nulls_first(), table.c.id)
            got = list(conn.execute(select(table.c.id).order_by(*order)).scalars())
        present = sorted((i for i in values if values[i] is not None), key=lambda i: (values[i], i), reverse=desc)
        empty = sorted((i for i in values if values[i] is None), reverse=desc)
        want = present + empty if desc else empty + present
        assert got == want, f"{name} {'desc' if desc else 'asc'}: SQL {got} != Python {want} for {values}"

    check()


def test_every_aggregate_agrees_on_fixed_rows(make_runtime) -> None:  # noqa: ANN001
    """Each aggregate of the property test's lists at least once: no rows, empty values, values."""
    rt = make_runtime(texts={"prop.yaml": APP})
    ent = rt.entity("prop", "row")
    table = rt.tables["prop.row"]
    rows = [{"n": 1, "price": Decimal("2.50"), "due": dt.date(2026, 11, 1), "lines": [], "refs": []},
            {"n": None, "lines": [{"qty": None, "w": None, "tag": None, "ok": None, "on": None, "who": None}],
             "refs": [{"v": None, "ok": None}]},
            {"n": 2, "price": Decimal("-1"), "lines": [
                {"qty": 3, "w": Decimal("1.25"), "tag": "a", "ok": True, "on": dt.date(2026, 12, 1), "who": 1},
                {"qty": -2, "w": Decimal("-0.5"), "tag": "b", "ok": False, "on": None, "who": 2}],
             "refs": [{"v": 4, "ok": True}, {"v": 1, "ok": None}]}]
    sources = [f"{a} >= 1" for a in AGG_NUM.elements] + list(AGG_BOOL.elements) + \
        [f"{a} <= today()" for a in AGG_DATE.elements]
    with clock.frozen(NOW), rt.db.write() as conn:
        _write(conn, rt, rows)
        loaded = [dict(x) for x in conn.execute(select(table).order_by(table.c.id)).mappings()]
        for source in sources:
            expr = parse(source, ent.scope, want="bool")
            want = [r["id"] for r in loaded if holds(expr, RecordContext(ent, r, {}, _loader(conn, rt))) is True]
            got = list(conn.execute(select(table.c.id).where(rt.sql.condition(expr, table)).order_by(table.c.id))
                       .scalars())
            assert got == want, source
        empty = RecordContext(ent, loaded[0], {}, _loader(conn, rt))
        from runtime.evaluate import evaluate
        assert [evaluate(parse(x, ent.scope), empty) for x in ("sum(lines.qty)", "count(lines)", "any(lines, ok)",
                                                                "all(lines, ok)", "avg(lines.w)", "min(lines.qty)")] \
            == [0, 0, False, True, None, None]


def _write(conn, rt, rows: list[dict]) -> None:  # noqa: ANN001
    """Replace the table's records (and their child rows) with ``rows``."""
    table, lines, refs = rt.tables["prop.row"], rt.tables["prop.row.lines"], rt.tables["prop.ref"]
    conn.execute(delete(lines))
    conn.execute(delete(refs))
    conn.execute(delete(table))
    n = 0
    for i, r in enumerate(rows, 1):
        conn.execute(table.insert().values(id=i, version=1, created_at=NOW, updated_at=NOW,
                                           **{k: v for k, v in r.items() if k not in ("lines", "refs")}))
        for idx, line in enumerate(r.get("lines") or []):
            n += 1
            conn.execute(lines.insert().values(id=n, parent_id=i, idx=idx, **line))
        for ref in r.get("refs") or []:  # records linking here
            conn.execute(refs.insert().values(row=i, version=1, created_at=NOW, updated_at=NOW, **ref))


def _loader(conn, rt):  # noqa: ANN001, ANN202
    from runtime.context import row_loader
    return row_loader(conn, rt.tables)


def test_decimal_column_against_constant_uses_exact_compare(make_runtime) -> None:  # noqa: ANN001
    rt = make_runtime(texts={"prop.yaml": APP})
    ent = rt.entity("prop", "row")
    table = rt.tables["prop.row"]
    with rt.db.write() as conn:
        conn.execute(table.insert().values(id=1, version=1, created_at=NOW, updated_at=NOW, price=Decimal("0.13")))
        for source, expected in (("price > 0.125", [1]), ("price >= 0.13", [1]), ("price < 0.13", []),
                                 ("price * 3 == 0.39", [1])):
            clause = rt.sql.condition(parse(source, ent.scope), table)
            assert list(conn.execute(select(table.c.id).where(clause)).scalars()) == expected, source


def test_a_decimal_column_in_arithmetic_is_its_value(make_runtime) -> None:  # noqa: ANN001
    """Issue 17 (MTBF = run_hours / breakdowns on a dashboard): on SQLite the column holds a scaled integer; the
    literals the compiler writes next to it must not be scaled by the column's type as well."""
    rt = make_runtime(texts={"prop.yaml": APP})
    ent = rt.entity("prop", "row")
    table = rt.tables["prop.row"]
    with rt.db.write() as conn:
        conn.execute(table.insert().values(id=1, version=1, created_at=NOW, updated_at=NOW, price=Decimal("7.26"),
                                           n=2))
        for source, expected in (("price / n", 3.63), ("price * 1.0", 7.26), ("price / 2 + 1", 4.63),
                                 ("price", 7.26)):
            got = conn.execute(select(rt.sql.value(parse(source, ent.scope), table))).scalar_one()
            assert abs(float(got) - expected) < 1e-9, (source, got)


def test_whole_hours_and_minutes_truncate_in_sql_as_in_python(make_runtime) -> None:  # noqa: ANN001
    """Found by the property test: SQLite divided the seconds as NUMERIC, so half an hour was 0.5, not 0."""
    rt = make_runtime(texts={"prop.yaml": APP})
    ent = rt.entity("prop", "row")
    table = rt.tables["prop.row"]
    half_hour_ago = NOW - dt.timedelta(minutes=30, seconds=20)
    with clock.frozen(NOW), rt.db.write() as conn:
        conn.execute(table.insert().values(id=1, version=1, created_at=NOW, updated_at=NOW, at=half_hour_ago))
        for source in ("hours_since(at) == 0", "minutes_since(at) == 30"):
            expr = parse(source, ent.scope, want="bool")
            assert holds(expr, RecordContext(ent, {"at": half_hour_ago}, {}, None)) is True, source
            got = conn.execute(select(table.c.id).where(rt.sql.condition(expr, table))).scalars().all()
            assert got == [1], source


PATHS_APP = """
app: paths
roles: [viewer]
user_attributes:
  site: {type: text}
entities:
  region:
    fields:
      label: {type: text}
    permissions:
      viewer: {read: "label != user.site"}
  owner:
    fields:
      label: {type: text}
      rank: {type: integer}
      region: {type: link, to: region}
    permissions:
      viewer: {read: "rank != 2"}
  row:
    fields:
      n: {type: integer}
      owner: {type: link, to: owner}
      lines:
        type: table
        fields:
          qty: {type: integer}
          code: {type: text}
          owner: {type: link, to: owner}
    permissions:
      viewer: {read: true}
"""

# path -> (hops, leaf); a hop is "owner" (a link to owner), "region" (owner's link) or "lines" (child rows)
PATHS = {"owner.rank": (["owner"], "rank"), "owner.label": (["owner"], "label"), "lines.qty": (["lines"], "qty"),
         "lines.code": (["lines"], "code"), "lines.owner": (["lines"], "owner"),
         "lines.owner.rank": (["lines", "owner"], "rank"), "owner.region.label": (["owner", "region"], "label"),
         "lines.owner.region.label": (["lines", "owner", "region"], "label"), "owner.id": (["owner"], "id")}
TEXT_LEAVES = {"label", "code"}
small = st.one_of(st.none(), st.integers(0, 3))
word = st.one_of(st.none(), st.sampled_from(["", "a", "ab", "b", "甲"]))
path_data = st.fixed_dictionaries({
    "regions": st.lists(word, min_size=2, max_size=2),
    "owners": st.lists(st.fixed_dictionaries({"label": word, "rank": small, "region": st.one_of(
        st.none(), st.sampled_from([1, 2]))}), min_size=3, max_size=3),
    "rows": st.lists(st.fixed_dictionaries({"n": small, "owner": st.one_of(st.none(), st.sampled_from([1, 2, 3])),
                                            "lines": st.lists(st.fixed_dictionaries({
                                                "qty": small, "code": word,
                                                "owner": st.one_of(st.none(), st.sampled_from([1, 2, 3]))}),
                                                max_size=3)}), min_size=1, max_size=6),
})


@st.composite
def path_filters(draw: st.DrawFn) -> tuple[str, str, str]:
    path = draw(st.sampled_from(sorted(PATHS)))
    text = PATHS[path][1] in TEXT_LEAVES
    ops = ["eq", "ne", "in", "isnull"] + (["contains", "startswith"] if text else ["lt", "lte", "gt", "gte"])
    op = draw(st.sampled_from(ops))
    if op == "isnull":
        return path, op, draw(st.sampled_from(["true", "false"]))
    one = st.sampled_from(["a", "ab", "b", "甲"]) if text else st.sampled_from(["0", "1", "2", "3"])
    if op == "in":
        return path, op, ",".join(draw(st.lists(one, min_size=1, max_size=3)))
    return path, op, draw(one)


def _matches(value: object, op: str, raw: str, text: bool) -> bool:
    """One leaf value against a filter, with SQL's rules: an empty value matches nothing but isnull."""
    if op == "isnull":
        return (value is None) == (raw == "true")
    if value is None:
        return False
    conv = (lambda s: s) if text else int  # noqa: E731
    if op == "in":
        return value in [conv(v) for v in raw.split(",")]
    if op == "contains":
        return raw in str(value)
    if op == "startswith":
        return str(value).startswith(raw)
    want = conv(raw)
    return {"eq": value == want, "ne": value != want, "lt": value < want, "lte": value <= want,  # type: ignore[operator]
            "gt": value > want, "gte": value >= want}[op]  # type: ignore[operator]


def test_path_filters_agree_with_python(make_runtime) -> None:  # noqa: ANN001
    """``?lines.owner.region.label__in=...`` in SQL (EXISTS per step, linked records within the viewer's read
    filters) selects exactly the rows for which Python finds some reachable, readable leaf that matches."""
    from runtime import listquery
    from runtime.auth import SYSTEM
    rt = make_runtime(texts={"paths.yaml": PATHS_APP})
    row_ent = rt.entity("paths", "row")
    tables = {n: rt.tables[f"paths.{n}"] for n in ("region", "owner", "row")}
    lines_t = rt.tables.for_entity(row_ent.fields["lines"].child)
    rt.users.add("v", "secret-pass", ["viewer"], attributes={"site": "ab"})
    viewer = rt.users.actor_for("v")
    assert viewer is not None
    stamp = {"version": 1, "created_at": NOW, "updated_at": NOW}

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
    @given(data=path_data, flt=path_filters(), as_viewer=st.booleans())
    def check(data: dict, flt: tuple[str, str, str], as_viewer: bool) -> None:
        regions = {i: {"id": i, "label": v} for i, v in enumerate(data["regions"], 1)}
        owners = {i: {"id": i, **o} for i, o in enumerate(data["owners"], 1)}
        with rt.db.write() as conn:
            for t in (lines_t, tables["row"], tables["owner"], tables["region"]):
                conn.execute(delete(t))
            conn.execute(tables["region"].insert(), [{**r, **stamp} for r in regions.values()])
            conn.execute(tables["owner"].insert(), [{**o, **stamp} for o in owners.values()])
            k = 0
            for i, r in enumerate(data["rows"], 1):
                conn.execute(tables["row"].insert().values(id=i, n=r["n"], owner=r["owner"], **stamp))
                for j, line in enumerate(r["lines"]):
                    k += 1
                    conn.execute(lines_t.insert().values(id=k, parent_id=i, idx=j, **line))
        readable = {"owner": lambda o: not as_viewer or (o["rank"] is not None and o["rank"] != 2),
                    "region": lambda g: not as_viewer or (g["label"] is not None and g["label"] != "ab")}

        def reach(holder: dict, hops: list[str]) -> list[dict]:
            if not hops:
                return [holder]
            hop, rest = hops[0], hops[1:]
            if hop == "lines":
                return [leaf for line in holder["lines"] for leaf in reach(line, rest)]
            target = (owners if hop == "owner" else regions).get(holder[hop])
            return reach(target, rest) if target is not None and readable[hop](target) else []

        path, op, raw = flt
        hops, leaf = PATHS[path]
        want = [i for i, r in enumerate(data["rows"], 1)
                if any(_matches(h[leaf], op, raw, leaf in TEXT_LEAVES) for h in reach(r, hops))]
        key = path if op == "eq" else f"{path}__{op}"
        q = listquery.parse_args(row_ent, {key: raw, "limit": "500"})
        got = sorted(i["id"] for i in listquery.run(rt, viewer if as_viewer else SYSTEM, row_ent, q)["items"])
        assert got == want, f"{key}={raw} ({'viewer' if as_viewer else 'admin'}): SQL {got} != Python {want}"

    check()


def test_compiled_closures_agree_with_the_evaluator(make_runtime) -> None:  # noqa: ANN001
    """runtime.evaluate runs simple trees (arithmetic, and/or/not, a if b else c, calls) as closures: for random
    expressions and records, their answer (or error) must be the node-by-node evaluator's."""
    from runtime.evaluate import EvaluationError, evaluate
    from runtime.limits import LimitExceeded
    rt = make_runtime(texts={"prop.yaml": APP})
    ent = rt.entity("prop", "row")
    user = {"site": "ab", "username": "u", "display_name": "u"}
    numbers = st.recursive(st.one_of(NUM, CONST), lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(inner, conditions, inner).map(lambda t: f"({t[0]}) if ({t[1]}) else ({t[2]})"),
        inner.map(lambda e: f"-({e})")), max_leaves=4)

    def outcome(expr: object, record: dict) -> object:
        try:
            return evaluate(expr, RecordContext(ent, record, user, None))  # type: ignore[arg-type]
        except (EvaluationError, LimitExceeded) as exc:
            return type(exc)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
    @given(record=records, source=st.one_of(conditions, numbers))
    def check(record: dict, source: str) -> None:
        assert ent.scope is not None
        fast, slow, plain = parse(source, ent.scope), parse(source, ent.scope), parse(source, ent.scope)
        slow.compiled = False  # node by node
        with clock.frozen(NOW):
            expected = outcome(slow, record)
            assert outcome(fast, record) == expected, source
            on_row = row_function(plain, ent)  # a plain row's computed value: as a context reads it
            if on_row is not None:
                assert on_row(dict(record)) == (None if isinstance(expected, type) else expected), source

    check()


def test_plain_rows_serialise_as_record_contexts_do(world) -> None:  # noqa: ANN001
    """Records whose computed fields read only their own stored fields serialise from the plain row
    (records.json_plan with evaluate.row_function): the same JSON, in the same order, as through a context."""
    from runtime.records import json_plan
    rt = world.rt
    ent = rt.entity("outsourcing", "batch")
    assert json_plan(ent) is not None, "the batch's days_late and short_qty read only the batch's own fields"
    a = world.partners["a"]
    made = [world.planner.post("/api/outsourcing/batch", batch_body(a, **over)).get_json() for over in (
        {}, {"expected_return": "2026-11-01", "ship_date": "2026-10-20"}, {"quantity": 2400})]
    plan = ent.extra["json_plan"]
    for record in made:
        with rt.db.read() as conn:
            row = rt.records._load(conn, ent, record["id"], SYSTEM)
            ent.extra["json_plan"] = None  # serialise field by field, computed values read from the context
            try:
                via_context = rt.records.serialize(ent, rt.records.context(conn, ent, dict(row), SYSTEM))
            finally:
                ent.extra["json_plan"] = plan
        via_plan = rt.records.serialize(ent, dict(row))
        assert list(via_plan.items()) == list(via_context.items())
    assert made[1]["days_late"] > 0
