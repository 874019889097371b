"""A corpus of broken definitions: each has exactly one mistake, and each
mistake must be reported with the right message, place and hint.

Every case is the small valid app BASE with one edit (``old`` replaced by
``new``), so each case is itself a complete app. Line numbers refer to the
edited text; BASE is laid out so that edits keep earlier lines in place.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from jig.plugins import default_extensions
from runtime.errors import DefinitionError, DefinitionErrors
from runtime.loader import load_apps, load_texts

ROOT = Path(__file__).resolve().parent.parent
BROKEN = Path(__file__).resolve().parent / "broken"

BASE = """\
app: shop
roles: [clerk, boss]
entities:
  partner:
    fields:
      title: {type: text}
      phone: {type: phone}
  order:
    naming: "SO{YYYY}-{####}"
    fields:
      partner: {type: link, to: partner}
      qty: {type: integer}
      due: {type: date}
      note: {type: text}
      status:
        type: select
        options: [open, done]
    workflow:
      initial: draft
      states:
        draft: {}
        done: {final: true}
      transitions:
        finish: {from: draft, to: done, roles: [boss]}
    permissions:
      clerk: {read: true, create: true}
"""

LAYOUT = "    layout:\n      sections:\n        - columns:\n"
NAME_HINT = "names are lower-case letters, digits and '_'"


@dataclass(frozen=True)
class Case:
    id: str
    old: str
    new: str
    message: str  # substring of the message
    path: str
    line: int
    col: int | None = None
    hint: str | None = None  # substring of the hint; "" means a hint must be present; None: no check


def _more(text: str) -> str:
    return "qty: {type: integer}\n" + text


CASES = [
    # --- YAML level ---------------------------------------------------------
    Case("yaml_syntax", "      qty: {type: integer}", "      qty: {type: integer",
         "YAML syntax error", "", 13, 10, "indentation"),
    Case("yaml_tab", "      qty: {type: integer}", "\tqty: {type: integer}",
         "YAML syntax error: found character '\\t'", "", 12, 1, "indentation"),
    Case("duplicate_key", "      due: {type: date}", "      due: {type: date}\n      qty: {type: text}",
         "duplicate key 'qty'", "entities.order.fields.qty", 14, 7, "silently replace"),
    # --- shape (JSON Schema) ------------------------------------------------
    Case("unknown_top_level_key", "roles:", "titel: Shop\nroles:",
         "unknown key 'titel'", "titel", 2, 1, "did you mean 'title'?"),
    Case("unknown_field_key", "qty: {type: integer}", "qty: {type: integer, requird: true}",
         "unknown key 'requird'", "entities.order.fields.qty.requird", 12, 28, "did you mean 'required'?"),
    Case("unknown_label_language", "title: {type: text}", "title: {type: text, label: {zh: a, fr: b}}",
         "unknown key 'fr'", "entities.partner.fields.title.label.fr", 6, 42, "en, zh"),
    Case("missing_type", "qty: {type: integer}", "qty: {label: Qty}",
         "missing required key 'type'", "entities.order.fields.qty", 12, 12, "every field needs a type"),
    Case("unknown_field_type", "qty: {type: integer}", "qty: {type: integeer}",
         "'integeer' is not one of: text,", "entities.order.fields.qty.type", 12, 19, "did you mean 'integer'?"),
    Case("entity_without_fields", "  partner:\n    fields:\n      title: {type: text}\n      phone: {type: phone}\n",
         "  partner:\n    title: Partner\n", "missing required key 'fields'", "entities.partner", 5, 5,
         "an entity needs fields:"),
    Case("bad_field_name", "qty: {type: integer}", "Qty: {type: integer}",
         "'Qty' is not a valid name", "entities.order.fields.Qty", 12, 7, NAME_HINT),
    Case("bad_app_name", "app: shop", "app: My-Shop",
         "'My-Shop' is not a valid name", "app", 1, 6, NAME_HINT),
    Case("bad_role_name", "roles: [clerk, boss]", "roles: {clerk: {}, boss: {}, Chef: {}}",
         "'Chef' is not a valid name", "roles.Chef", 2, 30, NAME_HINT),
    Case("bad_state_name_in_from", "from: draft, to: done", "from: [Draft], to: done",
         "'Draft' is not a valid name", "entities.order.workflow.transitions.finish.from[0]", 24, 25, NAME_HINT),
    # --- fields -------------------------------------------------------------
    Case("link_to_unknown_entity", "to: partner}", "to: partnr}",
         "unknown entity 'partnr' in link", "entities.order.fields.partner.to", 11, 33, "did you mean 'partner'?"),
    Case("link_to_child_table", "qty: {type: integer}",
         _more("      lines:\n        type: table\n        fields:\n          sku: {type: text}\n"
               "      ref: {type: link, to: lines}"),
         "'lines' is a child table of 'order', not an entity", "entities.order.fields.ref.to", 17, 29,
         "link to 'order' instead"),
    Case("select_without_options", "        options: [open, done]\n", "",
         "a select field needs 'options'", "entities.order.fields.status", 16, 9, "options: [pass, rework, reject]"),
    Case("duplicate_option", "options: [open, done]", "options: [open, done, open]",
         "option 'open' is listed twice", "entities.order.fields.status.options[2]", 17, 31),
    Case("reserved_name_id", "qty: {type: integer}", "id: {type: integer}",
         "'id' is a reserved name", "entities.order.fields.id", 12, 7, "rename the field"),
    Case("reserved_name_version", "qty: {type: integer}", "version: {type: integer}",
         "'version' is a reserved name", "entities.order.fields.version", 12, 7, "version_no"),
    Case("name_field_with_naming", "qty: {type: integer}", "name: {type: text}",
         "clashes with the naming series", "entities.order.fields.name", 12, 7, "remove naming:"),
    Case("naming_without_counter", '"SO{YYYY}-{####}"', '"SO{YYYY}"',
         "needs exactly one counter", "entities.order.naming", 9, 13, "WF{YYYY}{MM}-{####}"),
    Case("naming_unknown_placeholder", '"SO{YYYY}-{####}"', '"SO{YYYY}{Q}-{####}"',
         "unknown placeholder {Q} in naming series", "entities.order.naming", 9, 13, "{YYYY} {YY} {MM} {DD}"),
    Case("bad_regex", "note: {type: text}", "note: {type: text, pattern: '[a-z'}",
         "invalid regular expression", "entities.order.fields.note.pattern", 14, 35, "escape special characters"),
    Case("min_greater_than_max", "qty: {type: integer}", "qty: {type: integer, min: 10, max: 1}",
         "min (10) is greater than max (1)", "entities.order.fields.qty.min", 12, 33),
    Case("to_on_text", "note: {type: text}", "note: {type: text, to: partner}",
         "'to' does not apply to a text field", "entities.order.fields.note.to", 14, 26, "'to' is for: link"),
    Case("fields_on_integer", "qty: {type: integer}", "qty: {type: integer, fields: {a: {type: text}}}",
         "'fields' does not apply to a integer field", "entities.order.fields.qty.fields", 12, 28, "table"),
    Case("unique_longtext", "note: {type: text}", "note: {type: longtext, unique: true}",
         "a longtext field cannot be unique", "entities.order.fields.note.unique", 14, 30),
    Case("computed_required", "qty: {type: integer}", _more("      total: {type: computed, expr: 'qty * 2', required: true}"),
         "'required' does not apply to a computed field", "entities.order.fields.total.required", 13, 48,
         "computed values are derived"),
    Case("computed_default", "qty: {type: integer}", _more("      total: {type: computed, expr: 'qty * 2', default: 1}"),
         "'default' does not apply to a computed field", "entities.order.fields.total.default", 13, 48,
         "computed values are derived"),
    Case("computed_refers_to_itself", "qty: {type: integer}", _more("      total: {type: computed, expr: 'total + 1'}"),
         "computed field 'total' refers to itself", "entities.order.fields.total.expr", 13, 37, "other fields"),
    Case("table_inside_table", "qty: {type: integer}",
         _more("      lines:\n        type: table\n        fields:\n          sku: {type: text}\n"
               "          parts:\n            type: table\n            fields:\n              p: {type: text}"),
         "a child table cannot contain another table", "entities.order.fields.lines.fields.parts.type", 18, 19,
         "separate entity"),
    Case("expression_default_unknown_name", "note: {type: text}", "note: {type: text, default: =normal}",
         "unknown name 'normal'", "entities.order.fields.note.default", 14, 36, "quote it: 'normal'"),
    Case("integer_default_text", "qty: {type: integer}", "qty: {type: integer, default: \"'abc'\"}",
         "this default gives a text, but the field holds integer", "entities.order.fields.qty.default", 12, 37),
    Case("unknown_title_field", '    naming:', "    title_field: titel\n    naming:",
         "unknown field 'titel'", "entities.order.title_field", 9, 18, "due, note, partner"),
    # --- roles and user attributes ------------------------------------------
    Case("admin_declared", "roles: [clerk, boss]", "roles: [clerk, boss, admin]",
         "'admin' is a built-in role", "roles.admin", 2, 1, "admins can do everything"),
    Case("role_listed_twice", "roles: [clerk, boss]", "roles: [clerk, boss, clerk]",
         "role 'clerk' is listed twice", "roles[2]", 2, 22),
    Case("user_attribute_table", "entities:", "user_attributes:\n  plant: {type: table, fields: {x: {type: text}}}\nentities:",
         "user attributes cannot be of type table", "user_attributes.plant.type", 4, 17),
    # --- workflow -----------------------------------------------------------
    Case("transition_from_unknown_state", "from: draft, to: done", "from: drft, to: done",
         "unknown state 'drft' in transition 'finish'", "entities.order.workflow.transitions.finish.from", 24, 24,
         "did you mean 'draft'?"),
    Case("transition_to_unknown_state", "from: draft, to: done", "from: draft, to: dne",
         "unknown state 'dne' in transition 'finish'", "entities.order.workflow.transitions.finish.to", 24, 35,
         "did you mean 'done'?"),
    Case("unknown_initial_state", "initial: draft", "initial: new",
         "initial state 'new' is not among the states", "entities.order.workflow.initial", 19, 16, "done, draft"),
    Case("unreachable_state", "        done: {final: true}", "        done: {final: true}\n        lost: {}",
         "state 'lost' can never be reached from 'draft'", "entities.order.workflow.states.lost", 23, 9,
         "add a transition into it"),
    Case("final_state_with_outgoing", "roles: [boss]}", "roles: [boss]}\n        reopen: {from: done, to: draft}",
         "state 'done' is final, so no transition may leave it", "entities.order.workflow.transitions.reopen.from",
         25, 24, "remove 'final: true'"),
    Case("transition_unknown_role", "roles: [boss]}", "roles: [bos]}",
         "unknown role 'bos'", "entities.order.workflow.transitions.finish.roles[0]", 24, 49, "did you mean 'boss'?"),
    Case("transition_require_missing_field", "roles: [boss]}", "roles: [boss], require: [qtty]}",
         "required field 'qtty' does not exist in 'order'", "entities.order.workflow.transitions.finish.require[0]",
         24, 66, "did you mean 'qty'?"),
    Case("transition_set_unknown_field", "roles: [boss]}", "roles: [boss], set: {nte: \"'x'\"}}",
         "unknown field 'nte' to set", "entities.order.workflow.transitions.finish.set.nte", 24, 62,
         "did you mean 'note'?"),
    # --- expressions --------------------------------------------------------
    Case("expr_syntax_error", "qty: {type: integer}", "qty: {type: integer, check: 'qty >'}",
         "syntax error in expression", "entities.order.fields.qty.check", 12, 36, "strings need quotes"),
    Case("expr_single_equals", "qty: {type: integer}", "qty: {type: integer, check: 'qty = 3'}",
         "syntax error in expression", "entities.order.fields.qty.check", 12, 40, "compare with '=='"),
    Case("expr_unquoted_text", "note: {type: text}", "note: {type: text, visible: \"status == open\"}",
         "unknown name 'open' in entity 'order'", "entities.order.fields.note.visible", 14, 46, "quote it: 'open'"),
    Case("expr_unknown_name_typo", "qty: {type: integer}", "qty: {type: integer, check: 'qyt > 0'}",
         "unknown name 'qyt'", "entities.order.fields.qty.check", 12, 36, "did you mean 'qty'?"),
    Case("expr_unknown_function", "due: {type: date}", "due: {type: date, check: 'due > todya()'}",
         "unknown function 'todya'", "entities.order.fields.due.check", 13, 39, "did you mean 'today'?"),
    Case("expr_wrong_arg_count", "due: {type: date}", "due: {type: date, check: 'days_since(due, 2) > 1'}",
         "days_since() takes 1 argument, got 2", "entities.order.fields.due.check", 13, 33, "days_since(date)"),
    Case("expr_attribute_on_non_link", "qty: {type: integer}", "qty: {type: integer, check: 'note.x > 0'}",
         "'note' is not a link, so it has no attributes", "entities.order.fields.qty.check", 12, 36,
         "only link fields"),
    Case("expr_unknown_field_after_link", "note: {type: text}", "note: {type: text, visible: \"partner.phon == '1'\"}",
         "unknown name 'phon' of partner", "entities.order.fields.note.visible", 14, 36, "did you mean 'phone'?"),
    Case("expr_unknown_user_attribute", "note: {type: text}", "note: {type: text, default: 'user.plant'}",
         "unknown user attribute 'plant'", "entities.order.fields.note.default", 14, 36, "user_attributes"),
    Case("expr_bare_user", "note: {type: text}", "note: {type: text, default: '=user'}",
         "use an attribute of the user", "entities.order.fields.note.default", 14, 37, "username"),
    Case("expr_lambda", "qty: {type: integer}", "qty: {type: integer, check: '(lambda: 1)() > 0'}",
         "Lambda is not allowed", "entities.order.fields.qty.check", 12, 37, "lambdas are not allowed"),
    Case("expr_comprehension", "qty: {type: integer}", "qty: {type: integer, check: '[x for x in (1,2)] == 1'}",
         "ListComp is not allowed", "entities.order.fields.qty.check", 12, 36, "loops are not allowed"),
    Case("expr_subscript", "note: {type: text}", "note: {type: text, check: \"note[0] == 'a'\"}",
         "Subscript is not allowed", "entities.order.fields.note.check", 14, 34, "indexing is not allowed"),
    Case("expr_power_variable_exponent", "qty: {type: integer}", "qty: {type: integer, check: '2 ** qty > 0'}",
         "'**' needs a whole-number constant exponent", "entities.order.fields.qty.check", 12, 36),
    Case("expr_floor_division", "qty: {type: integer}", "qty: {type: integer, check: 'qty // 2 > 0'}",
         "FloorDiv is not allowed", "entities.order.fields.qty.check", 12, 36, "round(a / b)"),
    Case("expr_date_greater_than_number", "due: {type: date}", "due: {type: date, check: 'due > 3'}",
         "cannot order date against int", "entities.order.fields.due.check", 13, 33, "same kind"),
    Case("expr_number_equals_text", "qty: {type: integer}", "qty: {type: integer, check: \"qty == 'a'\"}",
         "comparing int with text is never true", "entities.order.fields.qty.check", 12, 36, "field types"),
    Case("expr_date_arithmetic", "due: {type: date}", "due: {type: date, check: 'due + 1 > today()'}",
         "date arithmetic uses functions", "entities.order.fields.due.check", 13, 33, "add_days"),
    Case("expr_in_text", "note: {type: text}", "note: {type: text, check: \"note in 'abc'\"}",
         "'in' needs a list of values", "entities.order.fields.note.check", 14, 34, "contains()"),
    Case("expr_is_not_none", "qty: {type: integer}", "qty: {type: integer, check: 'qty is 3'}",
         "'is' may only compare with None", "entities.order.fields.qty.check", 12, 36, "use '=='"),
    Case("expr_condition_is_a_date", "note: {type: text}", "note: {type: text, visible: 'due'}",
         "a condition is needed here, but this expression gives a date", "entities.order.fields.note.visible",
         14, 36, "compare it"),
    Case("expr_too_long", "note: {type: text}", "note: {type: text, default: \"'" + "x" * 2001 + "'\"}",
         "expression is too long", "entities.order.fields.note.default", 14, 36, "computed fields"),
    Case("expr_too_deep", "qty: {type: integer}", "qty: {type: integer, check: '" + " + ".join(["qty"] * 30) + " > 0'}",
         "expression nests too deeply", "entities.order.fields.qty.check", 12, 36),
    # --- layout and list ----------------------------------------------------
    Case("layout_unknown_field", "    workflow:", LAYOUT + "            - [qty, nte]\n    workflow:",
         "unknown field 'nte' in layout", "entities.order.layout.sections[0].columns[0][1]", 21, 21,
         "did you mean 'note'?"),
    Case("layout_field_twice", "    workflow:", LAYOUT + "            - [qty, note]\n            - [qty]\n    workflow:",
         "field 'qty' is placed twice in the layout", "entities.order.layout.sections[0].columns[1][0]", 22, 16,
         "remove one of them"),
    Case("list_unknown_column", "    workflow:", "    list:\n      columns: [qty, totl]\n    workflow:",
         "unknown column 'totl'", "entities.order.list.columns[1]", 19, 22, "known names"),
    Case("list_sort_unknown", "    workflow:", "    list:\n      sort: -dte\n    workflow:",
         "cannot sort by 'dte'", "entities.order.list.sort", 19, 13, "did you mean 'due'?"),
    Case("list_search_non_text", "    workflow:", "    list:\n      search: [qty]\n    workflow:",
         "'qty' is not a text field, so it cannot be searched", "entities.order.list.search[0]", 19, 16, "note"),
    # --- permissions --------------------------------------------------------
    Case("permission_unknown_role", "clerk: {read: true, create: true}",
         "clerk: {read: true, create: true}\n      sales: {read: true}",
         "unknown role 'sales'", "entities.order.permissions.sales", 27, 7, "boss, clerk"),
    Case("permission_row_filter_unknown_name", "clerk: {read: true, create: true}",
         "clerk: {read: \"owner == user.username\", create: true}",
         "unknown name 'owner' in entity 'order'", "entities.order.permissions.clerk.read", 26, 22, "created_by"),
    Case("permission_update_without_read", "clerk: {read: true, create: true}", "clerk: {create: true, update: true}",
         "role 'clerk' may update but not read 'order'", "entities.order.permissions.clerk", 26, 7, "add read: true"),
    Case("permission_unknown_transition", "clerk: {read: true, create: true}",
         "clerk: {read: true, create: true, transition: [finsh]}",
         "unknown transition 'finsh'", "entities.order.permissions.clerk.transition[0]", 26, 54,
         "did you mean 'finish'?"),
]


def errors_of(texts: dict[str, str]) -> list[DefinitionError]:
    with pytest.raises(DefinitionErrors) as info:
        load_texts(texts)
    return info.value.errors


def test_base_app_is_valid() -> None:
    apps = load_texts({"shop.yaml": BASE})
    assert set(apps["shop"].entities) == {"partner", "order"}


def test_corpus_is_large_and_distinct() -> None:
    assert len(CASES) >= 45
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({(c.old, c.new) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_definition(case: Case) -> None:
    assert BASE.count(case.old) >= 1, "the edit must apply to BASE"
    text = BASE.replace(case.old, case.new, 1)
    assert text.startswith("app:")
    errors = errors_of({"shop.yaml": text})
    assert len(errors) == 1, "\n".join(e.format() for e in errors)  # one mistake, one error
    e = errors[0]
    assert e.file == "shop.yaml"
    assert case.message in e.message
    assert e.path == case.path
    assert e.line == case.line
    if case.col is not None:
        assert e.col == case.col
    if case.hint is not None:
        assert e.hint, "a hint is expected"
        assert case.hint in e.hint
    assert e.format().startswith(f"shop.yaml:{e.line}:{e.col}: {e.path or '(top)'}: ")


def test_duplicate_app_across_two_files() -> None:
    errors = errors_of({"a.yaml": BASE, "b.yaml": BASE})
    assert len(errors) == 1
    e = errors[0]
    assert (e.file, e.line, e.col, e.path) == ("b.yaml", 1, 6, "app")
    assert "app 'shop' is also defined in a.yaml" in e.message
    assert "own identifier" in e.hint


def test_duplicate_app_across_two_files_on_disk() -> None:
    with pytest.raises(DefinitionErrors) as info:
        load_apps([BROKEN / "dup_app_a.yaml", BROKEN / "dup_app_b.yaml"])
    [e] = info.value.errors
    assert e.file.endswith("dup_app_b.yaml") and e.path == "app"
    assert "also defined in" in e.message and "dup_app_a.yaml" in e.message


def test_several_errors_in_one_file_reported_together_in_line_order() -> None:
    with pytest.raises(DefinitionErrors) as info:
        load_apps([BROKEN / "several_errors.yaml"])
    errors = info.value.errors
    assert [(e.line, e.path) for e in errors] == [
        (7, "entities.job.fields.title.type"),
        (8, "entities.job.fields.qty.check"),
        (9, "entities.job.fields.partner.to"),
    ]
    assert "'txt' is not one of" in errors[0].message and errors[0].hint == "did you mean 'text'?"
    assert "unknown name 'qyt'" in errors[1].message and errors[1].hint == "did you mean 'qty'?"
    assert "unknown entity 'partnr'" in errors[2].message and errors[2].hint
    text = info.value.format()
    assert text.startswith("3 errors in definitions:")
    assert text.count("\n    hint: ") == 3


def test_several_errors_in_text_counted_and_sorted() -> None:
    text = (BASE.replace("qty: {type: integer}", "qty: {type: integer, check: 'qyt > 0'}")
            .replace("roles: [boss]}", "roles: [bos]}")
            .replace("to: partner}", "to: partnr}"))
    errors = errors_of({"shop.yaml": text})
    assert [e.line for e in errors] == [11, 12, 24]
    assert [e.line for e in errors] == sorted(e.line for e in errors)


def test_jig_check_cli_on_broken_folder(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    env = {**os.environ, "JIG_SECRET_KEY": "test-secret", "JIG_VAR": str(tmp_path / "var"),
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "jig.cli", "--database", f"sqlite:///{db}", "check", str(BROKEN)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stderr
    with pytest.raises(DefinitionErrors) as info:
        load_apps([BROKEN])
    expected = info.value.errors
    assert len(expected) >= 5
    assert out.startswith(f"{len(expected)} errors in definitions:")
    for e in expected:
        assert f"{e.file}:{e.line}:{e.col}: " in out
        assert e.format() in out
    assert out.count("\n    hint: ") == len(expected)
    for name in ("several_errors.yaml", "dup_app_b.yaml", "yaml_syntax.yaml"):
        assert name in out
    assert not db.exists(), "check must not touch the database"
    assert not (tmp_path / "var" / "jig.db").exists()


def test_jig_check_cli_ok(tmp_path: Path) -> None:
    env = {**os.environ, "JIG_SECRET_KEY": "test-secret", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "jig.cli", "check", str(ROOT / "apps")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: 3 app(s)")


def test_shipped_apps_load_clean() -> None:
    # how fast is a benchmark's question (bench/crud.py prints the load time), never a test's
    apps = load_apps([ROOT / "apps"], default_extensions())
    assert len(apps) == 3


def test_computed_fields_in_a_circle_are_refused() -> None:
    text = """
app: circle
entities:
  thing:
    fields:
      a: {type: integer}
      b: {type: computed, expr: "c + 1"}
      c: {type: computed, expr: "b + a"}
"""
    with pytest.raises(DefinitionErrors) as err:
        load_texts({"circle.yaml": text})
    assert "refer to each other in a circle: b -> c -> b" in err.value.format()


# --- links: (the links extension) -------------------------------------------------
LINKS_BASE = BASE + """\
links:
  scan:
    entity: order
    edit: [qty, note]
    transitions: [finish]
  new_order:
    entity: order
    on: partner
    creates: true
    bind: partner
    edit: [qty]
    challenge: true
"""

LINK_CASES = [
    Case("link_unknown_entity", "    entity: order\n    edit: [qty, note]", "    entity: ordr\n    edit: [qty, note]",
         "unknown entity 'ordr' in link", "links.scan.entity", 29, 13, "did you mean 'order'?"),
    Case("link_unknown_field", "edit: [qty, note]", "edit: [qty, noet]",
         "unknown field 'noet' of 'order'", "links.scan.edit[1]", 30, 17, "did you mean 'note'?"),
    Case("link_unknown_transition", "transitions: [finish]", "transitions: [finsh]",
         "unknown transition 'finsh' of 'order'", "links.scan.transitions[0]", 31, 19, "did you mean 'finish'?"),
    Case("link_does_nothing", "    edit: [qty, note]\n    transitions: [finish]\n", "    show: [qty]\n",
         "this link can do nothing", "links.scan", 29, 5, "add edit:"),
    Case("link_creates_without_bind", "    bind: partner\n", "",
         "a creating link on 'partner' needs bind:", "links.new_order", 33, 5, "bind: partner"),
    Case("link_bind_not_a_link", "bind: partner", "bind: qty",
         "bind: 'qty' is not a link field of 'order' to 'partner'", "links.new_order.bind", 36, 11, ""),
    Case("link_challenge_on_record_link", "    transitions: [finish]\n", "    transitions: [finish]\n    challenge: true\n",
         "a challenge guards links that create records", "links.scan.challenge", 32, 16, "creates: true"),
    Case("link_prefill_not_editable", "    edit: [qty]\n", "    edit: [qty]\n    prefill: [note]\n",
         "prefilled field 'note' is not in edit:", "links.new_order.prefill[0]", 38, 15, "add it to edit:"),
    Case("link_unknown_role", "    transitions: [finish]\n", "    transitions: [finish]\n    identify: {roles: [clrk]}\n",
         "unknown role 'clrk'", "links.scan.identify.roles[0]", 32, 24, "did you mean 'clerk'?"),
    Case("link_bad_expiry", "    transitions: [finish]\n", "    transitions: [finish]\n    expires: 3 weeks\n",
         "'3 weeks' does not have the expected form", "links.scan.expires", 32, 14, None),
    Case("link_unknown_key", "    transitions: [finish]\n", "    transitions: [finish]\n    expire: 30d\n",
         "unknown key 'expire'", "links.scan.expire", 32, 5, "did you mean 'expires'?"),
    Case("link_edits_a_link_field", "edit: [qty, note]", "edit: [qty, partner]",
         "field 'partner' cannot be written through a link (link)", "links.scan.edit[1]", 30, 17, "show:"),
    Case("link_on_other_record", "    entity: order\n    edit: [qty, note]", "    entity: order\n    on: partner\n    edit: [qty, note]",
         "a link that edits one record is on that record", "links.scan.on", 30, 9, "creates: true"),
]


@pytest.mark.parametrize("case", LINK_CASES, ids=[c.id for c in LINK_CASES])
def test_broken_link_definition(case: Case) -> None:
    assert LINKS_BASE.count(case.old) >= 1, "the edit must apply to LINKS_BASE"
    with pytest.raises(DefinitionErrors) as info:
        load_texts({"shop.yaml": LINKS_BASE.replace(case.old, case.new, 1)}, default_extensions())
    errors = info.value.errors
    assert len(errors) == 1, "\n".join(e.format() for e in errors)
    e = errors[0]
    assert (case.message in e.message, e.path, e.line) == (True, case.path, case.line), e.format()
    if case.col is not None:
        assert e.col == case.col, e.format()
    if case.hint is not None:
        assert e.hint and case.hint in e.hint, e.format()


def test_links_base_is_valid() -> None:
    apps = load_texts({"shop.yaml": LINKS_BASE}, default_extensions())
    assert set(apps["shop"].sections["links"]) == {"scan", "new_order"}
