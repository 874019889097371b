"""Large imports as background jobs, with a progress page.

A confirmed import with more rows than ``JIG_IMPORT_INLINE_ROWS`` (2,000 by
default) is recorded in ``jig_ui_imports`` and run in a daemon thread of the
web process. It stays all or nothing:

every row goes through ``Records.create_many`` (ui/import_rows.py) in **one**
write transaction, a chunk of 1,000 rows at a time: each row is checked exactly
as ``Records.create`` checks it; a chunk without errors is inserted; after the
first refused row nothing more is written, the remaining rows are still
checked (up to 200 errors are reported) and the transaction rolls back.

While the write transaction is open no other connection could see a progress
row it wrote (and on SQLite a second writer would wait for it), so live
progress is kept in memory by the web app that runs the job (a
:class:`Progress` in ``flask_app.extensions``, not a module global, updated
after every chunk) and the table is updated when the job starts and with the
final status. ``/imports/<id>.json`` reads the live progress first, then the
table (so a poll answered by another web process still sees the stored one).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

from flask import abort, current_app, jsonify
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, select, update

from runtime import clock, permissions
from runtime.auth import Actor
from runtime.bounds import MAX_INT32
from runtime.model import EntityDef
from runtime.sqltypes import LocalDateTime

from .i18n import tr
from .web import actor_or_login, bp, page, rt

log = logging.getLogger("jig.ui.imports")

DEFAULT_INLINE_ROWS = 2000
MAX_ERRORS = 200

_md = MetaData()
imports = Table(
    "jig_ui_imports", _md,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("app", String(48), nullable=False),
    Column("entity", String(48), nullable=False),
    Column("filename", String(255)),
    Column("status", String(16), nullable=False),          # queued | running | done | failed
    Column("total", Integer, nullable=False, default=0),
    Column("processed", Integer, nullable=False, default=0),
    Column("created", Integer, nullable=False, default=0),
    Column("errors", Text),                                # JSON: first 200 row errors
    Column("created_at", LocalDateTime, nullable=False),
    Column("started_at", LocalDateTime),
    Column("finished_at", LocalDateTime),
)



class Progress:
    """Live progress of the import jobs one web app runs: import id -> {status, phase, processed, created}."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[int, dict[str, Any]] = {}

    def set(self, job_id: int, **values: Any) -> None:
        with self._lock:
            self._jobs.setdefault(job_id, {}).update(values)

    def get(self, job_id: int) -> dict[str, Any]:
        with self._lock:
            return dict(self._jobs.get(job_id) or {})

    def drop(self, job_id: int) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)


def progress() -> Progress:
    """The live progress of the serving web app's import jobs."""
    found = current_app.extensions.get("jig_import_progress")
    if found is None:
        found = current_app.extensions.setdefault("jig_import_progress", Progress())
    return found  # type: ignore[no-any-return]


def define_tables(md: MetaData) -> list[Table]:
    return [imports.to_metadata(md)]


def inline_limit() -> int:
    try:
        return max(0, int(os.environ.get("JIG_IMPORT_INLINE_ROWS", DEFAULT_INLINE_ROWS)))
    except ValueError:
        return DEFAULT_INLINE_ROWS


def start(actor: Actor, ent: EntityDef, rows: list[list[Any]], mapping: list[str], filename: str | None) -> int:
    """Record a queued import and run it in a daemon thread; returns its id."""
    runtime = rt()
    with runtime.db.write() as conn:
        job_id = int(conn.execute(imports.insert().values(
            username=actor.username, app=ent.app, entity=ent.name, filename=(filename or "")[:255], status="queued",
            total=len(rows), processed=0, created=0, created_at=clock.now())).inserted_primary_key[0])
    live = progress()
    live.set(job_id, status="queued", phase="checking", processed=0, total=len(rows), created=0)
    threading.Thread(target=run_job, args=(runtime, live, job_id, actor, ent, rows, mapping),
                     name=f"jig-import-{job_id}", daemon=True).start()
    return job_id


def _persist(runtime: Any, job_id: int, **values: Any) -> None:
    with runtime.db.write() as conn:
        conn.execute(update(imports).where(imports.c.id == job_id).values(**values))


def run_job(runtime: Any, live: Progress, job_id: int, actor: Actor, ent: EntityDef, rows: list[list[Any]],
            mapping: list[str]) -> None:
    try:
        _run(runtime, live, job_id, actor, ent, rows, mapping)
    except Exception as exc:  # noqa: BLE001 - a job must always end with a status
        log.exception("import %s failed", job_id)
        live.set(job_id, status="failed")
        try:
            _persist(runtime, job_id, status="failed", finished_at=clock.now(),
                     errors=json.dumps([{"row": 0, "field": "", "message": str(exc)[:500]}], ensure_ascii=False))
        except Exception:  # noqa: BLE001
            log.exception("import %s: could not record the failure", job_id)
    finally:
        live.drop(job_id)  # the table has the final status now


def _run(runtime: Any, live: Progress, job_id: int, actor: Actor, ent: EntityDef, rows: list[list[Any]],
         mapping: list[str]) -> None:
    from . import import_rows
    live.set(job_id, status="running", phase="importing", processed=0)
    _persist(runtime, job_id, status="running", started_at=clock.now())
    errors, count = import_rows.run(runtime, actor, ent, rows, mapping,
                                    progress=lambda n: live.set(job_id, processed=min(n, len(rows))))
    if errors:
        _finish(runtime, live, job_id, "failed", 0, errors)
        return
    _finish(runtime, live, job_id, "done", count, [])


def _finish(runtime: Any, live: Progress, job_id: int, status: str, created: int, errors: list[dict[str, Any]]) -> None:
    # the table first: a reader that sees the final status in memory must find the errors stored
    with runtime.db.write() as conn:
        total = conn.execute(select(imports.c.total).where(imports.c.id == job_id)).scalar_one()
        conn.execute(update(imports).where(imports.c.id == job_id).values(
            status=status, created=created, processed=total if status == "done" else imports.c.processed,
            errors=json.dumps(errors[:MAX_ERRORS], ensure_ascii=False, default=str) if errors else None,
            finished_at=clock.now()))
    live.set(job_id, status=status, created=created)


def state(job_id: int, actor: Actor) -> dict[str, Any]:
    """The job as the progress page shows it; 404 for jobs of other users (admins see all)."""
    if job_id > MAX_INT32:  # a 32-bit column
        abort(404)
    with rt().db.read(snapshot=False) as conn:
        row = conn.execute(select(imports).where(imports.c.id == job_id)).mappings().first()
    if row is None or (row["username"] != actor.username and not actor.is_admin):
        abort(404)
    out = {"id": job_id, "status": row["status"], "phase": "checking" if row["status"] in ("queued", "running") else None,
           "total": row["total"], "processed": row["processed"], "created": row["created"],
           "errors": json.loads(row["errors"]) if row["errors"] else [], "app": row["app"], "entity": row["entity"],
           "filename": row["filename"]}
    live = progress().get(job_id)
    if live and out["status"] not in ("done", "failed"):
        out.update({k: live[k] for k in ("status", "phase", "processed", "created") if k in live})
    total = out["total"] or 0
    if out["status"] == "done":
        out["percent"] = 100
    else:
        out["percent"] = int(((out["processed"] / total) if total else 0.0) * 100)
    return out


@bp.get("/imports/<int:job_id>.json")
def import_state_json(job_id: int) -> Any:
    actor = actor_or_login()
    return jsonify(state(job_id, actor))


@bp.get("/imports/<int:job_id>")
def import_job_view(job_id: int) -> Any:
    actor = actor_or_login()
    job = state(job_id, actor)
    app_def = rt().apps.get(job["app"])
    ent = app_def.entities.get(job["entity"]) if app_def else None
    if ent is None or not permissions.may_at_all(actor, ent, "read"):
        abort(404)
    lang = actor.language
    return page("import_job.html", actor=actor, ent=ent, app_def=app_def, job=job,
                texts={"checking": tr("import_checking", lang), "importing": tr("import_importing", lang),
                       "queued": tr("import_queued", lang), "done": tr("import_done", lang, n="{n}"),
                       "failed": tr("import_failed", lang, n="{n}")})
