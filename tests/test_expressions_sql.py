"""SQL compilation of expressions agrees with Python evaluation (property test).

Random records are written to a real table; random conditions built from the
language's grammar are evaluated both ways: the ids the SQL WHERE selects
must be exactly the ids whose Python evaluation is true.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from runtime import clock
from runtime.context import RecordContext
from runtime.evaluate import holds
from runtime.expressions import parse
from runtime.sqlcompile import USER_PARAM

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


@st.composite
def atoms(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 9))
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
    return f"coalesce({draw(NUM)}, 0) {draw(CMP)} {draw(CONST)}"


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
            conn.execute(delete(table))
            for i, r in enumerate(rows, 1):
                conn.execute(table.insert().values(id=i, version=1, created_at=NOW, updated_at=NOW, **r))
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
    @given(rows=st.lists(records, min_size=1, max_size=8), name=st.sampled_from(["late", "score", "net"]),
           desc=st.booleans())
    def check(rows: list[dict], name: str, desc: bool) -> None:
        expr = ent.fields[name].expr
        assert expr is not None
        with clock.frozen(NOW), rt.db.write() as conn:
            conn.execute(delete(table))
            for i, r in enumerate(rows, 1):
                conn.execute(table.insert().values(id=i, version=1, created_at=NOW, updated_at=NOW, **r))
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
