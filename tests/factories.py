"""Build domain values directly, for tests of the core that are not about parsing."""

from __future__ import annotations

from datetime import datetime, timedelta

from dispatcher.core.model import Area, Info, Level, MsgType, Reference, Scope, Status, Warning

SEVERITY = {
    Level.RED: "Extreme",
    Level.ORANGE: "Severe",
    Level.YELLOW: "Moderate",
    Level.BLUE: "Minor",
}


def make_warning(
    *,
    level: Level | None = Level.RED,
    sent: datetime,
    msg_type: str = "Alert",
    status: str = "Actual",
    expires: timedelta | None = None,
    identifier: str = "44152341600000_20260720020000",
    geocodes: tuple[str, ...] = ("441523100",),
    all_clear: bool = False,
) -> Warning:
    kind = MsgType(msg_type)
    references = (
        ()
        if kind is MsgType.ALERT
        else (
            Reference(
                "441523416000000", "44152341600000_20260720020000", sent - timedelta(hours=1)
            ),
        )
    )
    info = Info(
        language="zh-CN",
        event=f"暴雨{level.chinese}预警" if level else "暴雨预警",
        urgency="Immediate",
        severity=SEVERITY[level] if level else "Unknown",
        certainty="Likely",
        level=level,
        response_types=("AllClear",) if all_clear else ("Prepare",),
        headline="陆河县气象台发布暴雨预警",
        expires=sent + expires if expires else None,
        areas=(Area("河田镇", geocodes=geocodes),),
    )
    return Warning(
        identifier=identifier if kind is MsgType.ALERT else f"{identifier}_{msg_type}",
        sender="441523416000000",
        sent=sent,
        status=Status(status),
        msg_type=kind,
        scope=Scope.PUBLIC,
        infos=(info,),
        references=references,
    )
