"""Import speed: spreadsheet rows through Jig's import against a bulk insert of the same rows.

Run (from the repository root)::

    .venv/bin/python bench/imports.py                      # SQLite, 100,000 rows per entity
    .venv/bin/python bench/imports.py --rows 20000 --database "$JIG_TEST_PG_URL"   # PostgreSQL (throwaway DB)
    .venv/bin/python bench/imports.py --smoke              # 300 rows, one round: only shows it works (tests)

Three entities (bench/support/imports_app.py), each imported ``--rounds`` times (default 3; the median):

* ``plain`` -- 8 fields: code (text, required, unique), name (text, required), qty (integer, min 0),
  price (decimal 2), status (select, required, default), due (date), note (text), active (boolean);
* ``plain_csv``, ``plain_xlsx`` -- the plain rows uploaded as a UTF-8 CSV / an .xlsx (numbers as number
  cells): reading the file (``ui.transfer.read_table``, what the import page runs) is timed too;
* ``linked`` -- the same plus a naming series (``IM{YYYY}-{######}``) and a required link to one of 50
  categories given **by its title** in the file (resolved once per distinct title);
* ``children`` -- an order (code, customer, due) with 3 line rows (product, qty) each, created through
  ``Records.create_many`` (a spreadsheet import has no child columns; the API-shaped rows are the input).

Jig side: ``ui.import_rows.run`` -- what the import page and the import job run: the rows' cells (text,
as a CSV gives them) through the field types' ``from_cell``, then ``Records.create_many``: every row
checked by ``Records.prepare_values``/``prepare_row`` exactly as ``Records.create`` checks it
(coercion, required, uniqueness, links, defaults, series numbers, the importer's scope), inserted a
chunk of 1,000 at a time with its history rows, all in one transaction. The importer is a non-admin
user (role ``clerk``), so every link is checked against the clerk's read permission too.

Baseline: the same rows already typed (Python dicts of the right types), inserted with one
``executemany`` per 1,000 rows in one transaction -- no checks, no history: the floor for "put these
rows in that table". The table is emptied between rounds. Printed: rows/s of each and the ratio, by the
wall clock and by the process's CPU time (rows per CPU second: on a shared machine the wall clock swings with
the neighbours' load, the CPU time much less; the database work of SQLite is in-process, so it is counted).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import imports_app  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--database", default=None)
    ap.add_argument("--only", action="append", choices=imports_app.ENTITIES)
    ap.add_argument("--smoke", action="store_true", default=os.environ.get("JIG_BENCH_SMOKE") == "1")
    args = ap.parse_args()
    if args.smoke:
        args.rows, args.rounds = 300, 1
    if args.database and args.database.startswith("postgresql://"):
        args.database = "postgresql+psycopg://" + args.database[len("postgresql://"):]
    tmp = Path(tempfile.mkdtemp(prefix="jig-imports-"))
    rt = imports_app.runtime(args.database, tmp)
    print(f"database: {rt.db.dialect}; {args.rows:,} rows per import, {args.rounds} round(s), median reported")
    print("| entity | jig rows/s | bulk insert rows/s | ratio jig/bulk | jig rows/CPU-s | bulk rows/CPU-s | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    try:
        for name in args.only or imports_app.ENTITIES:
            wall: dict[str, list[float]] = {"jig": [], "bulk": []}
            cpu: dict[str, list[float]] = {"jig": [], "bulk": []}
            for _ in range(args.rounds):
                for side in ("jig", "bulk"):
                    imports_app.empty(rt, name)
                    work = imports_app.workload(rt, name, args.rows, side)
                    t0, c0 = time.perf_counter(), time.process_time()
                    created = work()
                    wall[side].append(args.rows / max(time.perf_counter() - t0, 1e-9))
                    cpu[side].append(args.rows / max(time.process_time() - c0, 1e-9))
                    assert created == args.rows, (name, side, created)
            j, b = statistics.median(wall["jig"]), statistics.median(wall["bulk"])
            cj, cb = statistics.median(cpu["jig"]), statistics.median(cpu["bulk"])
            print(f"| {name} | {j:,.0f} | {b:,.0f} | {j / b:.2f} | {cj:,.0f} | {cb:,.0f} | {cj / cb:.2f} |")
    finally:
        rt.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
