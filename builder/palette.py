"""The designer's palette: every field type with its label and the starting properties of a new field.

:func:`field_palette` is the one place the designer learns which field types
exist. Today it reads the definition schema's list of types; when field
types become a registry (one class per type with its palette label), only
this function changes.
"""

from __future__ import annotations

from typing import Any

from runtime.schema import FIELD_TYPES

LABELS: dict[str, tuple[str, str]] = {
    "text": ("单行文本", "Text"), "longtext": ("多行文本", "Long text"), "integer": ("整数", "Integer"),
    "decimal": ("小数", "Decimal"), "boolean": ("是/否", "Yes/No"), "date": ("日期", "Date"),
    "datetime": ("日期时间", "Date & time"), "select": ("单选", "Select"), "multiselect": ("多选", "Multi-select"),
    "link": ("关联", "Link"), "table": ("子表", "Child table"), "phone": ("电话", "Phone"), "email": ("邮箱", "E-mail"),
    "image": ("图片", "Image"), "images": ("多张图片", "Images"), "file": ("附件", "File"), "files": ("多个附件", "Files"),
    "computed": ("计算字段", "Computed"), "user": ("用户", "User"),
}

# what a new field of the type starts with, so it is valid the moment it is dropped
STARTS: dict[str, dict[str, Any]] = {
    "select": {"options": [{"value": "a", "label": {"zh": "选项一", "en": "Option 1"}, "color": "blue"}]},
    "multiselect": {"options": [{"value": "a", "label": {"zh": "选项一", "en": "Option 1"}}]},
    "table": {"fields": {"item": {"type": "text", "label": {"zh": "项目", "en": "Item"}}}},
    "computed": {"returns": "integer", "expr": "0"},
}


def field_palette(lang: str = "zh") -> list[dict[str, Any]]:
    """``[{"type", "label", "start"}]`` for every field type, in the schema's order."""
    out = []
    for kind in FIELD_TYPES:
        zh, en = LABELS.get(kind, (kind, kind))
        out.append({"type": kind, "label": en if lang == "en" else zh, "start": STARTS.get(kind, {})})
    return out
