"""POST with an Idempotency-Key creates one record however often it is sent (issue 19, item 5)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from sqlalchemy import func, select

from runtime import clock

from .conftest import ApiClient, World, batch_body

B = "/api/outsourcing/batch"


def _count(world: World) -> int:
    table = world.rt.tables["outsourcing.batch"]
    with world.rt.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _post(c: ApiClient, body: dict[str, Any], key: str, **headers: str) -> Any:
    return c.post(B, body, headers={"Idempotency-Key": key, **headers})


def test_same_key_same_body_creates_one_record_and_answers_the_same(world: World) -> None:
    body = batch_body(world.partners["a"])
    first = _post(world.planner, body, "5b0c9e1e-retry-1")
    again = _post(world.planner, body, "5b0c9e1e-retry-1")
    assert first.status_code == again.status_code == 201
    assert again.data == first.data and again.get_json()["id"] == first.get_json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
    assert _count(world) == 1
    # without a key, a repeat is a new record (as before)
    assert world.planner.post(B, body).status_code == 201 and _count(world) == 2


def test_same_key_different_body_is_refused(world: World) -> None:
    assert _post(world.planner, batch_body(world.partners["a"]), "k-1").status_code == 201
    r = _post(world.planner, batch_body(world.partners["a"], quantity=7), "k-1", **{"Accept-Language": "en"})
    assert r.status_code == 422
    err = r.get_json()["error"]
    assert err["code"] == "idempotency_key_reused" and "different request" in err["message"]
    assert _count(world) == 1


def test_bad_keys_are_400(world: World) -> None:
    for key in ("", " ", "a b", "x" * 201, "键"):
        r = world.planner.client.post(B, json=batch_body(world.partners["a"]),
                                      headers={"Authorization": f"Bearer {world.planner.token}",
                                               "Idempotency-Key": key.encode().decode("latin-1")})
        assert r.status_code == 400, key
        assert set(r.get_json()["error"]) == {"code", "message", "fields"}
    assert _count(world) == 0


def test_a_failed_request_stores_nothing(world: World) -> None:
    r = _post(world.planner, batch_body(world.partners["a"], quantity=0), "k-fix")
    assert r.status_code == 422
    assert _post(world.planner, batch_body(world.partners["a"]), "k-fix").status_code == 201
    assert _count(world) == 1


def test_keys_belong_to_their_user_and_last_a_day(world: World) -> None:
    body = batch_body(world.partners["a"])
    other = world.as_user("planner2", ["planner"])
    assert _post(world.planner, body, "shared").status_code == 201
    assert _post(other, body, "shared").status_code == 201
    assert _count(world) == 2
    with clock.frozen(clock.now() + dt.timedelta(days=1, seconds=1)):
        r = _post(world.planner, body, "shared")
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert _count(world) == 3


def test_concurrent_duplicates_create_one_record(world: World) -> None:
    body = batch_body(world.partners["a"])
    answers: list[Any] = []
    lock = threading.Lock()

    def send() -> None:
        r = _post(ApiClient(world.app.test_client(), world.planner.token), body, "burst-1")
        with lock:
            answers.append((r.status_code, r.get_json()["id"]))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert len(answers) == 8 and {s for s, _ in answers} == {201} and len({i for _, i in answers}) == 1
    assert _count(world) == 1


def test_a_retried_transition_answers_the_first_answer(world: World) -> None:
    """A client that lost the answer to "start" and sends it again gets that answer, not 409 wrong state."""
    batch = world.planner.post(B, batch_body(world.partners["a"])).get_json()
    path = f"{B}/{batch['id']}/transitions/start"
    headers = {"Idempotency-Key": "start-7f3a"}
    first = world.planner.post(path, {"version": batch["version"]}, headers=headers)
    again = world.planner.post(path, {"version": batch["version"]}, headers=headers)
    assert first.status_code == again.status_code == 200, first.get_json()
    assert again.data == first.data and again.headers.get("Idempotent-Replayed") == "true"
    assert world.planner.get(f"{B}/{batch['id']}").get_json()["version"] == batch["version"] + 1
    history = world.planner.get(f"{B}/{batch['id']}/history").get_json()["items"]
    assert [h["transition"] for h in history].count("start") == 1
    # without the key the repeat is what it always was: the state moved on
    assert world.planner.post(path, {"version": batch["version"] + 1}).status_code == 409
