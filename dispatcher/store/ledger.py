"""The 叫应台账 of one warning: everything that happened to it, in time order.

Each message of the chain, each step taken on it (audit), each send and its latest
provider outcome, each escalation, door-knock task and report, each answer, each SMS
reply that was not an answer, each refused input about it, and the warning's close.
The `attempts` table keeps a send's latest status only, so the ledger shows the send
when it was claimed and that outcome when it was last reported, not every report.

Whom a row is about is named from the warning's roster snapshot; phone numbers in any
text are masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from dispatcher.core.phones import mask_phones_in_text
from dispatcher.core.roster import Roster
from dispatcher.store.queries import related_dead_letter
from dispatcher.store.roster_versions import RosterVersions
from dispatcher.store.schema import (
    answers,
    attempts,
    audit,
    dead_letters,
    escalations,
    messages,
    recipients,
    tasks,
    warnings,
)

CHANNELS = {
    "voice": "语音电话 voice",
    "sms": "短信 sms",
    "wechat": "微信 wechat",
    "broadcast": "应急广播 broadcast",
    "link": "确认链接 link",
    "operator": "值班员录入 operator",
    "supervisor": "上级代答 supervisor",
    "door_knock": "入户 door_knock",
    "grid": "同网格 grid",
}
KINDS = {
    "alert": "预警 alert",
    "update": "更新 update",
    "cancel": "取消 cancel",
    "clear": "解除 clear",
    "escalation": "升级通知 escalation",
    "door_knock": "入户任务通知 door_knock",
    "gong": "鸣锣吹哨任务通知 gong",
}
STATUSES = {
    "claimed": "待确认 claimed",
    "sent": "已发送 sent",
    "simulated": "模拟未发送 simulated",
    "delivered": "已送达 delivered",
    "failed": "失败 failed",
    "rejected": "永久失败 rejected",
}


@dataclass(frozen=True, slots=True)
class LedgerRow:
    at: datetime
    event: str
    subject: str = ""
    channel: str = ""
    outcome: str = ""
    provider_id: str = ""
    by: str = ""
    detail: str = ""
    # Ties at the same instant read in cause-to-effect order: message, send, outcome, answer.
    order: int = 0
    seq: int = 0
    # The store kept this time to the second only (SMS notes).
    to_the_second: bool = False

    @property
    def sort_key(self) -> tuple[datetime, int, int]:
        # A time known to the second sorts at that second's end: it happened within it, and
        # an SMS reply must not read as if it came before the notice it replied to.
        at = self.at + _REST_OF_SECOND if self.to_the_second else self.at
        return at, self.order, self.seq


_REST_OF_SECOND = timedelta(microseconds=999_999)


async def ledger_rows(
    conn: AsyncConnection, warning_id: str, rosters: RosterVersions
) -> list[LedgerRow] | None:
    """Every ledger row of the warning in time order; None for an unknown warning."""
    warning = (
        await conn.execute(select(warnings).where(warnings.c.id == warning_id))
    ).one_or_none()
    if warning is None:
        return None
    roster = await rosters.get(conn, warning.roster_id)
    person_of: dict[int, str] = {}
    notes: list[LedgerRow] = []
    for row in await conn.execute(
        select(recipients.c.id, recipients.c.person_id, recipients.c.note).where(
            recipients.c.warning_id == warning_id
        )
    ):
        person_of[row.id] = row.person_id
        if row.note:
            notes += _notes(row.note, _who(roster, row.person_id), warning.received_at, row.id)
    rows = [
        *await _messages(conn, warning_id),
        *await _audit(conn, warning_id),
        *await _sends(conn, warning_id, roster),
        *await _escalations(conn, warning_id, roster, person_of),
        *await _tasks(conn, warning_id, roster),
        *await _answers(conn, warning_id, roster, person_of),
        *await _dead_letters(conn, warning_id),
        *notes,
    ]
    if warning.closed_at is not None:
        rows.append(LedgerRow(warning.closed_at, "全部结束 closed", order=9))
    return sorted(rows, key=lambda row: row.sort_key)


def _who(roster: Roster, person_id: str | None) -> str:
    if person_id is None:
        return ""
    person = roster.persons.get(person_id)
    return f"{person.name} {person_id}" if person else person_id


def _text(value: object) -> str:
    return mask_phones_in_text(str(value)) if value not in (None, "") else ""


def _notes(note: str, subject: str, fallback: datetime, seq: int) -> list[LedgerRow]:
    """SMS replies that were not answers, one per line as `add_note` keeps them
    (`<ISO time> <text>`); a line without a readable time is dated `fallback`."""
    found = []
    for line in note.splitlines():
        stamp, _, text = line.partition(" ")
        at = _aware(stamp)
        found.append(
            LedgerRow(
                at or fallback,
                "短信回复(非应答) sms reply, not an answer",
                subject=subject,
                channel=CHANNELS["sms"],
                detail=_text(text if at else line),
                order=6,
                seq=seq,
                # `add_note` writes whole seconds: say no more than that.
                to_the_second=at is not None and at.microsecond == 0,
            )
        )
    return found


def _aware(stamp: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


async def _messages(conn: AsyncConnection, warning_id: str) -> list[LedgerRow]:
    rows = await conn.execute(
        select(messages).where(messages.c.warning_id == warning_id).order_by(messages.c.id)
    )
    return [
        LedgerRow(
            row.received_at,
            f"收到消息 message {row.msg_type}",
            subject=_text(row.sender),
            channel=row.source,
            outcome=f"revision {row.revision}",
            detail=f"identifier={row.identifier} sent={row.sent.isoformat()}",
            seq=row.id,
        )
        for row in rows
    ]


async def _audit(conn: AsyncConnection, warning_id: str) -> list[LedgerRow]:
    """Steps on the warning as a whole (ingested, renotify, restart, clear, cancel …).

    The `answered` entries are left out: each answer has its own row from `answers`.
    """
    rows = await conn.execute(
        select(audit)
        .where(audit.c.warning_id == warning_id, audit.c.event != "answered")
        .order_by(audit.c.id)
    )
    return [
        LedgerRow(
            row.at,
            f"处置 {row.event}",
            by=row.actor,
            detail=_text(" ".join(f"{k}={v}" for k, v in sorted(row.detail.items()))),
            order=1,
            seq=row.id,
        )
        for row in rows
    ]


async def _sends(conn: AsyncConnection, warning_id: str, roster: Roster) -> list[LedgerRow]:
    zones = {zone.zone_id: zone.name for zone in roster.zones}
    found = []
    for row in await conn.execute(
        select(attempts).where(attempts.c.warning_id == warning_id).order_by(attempts.c.id)
    ):
        subject = (
            f"{zones.get(row.zone_id, '')} {row.zone_id}".strip()
            if row.zone_id
            else _who(roster, row.person_id)
        )
        channel = CHANNELS.get(row.channel, row.channel)
        found.append(
            LedgerRow(
                row.created_at,
                f"发送 send {KINDS.get(row.kind, row.kind)}",
                subject=subject,
                channel=channel,
                detail=f"occasion={row.occasion}"
                + (" 结果未知 outcome unknown" if row.status == "claimed" else ""),
                order=2,
                seq=row.id,
            )
        )
        if row.status != "claimed":
            reason = " ".join(_text(part) for part in (row.error_reason, row.error_detail) if part)
            found.append(
                LedgerRow(
                    row.updated_at,
                    "回执 delivery report",
                    subject=subject,
                    channel=channel,
                    outcome=STATUSES.get(row.status, row.status),
                    provider_id=row.provider_id or "",
                    detail=reason + (f" resent {row.resends}×" if row.resends else ""),
                    order=5,
                    seq=row.id,
                )
            )
    return found


async def _escalations(
    conn: AsyncConnection, warning_id: str, roster: Roster, person_of: dict[int, str]
) -> list[LedgerRow]:
    rows = await conn.execute(
        select(escalations).where(escalations.c.warning_id == warning_id).order_by(escalations.c.id)
    )
    return [
        LedgerRow(
            row.created_at,
            f"升级 escalation level {row.level}",
            subject=_who(roster, person_of.get(row.recipient_id)),
            outcome=f"→ {_who(roster, row.target_id)}" if row.target_id else "→ 无上级 none",
            detail=f"occasion={row.occasion}",
            order=3,
            seq=row.id,
        )
        for row in rows
    ]


_TASK_NAMES = {
    "door_knock": ("入户任务 door-knock task", "入户报告 door-knock report"),
    "gong": ("鸣锣吹哨任务 gong task", "鸣锣吹哨报告 gong report"),
}


async def _tasks(conn: AsyncConnection, warning_id: str, roster: Roster) -> list[LedgerRow]:
    found = []
    for row in await conn.execute(
        select(tasks).where(tasks.c.warning_id == warning_id).order_by(tasks.c.id)
    ):
        grids = "、".join(
            f"{grid.name if (grid := roster.grids.get(code)) else ''}{code}"
            for code in row.grid_codes
        )
        found.append(
            LedgerRow(
                row.created_at,
                f"{_TASK_NAMES.get(row.kind, _TASK_NAMES['door_knock'])[0]} #{row.id}",
                subject=_who(roster, row.assignee_id),
                outcome="open",
                detail=_text(grids),
                order=4,
                seq=row.id,
            )
        )
        if row.reported_at is not None:
            report: dict[str, Any] = dict(row.report or {})
            by = str(report.pop("reported_by", ""))
            found.append(
                LedgerRow(
                    row.reported_at,
                    f"{_TASK_NAMES.get(row.kind, _TASK_NAMES['door_knock'])[1]} #{row.id}",
                    subject=_who(roster, row.assignee_id),
                    outcome="done",
                    by=by,
                    detail=_text(" ".join(f"{k}={v}" for k, v in sorted(report.items()))),
                    order=7,
                    seq=row.id,
                )
            )
    return found


async def _answers(
    conn: AsyncConnection, warning_id: str, roster: Roster, person_of: dict[int, str]
) -> list[LedgerRow]:
    rows = await conn.execute(
        select(answers).where(answers.c.warning_id == warning_id).order_by(answers.c.id)
    )
    return [
        LedgerRow(
            row.at,
            "应答 answer",
            subject=_who(roster, person_of.get(row.recipient_id)),
            channel=CHANNELS.get(row.via, row.via),
            outcome=f"已应答 answered{f' ({row.how})' if row.how else ''}",
            by=_who(roster, row.by),
            detail=_text(row.detail),
            order=6,
            seq=row.id,
        )
        for row in rows
    ]


async def _dead_letters(conn: AsyncConnection, warning_id: str) -> list[LedgerRow]:
    rows = await conn.execute(
        select(dead_letters).where(related_dead_letter(warning_id)).order_by(dead_letters.c.id)
    )
    return [
        LedgerRow(
            row.received_at,
            "拒收 rejected input",
            subject=_text(row.sender),
            channel=row.source,
            outcome=f"dead letter #{row.id}",
            detail=_text(f"{row.path}: {row.reason}"),
            seq=row.id,
        )
        for row in rows
    ]
