"""`jiaoying status`: a warning's progress as a duty officer reads it at a glance.

Pure: it lays out what the status API returned (`/v1/warnings/{id}`, its recipients and
its tasks) — the warning, counts per state, answered/total per township and village, the
未叫醒名单 with masked phones and each one's next step, the open door-knock tasks — in
Beijing time, in columns that line up with Chinese names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from dispatcher.cli.columns import table

BEIJING = timezone(timedelta(hours=8))
STATES = {
    "pending": "待发送",
    "notified": "已通知",
    "delivered": "已送达",
    "answered": "已应答",
    "unreachable": "无法联系",
    "cancelled": "已取消",
    "expired": "已过期",
}
SILENT = ("pending", "notified", "delivered", "unreachable")
WARNING_STATUS = {
    "active": "叫应中",
    "closed": "策略已走完",
    "cancelled": "已取消",
    "cleared": "已解除",
    "expired": "已过期",
}
LEVELS = {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"}
TOWNSHIP_DIGITS, VILLAGE_DIGITS = 9, 12


def status_lines(
    summary: dict[str, Any],
    recipients: Sequence[dict[str, Any]],
    tasks: Sequence[dict[str, Any]],
    now: datetime,
) -> list[str]:
    """The warning's progress as lines of text; `now` places the next steps in time."""
    lines = _heading(summary)
    lines += ["", "各状态 states"]
    lines += table(
        [
            [f"{STATES[state]} {state}", str(count)]
            for state, count in summary["states"].items()
            if count or state in SILENT or state == "answered"
        ]
    )
    lines += ["", "各乡镇、村 answered/total"]
    lines += table(_places(summary, recipients)) or ["  （无）"]
    silent = [r for r in recipients if r["state"] in SILENT]
    lines += ["", f"未叫醒名单 silent ({len(silent)})"]
    if silent:
        in_force = summary["status"] in ("active", "closed")
        lines += table(
            [["姓名", "电话", "网格", "状态", "升级", "下一步"]]
            + [_silent_row(r, summary.get("expires"), in_force, now) for r in silent]
        )
    else:
        lines.append("  （无：人人已应答）" if recipients else "  （无）")
    open_tasks = [task for task in tasks if task["status"] == "open"]
    knocks = [task for task in open_tasks if task["kind"] != "gong"]
    gongs = [task for task in open_tasks if task["kind"] == "gong"]
    lines += ["", f"敲门入户任务 open door-knock tasks ({len(knocks)})"]
    lines += table([_task_row(task) for task in knocks]) or ["  （无）"]
    if gongs:  # only where loudspeakers failed or a policy asks for the gong
        lines += ["", f"鸣锣吹哨任务 open gong tasks ({len(gongs)})"]
        lines += table([_task_row(task) for task in gongs])
    lines += ["", _sends(summary)]
    return lines


def beijing(moment: str | None, with_date: bool = True) -> str:
    """An ISO time from the API as Beijing time: `07-20 02:05` (or `02:05`)."""
    if not moment:
        return "—"
    local = datetime.fromisoformat(moment).astimezone(BEIJING)
    return local.strftime("%m-%d %H:%M" if with_date else "%H:%M:%S")


def _heading(summary: dict[str, Any]) -> list[str]:
    level = LEVELS.get(summary["level"], summary["level"])
    drill = "【演练】" if summary["drill"] else ""
    total, answered = summary["recipients"], summary["answered"]
    rate = f"{answered / total:.0%}" if total else "—"
    timing = summary["time_to_answer"]
    lines = [
        f"{drill}{level}预警 {summary['event']} · {WARNING_STATUS.get(summary['status'], '')}"
        f" {summary['status']}",
    ]
    if summary["headline"] and summary["headline"] != summary["event"]:
        lines.append(summary["headline"])
    lines += [
        f"id {summary['id']} · 发布 sent {beijing(summary['sent'])} · 有效至 expires "
        f"{beijing(summary['expires'])}（北京时间 UTC+8）",
        f"已应答 answered {answered}/{total}（{rate}）"
        + (
            f" · 应答用时 p50 {_seconds(timing['p50'])} p90 {_seconds(timing['p90'])}"
            if timing["answered"]
            else ""
        ),
    ]
    if summary.get("unmatched_areas"):
        lines.append("未匹配区域 unmatched areas: " + "；".join(summary["unmatched_areas"]))
    return lines


def _places(summary: dict[str, Any], recipients: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Township and village rows: a person counts once per place, however many of its
    grids they answer for."""
    names = {place["code"]: place["name"] for place in summary.get("places", [])}
    persons: dict[str, set[str]] = defaultdict(set)
    answered: dict[str, set[str]] = defaultdict(set)
    for recipient in recipients:
        for grid in recipient["grids"]:
            code = grid["code"]
            for place in {code[:TOWNSHIP_DIGITS], code[:VILLAGE_DIGITS]}:
                persons[place].add(recipient["person_id"])
                if recipient["state"] == "answered":
                    answered[place].add(recipient["person_id"])
    rows = []
    for code in sorted(persons):
        village = len(code) > TOWNSHIP_DIGITS
        kind = "村" if village else "乡镇"
        label = names.get(code) or f"{kind} {code}"
        rows.append(
            [("  " if village else "") + label, f"{len(answered[code])}/{len(persons[code])}"]
        )
    return rows


def _silent_row(
    recipient: dict[str, Any], expires: str | None, in_force: bool, now: datetime
) -> list[str]:
    grids = "、".join(grid["name"] or grid["code"] for grid in recipient["grids"])
    escalated = "—"
    if recipient["escalation"]:
        last = recipient["escalations"][-1] if recipient["escalations"] else {}
        target = last.get("target_name") or last.get("target_id") or ""
        escalated = f"{recipient['escalation']}级 {target}".strip()
    return [
        recipient["name"] or recipient["person_id"],
        recipient["phone"] or "无电话",
        grids,
        STATES.get(recipient["state"], recipient["state"]),
        escalated,
        _next_step(recipient["next_step_at"], expires, in_force, now),
    ]


def _next_step(at: str | None, expires: str | None, in_force: bool, now: datetime) -> str:
    # After the policy's last step the chain's timer is the warning's expiry: no call or
    # escalation is coming, only a person can reach them now.
    if not at or (expires and datetime.fromisoformat(at) == datetime.fromisoformat(expires)):
        return "策略已无后续步骤，请人工联系" if in_force else "预警已结束"
    seconds = (datetime.fromisoformat(at) - now).total_seconds()
    when = "已到期" if seconds <= 0 else f"{_seconds(seconds)}后"
    return f"{beijing(at, with_date=False)}（{when}）"


def _task_row(task: dict[str, Any]) -> list[str]:
    assignee = task.get("assignee") or {}
    who = assignee.get("name") or assignee.get("person_id") or "（无人可派）"
    if assignee.get("role"):
        who += f"（{assignee['role']}）"
    silent = "、".join(p["name"] or p["person_id"] for p in task["silent_persons"])
    return [
        f"#{task['id']}",
        who,
        assignee.get("phone") or "",
        _where(task),
        f"未应答 {silent}" if silent else "",
        f"自 {beijing(task['created_at'], with_date=False)}",
    ]


def _where(task: dict[str, Any]) -> str:
    """The task's grids; for a gong opened by failed plays, first the silenced zone."""
    grids = "、".join(grid["name"] or grid["code"] for grid in task["grids"])
    zone = task.get("zone")
    if not zone:
        return grids
    return f"播发失败：{zone['name'] or zone['zone_id']}；{grids}"


def _sends(summary: dict[str, Any]) -> str:
    sends = ", ".join(f"{key} {count}" for key, count in sorted(summary["sends"].items()))
    duplicates = summary.get("possible_duplicate_sends", 0)
    line = f"发送 sends: {sends or '—'}"
    if duplicates:
        line += f" · 可能重复 possible duplicates {duplicates}"
    if summary.get("dead_letters", {}).get("count"):
        line += f" · 被拒消息 dead letters {summary['dead_letters']['count']}"
    return line


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    seconds = round(value)
    if seconds < 60:
        return f"{seconds}秒"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}分{seconds:02d}秒"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}时{minutes:02d}分"
