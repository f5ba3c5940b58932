"""`jiaoying parse`: a warning and what jiaoying would do with it, before anything is sent.

Pure: it lays out a `dispatcher.core.blockers.Review` (the warning, what would stop it) and,
with a roster, the plan (who would be called, on which channels, which loudspeaker zones
play, each person's first steps), in columns that line up with Chinese names.
"""

from __future__ import annotations

from typing import Any

from dispatcher.cli.columns import table
from dispatcher.cli.status_text import LEVELS, beijing
from dispatcher.core.blockers import Review

CHANNELS = {"voice": "语音", "sms": "短信", "wechat": "微信"}
STEPS_SHOWN = 4


def parse_lines(review: Review, plan: dict[str, Any] | None) -> list[str]:
    """The preview as lines of text."""
    warning = review.warning
    level = warning.level
    level_text = f"{LEVELS[level.value]} {level.value}" if level else "未定 none"
    if review.level_from_default:
        level_text += "（策略 default_level）"
    lines = [
        f"{'【演练】' if warning.drill else ''}{warning.source.upper()} {warning.msg_type.value}"
        f" · {warning.status.value} · {warning.identifier}",
        f"  发布者 sender   {warning.sender}",
        f"  发布 sent       {beijing(warning.sent.isoformat())}"
        + (f" · 有效至 expires {beijing(warning.expires.isoformat())}" if warning.expires else "")
        + "（北京时间）",
    ]
    if warning.infos:
        info = warning.primary
        lines += [
            f"  事件 event      {info.event}",
            f"  级别 level      {level_text}（severity {info.severity}）",
        ]
        if info.headline:
            lines.append(f"  标题 headline   {info.headline}")
        languages = [i.language for i in warning.infos]
        if len(languages) > 1:
            lines.append(f"  语言 languages  {', '.join(languages)}（显示 {info.language}）")
        areas = list(dict.fromkeys(_area(area) for area in info.areas))
        lines.append(f"  区域 areas      {'；'.join(areas) or '（无）'}")
    for reference in review.references:
        lines.append(f"  引用 references {reference}（离线未查询 not looked up offline）")
    lines.append("")
    if review.blockers:
        lines.append(f"不会发出 would not be dispatched ({len(review.blockers)}):")
        lines += [f"  - {blocker}" for blocker in review.blockers]
    else:
        lines.append("可以发出 would be dispatched")
    if plan is not None and plan.get("blocked") not in review.blockers:
        lines += ["", *_plan_lines(plan)]
    return lines


def _area(area: Any) -> str:
    where = [*area.geocodes, *(f"{name} {value}" for name, value in area.other_geocodes)]
    if area.polygons:
        where.append(f"{len(area.polygons)} polygon")
    if area.circles:
        where.append(f"{len(area.circles)} circle")
    return f"{area.description} [{', '.join(where)}]" if where else area.description


def _plan_lines(plan: dict[str, Any]) -> list[str]:
    if "blocked" in plan:
        return [f"名册 roster: {plan['blocked']}"]
    recipients = plan["recipients"]
    channels: dict[str, int] = {}
    for recipient in recipients:
        for channel in recipient.get("channels", []):
            channels[channel] = channels.get(channel, 0) + 1
    told = "会告知 would tell" if "references_not_looked_up" in plan else "会呼叫 would call"
    lines = [
        f"{told} {len(recipients)} 人 persons in {len(plan['grids'])} 个网格 grids"
        + (
            " · " + ", ".join(f"{CHANNELS.get(c, c)} {c} {n}" for c, n in sorted(channels.items()))
            if channels
            else ""
        ),
    ]
    if "answer_within" in plan:
        lines.append(f"  应答时限 answer within {plan['answer_within']} ({plan['level']})")
    zones = plan.get("broadcast_zones", [])
    lines.append(f"  广播 zones that play ({len(zones)}): {'、'.join(zones) or '（无）'}")
    if plan.get("aliased_areas"):
        lines.append(f"  区域别名 area aliases used: {'；'.join(plan['aliased_areas'])}")
    if plan.get("unmatched_areas"):
        lines.append(f"  未匹配区域 unmatched areas: {'；'.join(plan['unmatched_areas'])}")
    if plan.get("references_not_looked_up"):
        lines.append(
            "  引用的预警离线无法查询：已告知者、升级中的上级由运行中的服务决定 "
            "(who was told of the referenced warning is known only to the running service)"
        )
    if recipients and "answer_within" in plan:
        # The steps are the same for everyone of a level; the best-reached shows them all.
        reached = max(recipients, key=lambda recipient: len(recipient.get("channels", [])))
        lines.append(f"  若无人应答 if nobody answers: {_steps(reached['timeline'])}")
    names = {grid["code"]: grid["name"] for grid in plan["grids"]}
    rows = [["姓名", "电话", "网格", "渠道", "上级 supervisor" if "answer_within" in plan else ""]]
    for recipient in recipients:
        rows.append(
            [
                recipient["name"],
                recipient["phone"] or "无电话",
                "、".join(names.get(code, code) for code in recipient["grids"]),
                "+".join(CHANNELS.get(c, c) for c in recipient.get("channels", [])) or "—",
                _supervisor(recipient.get("timeline", [])),
            ]
        )
    return [*lines, "", *table(rows)]


def _steps(timeline: list[dict[str, Any]]) -> str:
    """A silent person's steps, the same for everyone of a level: who is named differs."""
    shown = []
    for step in timeline:
        for action in step["actions"]:
            if "notify" in action and action.get("kind") != "escalation":
                shown.append(
                    f"{step['after']} {'+'.join(CHANNELS.get(c, c) for c in action['notify'])}"
                )
            elif "escalate" in action:
                shown.append(f"{step['after']} 第{action['escalate']}级上级")
            elif "task" in action:
                shown.append(f"{step['after']} 敲门入户")
            elif "broadcast" in action:
                shown.append(f"{step['after']} 广播")
    return "；".join(dict.fromkeys(shown))


def _supervisor(timeline: list[dict[str, Any]]) -> str:
    for step in timeline:
        for action in step["actions"]:
            if "escalate" in action:
                return str(action["to"])
    return ""
