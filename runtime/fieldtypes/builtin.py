"""The built-in scalar field types: texts, numbers, yes/no, dates and times."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import BigInteger, Boolean, String, Text

from ..bounds import bad_text
from ..messages import t
from ..sqltypes import ExactDecimal, LocalDate, LocalDateTime
from .base import MAX_KEY, MIN_KEY, TEXT_KEYS, FieldType
from .parsing import (
    EMAIL,
    PHONE,
    FieldValueError,
    date_json,
    decimal,
    decimal_json,
    excel_serial,
    in_range,
    integer,
    parse_date,
    parse_datetime,
)

if TYPE_CHECKING:
    from sqlalchemy.types import TypeEngine

    from ..model import FieldDef


class TextType(FieldType):
    name = "text"
    pure_coerce = True
    label = ("单行文本", "Text")
    filter_control = "text"
    expr_type = "text"
    text_like = True
    plain_json = True
    searchable = True
    default_search = True
    groupable = True
    whole_cells = True
    strip: ClassVar[bool] = True

    def keys(self) -> dict[str, dict[str, Any]]:
        return dict(TEXT_KEYS)

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        return String(f.max_text)

    def type_signature(self, f: FieldDef) -> str:
        return f"varchar({f.max_text})"

    def parse(self, f: FieldDef, value: Any, lang: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal, float)):
            raise FieldValueError(t("not_text", lang))
        text = str(value).strip() if self.strip else str(value)
        if bad_text(text):
            raise FieldValueError(t("bad_text", lang))
        if len(text) > f.max_text:
            raise FieldValueError(t("too_long", lang, max=f.max_text))
        if f.min_length and len(text) < f.min_length:
            raise FieldValueError(t("too_short", lang, min=f.min_length))
        self.check_format(text, lang)
        if f.pattern is not None and not f.pattern.fullmatch(text):
            raise FieldValueError(t("pattern", lang))
        return text

    def check_format(self, text: str, lang: str) -> None:
        """Refuse a text that is not of this type's form (phone numbers, e-mail addresses)."""

    def openapi(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "string", "maxLength": f.max_text}


class LongTextType(TextType):
    name = "longtext"
    label = ("多行文本", "Long text")
    max_text = 20000
    strip = False
    default_search = False
    groupable = False
    indexable = False
    may_be_unique = False
    in_list = False
    whole_cells = False
    widget = "longtext"

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        return Text()

    def type_signature(self, f: FieldDef) -> str:
        return "longtext"


class PhoneType(TextType):
    name = "phone"
    label = ("电话", "Phone")
    max_text = 32
    input_type = "tel"

    def check_format(self, text: str, lang: str) -> None:
        if not PHONE.match(text):
            raise FieldValueError(t("phone", lang))


class EmailType(TextType):
    name = "email"
    label = ("邮箱", "E-mail")
    max_text = 254
    input_type = "email"
    default_search = False
    whole_cells = False

    def check_format(self, text: str, lang: str) -> None:
        if not EMAIL.match(text):
            raise FieldValueError(t("email", lang))

    def openapi(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "string", "maxLength": f.max_text, "format": "email"}


class IntegerType(FieldType):
    name = "integer"
    pure_coerce = True
    label = ("整数", "Integer")
    filter_control = "number"
    groupable = True
    expr_type = "int"
    json_type = int
    plain_json = True
    whole_cells = True
    number_cells = True
    widget = "number"
    input_type = "number"
    step = "1"

    def keys(self) -> dict[str, dict[str, Any]]:
        return {"min": MIN_KEY, "max": MAX_KEY}

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        return BigInteger()

    def parse(self, f: FieldDef, value: Any, lang: str) -> Any:
        n = integer(value, lang)
        in_range(f, Decimal(n), lang)
        return n

    def openapi(self, f: FieldDef) -> dict[str, Any]:
        s: dict[str, Any] = {"type": "integer"}
        if f.min is not None:
            s["minimum"] = int(f.min)
        if f.max is not None:
            s["maximum"] = int(f.max)
        return s

    def to_cell(self, f: FieldDef, value: Any, text: str) -> Any:
        return value


class DecimalType(FieldType):
    name = "decimal"
    pure_coerce = True
    label = ("小数", "Decimal")
    filter_control = "number"
    expr_type = "dec"
    number_cells = True
    widget = "number"
    input_type = "number"

    def keys(self) -> dict[str, dict[str, Any]]:
        return {"min": MIN_KEY, "max": MAX_KEY,
                "scale": {"type": "integer", "minimum": 0, "maximum": 8, "description": "Digits after the decimal point."}}

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        return ExactDecimal(scale=f.scale)

    def type_signature(self, f: FieldDef) -> str:
        return f"decimal({f.scale})"

    def parse(self, f: FieldDef, value: Any, lang: str) -> Any:
        d = decimal(value, f.scale, lang)
        in_range(f, d, lang)
        return d

    def json_converter(self, f: FieldDef) -> Callable[[Any], Any] | None:
        return decimal_json

    def openapi(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": f"exact decimal, {f.scale} places"}

    def to_cell(self, f: FieldDef, value: Any, text: str) -> Any:
        return float(value) if abs(float(value)) < 1e15 else value

    def cell(self, f: FieldDef | None, value: Any, lang: str) -> dict[str, Any]:
        """A whole number shows without decimals (100 pieces, not 100.00); a fraction keeps its places."""
        text = str(value)
        whole, dot, frac = text.partition(".")
        return {"text": whole if dot and frac.strip("0") == "" else text, "badge": None}


TRUE_WORDS = ("1", "true", "yes", "on", "是")
BOOLEAN_WORDS = (*TRUE_WORDS, "0", "false", "no", "off", "否")
CELL_TRUE = ("是", "yes", "true", "1", "y", "√")
CELL_FALSE = ("否", "no", "false", "0", "n")


class BooleanType(FieldType):
    name = "boolean"
    pure_coerce = True
    label = ("是/否", "Yes/No")
    may_be_unique = False
    filter_control = "yesno"
    groupable = True
    expr_type = "bool"
    json_type = bool
    plain_json = True
    widget = "boolean"

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        return Boolean()

    def parse(self, f: FieldDef, value: Any, lang: str) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, str)) and str(value).strip().lower() in BOOLEAN_WORDS:
            return str(value).strip().lower() in TRUE_WORDS
        raise FieldValueError(t("boolean", lang))

    def openapi(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "boolean"}

    def cell(self, f: FieldDef | None, value: Any, lang: str) -> dict[str, Any]:
        return {"text": ("是" if value else "否") if lang == "zh" else ("Yes" if value else "No"), "badge": None}

    def value_label(self, f: FieldDef | None, value: Any, lang: str) -> str:
        return self.cell(f, value, lang)["text"]

    def from_text(self, f: FieldDef, text: str, lookup: Any) -> Any:
        low = text.lower()
        return True if low in CELL_TRUE else False if low in CELL_FALSE else text


class DateType(FieldType):
    name = "date"
    pure_coerce = True
    label = ("日期", "Date")
    filter_control = "date"
    groupable = True
    expr_type = "date"
    widget = "date"

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        return LocalDate()

    def parse(self, f: FieldDef, value: Any, lang: str) -> Any:
        return parse_date(value, lang)

    def json_converter(self, f: FieldDef) -> Callable[[Any], Any] | None:
        return date_json

    def openapi(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "string", "format": "date"}

    def from_cell(self, f: FieldDef, raw: Any, lookup: Any = None) -> Any:
        """Date cells, Excel serial numbers (46357), and text: 2026-12-01, 2026/12/1, 2026年12月1日 (``parse``)."""
        import datetime as dt
        if isinstance(raw, dt.datetime):
            return raw.date().isoformat()
        serial = excel_serial(raw)
        if serial is not None:
            return serial.date().isoformat()
        return super().from_cell(f, raw, lookup)

    def to_cell(self, f: FieldDef, value: Any, text: str) -> Any:
        try:  # a real date cell (the value may come as its JSON text)
            return parse_date(value)
        except FieldValueError:
            return text


def fmt_datetime(v: Any) -> str:
    """A time as a list shows it: minutes, a space instead of the T."""
    if not v:
        return ""
    s = str(v)
    return s[:16].replace("T", " ") if "T" in s else s


class DateTimeType(FieldType):
    name = "datetime"
    label = ("日期时间", "Date & time")
    filter_control = "date"
    expr_type = "datetime"
    widget = "datetime"

    def sql_type(self, f: FieldDef) -> TypeEngine[Any]:
        return LocalDateTime()

    def parse(self, f: FieldDef, value: Any, lang: str) -> Any:
        return parse_datetime(value, lang)

    def openapi(self, f: FieldDef) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}

    def value_label(self, f: FieldDef | None, value: Any, lang: str) -> str:  # boards and dashboard tables
        return self.cell(f, value, lang)["text"]

    def cell(self, f: FieldDef | None, value: Any, lang: str) -> dict[str, Any]:
        return {"text": fmt_datetime(value), "badge": None}

    def input_value(self, f: FieldDef, value: Any) -> Any:
        return str(value)[:16]

    def from_cell(self, f: FieldDef, raw: Any, lookup: Any = None) -> Any:
        serial = excel_serial(raw)
        if serial is not None:
            return serial.replace(microsecond=0).isoformat(sep="T", timespec="minutes")
        return super().from_cell(f, raw, lookup)

    def to_cell(self, f: FieldDef, value: Any, text: str) -> Any:
        try:  # a real date-time cell, local time (the value may come as its JSON text with an offset)
            return parse_datetime(value).replace(tzinfo=None, microsecond=0)
        except FieldValueError:
            return text
