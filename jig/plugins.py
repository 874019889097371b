"""The extensions Jig enables by default (each is a layer above the runtime)."""

from __future__ import annotations

from runtime.loader import Extension


def default_extensions() -> list[Extension]:
    """Extensions in load order; each adds definition sections and subscribes to hooks."""
    from rules.extension import RulesExtension
    return [RulesExtension()]
