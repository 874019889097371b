"""The compact forms of the definition language (runtime/compact.py): they load to the same internal model as
the long forms they stand for, their mistakes are located and explained, and the shipped apps written with
them are shorter than before (docs/definition-language.md, "Compact forms")."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from jig.plugins import default_extensions
from runtime.errors import DefinitionErrors
from runtime.expressions import Expr
from runtime.loader import load_apps, load_texts

APPS = Path(__file__).resolve().parent.parent / "apps"
# The shipped files before the rewrite with the compact forms (bytes; recorded in docs/definition-language.md).
# The shipped files' sizes in the long forms: as they were before the rewrite (13,705 / 22,686 / 26,499 bytes),
# plus what was added since in the long form (row colours, kanban cards, overdue, roll-ups, a guard, printed
# documents, breakdowns and MTBF: +1,793 bytes to outsourcing, +880 to maintenance, +1,862 to work_order_tracking,
# measured on their branches).
BASELINE = {"outsourcing.yaml": 15_498, "maintenance.yaml": 23_566, "work_order_tracking.yaml": 28_361}

LONG = """
app: shop
title: {zh: 外发, en: Outsourcing}
roles:
  planner: {label: {zh: 计划员, en: Planner}}
  qc: {label: {zh: 质检, en: QC}}
  manager: {label: {zh: 主管, en: Manager}}
entities:
  partner:
    title: {zh: 外协厂, en: Partner}
    fields:
      name: {type: text, label: {zh: 厂名, en: Name}, required: true}
      process:
        type: multiselect
        options:
          - {value: plating, label: {zh: 电镀, en: Plating}}
          - {value: painting, label: {zh: 喷涂, en: Painting}, color: blue}
    layout: {sections: [{label: {zh: 基本, en: Basics}, columns: [[name], [process]]}]}
    permissions:
      planner: {read: true, create: true, update: true}
      qc: {read: true}
      manager: {read: true, create: true, update: true, delete: true, transition: true}
  batch:
    title: {zh: 外发单, en: Batch}
    fields:
      partner: {type: link, to: partner, label: {zh: 外协厂, en: Partner}}
      process:
        type: select
        default: "'plating'"
        options:
          - {value: plating, label: {zh: 电镀, en: Plating}}
          - {value: painting, label: {zh: 喷涂, en: Painting}, color: blue}
      priority: {type: text, default: "'normal'", help: {zh: 优先级, en: Priority}}
      due: {type: date, default: "today()"}
      who: {type: user, default: "user.username"}
    workflow:
      initial: shipped
      states:
        shipped: {label: {zh: 已发货, en: Shipped}, color: blue}
        processing: {label: {zh: 加工中, en: Processing}}
        done: {label: {zh: 完成, en: Done}, color: green, final: true}
      transitions:
        start: {from: shipped, to: processing, roles: [planner, manager],
                guard: "state in ('shipped', 'processing') and due < today()"}
        finish: {label: {zh: 完成, en: Finish}, from: processing, to: done, roles: [manager]}
    permissions:
      planner: {read: true, create: true, update: "state in ('shipped', 'processing')", transition: true}
      qc: {read: true}
      manager: {read: true, create: true, update: true, delete: true, transition: true}
rules:
  late:
    label: {zh: 超期, en: Late}
    on: {schedule: "every 1h"}
    for_each: batch
    when: "state in ('shipped', 'processing') and due < today()"
    do:
      - notify: {roles: [planner], message: "{{ priority }}"}
dashboards:
  board:
    title: {zh: 看板, en: Board}
    widgets:
      - {type: number, title: {zh: 在外, en: Out}, entity: batch, filter: "state in ('shipped', 'processing')"}
links:
  update:
    entity: batch
    label: {zh: 更新, en: Update}
    show: [process]
    transitions: [finish]
documents:
  note:
    label: {zh: 外发单, en: Note}
    entity: batch
    sections: [{label: {zh: 外发, en: Out}, fields: [process, due]}]
"""

COMPACT = """
app: shop
title: 外发 | Outsourcing
roles:
  planner: 计划员 | Planner
  qc: {label: 质检 | QC}
  manager: 主管 | Manager
option_sets:
  processes: [plating: 电镀 | Plating, painting: [喷涂 | Painting, blue]]
permissions:
  manager: all
  qc: read
role_presets:
  office: [read, create, update]
entities:
  partner:
    title: 外协厂 | Partner
    fields:
      name: {text: 厂名 | Name, required}
      process: {type: multiselect, options: processes}
    layout:
      sections:
        - 基本 | Basics: [[name], [process]]
    permissions:
      planner: office
  batch:
    title: 外发单 | Batch
    filters:
      outside: "state in ('shipped', 'processing')"
      late: "outside and due < today()"
    fields:
      partner:
        link: 外协厂 | Partner
        to: partner
      process: {type: select, default: plating, options: processes}
      priority: {type: text, default: normal, help: 优先级 | Priority}
      due: {type: date, default: =today()}
      who: {type: user, default: =user.username}
    workflow:
      initial: shipped
      roles: [planner, manager]
      states:
        shipped: [已发货 | Shipped, blue]
        processing: 加工中 | Processing
        done: {label: 完成 | Done, color: green, final}
      transitions:
        start: {from: shipped, to: processing, guard: late}
        finish: {label: 完成 | Finish, from: processing, to: done, roles: [manager]}
    permissions:
      planner: {read: true, create: true, update: outside, transition: true}
rules:
  late:
    label: 超期 | Late
    on: {schedule: "every 1h"}
    for_each: batch
    when: late
    do:
      - notify: {roles: [planner], message: "{{ priority }}"}
dashboards:
  board:
    title: 看板 | Board
    widgets:
      - {number: 在外 | Out, entity: batch, filter: outside}
links:
  update:
    entity: batch
    label: 更新 | Update
    show: [process]
    transitions: [finish]
documents:
  note:
    label: 外发单 | Note
    entity: batch
    sections:
      - 外发 | Out: [process, due]
"""

SKIP = {"raw", "file", "owner", "scope", "ft", "parent"}


def model(o: Any, depth: int = 0) -> Any:
    """The internal model as plain data: expressions by their syntax tree (parentheses do not count)."""
    if depth > 40:
        return "..."
    if isinstance(o, Expr):
        return ("expr", ast.dump(o.tree))
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return {f.name: model(getattr(o, f.name), depth + 1) for f in dataclasses.fields(o) if f.name not in SKIP}
    if isinstance(o, dict):
        return {str(k): model(v, depth + 1) for k, v in o.items() if k not in SKIP and k != "filters"}
    if isinstance(o, (list, tuple)):
        return [model(v, depth + 1) for v in o]
    if isinstance(o, (set, frozenset)):
        return sorted(repr(model(v, depth + 1)) for v in o)
    if isinstance(o, re.Pattern):
        return o.pattern
    if o is None or isinstance(o, (str, int, float, bool)):
        return o
    if hasattr(o, "__dict__"):
        return {k: model(v, depth + 1) for k, v in vars(o).items() if k not in SKIP and not k.startswith("_")}
    return type(o).__name__


def _load(text: str) -> Any:
    return load_texts({"shop.yaml": text}, default_extensions())["shop"]


def test_compact_forms_load_to_the_same_model_as_the_long_forms() -> None:
    long, compact = _load(LONG), _load(COMPACT)
    assert model(compact) == model(long)
    batch = compact.entities["batch"]
    assert batch.fields["priority"].default.source == "'normal'" and batch.fields["due"].default.source == "today()"
    assert compact.roles["planner"] == {"zh": "计划员", "en": "Planner"}
    assert batch.fields["process"].options[1].color == "blue"
    assert compact.entities["partner"].permissions["qc"].read is True  # from the app-wide grant
    assert compact.sections["dashboards"]["board"].widgets[0].title == {"zh": "在外", "en": "Out"}
    assert batch.fields["partner"].type == "link" and batch.fields["partner"].label == {"zh": "外协厂", "en": "Partner"}


@pytest.mark.parametrize(("change", "message", "where", "hint"), [
    (("options: processes}", "options: procesess}"), "unknown option list 'procesess'",
     "entities.partner.fields.process.options", "did you mean 'processes'"),
    (("planner: office", "planner: ofice"), "unknown permission preset 'ofice'",
     "entities.partner.permissions.planner", "did you mean 'office'"),
    (("office: [read, create, update]", "office: [read, craete]"), "'craete' is not one of",
     "role_presets.office[1]", "did you mean 'create'"),
    (("      late: \"outside", "      due: \"outside"), "filter 'due' has the name of a field",
     "entities.batch.filters.due", "rename it"),
    (("'processing')\"\n      late", "'procesing')\"\n      late"), "'procesing' is not a value of state",
     "entities.batch.filters.outside", "did you mean 'processing'"),
    (("name: {text: 厂名 | Name", "name: {text: 厂名 | Name, date: 日期 | Date"), "a field has one type",
     "entities.partner.fields.name.date", "write the type once"),
    (("name: {text: 厂名 | Name", "name: {text: 厂名 | Name, label: 名称 | Name"), "the label is given twice",
     "entities.partner.fields.name.label", "keep one of them"),
    (("{number: 在外 | Out", "{number: 在外 | Out, pie: 饼 | Pie"), "a widget has one type",
     "dashboards.board.widgets[0].pie", "write the type once"),
    (("default: =today()", "default: =todya()"), "unknown function 'todya'",
     "entities.batch.fields.due.default", "today"),
    (("[[name], [process]]", "[[name], [procss]]"), "unknown field 'procss' in layout",
     "entities.partner.layout.sections[0].columns[1][0]", "did you mean 'process'"),
    (("[已发货 | Shipped, blue]", "[已发货 | Shipped, bleu]"), "'bleu' is not one of",
     "entities.batch.workflow.states.shipped[1]", "did you mean 'blue'"),
    (("roles: [planner, manager]\n      states", "roles: [planner, manger]\n      states"), "unknown role 'manger'",
     "entities.batch.workflow.roles[1]", "did you mean 'manager'"),
    (("{text: 厂名 | Name, required}", "{text: 厂名 | Name, requird}"), "unknown key 'requird'",
     "entities.partner.fields.name.requird", "did you mean 'required'"),
    (("- 外发 | Out: [process, due]", "- 外发 | Out: [process, dew]"), "unknown field 'dew'",
     "documents.note.sections[0].外发 | Out[1]", "did you mean 'due'"),
])
def test_compact_form_mistakes_are_located(change: tuple[str, str], message: str, where: str, hint: str) -> None:
    assert change[0] in COMPACT
    with pytest.raises(DefinitionErrors) as info:
        _load(COMPACT.replace(*change))
    found = [e for e in info.value.errors if message in e.message]
    assert found, info.value.format()
    e = found[0]
    assert e.path == where and hint in e.hint and e.file == "shop.yaml" and e.line > 1, e.format()


def test_a_named_filter_is_checked_where_it_is_used_too() -> None:
    """The strict check (a quoted literal must be a state) reaches every condition using the filter."""
    with pytest.raises(DefinitionErrors) as info:
        _load(COMPACT.replace("'processing')\"\n      late", "'procesing')\"\n      late"))
    paths = {e.path for e in info.value.errors}
    assert {"entities.batch.workflow.transitions.start.guard", "rules.late.when",
            "dashboards.board.widgets[0].filter"} <= paths, paths


# With the type as the key of a field's label or a widget's title, flags written alone, sections keyed by their
# label, states and options as [label, colour], a workflow's default roles, named filters used in list colours and
# small blocks written on one line the files are 20.05-21.3% shorter (21.0% in total; outsourcing 7 bytes under its limit); see the docs' table.
SHORTER = 0.20
SHORTER_IN_TOTAL = 0.20


def test_shipped_apps_are_shorter_and_load() -> None:
    apps = load_apps([APPS], default_extensions())
    assert set(apps) >= {"outsourcing", "maintenance", "work_order_tracking"}
    sizes = {name: len((APPS / name).read_bytes()) for name in BASELINE}
    for name, before in BASELINE.items():
        assert sizes[name] <= before * (1 - SHORTER), (name, sizes[name], before)
    assert sum(sizes.values()) <= sum(BASELINE.values()) * (1 - SHORTER_IN_TOTAL)


def test_designer_edits_keep_a_field_written_with_its_type_as_key() -> None:
    """Label (one language or both), required, type, rename and move of a ``text: 厂名 | Name`` field keep that
    form and a valid file; removing the label leaves ``type: text``."""
    from builder.yamldoc import YamlDocument

    doc = YamlDocument(COMPACT)
    fields = ["entities", "partner", "fields"]
    doc.set([*fields, "name", "label", "en"], "Partner name")
    doc.set([*fields, "name", "required"], False)
    doc.set(["entities", "batch", "fields", "partner", "label"], {"zh": "外协", "en": "Partner"})
    doc.set(["entities", "batch", "fields", "priority", "type"], "longtext")  # a long-form field stays long
    doc.rename([*fields, "name"], "title")
    doc.move([*fields, "title"], 1)
    doc.set(["entities", "partner", "layout", "sections", 0, "columns", 0], ["title"])  # a label-keyed section
    text = doc.text()
    assert "        - 基本 | Basics: [[title], [process]]\n" in text, text
    assert "      process: {type: multiselect, options: processes}\n      title: {text: 厂名 | Partner name, " \
           "required: false}\n" in text, text
    assert "      partner:\n        link:\n          zh: 外协\n" in text and "priority: {type: longtext," in text
    doc.set([*fields, "title", "type"], "longtext")
    doc.delete(["entities", "batch", "fields", "partner", "label"])
    text = doc.text()
    assert "title: {longtext: 厂名 | Partner name" in text and "        type: link\n        to: partner\n" in text
    app = _load(text)
    assert app.entities["partner"].fields["title"].type == "longtext"
    assert app.entities["partner"].layout[0].sections[0].label == {"zh": "基本", "en": "Basics"}
    assert app.entities["partner"].fields["title"].label == {"zh": "厂名", "en": "Partner name"}


def test_designer_edits_keep_the_block_forms_and_write_new_fields_compactly() -> None:
    """A section's label, a [label, colour] state's colour, label and final flag, a document section's fields:
    edited in their compact forms; a field the designer adds is written {decimal: 厚度 | µm, ...}."""
    from builder.yamldoc import YamlDocument

    doc = YamlDocument(COMPACT)
    sec = ["entities", "partner", "layout", "sections", 0]
    doc.set([*sec, "label", "en"], "Basic data")
    states = ["entities", "batch", "workflow", "states"]
    doc.set([*states, "shipped", "color"], "orange")
    doc.set([*states, "shipped", "final"], True)
    assert "        shipped: [已发货 | Shipped, orange, final]\n" in doc.text()
    doc.delete([*states, "shipped", "final"])
    doc.set([*states, "processing", "color"], "purple")  # a label-only state gains a colour
    doc.delete([*states, "done", "color"])  # no colour: it stays long
    doc.set([*states, "held"], {"label": {"zh": "暂停", "en": "Held"}, "color": "yellow"}, after="processing")
    doc.set(["entities", "batch", "workflow", "transitions", "hold"], {"from": "processing", "to": "held"})
    doc.set(["documents", "note", "sections", 0, "fields"], ["process"])
    doc.set(["entities", "batch", "fields", "thickness"],
            {"type": "decimal", "label": {"zh": "镀层厚度", "en": "Plating µm"}, "min": 0}, after="who")
    text = doc.text()
    for line in ("        - 基本 | Basic data: [[name], [process]]\n", "        shipped: [已发货 | Shipped, orange]\n",
                 "        processing: [加工中 | Processing, purple]\n        held: [暂停 | Held, yellow]\n", "        done: {label: 完成 | Done, final}\n",
                 "      - 外发 | Out: [process]\n", "      thickness: {decimal: 镀层厚度 | Plating µm, min: 0}\n"):
        assert line in text, (line, text)
    app = _load(text)
    assert app.entities["batch"].fields["thickness"].type == "decimal"
    assert app.entities["partner"].layout[0].sections[0].label == {"zh": "基本", "en": "Basic data"}
