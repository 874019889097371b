"""The outbox: written with the change, delivered once per key, retried, dead-lettered."""

from __future__ import annotations

import datetime as dt

from runtime import clock
from runtime.auth import SYSTEM
from runtime.outbox import Outcome, backoff

from .conftest import World, batch_body


def test_rows_commit_and_roll_back_with_the_change(world: World) -> None:
    rt = world.rt

    def on_created(ev):  # noqa: ANN001
        rt.outbox.add(ev.conn, "sms", {"to": "13800001111", "text": ev.record["name"]}, key=f"sms:{ev.record_id}")
        if ev.record["quantity"] == 13:
            raise RuntimeError("refuse unlucky batches")

    rt.hooks.subscribe("record.created", on_created)
    assert world.planner.post("/api/outsourcing/batch", batch_body(world.partners["a"])).status_code == 201
    assert world.planner.post("/api/outsourcing/batch", batch_body(world.partners["a"], quantity=13)).status_code == 500
    assert rt.outbox.counts() == {"pending": 1}


def test_delivery_retry_dead_and_admin_retry(world: World) -> None:
    rt = world.rt
    calls: list[str] = []
    plan = iter([Outcome.retry("timeout"), Outcome.sent(message_id="m1")])

    rt.outbox.register("sms", lambda item: (calls.append(item.key), next(plan))[1])
    rt.outbox.register("webhook", lambda item: Outcome.dead("410 gone"))
    with rt.db.write() as conn:
        assert rt.outbox.add(conn, "sms", {"to": "1"}, key="k1")
        assert not rt.outbox.add(conn, "sms", {"to": "1"}, key="k1")  # same intention: recorded once
        rt.outbox.add(conn, "webhook", {"url": "x"}, key="k2")
    assert rt.outbox.run_due("w1") == {"retry": 1, "dead": 1}
    assert rt.outbox.run_due("w1") == {}  # the retry waits for its backoff
    with clock.frozen(clock.now() + dt.timedelta(hours=7)):
        assert rt.outbox.run_due("w1") == {"sent": 1}
    assert calls == ["k1", "k1"]
    dead = rt.outbox.list("dead")
    assert [d["key"] for d in dead] == ["k2"] and dead[0]["last_error"] == "410 gone"
    assert rt.notifications.unread_count("admin") == 1
    assert rt.outbox.retry() == 1
    assert rt.outbox.counts() == {"pending": 1, "sent": 1}


def test_two_workers_never_claim_the_same_row(world: World) -> None:
    rt = world.rt
    with rt.db.write() as conn:
        for i in range(10):
            rt.outbox.add(conn, "sms", {}, key=f"k{i}")
    a = rt.outbox.claim("a", limit=6)
    b = rt.outbox.claim("b", limit=6)
    assert len(a) == 6 and len(b) == 4
    assert not ({i.id for i in a} & {i.id for i in b})
    # a crashed worker's lease runs out and another worker takes the row over
    with clock.frozen(clock.now() + dt.timedelta(minutes=5)):
        again = rt.outbox.claim("c", limit=20)
    assert len(again) == 10
    assert rt.outbox.settle(a[0], Outcome.sent(), "a") == "stale"  # the old holder's result is ignored
    assert rt.outbox.counts()["sending"] == 10


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    import random
    rng = random.Random(1)
    waits = [backoff(n, rng) for n in range(1, 20)]
    assert 15 <= waits[0] <= 30 and waits[3] > waits[0]
    assert max(waits) <= 6 * 3600


def test_actor_system_creates_via_system(world: World) -> None:
    rec = world.rt.records.create(SYSTEM.using("rule"), world.rt.entity("outsourcing", "batch"),
                                  batch_body(world.partners["a"]))
    hist = world.rt.records.history(SYSTEM, world.rt.entity("outsourcing", "batch"), rec["id"])
    assert hist[0]["via"] == "rule"
