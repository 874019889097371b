"""The indexes planned from the definition serve the list shapes the UI uses without sorting every match.

For outsourcing.batch (default sort ``-created_at``) the test takes the exact statement the API runs for
the first page of ``?state=X`` and ``?partner=Y&state=X`` (runtime/listquery.py) and asks the database
for its plan:

* SQLite (``EXPLAIN QUERY PLAN``): the batch table is reached by ``SEARCH ... USING INDEX`` on the
  planned composite index, and no ``USE TEMP B-TREE FOR ORDER BY`` appears.
* PostgreSQL (``EXPLAIN``, after ANALYZE of a few thousand rows): no ``Seq Scan`` and no ``Sort`` /
  ``Incremental Sort`` node; the batch table is read by an index scan of the planned index. On a test-sized
  table a sequential scan, or an index/bitmap scan of (state) plus a sort of the few matches, is honestly
  the cheapest plan, so the test sets ``enable_seqscan``, ``enable_bitmapscan`` and ``enable_sort`` off
  for its transaction (each only makes that kind of plan very expensive, it still appears when nothing
  else can answer). What it asserts is that the planned index hands out the matches already in list
  order under a Limit, the plan PostgreSQL takes once the matches are many (at factory scale).

The outsourcing board's widgets and the overdue reminder's id scan (indexes planned from dashboard filters,
group-bys and scheduled rule conditions, runtime/indexplan.py) are checked the same way on the statements
they send: the batch table is only searched through an index; number tiles and the scan sort nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

import pytest
from sqlalchemy import insert, inspect, text

from runtime import listquery
from runtime.auth import SYSTEM
from runtime.core import Runtime
from runtime.tables import entity_indexes, list_indexes

ROWS = 3000
SHAPES = {
    "state": ({"state": "shipped"}, "ix_outsourcing__batch_state_created_at_id"),
    "partner + state": ({"partner": "3", "state": "processing"}, "ix_outsourcing__batch_partner_state_created_at_id"),
}


def _seed(rt: Runtime) -> None:
    now = dt.datetime(2026, 11, 20, 10, 0)
    sys_cols = {"version": 1, "created_by": "seed", "updated_by": "seed"}
    rnd = random.Random(5)
    with rt.db.write() as conn:
        conn.execute(insert(rt.tables["outsourcing.partner"]),
                     [{"name": f"P{i}", "created_at": now, "updated_at": now, **sys_cols} for i in range(1, 21)])
        conn.execute(insert(rt.tables["outsourcing.batch"]), [{
            "name": f"WF-{i:06d}", "state": "done" if i < ROWS * 0.95 else rnd.choice(["shipped", "processing"]),
            "created_at": now - dt.timedelta(minutes=ROWS - i), "updated_at": now, "customer": "C",
            "product_no": f"P-{i % 97}", "quantity": 10, "partner": rnd.randint(1, 20), "process": "plating",
            "ship_date": now.date(), "expected_return": now.date() + dt.timedelta(days=i % 9), **sys_cols}
            for i in range(ROWS)])
        conn.execute(text("ANALYZE"))


def _list_sql(rt: Runtime, args: dict[str, str]) -> str:
    """The first-page statement the API runs for ``args``, with its values inlined."""
    ent = rt.entity("outsourcing", "batch")
    q = listquery.parse_args(ent, args)
    cached = listquery._cached_page(rt, SYSTEM, ent, q)
    assert cached is not None, "the list's first page should take the cached-statement path"
    stmt, params = cached
    return str(stmt.params(**params).compile(dialect=rt.db.engine.dialect, compile_kwargs={"literal_binds": True}))


def _plan(rt: Runtime, sql: str) -> list[str]:
    with rt.db.write() as conn:
        if rt.db.dialect == "sqlite":
            return [str(r[3]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
        return [str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + sql)]


def test_list_indexes_are_planned_from_the_definition(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime(migrate=False)
    ent = rt.entity("outsourcing", "batch")
    planned = list_indexes(ent)
    assert ("state", "created_at", "id") in planned
    assert ("partner", "created_at", "id") in planned and ("partner", "state", "created_at", "id") in planned
    names = {i.name for i in entity_indexes(ent)}
    # the declared (partner, state, created_at) is left out: (partner, state, created_at, id) serves it too;
    # (state) and (partner) stay: they hand out the matches in id order (the UI's bounded count)
    assert "ix_outsourcing__batch_partner_state_created_at" not in names
    assert {"ix_outsourcing__batch_state", "ix_outsourcing__batch_partner"} <= names
    assert "ix_outsourcing__batch_state_expected_return" in names  # declared, for the overdue scan


def test_migrate_plan_shows_the_list_indexes(make_runtime: Callable[..., Runtime]) -> None:
    """An install migrated before the list indexes: `jig migrate` plans them (and those planned from the dashboard),
    and drops the indexes they replace."""
    rt = make_runtime()
    planned = "ix_outsourcing__batch_state_partner_expected_return"  # from the dashboard: NULLS FIRST on PostgreSQL
    planned += "_nf" if rt.db.dialect == "postgresql" else ""
    with rt.db.write() as conn:
        for name in ("ix_outsourcing__batch_state_created_at_id", "ix_outsourcing__batch_partner_state_created_at_id",
                     planned):
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        conn.exec_driver_sql('CREATE INDEX "ix_outsourcing__batch_partner_state_created_at" '
                             'ON "outsourcing__batch" (partner, state, created_at)')
    steps = [s for s in rt.migration_plan() if s.table == "outsourcing__batch"]
    created = {s.detail for s in steps if s.kind == "create_index"}
    assert created == {"ix_outsourcing__batch_state_created_at_id on state, created_at, id",
                       "ix_outsourcing__batch_partner_state_created_at_id on partner, state, created_at, id",
                       f"{planned} on state, partner, expected_return"}
    assert [s.data["index"] for s in steps if s.kind == "drop_index"] == \
        ["ix_outsourcing__batch_partner_state_created_at"]
    rt.migrate()
    assert not [s for s in rt.migration_plan() if s.kind in ("create_index", "drop_index")]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_list_queries_use_an_index_in_list_order(make_runtime: Callable[..., Runtime], shape: str) -> None:
    rt = make_runtime()
    _seed(rt)
    args, index = SHAPES[shape]
    sql = _list_sql(rt, args)
    assert "ORDER BY outsourcing__batch.created_at DESC, outsourcing__batch.id DESC" in sql
    plan = _plan(rt, sql)
    shown = "\n".join(plan)
    if rt.db.dialect == "sqlite":
        assert not any("TEMP B-TREE" in line for line in plan), shown
        table_lines = [line for line in plan if "outsourcing__batch" in line]
        assert table_lines and all(line.startswith("SEARCH") and "INDEX" in line for line in table_lines), shown
        assert index in shown, shown
    else:
        assert not any("Seq Scan" in line for line in plan), shown
        assert not any(line.strip().lstrip("-> ").startswith(("Sort", "Incremental Sort")) for line in plan), shown
        assert "Index Scan" in shown and index in shown, shown



def test_dashboard_and_overdue_scan_use_planned_indexes(make_runtime: Callable[..., Runtime]) -> None:
    """Every widget of the outsourcing board and the overdue reminder's id scan reach the batch table through an
    index (no full scan); the number tiles and the scan sort nothing. The statements are the ones
    ``dashboards.compute_widget`` and the rule engine send, captured from the driver with their parameters."""
    from sqlalchemy import event

    from rules.engine import scan_ids
    from ui import dashboards

    rt = make_runtime(extensions=True)
    _seed(rt)
    ent = rt.entity("outsourcing", "batch")
    assert {("state", "partner", "expected_return"), ("updated_at", "actual_return", "ship_date")} <= \
        set(ent.planned_indexes)
    sent: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if "outsourcing__batch" in statement and statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, params))
    event.listen(rt.db.engine, "before_cursor_execute", capture)
    try:
        board = rt.apps["outsourcing"].sections["dashboards"]["board"]
        queries = []
        for w in board.widgets:
            sent.clear()
            # the per-request query (what users with a row filter get; others read the kept counts, runtime.kept)
            kept, w.kept = w.kept, None
            try:
                dashboards.compute_widget(rt, SYSTEM, w, "en")
            finally:
                w.kept = kept
            queries.append((w.type, sent[0]))  # the widget's own query (link titles follow)
        rule = next(r for r in rt.apps["outsourcing"].sections["rules"] if r.name == "overdue_reminder")
        table = rt.tables.for_entity(ent)
        stmt = scan_ids(rt.sql, rule, table, (rt.tables.system["jig_rule_firings"], "2026-12-02"))
        sent.clear()
        with rt.db.read() as conn:
            conn.execute(stmt).all()
        queries.append(("overdue scan", sent[0]))
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", capture)
    for kind, (sql, params) in queries:
        with rt.db.write() as conn:
            if rt.db.dialect == "sqlite":
                plan = [str(r[3]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]
            else:
                conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                plan = [str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + sql, params)]
        shown = f"{kind}: {sql}\n" + "\n".join(plan)
        if rt.db.dialect == "sqlite":
            table_lines = [line for line in plan if "outsourcing__batch" in line]
            assert table_lines and all(line.startswith("SEARCH") and "INDEX" in line for line in table_lines), shown
            if kind in ("number", "overdue scan"):
                assert not any("TEMP B-TREE" in line for line in plan), shown
            if kind in ("bar", "overdue scan"):  # answered from the index alone (partner / ids)
                assert "COVERING INDEX" in shown, shown
        else:
            assert not any("Seq Scan on outsourcing__batch" in line for line in plan), shown
            if kind in ("number", "overdue scan"):
                assert not any(line.strip().lstrip("-> ").startswith(("Sort", "Incremental Sort")) for line in plan), shown


def test_number_prefix_ignoring_case_uses_an_index(make_runtime: Callable[..., Runtime]) -> None:
    """``?name__startswith=wf-0001`` (and the search's prefix match on the number) ignores case on both
    databases; PostgreSQL finds the rows through the ``lower(name)`` index instead of reading the table."""
    rt = make_runtime()
    _seed(rt)
    ent = rt.entity("outsourcing", "batch")
    q = listquery.parse_args(ent, {"name__startswith": "wf-00012"})
    stmt, _ = listquery.build(rt, SYSTEM, ent, q)
    with rt.db.read() as conn:
        assert len(conn.execute(stmt).all()) == 10  # WF-000120 .. WF-000129
    if rt.db.dialect == "postgresql":
        sql = str(stmt.compile(dialect=rt.db.engine.dialect, compile_kwargs={"literal_binds": True}))
        shown = "\n".join(_plan(rt, sql))
        assert "ix_outsourcing__batch_name_lower" in shown and "Seq Scan" not in shown, shown
    else:  # SQLite's LIKE ignores ASCII case by itself: the index is PostgreSQL's only, and no migration wants it
        with rt.db.read() as conn:
            assert "ix_outsourcing__batch_name_lower" not in {i["name"] for i in inspect(conn).get_indexes(
                "outsourcing__batch")}
        assert not [s for s in rt.migration_plan() if s.kind in ("create_index", "drop_index")]


def test_a_board_reads_its_first_cards_in_order(make_runtime: Callable[..., Runtime]) -> None:
    """The outsourcing board's cards of one state, ordered by due date (empty first) then newest: on both
    databases an index hands them out in that order (PostgreSQL's planned index holds its columns NULLS
    FIRST), so the first cards are read without sorting every batch of the state."""
    rt = make_runtime()
    _seed(rt)
    sql = ("SELECT * FROM outsourcing__batch WHERE outsourcing__batch.state = 'shipped' ORDER BY "
           "outsourcing__batch.expected_return ASC NULLS FIRST, outsourcing__batch.id DESC LIMIT 300")
    if rt.db.dialect == "sqlite":
        sql = sql.replace(" NULLS FIRST", "")  # SQLite's own order for ascending
    shown = "\n".join(_plan(rt, sql))
    assert "state_expected_return" in shown, shown
    if rt.db.dialect == "sqlite":
        assert "USE TEMP B-TREE FOR ORDER BY" not in shown, shown  # at most the right part (ties on the date)
    else:
        assert "Presorted Key: expected_return" in shown, shown
