"""The extensions Jig enables by default (each is a layer above the runtime)."""

from __future__ import annotations

from runtime.loader import Extension


def default_extensions() -> list[Extension]:
    """Extensions in load order; each adds definition sections and subscribes to hooks."""
    from builder.extension import BuilderExtension
    from connectors.extension import extension as connectors
    from rules.extension import RulesExtension
    from ui.extension import UiExtension
    from ui.linkext import LinksExtension
    # Connectors publish their schedules in rt.services["schedules"]; the rules scheduler adopts them
    # whenever they appear, so the order here only decides which sections' errors are listed first.
    return [RulesExtension(), connectors, UiExtension(), BuilderExtension(), LinksExtension()]
