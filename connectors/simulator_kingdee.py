"""The simulator's Kingdee documents: ExecuteBillQuery over sales orders and production reports, and
Save / Submit / Audit of production reports (PRD_MORPT), as K/3 Cloud answers them."""

from __future__ import annotations

import bisect
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .simulator import Erp

SO_FIELDS = ("FID", "FBillNo", "FDate", "FCustId.FNumber", "FCustId.FName", "FModifyDate", "FCloseStatus",
             "FDocumentStatus", "FSaleOrderEntry_FEntryID", "FMaterialId.FNumber", "FMaterialId.FName", "FQty",
             "FDeliveryDate")
RPT_FIELDS = ("FBillNo", "FDocumentStatus", "FMoBillNo", "FFinishQty", "FID", "FDescription")
CLAUSE = re.compile(r"^\s*([\w.]+)\s*(>=|<=|<>|!=|=|>|<)\s*'?([^']*?)'?\s*$")

def kd_status(ok: bool, message: str = "", code: int = 0, **extra: Any) -> dict[str, Any]:
    rs = {"ErrorCode": 0 if ok else 500, "IsSuccess": ok, "Errors": [] if ok else [{"FieldName": None,
          "Message": message, "DIndex": 0}], "SuccessEntitys": extra.pop("entities", []), "SuccessMessages": [],
          "MsgCode": code}
    return {"Result": {"ResponseStatus": rs, **extra}}


def kd_signature_ok(erp: Erp, req: Any) -> bool:
    from .http import kingdee_headers
    ts, nonce = req.headers.get("x-api-timestamp", ""), req.headers.get("x-api-nonce", "")
    expect = kingdee_headers(req.path, {"client_secret": erp.client_secret or ""}, now=float(ts or 0), nonce=nonce)
    return req.headers.get("X-Api-Signature") == expect["X-Api-Signature"]


def _filters(text: str, known: tuple[str, ...]) -> list[tuple[str, str, str]] | str:
    out = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.I) if text and text.strip() else []:
        m = CLAUSE.match(part)
        if not m:
            return f"过滤条件无法解析：{part}"
        if m.group(1) not in known:
            return f"元数据中标识为{m.group(1)}的字段不存在"
        out.append((m.group(1), m.group(2), m.group(3)))
    return out


def _ok(value: Any, op: str, want: str, key: Any = None) -> bool:
    v = str(value)
    if key is not None:  # the server's collation
        a, b = key(v), key(want)
        return {"=": a == b, ">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b, "<>": a != b, "!=": a != b}[op]
    return {"=": v == want, ">=": v >= want, "<=": v <= want, ">": v > want, "<": v < want,
            "<>": v != want, "!=": v != want}[op]


def _kd_error_rows(message: str) -> list[Any]:
    return [[{"Result": {"ResponseStatus": {"ErrorCode": 500, "IsSuccess": False, "Errors": [
        {"FieldName": None, "Message": message, "DIndex": 0}], "MsgCode": 9}}}]]


def kd_query(erp: Erp, data: dict[str, Any], *, duplicate: bool = False) -> Any:
    form = data.get("FormId")
    keys = [k.strip() for k in str(data.get("FieldKeys", "")).split(",") if k.strip()]
    start = int(data.get("StartRow") or 0)
    limit = int(data.get("Limit") or 2000) or 2000
    if form == "PRD_MORPT":
        bad = [k for k in keys if k not in RPT_FIELDS]
        flt = _filters(str(data.get("FilterString") or ""), RPT_FIELDS)
        if bad or isinstance(flt, str):
            return _kd_error_rows(flt if isinstance(flt, str) else f"元数据中标识为{bad[0]}的字段不存在")
        rows = []
        with erp.lock:
            for no, docs in sorted(erp.reports.items()):
                for d in docs:
                    rec = {"FBillNo": no, "FDocumentStatus": d["status"], "FMoBillNo": d["mo"],
                           "FFinishQty": d["qty"], "FID": d["id"], "FDescription": d.get("desc") or ""}
                    if all(_ok(rec[f], op, v) for f, op, v in flt):
                        rows.append([rec[k] for k in keys])
        return rows[start:start + limit]
    if form != "SAL_SaleOrder":
        return _kd_error_rows(f"业务对象{form}不存在")
    bad = [k for k in keys if k not in SO_FIELDS]
    flt = _filters(str(data.get("FilterString") or ""), SO_FIELDS)
    if bad or isinstance(flt, str):
        return _kd_error_rows(flt if isinstance(flt, str) else f"元数据中标识为{bad[0]}的字段不存在")
    since = next((v for f, op, v in flt if f == "FModifyDate" and op in (">=", ">")), None)
    after = next((v for f, op, v in flt if f == "FBillNo" and op == ">"), None)
    out: list[list[Any]] = []
    with erp.lock:
        cands = erp._candidates(since, after)
        if duplicate and after:
            i = bisect.bisect_right(erp.nos, erp.collate(after), key=erp.collate)
            cands = erp.nos[max(0, i - 1):i] + list(cands)  # the last order of the previous page again
        skip = max(0, start - (2 if duplicate and start else 0))
        for no in cands:
            o = erp.orders[no]
            head = {"FID": o["id"], "FBillNo": no, "FDate": o["date"] + "T00:00:00", "FCustId.FNumber": o["cust"],
                    "FCustId.FName": o["cust_name"], "FModifyDate": o["modify"].replace(" ", "T"),
                    "FCloseStatus": o["closed"], "FDocumentStatus": o["status"]}
            cmp = {**head, "FModifyDate": o["modify"]}
            if not all(_ok(cmp[f], op, v, erp.collate if f == "FBillNo" else None) for f, op, v in flt
                       if f in cmp and not (duplicate and f == "FBillNo")):
                continue
            for ln in o["lines"]:
                if skip:
                    skip -= 1
                    continue
                rec = {**head, "FSaleOrderEntry_FEntryID": ln["entry"], "FMaterialId.FNumber": ln["mat"],
                       "FMaterialId.FName": ln["mat_name"], "FQty": ln["qty"],
                       "FDeliveryDate": ln["delivery"] + "T00:00:00"}
                row = [rec[k] for k in keys]
                out.append(row[:-1] if o.get("bad_shape") else row)  # malformed: a column missing
            if len(out) >= limit:
                break
    return out[:limit]


def kd_write(erp: Erp, method: str, formid: str, data: dict[str, Any]) -> dict[str, Any]:
    if formid != "PRD_MORPT":
        return kd_status(False, f"模拟器不支持写入 {formid}", 9)
    with erp.lock:
        if method == "Save":
            model = data.get("Model") or {}
            no = model.get("FBillNo") or f"SCHB{erp.next_id:06d}"
            if "own_numbers" in erp.switches:  # the numbering rule assigns the bill number, ignoring Jig's
                no = f"SCHB{erp.next_id:06d}"
            entity = (model.get("FEntity") or [{}])[0]
            doc = {"id": erp.next_id, "status": "A", "mo": entity.get("FMoBillNo"), "qty": entity.get("FFinishQty"),
                   "desc": model.get("FDescription") or ""}
            erp.next_id += 1
            erp.reports.setdefault(no, []).append(doc)  # a second Save of the same number shows as a duplicate
            out = kd_status(True, entities=[{"Id": doc["id"], "Number": no, "DIndex": 0}])
            out["Result"].update(Id=doc["id"], Number=no, NeedReturnData=[{}])
            return out
        numbers = data.get("Numbers") or []
        for no in numbers:
            docs = erp.reports.get(no)
            if not docs:
                return kd_status(False, f"单据 {no} 不存在", 9)
            doc = docs[-1]
            if method == "Submit":
                if doc["status"] in ("B", "C"):
                    return kd_status(False, f"单据 {no} 已经提交", 11)
                doc["status"] = "B"
            elif method == "Audit":
                if doc["status"] == "C":
                    return kd_status(False, f"单据 {no} 已经审核", 11)
                if doc["status"] != "B":
                    return kd_status(False, f"单据 {no} 未提交，不能审核", 11)
                doc["status"] = "C"
            else:
                return kd_status(False, f"模拟器不支持 {method}", 9)
        return kd_status(True, entities=[{"Number": n, "DIndex": i} for i, n in enumerate(numbers)])


