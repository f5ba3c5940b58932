"""A warning's life across CAP messages: Alert, then any Updates, perhaps a Cancel.

CAP Update and Cancel are new messages that point at earlier ones through `references`.
`advance` folds each accepted message into one `Lifecycle` value that the state machine
reads; it decides what the change means for people already being called.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from dispatcher.core.errors import InvalidWarning
from dispatcher.core.model import Level, MsgType, Warning


class Change(StrEnum):
    """What the latest accepted message did to the chain."""

    ALERT = "alert"  # the first message: the chain starts
    RENOTIFY = "renotify"  # same-level Update: new content, tell those already told
    RESTART = "restart"  # level raised: everyone is called again from the first step
    CLEAR = "clear"  # level lowered or AllClear: escalation stops, a 解除 notice goes out
    CANCEL = "cancel"  # escalation stops, a cancel notice goes out


class Ending(StrEnum):
    CLEARED = "cleared"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """The state of one warning chain (the Alert and every message referencing it).

    `revision` counts accepted messages (0 for the Alert); `chain_revision` is the revision
    that last (re)started the call chain, and `clock_start` its `sent`: the SLA clock.
    """

    level: Level
    clock_start: datetime
    expires: datetime | None
    drill: bool
    revision: int = 0
    chain_revision: int = 0
    change: Change = Change.ALERT
    ending: Ending | None = None

    @property
    def ended(self) -> bool:
        return self.ending is not None


def start(alert: Warning) -> Lifecycle:
    """The lifecycle an Alert begins. Raises InvalidWarning for a message that cannot start one."""
    if alert.msg_type is not MsgType.ALERT:
        raise InvalidWarning(
            f"a {alert.msg_type} must reference a known warning", "alert/references"
        )
    if alert.level is None:
        raise InvalidWarning("cannot determine the warning level", "alert/info")
    return Lifecycle(
        level=alert.level, clock_start=alert.sent, expires=alert.expires, drill=alert.drill
    )


def advance(current: Lifecycle, message: Warning) -> Lifecycle:
    """Fold an Update or Cancel into the chain it references.

    Raises InvalidWarning when the message cannot apply: an Alert, or anything after a Cancel.
    """
    if current.ending is Ending.CANCELLED:
        raise InvalidWarning("references a warning that was already cancelled", "alert/references")
    revision = current.revision + 1
    if message.msg_type is MsgType.CANCEL:
        return replace(current, revision=revision, change=Change.CANCEL, ending=Ending.CANCELLED)
    if message.msg_type is not MsgType.UPDATE:
        raise InvalidWarning("an Alert cannot reference an earlier warning", "alert/references")
    level = message.level or current.level
    updated = replace(
        current, level=level, expires=message.expires, drill=message.drill, revision=revision
    )
    if message.all_clear or level.rank < current.level.rank:
        return replace(updated, change=Change.CLEAR, ending=Ending.CLEARED)
    if level.rank > current.level.rank:
        return replace(
            updated,
            change=Change.RESTART,
            chain_revision=revision,
            clock_start=message.sent,
            ending=None,
        )
    return replace(updated, change=Change.RENOTIFY)
