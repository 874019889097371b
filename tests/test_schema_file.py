"""The shipped JSON Schema file matches the language the code accepts."""

from __future__ import annotations

import json

import jsonschema
import yaml

from jig.plugins import default_extensions
from runtime.loader import schema_for
from runtime.schema import SCHEMA_PATH

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
        assert list(validator.iter_errors(yaml.safe_load(text))) == [], path
