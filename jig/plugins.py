"""The extensions a Jig runs with: the built-in layers, then third-party ones from the ``jig.extensions``
entry-point group. Their hooks are declared in ``runtime.extensions`` (docs/hooks.md)."""

from __future__ import annotations

from runtime.extensions import ENTRY_POINTS, Extensions


def builtin_extensions() -> list[object]:
    """The layers above the runtime that ship with Jig, in the order their hooks run."""
    from builder.extension import BuilderExtension
    from connectors.extension import extension as connectors
    from rules.extension import RulesExtension
    from ui.extension import UiExtension
    from ui.linkext import LinksExtension
    # Connectors publish their schedules in rt.schedules; the rules scheduler adopts them whenever they
    # appear, so the order here only decides which sections' errors are listed first.
    return [RulesExtension(), connectors, UiExtension(), BuilderExtension(), LinksExtension()]


def default_extensions() -> Extensions:
    """The built-in extensions, then every installed third-party one (entry-point group ``jig.extensions``)."""
    return Extensions(builtin_extensions(), entry_points=ENTRY_POINTS)
