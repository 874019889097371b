"""Naming series stay unique and gap-free under concurrent inserts."""

from __future__ import annotations

import threading

from runtime.auth import SYSTEM

APP = """
app: seq
entities:
  ticket:
    naming: "T{YYYY}-{####}"
    fields:
      title: {type: text}
"""


def test_concurrent_inserts_draw_distinct_numbers(make_runtime, frozen_clock) -> None:  # noqa: ANN001
    rt = make_runtime(texts={"seq.yaml": APP})
    ent = rt.entity("seq", "ticket")
    names: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(15):
                rec = rt.records.create(SYSTEM, ent, {"title": "x"})
                with lock:
                    names.append(rec["name"])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(names) == [f"T2026-{i:04d}" for i in range(1, 91)]
