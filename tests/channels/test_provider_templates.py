"""The domestic providers' approved templates: read, checked, and filled per person."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from channels.base import Notice
from channels.provider_templates import TemplateProblem, parse_template, read_templates
from dispatcher.runtime.provider_choice import NOTICE_KINDS

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
IDS = {kind: f"SMS_46812{n}" for n, kind in enumerate(NOTICE_KINDS)}


@pytest.mark.parametrize(
    ("folder", "numbered"),
    [
        ("aliyun/sms", False),
        ("aliyun/voice", False),
        ("tencent/sms", True),
        ("tencent/voice", True),
    ],
)
def test_every_shipped_template_loads_within_the_35_character_limit(
    folder: str, numbered: bool
) -> None:
    templates = read_templates(
        TEMPLATES / folder, IDS, numbered=numbered, limit=35, kinds=NOTICE_KINDS
    )
    assert set(templates) == set(NOTICE_KINDS)
    assert templates["alert"].variables[:2] == ("name", "event")


@pytest.mark.parametrize(
    ("text", "numbered", "limit", "problem"),
    [
        ("${name}：${area}发布预警", False, 35, "unknown variable(s) area"),
        ("${name}${event}，请回复1", False, 35, "two variables touch"),
        ("${name}：请点 x.cn/a/${token}", False, 20, "token may exceed 20"),
        ("", False, 35, "empty"),
        ("# {1}=name\n{1}：{2}", True, None, "not named: {2}"),
        ("# {1}=name {3}=event\n{1}：{3}", True, None, "must be {1}, {2}"),
        ("预" * 501, False, 35, "over 500"),
    ],
)
def test_a_template_a_provider_would_refuse_is_refused_at_load(
    text: str, numbered: bool, limit: int | None, problem: str
) -> None:
    with pytest.raises(TemplateProblem, match=re.escape(problem)):
        parse_template("alert", "SMS_1", text, numbered=numbered, limit=limit)


def test_a_missing_file_or_id_names_its_kind(tmp_path: Path) -> None:
    (tmp_path / "alert.txt").write_text("${name}：${event}，请回复1确认。", encoding="utf-8")
    with pytest.raises(TemplateProblem) as caught:
        read_templates(tmp_path, {"alert": "SMS_1"}, numbered=False, limit=35, kinds=NOTICE_KINDS)
    assert str(tmp_path) in str(caught.value)
    assert "update: no template file" in str(caught.value)


def test_values_are_cut_to_the_limit_and_never_empty() -> None:
    template = parse_template(
        "alert",
        "SMS_1",
        "${name}：${event}（${level}），点 x.cn/a/${token}",
        numbered=False,
        limit=35,
    )
    notice = Notice(
        key="k",
        channel="sms",
        kind="alert",
        address="+8613900130001",
        text="…",
        title="【演练】江苏省南京市六合区气象台发布暴雨红色预警信号（第3次更新）",
        level="red",
        extra={"name": "阿不都热依木·买买提·艾力"},
    )
    values = template.named(notice, 35)
    assert values["name"] == "阿不都热依木·买买提·…"
    assert len(values["event"]) == 20 and values["event"].endswith("…")
    assert values["level"] == "红色"
    assert values["token"] == "-", "no link: a placeholder the provider accepts"
