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

from .expressions import ExpressionError, degree
from .limits import MAX_DEGREE
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


def computed_growth(ent: EntityDef, path: PathKey, ctx: CompileContext) -> None:
    """Computed fields built on computed fields: the whole calculation stays within MAX_DEGREE."""
    degrees: dict[str, int] = {}

    def name_degree(name: str) -> int:
        f = ent.fields.get(name)
        if f is None or f.type != "computed" or f.expr is None:
            return 1
        if name not in degrees:
            degrees[name] = 1  # placeholder; circles were refused before
            try:
                degrees[name] = degree(f.expr, name_degree)
            except ExpressionError:
                degrees[name] = MAX_DEGREE + 1
        return degrees[name]

    for f in ent.computed_fields():
        if f.expr is not None and name_degree(f.name) > MAX_DEGREE:
            ctx.error((*path, "fields", f.name, "expr"),
                           f"with the computed fields it uses, this calculation multiplies values more than "
                           f"{MAX_DEGREE} times: its result would not fit in a number (in: {f.expr.source})",
                           "a power of a computed field that is itself a power grows too fast")
            return

def computed_cycles(ent: EntityDef, path: PathKey, ctx: CompileContext) -> bool:
    """Computed fields may use each other, but never in a circle (False when they do)."""
    uses = {f.name: {p[0] for p in f.expr.paths if len(p) == 1} for f in ent.computed_fields() if f.expr}
    circle = False
    for start in uses:
        stack, seen = [(start, [start])], set()
        while stack:
            name, trail = stack.pop()
            for nxt in uses.get(name, ()):
                if nxt == start:
                    ctx.error((*path, "fields", start, "expr"),
                                   f"computed fields refer to each other in a circle: {' -> '.join([*trail, start])}",
                                   "break the circle: compute one of them from stored fields only")
                    circle = True
                    stack = []
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    return not circle
