"""Message texts from the Jinja2 files under `templates/`, which operators edit without code.

One file per language, channel and kind of notice: `zh-CN/sms/alert.j2`. The context is
small and documented here, so a template author knows what they can use:

- `w`: the warning (`event`, `headline`, `description`, `instruction`, `level`,
  `level_cn`, `drill`, `all_clear`, `sender_name`, `areas`);
- `person`: the addressee (`name`, `role`, `grids`: the names of the grids they answer
  for in this warning, empty for a supervisor's summons);
- `answer_url`: the signed answer link, or None;
- `silent`, `silent_names`: for an escalation, the persons who have not answered;
- `grid_names`: for a door-knock task, the grids to visit.

An SMS stays within two parts (134 Chinese characters, `dispatcher.core.sms_fit`). What it may
shorten is marked in its template: `{{ w.instruction | shorten(1) }}` is a variable part,
cut from its end with "…" when the text is too long, rank 1 before rank 2 and so on;
`shorten(4, keep=12)` gives way to the lower ranks' first 12 characters before it is cut
further; `shorten(3, at="、")` keeps whole items of a list. Everything else (the level, the answer
instruction, the link) is fixed and never cut. A template whose fixed text cannot fit even
with every variable part cut is refused when it loads, naming its file (`TemplateError`);
on the other channels `shorten` leaves the value whole.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import structlog
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from jinja2 import TemplateError as JinjaError

from dispatcher.core.errors import TemplateError
from dispatcher.core.links import url_length
from dispatcher.core.model import Warning
from dispatcher.core.sms_fit import MAX_PARTS, Slot, fit_parts, sms_parts

log = structlog.get_logger("jiaoying.texts")

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
    grids: tuple[str, ...] = ()


def fit(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut (for WeChat's fields)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# A variable part travels through the rendered text between private-use characters, which
# no warning text may carry (they are taken out of every value that is marked):
# OPEN rank "," keep RANK_END separator TEXT_START text CLOSE.
_OPEN, _RANK_END, _TEXT_START, _CLOSE = "\ue000", "\ue003", "\ue001", "\ue002"
_UNMARKED = str.maketrans(dict.fromkeys(_OPEN + _RANK_END + _TEXT_START + _CLOSE))


def shorten(value: object, rank: int = 1, at: str = "", keep: int = 0) -> str:
    """The template filter marking `value` as a part an SMS may shorten (see above)."""
    text = " ".join(str(value).translate(_UNMARKED).split())
    separator = at.translate(_UNMARKED)
    return f"{_OPEN}{int(rank)},{int(keep)}{_RANK_END}{separator}{_TEXT_START}{text}{_CLOSE}"


def pieces_of(rendered: str) -> list[str | Slot]:
    """A rendered template as its fixed text and its marked variable parts, in order."""
    # str.partition rather than a regular expression: this runs for every SMS sent.
    first, *marked = rendered.split(_OPEN)
    pieces: list[str | Slot] = [first] if first else []
    for part in marked:
        head, _, rest = part.partition(_TEXT_START)
        text, _, after = rest.partition(_CLOSE)
        numbers, _, separator = head.partition(_RANK_END)
        rank, _, keep = numbers.partition(",")
        pieces.append(Slot(text, int(rank), separator, int(keep)))
        if after:
            pieces.append(after)
    return pieces


def whole(rendered: str) -> str:
    """A rendered template with its variable parts unshortened (every channel but SMS)."""
    return "".join(piece if isinstance(piece, str) else piece.text for piece in pieces_of(rendered))


# The longest plausible values, for the check of an SMS template's fixed text: whatever
# the template prints without `shorten` must fit beside these.
PUBLIC_URL_BOUND = 40
_PROBE_WARNING = WarningText(
    event="山洪灾害" * 30,
    headline="陆河县气象台" * 14,
    description="受强降水云团影响" * 60,
    instruction="请立即转移危险区群众" * 40,
    level="orange",
    level_cn="橙色",
    drill=True,
    all_clear=False,
    sender_name="陆河县突发事件预警信息发布中心",
    areas="陆河县河田镇、陆河县水唇镇",
)
_PROBE_NAME = "阿卜杜热合曼·买买提"


def _probe_contexts(link_length: int) -> list[dict[str, Any]]:
    silent = [f"欧阳建{n:02d}" for n in range(30)]
    grids = [f"河田镇新田村第{n:02d}网格" for n in range(12)]
    contexts = []
    for all_clear in (False, True):
        warning = replace(_PROBE_WARNING, all_clear=all_clear)
        contexts.append(
            _context(
                warning,
                Addressee(_PROBE_NAME, "网格员(A角)", tuple(grids[:3])),
                "h" * link_length,
                silent,
                grids,
            )
        )
    return contexts


def _context(
    warning: WarningText,
    person: Addressee,
    answer_url: str | None,
    silent: Sequence[str],
    grid_names: Sequence[str],
) -> dict[str, Any]:
    return {
        "w": warning,
        "person": person,
        "answer_url": answer_url,
        "silent": list(silent),
        "silent_names": "、".join(silent),
        "grid_names": "、".join(grid_names),
    }


class _RecheckingLoader(FileSystemLoader):
    """Jinja2's file loader, whose templates look at their file for changes at most once
    every `recheck` seconds instead of on every render: that look is a `stat` per template
    and per imported macro file, for every SMS of a fan-out (about 3 % of its CPU).

    An SMS template is vetted each time it is read: one that cannot fit two parts is
    refused. At start that refusal stops the service; once running, the edited file is
    logged as refused and the version read before stays in use until it is mended.
    """

    def __init__(
        self,
        directory: Path,
        recheck: float,
        vet: Callable[[Environment, str, str], str | None],
    ) -> None:
        super().__init__(str(directory))
        self._recheck = recheck
        self._vet = vet
        self._good: dict[str, tuple[str, str]] = {}

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if is_sms(template):
            problem = self._vet(environment, source, filename)
            if problem is not None:
                previous = self._good.get(template)
                if previous is None:
                    raise TemplateError([problem])
                log.error("edited template refused; the previous text stays", problem=problem)
                source, filename = previous
            else:
                self._good[template] = (source, filename)
        return source, filename, _rechecking(uptodate, self._recheck)


def is_sms(template: str) -> bool:
    """True for the name of an SMS template (`<language>/sms/<kind>.j2`)."""
    parts = template.split("/")
    return len(parts) == 3 and parts[1] == "sms"


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
    """The templates of one directory, rendered per notice.

    Every SMS template in it is loaded and vetted at once: raises `TemplateError`
    naming each file whose fixed text cannot fit two parts beside an answer link of
    `link_length` characters (at least that of a 40-character public URL).
    """

    def __init__(
        self,
        directory: Path,
        *,
        recheck: float = RECHECK_SECONDS,
        link_length: int = 0,
    ) -> None:
        self._probes = _probe_contexts(max(link_length, url_length("h" * PUBLIC_URL_BOUND)))
        self._env = Environment(
            loader=_RecheckingLoader(directory, recheck, self._vet),
            undefined=StrictUndefined,
            # Plain text, never HTML: TwiML and JSON are escaped by their own builders.
            autoescape=False,  # noqa: S701
            keep_trailing_newline=False,
        )
        self._env.filters["fit"] = fit
        self._env.filters["shorten"] = shorten
        self._overlong: set[str] = set()
        problems: list[str] = []
        for path in sorted(directory.glob("*/sms/*.j2")):
            try:
                self._env.get_template(path.relative_to(directory).as_posix())
            except TemplateError as error:
                problems.extend(error.problems)
        if problems:
            raise TemplateError(problems)

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
        """The text for one notice; raises jinja2.TemplateNotFound for a missing template.

        An SMS is fitted into two parts by shortening its marked parts.
        """
        name = f"{language}/{channel}/{kind}.j2"
        template = self._env.get_template(name)
        rendered = template.render(_context(warning, person, answer_url, silent, grid_names))
        if channel != "sms":
            return whole(rendered).strip()
        text = fit_parts(pieces_of(rendered.strip()))
        if name not in self._overlong and (parts := sms_parts(text)) > MAX_PARTS:
            # A value printed without `shorten` was longer than the check assumed.
            self._overlong.add(name)
            log.warning("sms over two parts", template=name, parts=parts)
        return text

    def _vet(self, environment: Environment, source: str, filename: str) -> str | None:
        try:
            template = environment.from_string(source)
            worst = max(
                sms_parts(fit_parts(pieces_of(template.render(probe).strip())))
                for probe in self._probes
            )
        except JinjaError as error:
            return f"{filename}: {error}"
        if worst <= MAX_PARTS:
            return None
        return (
            f"{filename}: its fixed text takes {worst} SMS parts beside the longest answer "
            f"link and the drill marker, even with every `shorten` part cut to its marker; "
            f"at most {MAX_PARTS} fit (134 Chinese characters): shorten the wording, or mark "
            "more of it with `shorten`"
        )


def template_problems(directory: Path, *, link_length: int = 0) -> list[str]:
    """Every SMS template under `directory` that cannot fit two parts, as `file: reason`."""
    try:
        Texts(directory, link_length=link_length)
    except TemplateError as error:
        return list(error.problems)
    return []
