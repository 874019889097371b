"""User-facing messages in Simplified Chinese (default) and English."""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, dict[str, str]] = {
    "required": {"zh": "必填", "en": "Required"},
    "unknown_field": {"zh": "没有这个字段", "en": "No such field"},
    "readonly": {"zh": "只读字段，不能修改", "en": "Read-only field; it cannot be changed"},
    "computed": {"zh": "计算字段，由系统计算", "en": "Computed field; it is calculated by the system"},
    "system_field": {"zh": "系统字段，不能修改", "en": "System field; it cannot be changed"},
    "state_field": {"zh": "状态只能通过流程操作改变", "en": "The state changes only through workflow transitions"},
    "table_rows": {"zh": "{n} 行", "en": "{n} rows"},
    "not_own_row": {"zh": "不是这条记录的明细行（新行不要带 id）",
                    "en": "Not a row of this record (new rows have no id)"},
    "not_text": {"zh": "应为文本", "en": "Must be text"},
    "too_long": {"zh": "最多 {max} 个字符", "en": "At most {max} characters"},
    "too_short": {"zh": "至少 {min} 个字符", "en": "At least {min} characters"},
    "pattern": {"zh": "格式不正确", "en": "Wrong format"},
    "phone": {"zh": "电话号码格式不正确", "en": "Not a valid phone number"},
    "email": {"zh": "邮箱格式不正确", "en": "Not a valid e-mail address"},
    "integer": {"zh": "应为整数", "en": "Must be a whole number"},
    "decimal": {"zh": "应为数字", "en": "Must be a number"},
    "scale": {"zh": "最多 {scale} 位小数", "en": "At most {scale} decimal places"},
    "too_big_number": {"zh": "数字过大", "en": "Number too large"},
    "min": {"zh": "不能小于 {min}", "en": "Must be at least {min}"},
    "max": {"zh": "不能大于 {max}", "en": "Must be at most {max}"},
    "boolean": {"zh": "应为是或否", "en": "Must be true or false"},
    "date": {"zh": "日期格式应为 YYYY-MM-DD", "en": "Dates look like YYYY-MM-DD"},
    "datetime": {"zh": "时间格式应为 YYYY-MM-DD HH:MM", "en": "Times look like YYYY-MM-DD HH:MM"},
    "option": {"zh": "不是可选值之一：{options}", "en": "Not one of the choices: {options}"},
    "list": {"zh": "应为列表", "en": "Must be a list"},
    "link": {"zh": "应为记录编号", "en": "Must be a record id"},
    "link_missing": {"zh": "引用的记录不存在", "en": "The linked record does not exist"},
    "user_missing": {"zh": "没有这个用户", "en": "No such user"},
    "file_missing": {"zh": "文件不存在或已过期，请重新上传", "en": "File not found; upload it again"},
    "too_many_files": {"zh": "最多 {max} 个文件", "en": "At most {max} files"},
    "rows": {"zh": "应为行的列表", "en": "Must be a list of rows"},
    "min_rows": {"zh": "至少 {min} 行", "en": "At least {min} rows"},
    "max_rows": {"zh": "最多 {max} 行", "en": "At most {max} rows"},
    "unique": {"zh": "“{value}”已存在", "en": "'{value}' already exists"},
    "check": {"zh": "不满足条件：{expr}", "en": "Condition not met: {expr}"},
    "validation_failed": {"zh": "有 {n} 处需要修改", "en": "{n} field(s) need attention"},
    "not_found": {"zh": "记录不存在或无权查看", "en": "Record not found, or you may not see it"},
    "archived": {"zh": "{entity}已归档：记录只能查看，不能新建或修改（数据保留）",
                 "en": "{entity} is archived: its records can be read but not created or changed (data kept)"},
    "no_create": {"zh": "无权新建{entity}", "en": "You may not create {entity}"},
    "no_update": {"zh": "无权修改这条记录", "en": "You may not change this record"},
    "no_delete": {"zh": "无权删除这条记录", "en": "You may not delete this record"},
    "stale": {"zh": "记录已被他人修改（当前版本 {current}），请刷新后重试",
              "en": "Someone else changed this record (now version {current}); reload and try again"},
    "version_required": {"zh": "修改时必须提供 version", "en": "Updates must carry the record's version"},
    "referenced": {"zh": "不能删除：仍被 {count} 条{entity}引用", "en": "Cannot delete: {count} {entity} record(s) still link to it"},
    "unknown_transition": {"zh": "没有操作“{name}”", "en": "No transition '{name}'"},
    "transition_role": {"zh": "您的角色不能执行“{label}”", "en": "Your role may not take '{label}'"},
    "wrong_state": {"zh": "当前状态“{state}”不能执行“{label}”", "en": "'{label}' is not possible from state '{state}'"},
    "guard": {"zh": "不满足“{label}”的条件：{reason}", "en": "'{label}' is not allowed now: {reason}"},
    "missing_for_transition": {"zh": "执行“{label}”前请填写：{fields}", "en": "Fill in before '{label}': {fields}"},
    "no_workflow": {"zh": "{entity}没有流程", "en": "{entity} has no workflow"},
    "bad_filter": {"zh": "筛选条件不正确", "en": "Bad filter"},
    "bad_cursor": {"zh": "分页游标无效", "en": "Invalid page cursor"},
    "unauthorized": {"zh": "请先登录或提供有效的访问令牌", "en": "Sign in or send a valid API token"},
    "forbidden": {"zh": "无权访问", "en": "Forbidden"},
    "bad_json": {"zh": "请求体应为 JSON 对象", "en": "The request body must be a JSON object"},
    "no_app": {"zh": "没有应用“{name}”", "en": "No app '{name}'"},
    "no_entity": {"zh": "没有表单“{name}”", "en": "No entity '{name}'"},
    # permissions: writes stay inside the writer's scope; a transition is not an update
    "outside_scope": {"zh": "修改后这条记录将超出您的权限范围",
                      "en": "After this change the record would be outside what you may access"},
    "outside_scope_field": {"zh": "不能改为您权限范围以外的值", "en": "You may not set a value outside your scope"},
    "transition_field": {"zh": "“{label}”不能修改此字段", "en": "'{label}' may not change this field"},
    "transition_fields": {"zh": "“{label}”只能填写它需要的字段", "en": "'{label}' may only change the fields it needs"},
    # --- app definitions: versions, drafts and publishing (builder API)
    "builder_only": {"zh": "只有管理员或搭建者可以修改应用", "en": "Only admins and builders may change apps"},
    "app_name": {"zh": "应用标识为小写字母、数字和下划线，以字母开头",
                 "en": "App names are lower-case letters, digits and '_', starting with a letter"},
    "app_exists": {"zh": "应用“{name}”已存在", "en": "App '{name}' already exists"},
    "no_draft": {"zh": "应用“{name}”没有草稿", "en": "App '{name}' has no draft"},
    "no_version": {"zh": "应用“{app}”没有版本 {number}", "en": "App '{app}' has no version {number}"},
    "definition_invalid": {"zh": "定义有 {n} 处错误，未发布", "en": "The definition has {n} error(s); nothing was published"},
    "destructive_unconfirmed": {"zh": "变更会转换已有数据的类型，请确认后再发布",
                                "en": "The change converts stored values to another type; confirm it to publish"},
    # ERP connectors: quarantine (records a sync could not take in)
    "quarantine_title": {"zh": "{name}：隔离的记录", "en": "{name}: records in quarantine"},
    "quarantine_none": {"zh": "没有隔离的记录。", "en": "No records in quarantine."},
    "quarantine_help": {"zh": "这些 ERP 记录未能同步（原因见下）。每次同步都会重试；在 ERP 中修正后即自动解除。",
                        "en": "These ERP records could not be synced (reasons below). Every sync retries them; "
                              "they leave quarantine once fixed in the ERP."},
    "quarantine_key": {"zh": "单号", "en": "Key"},
    "quarantine_reason": {"zh": "原因", "en": "Reason"},
    "quarantine_first": {"zh": "首次", "en": "First seen"},
    "quarantine_last": {"zh": "最近", "en": "Last seen"},
    "quarantine_attempts": {"zh": "次数", "en": "Attempts"},
    # background jobs and retries (issue 19): Idempotency-Key on POST
    "idempotency_key_bad": {"zh": "{header} 应为 1–200 个可见 ASCII 字符（例如 UUID）",
                            "en": "{header} must be 1-200 visible ASCII characters (a UUID, for example)"},
    "idempotency_key_reused": {"zh": "这个 {header} 已用于另一个请求；新请求请用新的键",
                               "en": "This {header} was used for a different request; send a new key for a new request"},
    # expression limits (issue 8: bounded evaluation)
    "expression_limit": {"zh": "表达式“{expr}”超出运行限制：{reason}", "en": "Expression '{expr}' went past a limit: {reason}"},
    "limit_digits": {"zh": "数字超过 {max} 位", "en": "a number has more than {max} digits"},
    "limit_text": {"zh": "文本超过 {max} 个字符", "en": "a text is longer than {max} characters"},
    "limit_steps": {"zh": "计算超过 {max} 步", "en": "evaluation took more than {max} steps"},
    "limit_rows": {"zh": "关联的记录超过 {max} 条", "en": "more than {max} records link here"},
    "limit_places": {"zh": "小数位数应在 -{max} 到 {max} 之间", "en": "decimal places must be from -{max} to {max}"},
    "limit_sql": {"zh": "查询中的计算超出数值范围，请缩小筛选值",
                  "en": "A calculation in the query went out of range; use smaller values"},
    # bad input: bounds on list queries (docs/security.md, "Bad input")
    "too_many_filters": {"zh": "筛选条件过多（最多 {max} 个）", "en": "Too many filters (at most {max})"},
    "filter_op": {"zh": "这个字段不能用“{op}”筛选", "en": "This field cannot be filtered with '{op}'"},
    "too_many_sort": {"zh": "排序字段过多（最多 {max} 个）", "en": "Too many sort fields (at most {max})"},
    "too_many_values": {"zh": "取值过多（最多 {max} 个）", "en": "Too many values (at most {max})"},
    "json_too_deep": {"zh": "JSON 嵌套过深（最多 {max} 层）", "en": "JSON nested too deep (at most {max} levels)"},
    "bad_text": {"zh": "含有空字符（NUL）或无效的 Unicode 字符", "en": "Contains a NUL character or invalid Unicode"},
    # the designer: a save based on a draft someone else changed since
    "draft_stale": {"zh": "草稿已被 {who} 于 {when} 修改（{what}）。"
                          "您的这次修改没有保存，也没有丢失：请载入最新草稿，再应用您的修改。",
                    "en": "The draft was changed by {who} at {when} ({what}). Your change was not saved and is not "
                          "lost: load the latest draft, then apply your change again."},
    "draft_no_message": {"zh": "未写说明", "en": "no message"},
    "sheet_too_big": {"zh": "文件不能超过 10 MB", "en": "The file may be at most 10 MB"},
    "sheet_unreadable": {"zh": "无法读取文件，请上传 .xlsx 或 CSV（UTF-8 / GBK）文件",
                         "en": "Cannot read the file; upload an .xlsx or a CSV (UTF-8 / GBK) file"},
    "sheet_message": {"zh": "从表格创建", "en": "Created from a spreadsheet"},
    # filters across child rows and links (runtime/reach.py), expand= and fields= (runtime/sparse.py)
    "path_too_long": {"zh": "最多跨 {max} 层关联或明细", "en": "At most {max} links or child tables in one path"},
    "path_step": {"zh": "“{name}”不是{entity}的关联或明细字段；可以接着写：{names}",
                  "en": "'{name}' is not a link or child table of {entity}; one of these can follow: {names}"},
    "path_leaf": {"zh": "{entity}没有可筛选的字段“{name}”；可用：{names}",
                  "en": "{entity} has no filterable field '{name}'; use one of: {names}"},
    "path_unreadable": {"zh": "您无权查看{entity}", "en": "You may not read {entity}"},
    "expand_unknown": {"zh": "不是关联字段：{name}；可展开：{names}",
                       "en": "Not a link: {name}; these can be expanded: {names}"},
    "fields_unknown": {"zh": "没有这个字段：{name}", "en": "No such field: {name}"},
}


def t(key: str, lang: str = "zh", **params: Any) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry["zh"]
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text
