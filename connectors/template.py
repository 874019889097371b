"""Templates in connector definitions: ``{{ expression }}`` and ``${ENV_VAR}``.

Every ``{{ ... }}`` is an expression of Jig's one expression language, parsed
and checked at load against the names available where the template is used
(``since``/``after``/``vars.x`` in a pull request; the record's fields in a push
body). A string that is exactly one ``{{ ... }}`` renders to the raw value (a
number stays a number); otherwise the parts are joined as text. ``${NAME}``
reads an environment variable when the request is made, so secrets never live
in definitions or the database; every value read that way is registered with
the connector's masker and never appears in a log.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from runtime.evaluate import EvaluationError, evaluate
from runtime.expressions import NameInfo, Scope

EXPR = re.compile(r"\{\{\s*(.+?)\s*\}\}")
ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SECRET = re.compile(r"\$\{secret:([a-z][a-z0-9_]{0,47})\}")  # a secret stored encrypted (connectors/secrets.py)
WHOLE = re.compile(r"^\s*\{\{\s*(.+?)\s*\}\}\s*$")

Renderer = Callable[["Context"], Any]


class MissingEnv(Exception):
    def __init__(self, name: str, message: str | None = None):
        super().__init__(message or f"environment variable {name} is not set")
        self.name = name


def missing_secret(name: str, problem: str | None) -> MissingEnv:
    return MissingEnv(name, f"stored secret '{name}' is not set" + (f" ({problem})" if problem else
                                                                   " (set it on the connector's setup page)"))


class Context(dict[str, Any]):
    """Values for templates and mapping expressions; dotted paths walk nested mappings or flat keys."""

    def __init__(self, values: Mapping[str, Any], secrets: set[str] | None = None,
                 stored: Stored | None = None):
        super().__init__(values)
        self.secrets = secrets if secrets is not None else set()
        self.stored = stored

    def __missing__(self, key: str) -> Any:
        return None

    def resolve(self, path: tuple[str, ...]) -> Any:
        flat = ".".join(path)
        if flat in self:
            return dict.__getitem__(self, flat)
        value: Any = self
        for part in path:
            if isinstance(value, Mapping):
                value = value.get(part)
            else:
                return None
        return value


def env(name: str, secrets: set[str] | None = None) -> str:
    value = os.environ.get(name)
    if value is None:
        raise MissingEnv(name)
    if secrets is not None and value:
        secrets.add(value)
    return value


class Stored(dict[str, str]):
    """The stored secrets (``${secret:name}``) a client may use, decrypted; ``problem`` says why any are not."""

    def __init__(self, values: Mapping[str, str] | None = None, problem: str | None = None):
        super().__init__(values or {})
        self.problem = problem


def stored_secret(name: str, stored: Stored | None, secrets: set[str] | None) -> str:
    value = stored.get(name) if stored is not None else None
    if value is None:
        raise missing_secret(name, stored.problem if stored is not None else None)
    if secrets is not None:
        secrets.add(value)
    return value


def sub_env(text: str, secrets: set[str] | None = None, stored: Stored | None = None) -> str:
    if "${" not in text:
        return text
    if "${secret:" in text:
        text = SECRET.sub(lambda m: stored_secret(m.group(1), stored, secrets), text)
    return ENV.sub(lambda m: env(m.group(1), secrets), text)


def scope_of(names: list[str] | dict[str, str], label: str) -> Scope:
    """A scope from names; dotted names (FCustId.FNumber) become paths; values may give types."""
    root = Scope(label, {})
    items = names.items() if isinstance(names, dict) else ((n, "any") for n in names)
    for name, typ in items:
        parts = str(name).split(".")
        scope = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            info = scope.names.get(part)
            if info is None:
                info = scope.names[part] = NameInfo(typ if last else "any",
                                                    None if last else Scope(f"{label}: {part}", {}))
            elif not last and info.target is None:
                info.target = Scope(f"{label}: {part}", {})
            if not last:
                assert info.target is not None
                scope = info.target
    return root


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    return str(value)


def compile_template(raw: Any, ctx: Any, scope: Scope, path: tuple[Any, ...]) -> Renderer:
    """Compile a JSON-like value with templates into a renderer; errors go to ``ctx`` (a CompileContext)."""
    if isinstance(raw, dict):
        items = [(k, compile_template(v, ctx, scope, (*path, k))) for k, v in raw.items()]
        return lambda c: {k: r(c) for k, r in items}
    if isinstance(raw, list):
        parts = [compile_template(v, ctx, scope, (*path, i)) for i, v in enumerate(raw)]
        return lambda c: [r(c) for r in parts]
    if not isinstance(raw, str):
        return lambda c: raw
    whole = WHOLE.match(raw)
    if whole and "{{" not in whole.group(1):
        expr = ctx.expr(whole.group(1), scope, path)
        if expr is None:
            return lambda c: None
        return lambda c: _eval(expr, c)
    if "{{" not in raw:
        if "${" in raw:
            return lambda c: sub_env(raw, c.secrets, getattr(c, "stored", None))
        return lambda c: raw
    pieces: list[Any] = []
    pos = 0
    for m in EXPR.finditer(raw):
        pieces.append(raw[pos:m.start()])
        pieces.append(ctx.expr(m.group(1), scope, path))
        pos = m.end()
    pieces.append(raw[pos:])

    def render(c: Context) -> str:
        out = []
        for p in pieces:
            if isinstance(p, str):
                out.append(sub_env(p, c.secrets, getattr(c, "stored", None)))
            elif p is not None:
                out.append(text_of(_eval(p, c)))
        return "".join(out)
    return render


def _eval(expr: Any, c: Context) -> Any:
    try:
        return json_safe(evaluate(expr, c))
    except EvaluationError:
        return None


def json_safe(value: Any) -> Any:
    """Values as an ERP's JSON expects them: numbers as numbers, dates as ISO text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def env_names(raw: Any) -> set[str]:
    """Every ${NAME} used anywhere in ``raw``."""
    if isinstance(raw, dict):
        return set().union(*(env_names(v) for v in raw.values())) if raw else set()
    if isinstance(raw, list):
        return set().union(*(env_names(v) for v in raw)) if raw else set()
    return set(ENV.findall(raw)) if isinstance(raw, str) else set()
