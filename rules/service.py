"""What the rules extension offers through a runtime: ``rules_of(rt)`` (typed, instead of a string-keyed dict)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import RuleEngine
    from .jobs import EmbeddedJobs
    from .scheduler import Scheduler
    from .spec import RuleDef


@dataclass
class RulesService:
    """The rules of one runtime: its engine (event and scheduled rules), the scheduler (rules' schedules and
    the ones other layers publish in ``rt.schedules``) and, when Jig serves without Redis, the embedded jobs."""

    engine: RuleEngine
    scheduler: Scheduler
    rules: list[RuleDef]
    jobs: EmbeddedJobs | None = None


def rules_of(rt: Any) -> RulesService:
    """The rules service the rules extension attached to ``rt`` (LookupError if it is not attached)."""
    return rt.services.get(RulesService)
