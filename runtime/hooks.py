"""A small event registry: how layers above the runtime react to what it does.

The runtime emits events; rules, connectors and the UI subscribe. Handlers
for record events run inside the writing transaction (``event.conn``), so
whatever they write — an outbox row, a notification — commits or rolls back
together with the change that caused it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Every event the runtime emits, with what it means. A test checks that each
# is documented in docs/hooks.md.
EVENTS: dict[str, str] = {
    "record.created": "A record was inserted (inside the transaction).",
    "record.updated": "Fields of a record changed (inside the transaction).",
    "record.transitioned": "A record took a workflow transition (inside the transaction).",
    "record.deleted": "A record was deleted (inside the transaction).",
    "runtime.started": "The runtime finished loading and migrating; background work may start.",
    "runtime.stopping": "The runtime is shutting down; stop background work.",
}


@dataclass
class RecordEvent:
    """What a record event handler receives."""

    name: str
    app: str
    entity: str
    record_id: int
    record: dict[str, Any]
    before: dict[str, Any] | None
    changes: dict[str, list[Any]]
    actor: Any
    conn: Any
    runtime: Any
    transition: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def changed(self, fieldname: str) -> bool:
        return fieldname in self.changes


Handler = Callable[[Any], None]


class Hooks:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        # event -> entity keys ('app.entity') its handlers are limited to; None: some handler wants every entity
        self._entities: dict[str, set[str] | None] = {}

    def subscribe(self, event: str, handler: Handler, entities: set[str] | None = None) -> None:
        """Call ``handler`` on ``event``. With ``entities`` (record events only), the handler says it only
        cares about records of those entity keys: writes to other entities skip building the event."""
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; known: {', '.join(EVENTS)}")
        wanted = self._entities.get(event, set()) if event in self._handlers else set()
        self._entities[event] = None if entities is None or wanted is None else wanted | set(entities)
        self._handlers[event].append(handler)

    def emit(self, event: str, payload: Any) -> None:
        for handler in self._handlers.get(event, ()):
            handler(payload)

    def has(self, event: str, entity: str | None = None) -> bool:
        """Whether anyone listens to ``event`` (for a record of entity key ``entity``, when given)."""
        if not self._handlers.get(event):
            return False
        wanted = self._entities.get(event)
        return entity is None or wanted is None or entity in wanted
