"""The rule editor's page: the rules of one app with their state, and the editor of one rule.

A shell like the designer's: its JavaScript (``builder/static/rules.js``)
reads the app's draft through the builder API, saves each rule as draft
edits of the YAML, publishes through the same path as forms, and calls the
rule endpoints (``builder/rules_api.py``) for state, checks, test and preview.
"""

from __future__ import annotations

from typing import Any

from ui.web import page

from .pages import bp, builder_app
from .rules_i18n import js_texts, tr


@bp.get("/builder/<app>/rules")
def rules_page(app: str) -> Any:
    actor, _rt, lang = builder_app(app)
    return page("designer/rules.html", actor=actor, app_name=app, bt=lambda k, **p: tr(k, lang, **p),
                designer_texts=js_texts(lang))
