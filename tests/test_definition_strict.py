"""Stricter checks at load: literals that can never match, and fields no expression could read."""

from __future__ import annotations

import pytest

from jig.plugins import default_extensions
from runtime.errors import DefinitionErrors
from runtime.loader import load_texts

APP = """
app: strict
entities:
  partner:
    fields:
      city: {type: text}
      grade: {type: select, options: [a, b, c]}
  batch:
    fields:
      partner: {type: link, to: partner}
      priority: {type: select, options: [normal, urgent]}
      tags: {type: multiselect, options: [red, blue]}
      note: {type: text, visible: "priority == 'urgent'"}
    workflow:
      initial: open
      states: {open: {}, shipped: {}, done: {final: true}}
      transitions:
        ship: {from: open, to: shipped, guard: "state != 'done'"}
        finish: {from: shipped, to: done}
dashboards:
  main:
    widgets:
      - {type: number, entity: batch, filter: "state in ('open', 'shipped')"}
rules:
  late:
    on: {event: updated, entity: batch}
    when: "state == 'shipped' and partner.grade == 'a'"
    do:
      - set: {note: "'x'"}
"""


def _errors(text: str) -> str:
    with pytest.raises(DefinitionErrors) as err:
        load_texts({"strict.yaml": text}, default_extensions())
    return err.value.format()


def test_the_valid_forms_load() -> None:
    load_texts({"strict.yaml": APP}, default_extensions())


@pytest.mark.parametrize(("old", "new", "where", "wanted"), [
    ("when: \"state == 'shipped'", "when: \"state == 'shiped'", "rules.late.when", "did you mean 'shipped'?"),
    ("partner.grade == 'a'", "partner.grade == 'A'", "rules.late.when", "'A' is not a value of partner.grade"),
    ("guard: \"state != 'done'\"", "guard: \"state != 'dne'\"", "workflow.transitions.ship.guard", "'dne'"),
    ("filter: \"state in ('open', 'shipped')\"", "filter: \"state in ('open', 'closed')\"",
     "dashboards.main.widgets[0].filter", "'closed' is not a value of state"),
    ("visible: \"priority == 'urgent'\"", "visible: \"'urgnt' == priority\"", "fields.note.visible",
     "did you mean 'urgent'?"),
])
def test_a_quoted_literal_must_be_a_state_or_option(old: str, new: str, where: str, wanted: str) -> None:
    assert old in APP
    text = _errors(APP.replace(old, new, 1))
    assert where in text and wanted in text, text
    assert "strict.yaml:" in text


@pytest.mark.parametrize("name", ["min", "max", "len", "year", "today", "before"])
def test_a_field_named_like_a_function_is_refused_with_a_hint(name: str) -> None:
    text = _errors(APP.replace("      city: {type: text}", f"      city: {{type: text}}\n      {name}: {{type: integer}}"))
    assert f"entities.partner.fields.{name}" in text and f"'{name}_qty'" in text
