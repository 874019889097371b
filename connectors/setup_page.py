"""The connector setup page (``/connectors/<app>``): a shell whose script works through two APIs.

Definitions are edited only through the builder API (draft edits of the app's YAML, validation,
publishing, versions, diff, rollback); trying a connector out, stored secrets, sync now, the run
log, runs, quarantine and reconciliation reports through the connectors' admin API. Admins only.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, current_app, redirect, request, url_for

bp = Blueprint("jig_connector_pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/connectors/static")
APP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")

TEXTS: dict[str, dict[str, str]] = {
    "title": {"zh": "连接器设置", "en": "Connector setup"},
    "admins_only": {"zh": "只有管理员可以设置连接器", "en": "Only admins may set up connectors"},
    "connector": {"zh": "连接器", "en": "Connector"},
    "new": {"zh": "新建连接器", "en": "New connector"},
    "name": {"zh": "标识", "en": "Name"},
    "preset": {"zh": "预设", "en": "Preset"},
    "generic": {"zh": "通用 REST", "en": "Generic REST"},
    "entity": {"zh": "写入实体", "en": "Entity"},
    "create": {"zh": "创建", "en": "Create"},
    "settings": {"zh": "连接", "en": "Connection"},
    "base_url": {"zh": "服务地址", "en": "Base URL"},
    "credentials": {"zh": "凭据", "en": "Credentials"},
    "use_env": {"zh": "环境变量", "en": "Environment variable"},
    "use_stored": {"zh": "在此输入（加密保存）", "en": "Type it here (stored encrypted)"},
    "save_secret": {"zh": "保存密钥", "en": "Save secret"},
    "secret_set": {"zh": "已设置", "en": "set"},
    "secret_unset": {"zh": "未设置", "en": "not set"},
    "secret_on": {"zh": "设置于", "en": "on"},
    "secret_by": {"zh": "设置人", "en": "by"},
    "no_key": {"zh": "服务器未配置 JIG_SECRETS_KEY：只能使用环境变量", "en": "JIG_SECRETS_KEY is not set on the "
               "server: use environment variables"},
    "operation": {"zh": "同步操作", "en": "Operation"},
    "schedule": {"zh": "计划（cron）", "en": "Schedule (cron)"},
    "test": {"zh": "测试连接", "en": "Test connection"},
    "req_path": {"zh": "请求路径", "en": "Request path"},
    "records": {"zh": "记录列表位置（JSON 路径）", "en": "Records at (JSON path)"},
    "select": {"zh": "ERP 字段（逗号分隔）", "en": "ERP fields (comma separated)"},
    "raw": {"zh": "ERP 原始应答", "en": "Raw answer"},
    "mapped": {"zh": "映射结果", "en": "Mapped rows"},
    "mapping": {"zh": "字段映射", "en": "Field mapping"},
    "jig_field": {"zh": "Jig 字段", "en": "Jig field"},
    "type": {"zh": "类型", "en": "Type"},
    "erp_field": {"zh": "ERP 字段或表达式", "en": "ERP field or expression"},
    "lookup": {"zh": "查找（按字段）", "en": "Lookup (by field)"},
    "create_name": {"zh": "找不到时新建（名称取自）", "en": "Create when missing (name from)"},
    "unmapped": {"zh": "（不映射）", "en": "(not mapped)"},
    "children": {"zh": "明细表", "en": "Child table"},
    "rows_from": {"zh": "ERP 行来源（记录中的 JSON 路径）", "en": "ERP rows at (JSON path in the record)"},
    "rows_grouped": {"zh": "留空：同一单号的各行", "en": "empty: the rows of one document"},
    "row_key": {"zh": "行的唯一字段", "en": "Row key"},
    "child_field": {"zh": "明细字段", "en": "Child field"},
    "publish": {"zh": "发布", "en": "Publish"},
    "message": {"zh": "发布说明", "en": "Message"},
    "published": {"zh": "已发布版本", "en": "Published version"},
    "versions": {"zh": "版本", "en": "Versions"},
    "diff": {"zh": "差异", "en": "Diff"},
    "rollback": {"zh": "回滚到此版本", "en": "Roll back to this"},
    "draft_saved": {"zh": "草稿已保存", "en": "Draft saved"},
    "errors": {"zh": "错误", "en": "Errors"},
    "sync": {"zh": "同步", "en": "Sync"},
    "sync_now": {"zh": "立即同步", "en": "Sync now"},
    "live_log": {"zh": "实时日志", "en": "Live log"},
    "runs": {"zh": "运行记录", "en": "Runs"},
    "quarantine": {"zh": "隔离的记录", "en": "Quarantined rows"},
    "report": {"zh": "最近的对账报告", "en": "Latest reconciliation report"},
    "none": {"zh": "暂无", "en": "None"},
    "started": {"zh": "开始", "en": "Started"},
    "status": {"zh": "状态", "en": "Status"},
    "summary": {"zh": "摘要", "en": "Summary"},
    "key": {"zh": "单号", "en": "Key"},
    "reason": {"zh": "原因", "en": "Reason"},
    "attempts": {"zh": "次数", "en": "Attempts"},
    "suggestion": {"zh": "建议", "en": "Suggested fix"},
    "open_list": {"zh": "查看记录", "en": "Open the list"},
    "designer": {"zh": "设计器", "en": "Designer"},
}


def texts(lang: str) -> dict[str, str]:
    return {k: v.get(lang) or v["zh"] for k, v in TEXTS.items()}


@bp.get("/connectors/<app>")
def setup(app: str) -> Any:
    if "jig_ui" not in current_app.blueprints:
        abort(404)
    from ui import session as sess
    from ui.web import page
    actor = sess.signed_in_actor()
    if actor is None:
        abort(redirect(url_for("jig_ui.login", next=request.path)))
    lang = sess.lang()
    if not actor.is_admin:
        abort(403, texts(lang)["admins_only"])
    rt = sess.runtime()
    if not APP_NAME.match(app) or app not in rt.apps:
        abort(404)
    tx = texts(lang)
    return page("connectors/setup.html", actor=actor, app_name=app, tx=tx, texts=tx)


@bp.after_request
def _headers(resp: Any) -> Any:
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                            "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'")
    return resp
