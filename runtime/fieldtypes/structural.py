"""The built-in field types that are more than one value: files and images, child tables, computed fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..bounds import MAX_LIST_ITEMS
from ..messages import t
from ..sqltypes import JSONList
from .base import MAX_KEY, OPS, ORDER_OPS, FieldType
from .builtin import fmt_datetime
from .parsing import FILE_KEY, FieldValueError, typed_literal

if TYPE_CHECKING:
    from sqlalchemy.types import TypeEngine

    from ..model import FieldDef

MAX_SIZE_KEY = {"type": "number", "exclusiveMinimum": 0, "maximum": 50}


class FileType(FieldType):
    """One uploaded file, kept as the list of its key (the form the file store generates)."""

    name = "file"
    label = ("附件", "File")
    is_file = True
    indexable = False
    may_be_unique = False
    sortable = False
    importable = False
    in_list = False
    widget = "files"
    default_max_files: ClassVar[int] = 1

    def keys(self) -> dict[str, dict[str, Any]]:
        return {"max_size_mb": MAX_SIZE_KEY}

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        return JSONList()

    def type_signature(self, f: FieldDef) -> str:
        return "json"

    def prepare(self, f: FieldDef) -> None:
        f.max_files = 1

    def parse(self, f: FieldDef, value: Any, lang: str) -> Any:
        items = value if isinstance(value, list) else [value]
        limit = f.max_files if f.max_files is not None else MAX_LIST_ITEMS
        if len(items) > limit:
            raise FieldValueError(t("too_many_files", lang, max=limit))
        keys: list[str] = []
        for item in items:
            key = item.get("key") if isinstance(item, dict) else item
            if not isinstance(key, str) or not FILE_KEY.fullmatch(key):  # the form FileStore generates
                raise FieldValueError(t("file_missing", lang))
            keys.append(key)
        if f.max_files is not None and len(keys) > f.max_files:
            raise FieldValueError(t("too_many_files", lang, max=f.max_files))
        return keys

    def openapi(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string"}, "maxItems": f.max_files or 1,
                "description": "keys of uploaded files"}

    def filter_ops(self, f: FieldDef | None) -> tuple[str, ...]:
        return ("isnull",)

    def cell(self, f: FieldDef | None, value: Any, lang: str) -> dict[str, Any]:
        if self.multi:
            return {"text": f"× {len(value)}", "badge": None}
        return {"text": value.get("filename", "1") if isinstance(value, dict) else "1", "badge": None}


class FilesType(FileType):
    name = "files"
    label = ("多个附件", "Files")
    is_list = True
    expr_type = "list"
    multi = True

    def keys(self) -> dict[str, dict[str, Any]]:
        return {"max_size_mb": MAX_SIZE_KEY, "max": MAX_KEY}

    def prepare(self, f: FieldDef) -> None:
        f.max_files = int(f.max) if f.max is not None else 9
        f.max = None


class ImageType(FileType):
    name = "image"
    label = ("图片", "Image")
    image = True


class ImagesType(FilesType):
    name = "images"
    label = ("多张图片", "Images")
    image = True


class TableType(FieldType):
    """Child rows (an order's lines): their own table, edited with the parent record."""

    name = "table"
    label = ("子表", "Child table")
    required_keys = ("fields",)
    stored = False
    expr_type = "list"
    indexable = False
    sortable = False
    importable = False
    in_list = False
    widget = "table"

    def keys(self) -> dict[str, dict[str, Any]]:
        return {"fields": {"$ref": "#/$defs/fields", "description": "Columns of a child table."},
                "min_rows": {"type": "integer", "minimum": 0}, "max_rows": {"type": "integer", "minimum": 1}}

    def start(self) -> dict[str, Any]:
        return {"fields": {"item": {"type": "text", "label": {"zh": "项目", "en": "Item"}}}}

    def openapi(self, f: FieldDef) -> dict[str, Any]:
        from ..openapi import object_schema
        assert f.child is not None
        return {"type": "array", "items": object_schema(f.child, with_system=False)}

    def filter_ops(self, f: FieldDef | None) -> tuple[str, ...]:
        return ()  # child rows live in their own table: filter the child entity instead

    def cell(self, f: FieldDef | None, value: Any, lang: str) -> dict[str, Any]:
        """Rows (in a history, a board): how many, not their Python form."""
        from ..messages import t
        return {"text": t("table_rows", lang, n=len(value)) if isinstance(value, list) else str(value),
                "badge": None}


RETURNS = ["text", "integer", "decimal", "boolean", "date", "datetime"]


class ComputedType(FieldType):
    """A value computed from an expression (in SQL when it can be, else in Python)."""

    name = "computed"
    label = ("计算字段", "Computed")
    required_keys = ("expr",)
    stored = False
    indexable = False
    sortable = False
    importable = False
    cached_filter = False
    widget = "computed"

    def keys(self) -> dict[str, dict[str, Any]]:
        return {"expr": {"type": "string", "minLength": 1, "maxLength": 2000,
                         "description": "Expression computing this field's value."},
                "returns": {"enum": RETURNS}}

    def start(self) -> dict[str, Any]:
        return {"returns": "integer", "expr": "0"}

    @staticmethod
    def _returns(f: FieldDef | None) -> str:
        if f is None:
            return "text"
        return f.returns or (f.expr.type if f.expr else "text")

    def filter_ops(self, f: FieldDef | None) -> tuple[str, ...]:
        return OPS if self._returns(f) in ("text", "select") else ORDER_OPS

    def filter_value(self, f: FieldDef, raw: str, lang: str) -> Any:
        return typed_literal(self._returns(f), raw, lang)

    def openapi(self, f: FieldDef) -> dict[str, Any]:
        return {"description": "computed"}

    def cell(self, f: FieldDef | None, value: Any, lang: str) -> dict[str, Any]:
        if f is not None and f.returns == "datetime":
            return {"text": fmt_datetime(value), "badge": None}
        if isinstance(value, bool):  # a yes/no formula reads as the boolean field does
            return {"text": ("是" if value else "否") if lang == "zh" else ("Yes" if value else "No"), "badge": None}
        return {"text": "" if value is None else str(value), "badge": None}

    def value_label(self, f: FieldDef | None, value: Any, lang: str) -> str:
        return self.cell(f, value, lang)["text"]
