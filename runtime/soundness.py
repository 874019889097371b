"""Meaning checks over a whole app that no single field can see.

Each finds a definition the shape checks accept but that cannot work once
deployed: required links in a circle (no record of any entity in the circle
can ever be created first), ``renamed_from`` naming a field or entity that
still exists (the migration would move its data away), and a table row that
links to its own parent (the parent could never be deleted, since its rows
would always refer to it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import EntityDef, FieldDef

if TYPE_CHECKING:
    from .compiler import CompileContext
    from .model import AppDef
    from .yamlsource import PathKey


def check_app(app: AppDef, ctx: CompileContext) -> None:
    for ent in app.entities.values():
        path: PathKey = ("entities", ent.name)
        _renames(app, ent, path, ctx)
        for f in ent.child_fields():
            if f.child is not None:
                _renames(app, f.child, (*path, "fields", f.name), ctx)
    _required_link_circles(app, ctx)


def _renames(app: AppDef, ent: EntityDef, path: PathKey, ctx: CompileContext) -> None:
    if ent.parent is None and ent.renamed_from and ent.renamed_from in app.entities:
        ctx.error((*path, "renamed_from"), f"renamed_from names '{ent.renamed_from}', which is still an entity",
                  f"renaming moves the table of '{ent.renamed_from}' here; remove renamed_from, "
                  f"or remove or rename the entity '{ent.renamed_from}'")
    for f in ent.fields.values():
        if f.renamed_from and f.renamed_from in ent.fields:
            ctx.error((*path, "fields", f.name, "renamed_from"),
                      f"renamed_from names '{f.renamed_from}', which is still a field of this entity",
                      f"renaming moves the column '{f.renamed_from}' here and its field would then have no data; "
                      "remove renamed_from once the rename has been migrated")


def _required(f: FieldDef) -> bool:
    return f.type == "link" and f.required and f.default is None and bool(f.to)


def _required_link_circles(app: AppDef, ctx: CompileContext) -> None:
    """Entity A needs a B to exist before it is created, B needs an A: neither can ever be created."""
    needs: dict[str, list[tuple[str, PathKey]]] = {}
    for ent in app.entities.values():
        base: PathKey = ("entities", ent.name)
        edges = [(f.to or "", (*base, "fields", f.name)) for f in ent.fields.values() if _required(f)]
        for t in ent.child_fields():  # a required link in a row is needed to save the parent with rows
            if t.child is not None and t.min_rows:
                edges += [(f.to or "", (*base, "fields", t.name, "fields", f.name))
                          for f in t.child.fields.values() if _required(f)]
        needs[ent.name] = [(to, p) for to, p in edges if to in app.entities]
    reported: set[frozenset[str]] = set()
    for start in sorted(needs):
        # Depth-first search without recursion for a path back to start.
        stack: list[tuple[str, list[str], list[PathKey]]] = [(start, [start], [])]
        seen: set[str] = set()
        while stack:
            name, trail, paths = stack.pop()
            for to, fpath in needs.get(name, ()):
                if to == start:
                    circle = frozenset(trail)
                    if circle not in reported:
                        reported.add(circle)
                        shown = " -> ".join([*trail, start])
                        ctx.error(paths[0] if paths else fpath,
                                  f"required links form a circle ({shown}): no record of "
                                  f"{'this entity' if len(trail) == 1 else 'these entities'} can ever be created first",
                                  "make one of these links optional (remove required: true) or give it a default")
                    stack = []
                    break
                if to not in seen:
                    seen.add(to)
                    stack.append((to, [*trail, to], [*paths, fpath]))
