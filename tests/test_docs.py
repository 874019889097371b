"""The definition-language reference must stay true: its examples load, and it
documents every function and field type the runtime knows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runtime.functions import FUNCTIONS
from runtime.loader import load_texts
from runtime.schema import FIELD_TYPES

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "definition-language.md"
TEXT = DOC.read_text(encoding="utf-8")
FENCE = re.compile(r"^```yaml[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
BLOCKS = FENCE.findall(TEXT)


def test_doc_has_yaml_examples() -> None:
    assert len(BLOCKS) >= 8
    # every yaml block is a plain ```yaml block, so none escapes the check below
    assert all(m.group(0).startswith("```yaml\n") for m in FENCE.finditer(TEXT))


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_yaml_example_is_a_complete_valid_app(index: int) -> None:
    block = BLOCKS[index]
    first = next(line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    assert first.startswith("app:"), f"example {index + 1} must be a complete app starting with 'app:'"
    apps = load_texts({f"example_{index + 1}.yaml": block})
    assert len(apps) == 1


def test_examples_use_distinct_app_names() -> None:
    load_texts({f"example_{i + 1}.yaml": b for i, b in enumerate(BLOCKS)})


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_is_documented(name: str) -> None:
    assert re.search(rf"`{name}\(", TEXT), f"function {name}() is missing from the reference"
    assert FUNCTIONS[name].doc in TEXT, f"the doc text of {name}() is missing"


@pytest.mark.parametrize("ftype", FIELD_TYPES)
def test_every_field_type_is_documented(ftype: str) -> None:
    assert f"| `{ftype}` |" in TEXT, f"field type {ftype} is missing from the type table"


RULES_DOC = DOC.with_name("rules.md")


@pytest.mark.parametrize("index", range(len(FENCE.findall(RULES_DOC.read_text(encoding="utf-8")))))
def test_rules_doc_examples_load(index: int) -> None:
    from jig.plugins import default_extensions
    block = FENCE.findall(RULES_DOC.read_text(encoding="utf-8"))[index]
    apps = load_texts({f"rules_example_{index + 1}.yaml": block}, default_extensions())
    assert any(app.sections.get("rules") for app in apps.values())


LINKS_DOC = DOC.with_name("links.md")


@pytest.mark.parametrize("index", range(len(FENCE.findall(LINKS_DOC.read_text(encoding="utf-8")))))
def test_links_doc_examples_load(index: int) -> None:
    from jig.plugins import default_extensions
    block = FENCE.findall(LINKS_DOC.read_text(encoding="utf-8"))[index]
    apps = load_texts({f"links_example_{index + 1}.yaml": block}, default_extensions())
    assert any(app.sections.get("links") for app in apps.values())


def test_screenshots_exist_and_are_shown() -> None:
    """Every image README.md shows exists, and every PNG in docs/screenshots/ is shown by README.md or a doc
    (none rots unseen); ``bench/screenshots.py --all`` regenerates them."""
    image = re.compile(r"""(?:!\[[^\]]*\]\(|src=")(docs/screenshots/[^)"\s]+|screenshots/[^)"\s]+)""")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = {m.group(1) for m in image.finditer(readme)}
    assert shown, "README.md shows no screenshots"
    assert sorted(p for p in shown if not (ROOT / p).is_file()) == []
    for doc in (ROOT / "docs").glob("*.md"):
        shown |= {"docs/" + m.group(1) for m in image.finditer(doc.read_text(encoding="utf-8"))
                  if m.group(1).startswith("screenshots/")}
    files = {f"docs/screenshots/{p.name}" for p in (ROOT / "docs" / "screenshots").iterdir()}
    assert sorted(files - shown) == [], "screenshots no page shows"
