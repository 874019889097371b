"""CRUD throughput: Jig versus a hand-written Flask + SQLAlchemy Core app, same entity, same server.

Run (from the repository root)::

    .venv/bin/python bench/crud.py                       # SQLite (default): synthetic + outsourcing.batch
    .venv/bin/python bench/crud.py --entity outsourcing.batch --peer directus   # + Directus 11 from npm
    .venv/bin/python bench/crud.py --entity outsourcing.batch --rows 1000000 --server-time-only
    .venv/bin/python bench/crud.py --entity outsourcing.batch --in-process --rounds 5   # CPU per request, no servers
    .venv/bin/python bench/crud.py --check               # exit 1 when a target is missed
    .venv/bin/python bench/crud.py --database "$JIG_TEST_PG_URL"   # PostgreSQL (dedicated, throwaway DB)

Two measurements (``--entity``, repeatable; default both):

* ``synthetic`` -- the 8-field ``bench.item`` below against bench/support/synthetic.py (the table this script
  has always printed; --rows default 20,000).
* ``outsourcing.batch`` -- the shipped batch (naming series, computed days_late, link check, history, the
  rules extension active) served from the repository's apps/ against bench/support/batch.py, a hand-written
  app doing the same work: get, the list shapes the UI uses (state; partner + state; overdue as the
  dashboard and reminder rule define it; ``q`` search), create and the ``start`` transition (--rows default
  10,000; bench/support/shipped.py seeds and describes the data), followed by the in-process server time of
  each list shape, the outsourcing dashboard and the overdue scan. ``--peer directus`` then measures
  Directus 11 on the same collection and rows (bench/support/directus.py). The shipped mode always uses the
  Python client.

Options: --rows (see above), --duration (5 s per measurement), --warmup (1 s), --rounds (3; jig, baseline,
jig, baseline, ... and the median is reported), --connections (4), --client auto|wrk|python,
--only get|list|create (repeatable), --jig-path DIR (serve Jig from a scratch copy of runtime/ + jig/),
--keep (keep the temp dir with database and server logs), --smoke (a tiny run that only shows the script
works: 200 rows, one 0.1 s round per path, Python client, no --peer; the test suite runs it; also JIG_BENCH_SMOKE=1).

What is measured
----------------
One bench app (written to a temp dir): ``category`` (code, name) and ``item`` with 8 fields:
``code`` text required unique (max 40), ``name`` text required (max 100), ``qty`` integer required min 0,
``price`` decimal scale 2 min 0, ``status`` select open/hold/closed required default 'open',
``due`` date, ``category`` link to category required, ``active`` boolean default true. Role ``clerk``
may read and create items. One user ``bench`` with role clerk (not admin) and one API token.

Jig builds its tables in a fresh database (temp SQLite file, or the given PostgreSQL database after
dropping the bench's tables); 50 categories and ``--rows`` items are then seeded with one SQLAlchemy Core
executemany into Jig's own table. Both apps read and write that very same table.

Three requests, driven against each app in turn:

* get:    ``GET /api/bench/item/<random id>``
* list:   ``GET /api/bench/item?status=open&qty__gte=5&limit=20`` (newest first, i.e. id desc; with cursor)
* create: ``POST /api/bench/item`` with a valid JSON body and a fresh unique code (answer 201)

Jig side: ``jig.app.create_app(settings, rt)`` -- the real product path: Flask app, API blueprint,
bearer token resolved by ``Users.resolve_token`` (10 s per-process cache), permission check,
``listquery.parse_args``/``run`` or ``Records.get``/``create`` (coercion, defaults, validation incl.
link-exists and unique queries, insert, history row, record event), JSON via Flask.

Baseline side (``baseline_app`` in bench/support/synthetic.py): what a careful developer would hand-write for the same entity
with Flask + SQLAlchemy Core on the same table:
  * auth: ``Authorization: Bearer <token>`` -> sha256 -> dict {token hash: user} (loaded at start);
    401 JSON otherwise; role check (clerk may read/create) -> 403.
  * serialization: same keys, same order, same JSON as Jig (id, version, created_at, created_by,
    updated_at, updated_by, then the fields; decimals as exact strings, dates ISO, times ISO with the
    zone's offset); errors as ``{"error": {"code", "message", "fields"}}``.
  * get: one SELECT by id; 404 JSON when missing.
  * list: only ``status``, ``qty__gte``, ``limit`` (1..500, default 20) and ``after`` (Jig's cursor
    format) are accepted, anything else -> 400; ``WHERE status = ? AND qty >= ? ORDER BY id DESC
    LIMIT n+1``, ``next`` cursor when there is more.
  * create: body must be a JSON object; unknown and system fields refused; per-field coercion exactly as
    Jig's rules (text strip/max length, integer without bool / integral strings, decimal scale 2 with
    quantize and max digits, select options, ISO date, link id, boolean words), required, min 0,
    defaults (status 'open', active true), link-exists SELECT, unique-code SELECT, INSERT with version 1
    and created/updated at/by; IntegrityError on code -> 422. All in one transaction.
  * NOT done by the baseline (Jig-only work, part of what the ratio measures): the history row Jig
    writes for every create, the record event, Accept-Language/user-language message selection,
    the general filter language (any field, any operator, search, sort).
On SQLite both engines set the same pragmas (WAL, synchronous=NORMAL, busy timeout, foreign keys).

Before measuring, the script checks that both apps answer identically (same JSON for get and list,
same status codes and error fields for invalid input and missing auth); a mismatch is printed.

Server: each app is served by gunicorn in its own subprocess with identical settings:
``--worker-class gthread --workers 1 --threads 1 --keep-alive 30`` on 127.0.0.1 (gthread so that
keep-alive works; a single thread so that the result is per-core throughput).
Client: ``wrk -t1 -c<connections>`` with Lua scripts when wrk is installed, otherwise a Python client
(threads, ``http.client`` keep-alive connections). Each measurement: ``--warmup`` seconds (discarded),
then ``--duration`` seconds counted. Every loop is bounded in time; all traffic goes to 127.0.0.1.

Also measured: time to load and validate the three shipped apps with every extension (``load_apps(['apps'], ...)``,
median of 5, imports excluded), target < 1 s.

Exit status is 0 unless ``--check`` is given and a target is missed (or the apps disagree).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# create_body and prepare are re-exported: bench/request_cost.py uses them as `bench.crud.*` in any tree
from bench.support.synthetic_run import create_body, prepare, run_python, run_synthetic, run_wrk  # noqa: E402, F401

ENTITIES = ("synthetic", "outsourcing.batch", "work_order_tracking.operation")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database", help="PostgreSQL URL of a throwaway database (default: temp SQLite file)")
    ap.add_argument("--entity", action="append", choices=ENTITIES,
                    help="what to measure (repeatable; default: all)")
    ap.add_argument("--peer", choices=("directus",), help="also measure a peer product on the batch collection")
    ap.add_argument("--rows", type=int, help="seeded rows (synthetic: 20,000; shipped entities: 10,000)")
    ap.add_argument("--repeat", type=int, default=15, help="repetitions of each in-process server-time query")
    ap.add_argument("--server-time-only", action="store_true",
                    help="shipped entities: seed and time the list shapes, dashboard and overdue scan in process "
                         "only (no servers; for --rows 1000000)")
    ap.add_argument("--in-process", action="store_true",
                    help="shipped entities: CPU per request of both WSGI apps called in this process (no servers; "
                         "bench/support/in_process.py), minimum of --rounds alternating rounds of --requests")
    ap.add_argument("--requests", type=int, default=150, help="requests per in-process round")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument("--only", choices=("get", "list", "create"), action="append")
    ap.add_argument("--jig-path", help="directory with a modified copy of runtime/ and jig/ for the Jig server "
                                       "(to measure a candidate fix without touching the checkout)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (database, server logs)")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--smoke", action="store_true", default=os.environ.get("JIG_BENCH_SMOKE") == "1",
                    help="a tiny run that only shows the script works (the test suite runs this)")
    args = ap.parse_args(argv)
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped run still stops its servers
    if args.smoke:
        args.rows, args.duration, args.warmup, args.rounds = min(args.rows or 200, 200), 0.1, 0.0, 1
        args.connections, args.client = 1, "python"

    sys.path.insert(0, str(ROOT))
    if args.database and args.database.startswith("postgresql://"):
        args.database = "postgresql+psycopg://" + args.database[len("postgresql://"):]
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk") is not None)
    if args.client == "wrk" and not shutil.which("wrk"):
        print("wrk not found; using the Python client", file=sys.stderr)
        use_wrk = False
    drive = run_wrk if use_wrk else run_python

    import importlib.metadata
    import sqlite3

    import sqlalchemy
    print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, flask {importlib.metadata.version('flask')}, "
          f"sqlalchemy {sqlalchemy.__version__}, client: "
          f"{'wrk' if use_wrk else 'python http.client'} x{args.connections} connections, "
          f"{args.rounds} rounds x {args.duration:g} s (+{args.warmup:g} s warm-up)")

    entities = args.entity or list(ENTITIES)
    if args.peer == "directus" and args.smoke:
        print("--peer directus has no smoke mode (it needs npm); leaving it out", file=sys.stderr)
        args.peer = None
    tmp = Path(tempfile.mkdtemp(prefix="jig-bench-"))
    failed = False
    try:
        if "synthetic" in entities:
            failed |= not run_synthetic(args, tmp / "synthetic", drive)
        for entity in ("outsourcing.batch", "work_order_tracking.operation"):
            if entity in entities:
                from bench.support import shipped_run
                (tmp / entity).mkdir()
                failed |= not shipped_run.run(args, tmp / entity, entity)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if (args.check and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
