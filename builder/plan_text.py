"""A migration plan in plain words for business staff: "新增列 电镀厚度", "字段改名 数量 → 发货数量（数据保留）".

The runtime's plan speaks of tables and columns; the people publishing from
the designer think in entities and field labels. Each step is worded with
the labels of the new definition (and, for a rename, the old label from the
published one), in Simplified Chinese or English.
"""

from __future__ import annotations

from typing import Any

from runtime import migrations
from runtime.compact import long_field
from runtime.compiler import label
from runtime.fieldtypes import BUILTIN

WORDS: dict[str, tuple[str, str]] = {
    "create_table": ("新增表 {entity}", "New table {entity}"),
    "create_system_table": ("新增系统表 {table}", "New system table {table}"),
    "rename_table": ("表改名 {old} → {new}（数据和变更记录保留）", "Table renamed {old} → {new} (data and history kept)"),
    "add_column": ("新增列 {field}（{entity}）", "New column {field} ({entity})"),
    "add_state": ("新增列 状态（{entity}），已有记录从“{initial}”开始",
                  "New column state ({entity}); existing records start in '{initial}'"),
    "rename_column": ("字段改名 {old} → {new}（数据保留）", "Field renamed {old} → {new} (data kept)"),
    "change_type": ("字段类型改变 {field}（{entity}）：{old_type} → {new_type}，旧值保留在 {kept}",
                    "Field type changed {field} ({entity}): {old_type} → {new_type}; old values kept in {kept}"),
    "keep_column": ("字段 {field} 已从定义中移除（{entity}）：列和数据保留",
                    "Field {field} removed from the definition ({entity}): column and data kept"),
    "create_index": ("新增索引 {fields}（{entity}）", "New index on {fields} ({entity})"),
    "create_unique": ("新增唯一约束 {fields}（{entity}）", "New uniqueness rule on {fields} ({entity})"),
    "drop_index": ("删除不再需要的索引（{entity}），数据不受影响", "Index no longer needed dropped ({entity}); data unaffected"),
    "archive_entity": ("归档实体 {entity}（数据保留）：不再出现在导航和新建中，已有记录仍可查看",
                       "Entity {entity} archived (data kept): gone from navigation and new records, existing ones "
                       "stay readable"),
    "unarchive_entity": ("恢复实体 {entity}：重新出现在导航中，可以新建和修改",
                         "Entity {entity} restored: back in navigation, records can be created and changed again"),
    "other": ("{kind} {table}：{detail}", "{kind} {table}: {detail}"),
    "refused_type": ("已有数据可能无法全部转换为新类型；确认后发布，旧值会保留在 {kept}",
                     "Stored values may not all convert to the new type; confirm to publish, old values are kept "
                     "in {kept}"),
    "refused_unique": ("已有记录的 {fields} 有重复值，请先处理重复值", "Existing records share values of {fields}; "
                       "make them unique first"),
}


def _w(key: str, lang: str, **params: Any) -> str:
    zh, en = WORDS[key]
    return (en if lang == "en" else zh).format(**params)


def _label(value: Any, lang: str, default: str) -> str:
    if isinstance(value, dict):
        got = value.get(lang) or value.get("zh") or value.get("en")
        return str(got) if got else default
    return label(value, default)[lang if lang in ("zh", "en") else "zh"] if isinstance(value, str) and value else default


class _Names:
    """Entity titles and field labels of one definition's data, by table name."""

    def __init__(self, app: str, data: Any, lang: str):
        self.app, self.lang = app, lang
        self.entities: dict[str, dict[str, Any]] = {}
        ents = data.get("entities") if isinstance(data, dict) else None
        if isinstance(ents, dict):
            self._collect(ents, f"{app}__")

    def _collect(self, ents: dict[str, Any], prefix: str) -> None:
        for name, ent in ents.items():
            if not isinstance(ent, dict):
                continue
            self.entities[f"{prefix}{name}"] = ent
            fields = ent.get("fields")
            if isinstance(fields, dict):  # child tables are fields of type table with their own fields
                children = {k: v for k, v in fields.items() if isinstance(v, dict) and isinstance(v.get("fields"), dict)}
                self._collect(children, f"{prefix}{name}__")

    def entity(self, table: str) -> str:
        ent = self.entities.get(table)
        short = table.split("__")[-1]
        return _label(ent.get("title"), self.lang, short) if ent else short

    def field(self, table: str, name: str) -> str:
        ent = self.entities.get(table) or {}
        fields = ent.get("fields") if isinstance(ent.get("fields"), dict) else {}
        f = long_field(fields.get(name), BUILTIN)  # text: 厂名 | Name reads as type: and label:
        return _label(f.get("label"), self.lang, name) if isinstance(f, dict) else name


def plan_lines(steps: list[migrations.Step], app: str, *, new: Any, old: Any, lang: str = "zh") -> list[dict[str, Any]]:
    """One line per step: ``{"text", "safe", "warning", "kind"}``; ``warning`` says why an unsafe step is held."""
    now, before = _Names(app, new, lang), _Names(app, old, lang)
    out = []
    for s in steps:
        text, warning = _word(s, now, before, lang)
        out.append({"kind": s.kind, "text": text, "safe": s.safe, "warning": "" if s.safe else warning})
    return out


def archive_lines(app: str, *, new: Any, old: Any, lang: str = "zh") -> list[dict[str, Any]]:
    """Entities archived or restored by the new definition (no table changes: the data stays where it is)."""
    now, before = _Names(app, new, lang), _Names(app, old, lang)
    out = []
    for table, ent in now.entities.items():
        was = before.entities.get(table)
        if was is None or table.count("__") != 1:
            continue
        if (ent.get("archived") is True) != (was.get("archived") is True):
            key = "archive_entity" if ent.get("archived") is True else "unarchive_entity"
            out.append({"kind": key, "text": _w(key, lang, entity=now.entity(table)), "safe": True, "warning": ""})
    return out


def _word(s: migrations.Step, now: _Names, before: _Names, lang: str) -> tuple[str, str]:
    d = s.data
    ent = now.entity(s.table)
    if s.kind == "create_table":
        if "entity" not in d:
            return _w("create_system_table", lang, table=s.table), ""
        return _w("create_table", lang, entity=ent), ""
    if s.kind == "rename_table":
        return _w("rename_table", lang, old=before.entity(s.table), new=now.entity(str(d.get("to", "")))), ""
    if s.kind == "add_column":
        if "fill" in d:
            return _w("add_state", lang, entity=ent, initial=d["fill"]), ""
        return _w("add_column", lang, field=now.field(s.table, d.get("column", "")), entity=ent), ""
    if s.kind == "rename_column":
        old_table = _old_table(s.table, now)
        return _w("rename_column", lang, old=before.field(old_table, d.get("old", "")),
                  new=now.field(s.table, d.get("new", ""))), ""
    if s.kind == "change_type":
        name = d.get("field", "")
        kept = f"{name}__was_{d.get('old_type', '')}"
        new_type = s.detail.split("->")[-1].split("(")[0].strip()
        text = _w("change_type", lang, field=now.field(s.table, name), entity=ent, old_type=d.get("old_type", ""),
                  new_type=new_type, kept=kept)
        return text, _w("refused_type", lang, kept=kept)
    if s.kind == "keep_column":
        col = d.get("column", "")
        return _w("keep_column", lang, field=before.field(s.table, col), entity=ent), ""
    if s.kind == "create_index":
        cols = s.detail.split(" on ", 1)[-1].replace(" (unique)", "")
        names = "、".join(now.field(s.table, c.strip()) for c in cols.split(","))
        key = "create_unique" if s.detail.endswith("(unique)") else "create_index"
        return _w(key, lang, fields=names, entity=ent), _w("refused_unique", lang, fields=names)
    if s.kind == "drop_index":
        return _w("drop_index", lang, entity=ent), ""
    return _w("other", lang, kind=s.kind, table=s.table, detail=s.detail), s.explanation


def _old_table(table: str, now: _Names) -> str:
    """The table name a renamed entity had (labels of the old definition are found under it)."""
    ent = now.entities.get(table) or {}
    old = ent.get("renamed_from")
    if isinstance(old, str):
        return f"{table.rsplit('__', 1)[0]}__{old}"
    return table
