"""The domestic providers' pre-approved templates, and the values jiaoying fills in.

Alibaba Cloud and Tencent Cloud send only texts approved in their console: jiaoying
sends a template id and the values of its variables, never a text of its own. The
approved text of each template is kept in `templates/<provider>/<channel>/<kind>.txt`,
so that a review sees what a person receives and the load checks it: every variable is
one jiaoying fills, no two variables touch (Alibaba Cloud refuses that), and no value
can exceed the provider's limit per variable (35 characters on Alibaba Cloud).

Alibaba Cloud names its variables (`${name}`); Tencent Cloud numbers them (`{1}`), and
its file's first line maps the numbers to names (`# {1}=name {2}=event`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from channels.base import Notice

__all__ = [
    "PROVIDER_FOLDERS",
    "VARIABLES",
    "ProviderTemplate",
    "TemplateProblem",
    "folder_problems",
    "load_templates",
    "parse_template",
    "read_templates",
    "values_for",
]

_LEVEL_WORDS = {"red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色"}
_KIND_WORDS = {
    "alert": "预警",
    "update": "预警更新",
    "cancel": "预警取消",
    "clear": "预警解除",
    "escalation": "未叫应",
    "door_knock": "上门叫应",
}
# The variables jiaoying can fill, each with the longest value it may produce: a value
# longer than a provider's limit is cut, so the check is on these bounds.
VARIABLES: Mapping[str, int] = {
    "name": 12,  # the person's name (a few characters; cut beyond 12)
    "level": 2,  # 红色 橙色 黄色 蓝色
    "event": 20,  # 暴雨红色预警 (the warning's event, 【演练】 first in a drill)
    "kind": 4,  # 预警 / 预警更新 / …
    "token": 31,  # the answer link's token (core.links: 31 characters)
}
_NAMED = re.compile(r"\$\{([A-Za-z_]+)\}")
_NUMBERED = re.compile(r"\{(\d+)\}")
_HEADER = re.compile(r"\{(\d+)\}=([A-Za-z_]+)")
MAX_TEMPLATE = 500


class TemplateProblem(ValueError):
    """A provider template that cannot be used; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class ProviderTemplate:
    """One approved template: its provider id and the variables it fills, in order."""

    kind: str
    template_id: str
    variables: tuple[str, ...]

    def named(self, notice: Notice, limit: int) -> dict[str, str]:
        """The values by name (Alibaba Cloud's `TemplateParam`)."""
        values = values_for(notice, limit)
        return {name: values[name] for name in self.variables}

    def ordered(self, notice: Notice, limit: int) -> list[str]:
        """The values in order (Tencent Cloud's `TemplateParamSet`)."""
        values = values_for(notice, limit)
        return [values[name] for name in self.variables]


def parse_template(
    kind: str, template_id: str, text: str, *, numbered: bool, limit: int | None
) -> ProviderTemplate:
    """The template a file's `text` approves; raises TemplateProblem naming the defect."""
    body_lines = [line for line in text.splitlines() if not line.startswith("#")]
    body = "\n".join(body_lines).strip()
    if not body:
        raise TemplateProblem("the template is empty")
    if len(body) > MAX_TEMPLATE:
        raise TemplateProblem(f"the template has {len(body)} characters, over {MAX_TEMPLATE}")
    if numbered:
        variables = _numbered_variables(text, body)
        pattern = _NUMBERED
    else:
        variables = tuple(_NAMED.findall(body))
        pattern = _NAMED
    unknown = sorted({name for name in variables if name not in VARIABLES})
    if unknown:
        raise TemplateProblem(
            f"unknown variable(s) {', '.join(unknown)} (jiaoying fills {', '.join(VARIABLES)})"
        )
    spans = [match.span() for match in pattern.finditer(body)]
    for (_, end), (start, _) in itertools.pairwise(spans):
        if end == start:
            raise TemplateProblem("two variables touch; the provider refuses that")
    if limit is not None:
        too_long = [name for name in variables if VARIABLES[name] > limit]
        if too_long:
            raise TemplateProblem(
                f"variable(s) {', '.join(too_long)} may exceed {limit} characters"
            )
    return ProviderTemplate(kind, template_id, variables)


def _numbered_variables(text: str, body: str) -> tuple[str, ...]:
    header = dict(_HEADER.findall(text.splitlines()[0] if text.startswith("#") else ""))
    numbers = _NUMBERED.findall(body)
    missing = [number for number in numbers if number not in header]
    if missing:
        raise TemplateProblem(
            "the first line must name each numbered variable (`# {1}=name {2}=event`); "
            f"not named: {', '.join('{' + number + '}' for number in missing)}"
        )
    if sorted(int(number) for number in numbers) != list(range(1, len(numbers) + 1)):
        raise TemplateProblem("numbered variables must be {1}, {2}, … each once")
    return tuple(header[number] for number in sorted(numbers, key=int))


def values_for(notice: Notice, limit: int) -> dict[str, str]:
    """Every variable's value for `notice`, each cut to `limit` characters."""
    token = ""
    if notice.answer_url:
        token = urlsplit(notice.answer_url).path.rstrip("/").rsplit("/", 1)[-1]
    values = {
        "name": notice.extra.get("name", "") or "网格员",
        "level": _LEVEL_WORDS.get(notice.level, notice.level),
        "event": notice.title,
        "kind": _KIND_WORDS.get(notice.kind, "预警"),
        "token": token,
    }
    return {name: _cut(value, min(limit, VARIABLES[name])) for name, value in values.items()}


def _cut(value: str, limit: int) -> str:
    # A provider refuses an empty variable: a placeholder keeps the send going.
    value = value.strip() or "-"
    return value if len(value) <= limit else value[: limit - 1] + "…"


def load_templates(
    texts: Mapping[str, str],
    ids: Mapping[str, str],
    *,
    numbered: bool,
    limit: int | None,
    kinds: Sequence[str],
) -> dict[str, ProviderTemplate]:
    """Every kind's template from its file text and its console id; raises
    TemplateProblem naming each kind whose file is missing or wrong."""
    problems: list[str] = []
    templates: dict[str, ProviderTemplate] = {}
    for kind in kinds:
        if kind not in texts:
            problems.append(f"{kind}: no template file")
            continue
        if kind not in ids:
            problems.append(f"{kind}: no template id configured")
            continue
        try:
            templates[kind] = parse_template(
                kind, ids[kind], texts[kind], numbered=numbered, limit=limit
            )
        except TemplateProblem as problem:
            problems.append(f"{kind}: {problem}")
    if problems:
        raise TemplateProblem("; ".join(problems))
    return templates


def read_templates(
    directory: Path,
    ids: Mapping[str, str],
    *,
    numbered: bool,
    limit: int | None,
    kinds: Sequence[str],
) -> dict[str, ProviderTemplate]:
    """The templates of one provider and channel (`templates/aliyun/sms/`), one file per
    kind (`alert.txt`), checked; raises TemplateProblem naming the folder and each
    defect."""
    texts = {
        path.stem: path.read_text(encoding="utf-8")
        for path in sorted(directory.glob("*.txt"))
        if path.stem in kinds
    }
    try:
        return load_templates(texts, ids, numbered=numbered, limit=limit, kinds=kinds)
    except TemplateProblem as problem:
        raise TemplateProblem(f"{directory}: {problem}") from None


# Each provider's template folders under `templates/`: (provider, channel, numbered).
PROVIDER_FOLDERS = (
    ("aliyun", "sms", False),
    ("aliyun", "voice", False),
    ("tencent", "sms", True),
    ("tencent", "voice", True),
)


def folder_problems(templates_dir: Path, kinds: Sequence[str], limit: int) -> list[str]:
    """The problems of every provider template folder present under `templates_dir`, each
    file's text checked (its console id is the operator's setting, not checked here)."""
    problems: list[str] = []
    for provider, channel, numbered in PROVIDER_FOLDERS:
        directory = templates_dir / provider / channel
        if not directory.is_dir():
            continue
        try:
            read_templates(
                directory, dict.fromkeys(kinds, "-"), numbered=numbered, limit=limit, kinds=kinds
            )
        except TemplateProblem as problem:
            problems.append(str(problem))
    return problems
