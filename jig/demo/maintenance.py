"""Demo data for 设备维护: a dozen machines with weekly hour-meter readings, preventive plans by run hours
and by days (some done, some due, some overdue) and a month of repairs through the whole 报修 → 归档 loop,
so MTTR and the open-repair board mean something."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from .base import Factory, day

APP = "maintenance"
MACHINES = (  # code, name, model, location, hours at the start of the month, hours a day
    ("CNC-01", "数控车床", "沈阳机床 CAK6150", "机加车间 A 线", 12650, 16),
    ("CNC-02", "数控车床", "大连机床 CKA6140", "机加车间 A 线", 9870, 15),
    ("VMC-03", "立式加工中心", "海天精工 VMC850", "机加车间 B 线", 7420, 18),
    ("VMC-04", "立式加工中心", "纽威数控 VM1060", "机加车间 B 线", 3310, 17),
    ("PRS-05", "开式冲床", "扬力 J23-63", "冲压车间", 15880, 12),
    ("PRS-06", "闭式压力机", "扬力 JH31-160", "冲压车间", 6120, 10),
    ("WLD-07", "焊接机器人工作站", "埃斯顿 ER20-1780", "焊接车间", 4980, 14),
    ("BND-08", "数控折弯机", "亚威 PBC-100/3100", "钣金车间", 8450, 9),
    ("LSR-09", "光纤激光切割机", "大族 G3015H", "钣金车间", 5630, 13),
    ("CMP-10", "螺杆空压机", "阿特拉斯 GA37", "动力站", 21300, 22),
    ("GRD-11", "平面磨床", "杭机 M7130", "机加车间 C 线", 11020, 8),
    ("PNT-12", "喷涂烘干线", "自制 PT-12", "涂装车间", 6900, 11),
)
HOUR_PLANS = (("更换主轴润滑油", 500), ("清洗/更换空气滤芯", 720), ("更换液压油", 2000))
DAY_PLANS = (("月度点检（导轨、皮带、电气柜）", 30), ("季度精度校验", 90), ("周保养（清洁、润滑）", 7))
FAULTS = (  # type, description, cause, action, part
    ("mechanical", "主轴异响，加工面有振纹", "主轴轴承磨损", "更换主轴前端轴承并重新调整预紧", "角接触轴承 7014C"),
    ("electrical", "开机后伺服报警 ALM 401，无法回零", "X 轴编码器线缆破损", "更换编码器线缆并固定拖链", "编码器线缆 5m"),
    ("hydraulic", "液压站压力上不去，夹紧无力", "溢流阀卡滞", "清洗溢流阀、更换液压油滤芯", "液压油滤芯"),
    ("control", "程序运行中突然急停，屏幕无报警", "急停回路继电器触点氧化", "更换急停继电器", "中间继电器 24V"),
    ("mechanical", "冲床离合器打滑，滑块下行无力", "离合器摩擦片磨损", "更换离合器摩擦片并调整间隙", "摩擦片"),
    ("electrical", "设备频繁跳闸", "主电机绝缘下降", "电机烘干处理并更换接线端子", "接线端子"),
    ("hydraulic", "气缸动作缓慢，气压不足", "气管接头漏气", "更换快插接头和气管", "快插接头 PC8-02"),
    ("other", "冷却液泵不出水", "冷却液箱铁屑堵塞滤网", "清理水箱和滤网，更换冷却液", "切削液"),
)


def equipment(f: Factory) -> list[dict]:
    """The machines and a reading of their hour meters every week of the month (the rule updates run_hours)."""
    rng = f.rng
    machines = []
    for i, (code, name, model, where, hours, per_day) in enumerate(MACHINES):
        m = f.create("supervisor", APP, "equipment", {
            "code": code, "name": name, "model": model, "location": where,
            "commissioned": (f.now.date() - dt.timedelta(days=365 * (1 + i % 6) + 30 * i)).isoformat(),
        }, f.at(40, 9))
        reading = Decimal(hours)
        for week in range(5):
            reading += Decimal(per_day * 7) + Decimal(rng.randint(-8, 8))
            who = "worker" if week % 2 else "maint"
            f.create(who, APP, "meter_reading", {"equipment": m["id"], "reading": str(reading),
                                                  "read_at": f.at(28 - week * 7, 8 + rng.random()).isoformat()},
                     f.at(28 - week * 7, 8.5))
        machines.append({**m, "hours": reading, "per_day": per_day})
    return machines


def plans(f: Factory, machines: list[dict]) -> None:
    """Two plans a machine: one by run hours, one by days; some tasks done this month, some open and late."""
    rng = f.rng
    for i, m in enumerate(machines):
        name, interval = HOUR_PLANS[i % 3]
        # where the last service was: most well inside the interval, some about to be due or past it
        used = Decimal(interval) * Decimal(str(rng.choice((0.3, 0.5, 0.7, 0.9, 0.97, 1.05))))
        f.create("supervisor", APP, "maintenance_plan", {
            "equipment": m["id"], "name": name, "kind": "by_hours", "interval_hours": interval,
            "last_done_hours": str(max(Decimal(0), m["hours"] - used)),
            "last_done_at": f.at(float(used) / m["per_day"], 10).isoformat(), "assignee": "maint",
            "checklist": "停机断电挂牌\n按说明书更换/清洗\n试运行 10 分钟，记录异常",
        }, f.at(40, 10))
        dname, every = DAY_PLANS[i % 3]
        last = f.at(rng.randint(-12, min(every, 20)), 9)  # the due date: past (done or late) or coming
        plan = f.create("supervisor", APP, "maintenance_plan", {
            "equipment": m["id"], "name": dname, "kind": "by_days", "interval_days": every,
            "last_done_at": (last - dt.timedelta(days=every)).isoformat(),
            "next_due_date": day(last), "assignee": "maint",
            "checklist": "检查导轨润滑\n检查皮带张紧\n清理电气柜灰尘\n紧固松动螺栓",
        }, f.at(40, 10))
        if last < f.at(1):
            # the task for the due date, done (the rule rolls the plan forward) or still open and late
            task = f.create("supervisor", APP, "maintenance_task", {
                "plan": plan["id"], "equipment": m["id"], "due_date": day(last), "assignee": "maint",
                "checklist": plan["checklist"]}, last)
            if i % 4 == 3:
                continue  # open, overdue
            start = last + dt.timedelta(hours=rng.uniform(1, 30))
            task = f.move("maint", APP, "maintenance_task", task, "start", start)
            if i % 5 == 4:
                continue  # in progress
            f.move("maint", APP, "maintenance_task", task, "finish", start + dt.timedelta(hours=rng.uniform(0.5, 3)),
                   {"result": rng.choice(("已按检查项完成，设备状态良好", "完成保养，发现皮带轻微磨损，下次更换",
                                          "完成，补充导轨油 2L"))})


def repairs(f: Factory, machines: list[dict]) -> None:
    """About thirty repairs over the month: archived ones with their whole timeline, the newest still open."""
    rng = f.rng
    weights = [4, 2, 3, 1, 4, 2, 3, 1, 2, 2, 1, 2]  # some machines break more often (MTBF differs)
    count = 30
    for n in range(count):
        m = rng.choices(machines, weights)[0]
        kind, desc, cause, action, part = rng.choice(FAULTS)
        reported = f.at(29.5 - n * 29.0 / count + rng.uniform(-0.2, 0.2))
        urgency = rng.choice(("urgent", "high", "normal", "normal"))
        r = f.create("worker", APP, "repair_request", {
            "equipment": m["id"], "fault_type": kind, "urgency": urgency, "fault_description": desc,
            "reported_at": reported.isoformat()}, reported)
        speed = {"urgent": 0.5, "high": 1.0, "normal": 2.0}[urgency]
        t = reported + dt.timedelta(hours=rng.uniform(0.1, 1.0) * speed)
        if n == count - 1 or t >= f.now:
            continue  # 已报修
        r = f.move("maint", APP, "repair_request", r, "accept", t)
        t += dt.timedelta(hours=rng.uniform(0.1, 1.5) * speed)
        if n == count - 2 or t >= f.now:
            continue  # 已接单
        r = f.move("maint", APP, "repair_request", r, "start_repair", t)
        t += dt.timedelta(hours=rng.uniform(1, 9))
        if n == count - 3 or t >= f.now:
            if urgency == "urgent":
                f.update("maint", APP, "equipment", f.fresh(APP, "equipment", m["id"]), {"status": "repair"}, t)
            continue  # 维修中
        r = f.move("maint", APP, "repair_request", r, "finish_repair", t, {
            "cause": cause, "action_taken": action,
            "parts_used": [{"part": part, "qty": rng.choice((1, 1, 2, 4)), "unit": "个"}]})
        t += dt.timedelta(hours=rng.uniform(0.5, 6))
        if n == count - 4 or t >= f.now:
            continue  # 待验收
        if rng.random() < 0.1:
            r = f.move("worker", APP, "repair_request", r, "reject_fix", t, {"verify_note": "试车半小时后故障重现"})
            t += dt.timedelta(hours=rng.uniform(1, 4))
            r = f.move("maint", APP, "repair_request", r, "finish_repair", t)
            t += dt.timedelta(hours=rng.uniform(0.5, 3))
        f.move("worker", APP, "repair_request", r, "verify", t)
