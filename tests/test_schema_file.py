"""The shipped JSON Schema file matches the language the code accepts."""

from __future__ import annotations

import json

import jsonschema

from jig.plugins import default_extensions
from runtime.loader import schema_for
from runtime.schema import SCHEMA_PATH
from runtime.yamlsource import load_text

from .conftest import APPS


def test_schema_file_is_current() -> None:
    shipped = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert shipped == schema_for(default_extensions()), "run: jig schema --write"
    jsonschema.Draft202012Validator.check_schema(shipped)


def test_shipped_apps_point_editors_at_the_schema() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    for path in sorted(APPS.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# yaml-language-server: $schema=../runtime/schema/app.schema.json"), path
        data, _, problems = load_text(text, str(path))  # YAML 1.2 keys as editors read them ('on' stays 'on')
        assert problems == [] and list(validator.iter_errors(data)) == [], path
