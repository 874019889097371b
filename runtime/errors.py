"""Errors the runtime reports: definition errors (at load) and record errors (at use)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DefinitionError:
    """One problem in a definition file, pointing at the exact place."""

    file: str
    line: int
    col: int
    path: str
    message: str
    hint: str = ""

    def format(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.path or '(top)'}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "line": self.line, "col": self.col,
            "path": self.path, "message": self.message, "hint": self.hint,
        }


class DefinitionErrors(Exception):
    """Raised with every error found, so users fix them all in one go."""

    def __init__(self, errors: list[DefinitionError]):
        self.errors = sorted(errors, key=lambda e: (e.file, e.line, e.col, e.path, e.message))
        super().__init__(self.format())

    def format(self) -> str:
        count = len(self.errors)
        head = f"{count} error{'s' if count != 1 else ''} in definitions:"
        return "\n".join([head, *(e.format() for e in self.errors)])


class RecordError(Exception):
    """Base for errors answered to API and UI callers; carries an HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "fields": self.fields}
        body.update(self.extra)
        return {"error": body}


class ValidationFailed(RecordError):
    status = 422
    code = "validation_failed"


class NotFound(RecordError):
    status = 404
    code = "not_found"


class Forbidden(RecordError):
    status = 403
    code = "forbidden"


class Unauthorized(RecordError):
    status = 401
    code = "unauthorized"


class Conflict(RecordError):
    status = 409
    code = "conflict"


class StaleVersion(Conflict):
    code = "stale_version"


class WrongState(Conflict):
    code = "wrong_state"


class GuardFailed(Conflict):
    code = "guard_failed"


class TooLarge(RecordError):
    status = 413
    code = "too_large"


class BadRequest(RecordError):
    status = 400
    code = "bad_request"


@dataclass
class FieldErrors:
    """Collects per-field messages while validating one record."""

    errors: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def __bool__(self) -> bool:
        return bool(self.errors)
