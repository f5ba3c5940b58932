"""Message texts from the Jinja2 files under `templates/`, which operators edit without code.

One file per language, channel and kind of notice: `zh-CN/sms/alert.j2`. The context is
small and documented here, so a template author knows what they can use:

- `w`: the warning (`event`, `headline`, `description`, `instruction`, `level`,
  `level_cn`, `drill`, `all_clear`, `sender_name`, `areas`);
- `person`: the addressee (`name`, `role`);
- `answer_url`: the signed answer link, or None;
- `silent`, `silent_names`: for an escalation, the persons who have not answered;
- `grid_names`: for a door-knock task, the grids to visit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from dispatcher.core.model import Warning

DEFAULT_LANGUAGE = "zh-CN"
# How long an edited template file may go unnoticed by a running service.
RECHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class WarningText:
    """What templates may say about a warning."""

    event: str
    headline: str
    description: str
    instruction: str
    level: str
    level_cn: str
    drill: bool
    all_clear: bool
    sender_name: str
    areas: str

    @classmethod
    def of(cls, warning: Warning) -> WarningText:
        info = warning.primary
        level = warning.level
        return cls(
            event=info.event,
            headline=info.headline,
            description=info.description,
            instruction=info.instruction,
            level=level.value if level else "",
            level_cn=level.chinese if level else "",
            drill=warning.drill,
            all_clear=warning.all_clear,
            sender_name=info.sender_name,
            areas="、".join(dict.fromkeys(area.description for area in info.areas)),
        )


@dataclass(frozen=True, slots=True)
class Addressee:
    name: str
    role: str = ""


# GSM 03.38: the basic set costs one septet, the extension set two; anything else (all
# Chinese) forces UCS-2, where a segment holds 70 UTF-16 units, 67 when concatenated.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


def sms_segments(text: str) -> int:
    """How many SMS segments `text` costs (what the provider bills and the handset joins)."""
    if all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in text):
        units = len(text) + sum(char in _GSM_EXTENDED for char in text)
        single, part = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else -(-units // part)


def fit(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut (SMS segments cost money)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _RecheckingLoader(FileSystemLoader):
    """Jinja2's file loader, whose templates look at their file for changes at most once
    every `recheck` seconds instead of on every render: that look is a `stat` per template
    and per imported macro file, for every SMS of a fan-out (about 3 % of its CPU)."""

    def __init__(self, directory: Path, recheck: float) -> None:
        super().__init__(str(directory))
        self._recheck = recheck

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        return source, filename, _rechecking(uptodate, self._recheck)


def _rechecking(uptodate: Callable[[], bool], every: float) -> Callable[[], bool]:
    checked_at = time.monotonic()
    fresh = True

    def check() -> bool:
        nonlocal checked_at, fresh
        now = time.monotonic()
        if fresh and now - checked_at >= every:
            checked_at, fresh = now, uptodate()
        return fresh

    return check


class Texts:
    def __init__(self, directory: Path, *, recheck: float = RECHECK_SECONDS) -> None:
        self._env = Environment(
            loader=_RecheckingLoader(directory, recheck),
            undefined=StrictUndefined,
            # Plain text, never HTML: TwiML and JSON are escaped by their own builders.
            autoescape=False,  # noqa: S701
            keep_trailing_newline=False,
        )
        self._env.filters["fit"] = fit

    def render(
        self,
        channel: str,
        kind: str,
        *,
        warning: WarningText,
        person: Addressee,
        answer_url: str | None = None,
        silent: Sequence[str] = (),
        grid_names: Sequence[str] = (),
        language: str = DEFAULT_LANGUAGE,
    ) -> str:
        """The text for one notice; raises jinja2.TemplateNotFound for a missing template."""
        template = self._env.get_template(f"{language}/{channel}/{kind}.j2")
        context: dict[str, Any] = {
            "w": warning,
            "person": person,
            "answer_url": answer_url,
            "silent": list(silent),
            "silent_names": "、".join(silent),
            "grid_names": "、".join(grid_names),
        }
        return template.render(context).strip()
