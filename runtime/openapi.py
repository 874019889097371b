"""An OpenAPI 3.1 document generated from the loaded definitions."""

from __future__ import annotations

from typing import Any

from .model import AppDef, EntityDef, FieldDef, pick

ERROR = {"$ref": "#/components/schemas/Error"}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
    "description": "Retry safely: the same key with the same request within a day answers the first answer "
                   "(header Idempotent-Replayed: true) and creates nothing; with a different request, 422.",
}

def _field_schema(f: FieldDef) -> dict[str, Any]:
    s = dict(f.ft.openapi(f))  # the type's own schema (runtime.fieldtypes)
    s["title"] = pick(f.label, "en")
    if f.stored:
        s = {"oneOf": [s, {"type": "null"}]} if not f.required else s
    return s


def object_schema(ent: EntityDef, *, with_system: bool = True, for_input: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {}
    if with_system and not for_input:
        props["id"] = {"type": "integer"}
        props["version"] = {"type": "integer"}
        props["created_at"] = {"type": "string", "format": "date-time"}
        props["updated_at"] = {"type": "string", "format": "date-time"}
        props["created_by"] = {"type": ["string", "null"]}
        props["updated_by"] = {"type": ["string", "null"]}
        if ent.naming:
            props["name"] = {"type": "string"}
        if ent.workflow:
            props["state"] = {"type": "string", "enum": list(ent.workflow.states)}
    if ent.is_child and not for_input:
        props["id"] = {"type": "integer"}
    for f in ent.fields.values():
        if for_input and f.type == "computed":
            continue
        props[f.name] = _field_schema(f)
    obj: dict[str, Any] = {"type": "object", "properties": props}
    if for_input:
        required = [f.name for f in ent.fields.values() if f.required and f.default is None and f.type != "table"]
        if required:
            obj["required"] = required
    return obj


SPARSE = [
    {"name": "fields", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "Comma-separated field names: answer id and these only (an unknown name is a 400)."},
    {"name": "expand", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "Comma-separated link paths (partner, lines.product, lines.product.maker): each link id "
                    "reached is replaced by the linked record (its stored fields and title) when the user may read "
                    "it; _related adds the records linking to each record (see /{id}/related). Unknown: 400."},
]


def path_filters(ent: EntityDef) -> list[dict[str, Any]]:
    """One step across a child table or a link (``lines.qty``, ``partner.city``); longer paths work the same way."""
    from .relations import step
    out = []
    for f in ent.fields.values():
        target = step(ent, f)
        if target is None:
            continue
        names = ["id", *(g.name for g in target.stored_fields() if not g.ft.is_file)]
        out += [{"name": f"{f.name}.{n}", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": f"Records with {'a row' if f.type == 'table' else 'a linked record'} whose {n} "
                                f"matches (operators as usual: {f.name}.{n}__in=...). Paths go up to three steps "
                                "(a.b.c); linked records count only when the user may read them."}
                for n in names]
    return out


def _name(app: AppDef, ent: EntityDef) -> str:
    return "".join(p.capitalize() for p in f"{app.name}_{ent.name}".split("_"))


def document(apps: dict[str, AppDef]) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message", "fields"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "fields": {"type": "object", "additionalProperties": {"type": "string"}}}}}},
        "Related": {"type": "object", "properties": {"items": {"type": "array", "items": {
            "type": "object", "properties": {
                "key": {"type": "string"}, "entity": {"type": "string"}, "path": {"type": "string"},
                "label": {"type": "string"}, "count": {"type": "integer"}, "list": {"type": "string"}}}}}},
        "History": {"type": "object", "properties": {"items": {"type": "array", "items": {
            "type": "object", "properties": {
                "action": {"type": "string"}, "transition": {"type": ["string", "null"]},
                "via": {"type": "string"}, "user": {"type": ["string", "null"]},
                "at": {"type": "string", "format": "date-time"}, "version": {"type": ["integer", "null"]},
                "changes": {"type": "object"}}}}}},
    }
    paths: dict[str, Any] = {}
    errors = {str(code): {"description": desc, "content": {"application/json": {"schema": ERROR}}}
              for code, desc in ((400, "Bad request"), (401, "Not signed in"), (403, "Forbidden"),
                                 (404, "Not found"), (409, "Conflict"), (422, "Validation failed"))}
    for app in apps.values():
        for ent in app.entities.values():
            n = _name(app, ent)
            schemas[n] = object_schema(ent)
            schemas[n + "Input"] = object_schema(ent, for_input=True)
            ref = {"$ref": f"#/components/schemas/{n}"}
            inp = {"$ref": f"#/components/schemas/{n}Input"}
            base = f"/api/{app.name}/{ent.name}"
            tag = f"{app.name}.{ent.name}"
            filters = [{"name": f.name, "in": "query", "required": False, "schema": {"type": "string"}}
                       for f in ent.stored_fields() if not f.ft.is_file] + path_filters(ent)
            paths[base] = {
                "get": {"tags": [tag], "summary": f"List {pick(ent.title, 'en')}", "operationId": f"list{n}",
                        "parameters": [*filters,
                                       {"name": "sort", "in": "query", "schema": {"type": "string"}},
                                       {"name": "limit", "in": "query",
                                        "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                                       {"name": "after", "in": "query", "schema": {"type": "string"}},
                                       {"name": "q", "in": "query", "schema": {"type": "string"}},
                                       {"name": "count", "in": "query", "schema": {"type": "boolean"}},
                                       *SPARSE],
                        "responses": {"200": {"description": "A page of records", "content": {"application/json": {
                            "schema": {"type": "object", "properties": {
                                "items": {"type": "array", "items": ref},
                                "next": {"type": ["string", "null"]}, "count": {"type": "integer"}}}}}},
                            **{k: v for k, v in errors.items() if k in ("400", "401")}}},
                "post": {"tags": [tag], "summary": f"Create {pick(ent.title, 'en')}", "operationId": f"create{n}",
                         "parameters": [IDEMPOTENCY_KEY],
                         "requestBody": {"required": True, "content": {"application/json": {"schema": inp}}},
                         "responses": {"201": {"description": "Created", "content": {"application/json": {
                             "schema": ref}}}, **{k: v for k, v in errors.items() if k in ("400", "401", "403", "422")}}},
            }
            id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
            patch_schema = {"allOf": [{"$ref": f"#/components/schemas/{n}Input"},
                                      {"type": "object", "required": ["version"],
                                       "properties": {"version": {"type": "integer"}}}]}
            patch_schema["allOf"][0] = {"type": "object", "properties": object_schema(ent, for_input=True)["properties"]}
            paths[base + "/{id}"] = {
                "parameters": [id_param],
                "get": {"tags": [tag], "operationId": f"get{n}", "parameters": SPARSE, "responses": {
                    "200": {"description": "The record", "content": {"application/json": {"schema": ref}}},
                    **{k: v for k, v in errors.items() if k in ("401", "404")}}},
                "patch": {"tags": [tag], "operationId": f"update{n}",
                          "requestBody": {"required": True, "content": {"application/json": {"schema": patch_schema}}},
                          "responses": {"200": {"description": "Updated", "content": {"application/json": {
                              "schema": ref}}}, **errors}},
                "delete": {"tags": [tag], "operationId": f"delete{n}",
                           "responses": {"204": {"description": "Deleted"},
                                         **{k: v for k, v in errors.items() if k in ("401", "403", "404", "409")}}},
            }
            paths[base + "/{id}/related"] = {
                "parameters": [id_param],
                "get": {"tags": [tag], "operationId": f"related{n}", "summary": "Records linking to this one", "responses": {
                    "200": {"description": "Per relation (entity.link, or entity.child_table.link): label, count "
                                           "within the user's read filter, and the list filter that finds them",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Related"}}}},
                    **{k: v for k, v in errors.items() if k in ("401", "404")}}},
            }
            paths[base + "/{id}/history"] = {
                "parameters": [id_param],
                "get": {"tags": [tag], "operationId": f"history{n}", "responses": {
                    "200": {"description": "History, oldest first", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/History"}}}},
                    **{k: v for k, v in errors.items() if k in ("401", "404")}}},
            }
            if ent.workflow:
                paths[base + "/{id}/transitions/{name}"] = {
                    "parameters": [id_param, {"name": "name", "in": "path", "required": True,
                                              "schema": {"type": "string", "enum": list(ent.workflow.transitions)}}],
                    "post": {"tags": [tag], "operationId": f"transition{n}", "parameters": [IDEMPOTENCY_KEY],
                             "requestBody": {"required": False, "content": {"application/json": {
                                 "schema": {"type": "object", "properties": {
                                     "version": {"type": "integer"},
                                     **object_schema(ent, for_input=True)["properties"]}}}}},
                             "responses": {"200": {"description": "Transition taken", "content": {
                                 "application/json": {"schema": ref}}}, **errors}},
                }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Jig API", "version": "1.0.0",
                 "description": "Generated from the app definitions: " + ", ".join(sorted(apps))},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
