"""What runtime.database promises, on both databases.

A snapshot read sees one state of the database across all its statements, even when another
process commits in between (on PostgreSQL's default READ COMMITTED each statement would see a new
state: `jig migrate` then read a definition version and a file hash from two different moments).
"""

from __future__ import annotations

from sqlalchemy import text

from runtime.database import Database


def test_a_snapshot_read_sees_one_state_while_another_connection_commits(database_url: str) -> None:
    db = Database(database_url)
    try:
        with db.write() as conn:
            conn.execute(text("CREATE TABLE snap (n INTEGER)"))
            conn.execute(text("INSERT INTO snap VALUES (1)"))
        with db.read() as conn:
            first = conn.execute(text("SELECT n FROM snap")).scalar_one()
            with db.write() as other:
                other.execute(text("UPDATE snap SET n = 2"))
            second = conn.execute(text("SELECT n FROM snap")).scalar_one()
        assert (first, second) == (1, 1)
        with db.read(snapshot=False) as conn:  # a single SELECT needs no snapshot: it sees the commit
            assert conn.execute(text("SELECT n FROM snap")).scalar_one() == 2
        with db.write() as conn:  # writes stay at the default level and may change rows again
            conn.execute(text("UPDATE snap SET n = 3"))
        with db.read() as conn:
            assert conn.execute(text("SELECT n FROM snap")).scalar_one() == 3
    finally:
        db.dispose()
