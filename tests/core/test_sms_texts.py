"""Every SMS of every kind stays within two parts whatever the warning says, and an
SMS template that could not is refused when it loads, with its file named.

The values are the longest a county plausibly sends: an 80-character headline, event
names of 120 characters, a long instruction, a summons about 30 silent persons, a
supervisor with a long name, a 40-character public URL, and the drill marker.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from dispatcher.core.errors import TemplateError
from dispatcher.core.links import AnswerLinks, url_length
from dispatcher.core.sms_fit import is_gsm7, sms_parts
from dispatcher.engine.texts import Addressee, Texts, WarningText, template_problems

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("alert", "update", "cancel", "clear", "escalation", "door_knock")
LANGUAGES = ("zh-CN", "en")

PUBLIC_URL = "https://yjgl-jiaoying.luhe.swgd.gov.cn/q"

LINK = AnswerLinks(b"k" * 32, PUBLIC_URL).url(
    "s", 2_147_483_647, datetime(2026, 7, 21, tzinfo=UTC) + timedelta(days=1)
)
HEADLINE = (
    "陆河县气象台2026年7月20日02时00分发布暴雨红色预警信号：预计未来3小时河田镇、水唇镇、"
    "上护镇、螺溪镇、东坑镇、新田镇将出现100毫米以上降水，山洪风险极高"
)[:80]
EVENT = (
    "螺河流域河田镇、水唇镇、上护镇、螺溪镇、东坑镇、新田镇、河口镇、南万镇山洪灾害"
    "气象风险及中小河流洪水、城乡积涝、山体滑坡、崩塌、泥石流等地质灾害气象风险叠加的"
    "暴雨红色预警（陆河县突发事件预警信息发布中心、陆河县气象局、水务局、自然资源局联合发布）"
)[:120]
INSTRUCTION = (
    "请河田镇、水唇镇各村（社区）网格责任人立即叫应到户：转移山洪危险区、地质灾害隐患点和"
    "低洼地带群众；停止户外作业和集会；学校、幼儿园停课；危险路段实行交通管制；"
    "水库、山塘24小时值守，发现险情立即报告县防汛指挥部（电话0660-5512110）。"
) * 2
SILENT = [
    f"{surname}{given}"
    for surname in ("欧阳", "司马", "诸葛", "上官", "东方", "慕容")
    for given in ("建国", "晓燕", "明亮", "婉儿", "振东")
]
GRIDS = [f"河田镇新田村第{n}网格" for n in "一二三四五六七八九十"]
LONGEST = WarningText(
    event=EVENT,
    headline=HEADLINE,
    description="受强降水云团影响，" * 30,
    instruction=INSTRUCTION,
    level="orange",
    level_cn="橙色",
    drill=True,
    all_clear=False,
    sender_name="陆河县突发事件预警信息发布中心",
    areas="陆河县河田镇、陆河县水唇镇",
)
PERSON = Addressee(
    "阿卜杜热合曼·买买提", "网格员(A角)", ("河田镇新田村第一网格", "河田镇新田村第二网格")
)
# What each kind asks the reader to do: never cut.
ANSWER = {
    "zh-CN": {
        "alert": "请回复1确认收到或点 ",
        "update": "请回复1确认收到或点 ",
        "escalation": "回复1确认您已接手或点 ",
        "cancel": "无需回复",
        "clear": "叫应升级措施解除",
        "door_knock": "请立即上门逐户通知",
    },
    "en": {
        "alert": "Confirm: reply 1 or open ",
        "update": "Confirm: reply 1 or open ",
        "escalation": "Reply 1 to take over or open ",
        "cancel": "No reply needed",
        "clear": "escalation stopped",
        "door_knock": "Go door to door",
    },
}
WITH_LINK = ("alert", "update", "escalation")

TEXTS = Texts(ROOT / "templates", link_length=url_length(PUBLIC_URL))


def _render(
    language: str, kind: str, warning: WarningText = LONGEST, person: Addressee = PERSON
) -> str:
    return TEXTS.render(
        "sms",
        kind,
        warning=warning,
        person=person,
        answer_url=LINK if kind in WITH_LINK else None,
        silent=SILENT,
        grid_names=GRIDS,
        language=language,
    )


def test_the_values_are_the_longest_plausible() -> None:
    assert len(HEADLINE) == 80
    assert len(EVENT) == 120
    assert len(INSTRUCTION) > 150
    assert len(SILENT) == 30 and {len(name) for name in SILENT} == {4}
    assert len(LINK) == url_length(PUBLIC_URL) == 74


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_sms_fits_two_parts_with_the_longest_values(language: str, kind: str) -> None:
    for all_clear in (False, True):
        text = _render(language, kind, replace(LONGEST, all_clear=all_clear))
        assert sms_parts(text) <= 2, f"{sms_parts(text)} parts: {text}"
        if kind in WITH_LINK:
            assert LINK in text, "the link is whole"
            assert text.rstrip("。").endswith(LINK), "and nothing after it was cut into it"
        if kind != "clear" or not all_clear:
            assert ANSWER[language][kind] in text, "the answer instruction is whole"
        assert ("【演练】" if language == "zh-CN" else "[DRILL]") in text


@pytest.mark.parametrize(
    ("language", "kind"),
    [
        ("zh-CN", "alert"),
        ("zh-CN", "update"),
        ("zh-CN", "escalation"),
        ("en", "alert"),
        ("en", "update"),
    ],
)
def test_the_level_is_never_cut(language: str, kind: str) -> None:
    assert ("橙色" if language == "zh-CN" else "ORANGE") in _render(language, kind)


@pytest.mark.parametrize("kind", ["alert", "update"])
def test_a_long_event_gives_way_but_its_beginning_stays(kind: str) -> None:
    assert EVENT[:12] in _render("zh-CN", kind)


@pytest.mark.parametrize("kind", ["alert", "update"])
def test_the_persons_grid_is_kept_before_the_headline_and_instruction(kind: str) -> None:
    text = _render("zh-CN", kind)
    assert PERSON.grids[0] in text
    assert "…" in text


def test_a_summons_names_whole_silent_persons() -> None:
    text = _render("zh-CN", "escalation")
    assert "30人未确认" in text
    listed = text.split("：")[2].split("…")[0]
    names = listed.split("、")
    assert names and all(name in SILENT for name in names), "no name is cut in half"


def test_a_real_county_alert_keeps_the_start_of_its_instruction() -> None:
    """The defect: a 60-80 character headline made the alert three UCS-2 parts."""
    county = replace(LONGEST, event="暴雨红色预警", level="red", level_cn="红色", drill=False)
    person = Addressee("黄伟明", "网格员(A角)", ("人民社区第一网格",))
    text = _render("zh-CN", "alert", county, person)
    assert sms_parts(text) == 2
    # The headline restates the event here; the page behind the link shows it.
    assert text.startswith("【红色预警】黄伟明（人民社区第一网格）：暴雨红色预警。")
    assert INSTRUCTION[:20] in text
    assert text.endswith(f"请回复1确认收到或点 {LINK}。")


def test_an_english_sms_in_gsm7_may_use_two_parts_of_153() -> None:
    nws = WarningText(
        event="Flash Flood Warning",
        headline="Flash Flood Warning issued July 20 at 2:04AM CDT until July 20 at 8:00AM "
        "CDT by NWS Houston/Galveston TX",
        description="At 204 AM CDT, Doppler radar indicated thunderstorms producing heavy rain. "
        * 4,
        instruction="Turn around, don't drown when encountering flooded roads. Most flood deaths "
        "occur in vehicles. Move to higher ground now. Act quickly to protect your life. " * 2,
        level="red",
        level_cn="红色",
        drill=False,
        all_clear=False,
        sender_name="NWS Houston/Galveston TX",
        areas="Harris, TX; Fort Bend, TX",
    )
    person = Addressee("Maria Gonzalez-Villanueva", "block captain", ("Meyerland North",))
    text = _render("en", "alert", nws, person)
    assert is_gsm7(text)
    assert 134 < len(text) <= 306
    assert sms_parts(text) == 2
    assert "..." in text and "…" not in text, "the GSM-7 marker keeps it GSM-7"
    assert text.startswith("[RED] Maria Gonzalez-Villanueva (Meyerland North): Flash Flood")

    curly = replace(nws, instruction=nws.instruction.replace("don't", "don’t"))
    ucs2 = _render("en", "alert", curly, person)
    assert not is_gsm7(ucs2)
    assert sms_parts(ucs2) == 2
    assert len(ucs2) <= 134


def _write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return path


def test_a_template_whose_fixed_text_cannot_fit_is_refused_naming_its_file(
    tmp_path: Path,
) -> None:
    _write(tmp_path, "zh-CN/sms/alert.j2", "【{{ w.level_cn }}预警】{{ w.event | shorten(1) }}")
    wordy = _write(
        tmp_path,
        "zh-CN/sms/update.j2",
        "【预警更新】请各位网格责任人务必高度重视，" * 4
        + "{{ w.event | shorten(1) }}请回复1确认收到或点 {{ answer_url }}。",
    )
    unmarked = _write(
        tmp_path,
        "zh-CN/sms/clear.j2",
        "【预警解除】{{ w.event | shorten(1) }}。{{ w.instruction }}",
    )
    broken = _write(tmp_path, "zh-CN/sms/cancel.j2", "【预警取消】{{ w.event | shorten(1) }")
    with pytest.raises(TemplateError) as refused:
        Texts(tmp_path)
    problems = refused.value.problems
    assert len(problems) == 3
    assert problems[0].startswith(f"{broken}: ")
    assert problems[1].startswith(f"{unmarked}: ")
    assert "7 SMS parts" in problems[1], "the instruction is printed whole"
    assert problems[2].startswith(f"{wordy}: ")
    assert template_problems(tmp_path) == list(problems)


def test_the_shipped_templates_pass_the_check_with_a_40_character_url() -> None:
    assert template_problems(ROOT / "templates", link_length=url_length(PUBLIC_URL)) == []


def test_an_edited_template_that_cannot_fit_keeps_the_previous_text(tmp_path: Path) -> None:
    template = _write(tmp_path, "zh-CN/sms/alert.j2", "旧：{{ w.event | shorten(1) }}")
    texts = Texts(tmp_path, recheck=0.2)
    assert texts.render("sms", "alert", warning=LONGEST, person=PERSON).startswith("旧：")

    template.write_text("新：" + "请注意" * 60 + "{{ w.event | shorten(1) }}", encoding="utf-8")
    os.utime(template, (time.time() + 5, time.time() + 5))
    time.sleep(0.25)
    with capture_logs() as logs:
        text = texts.render("sms", "alert", warning=LONGEST, person=PERSON)
    assert text.startswith("旧："), "the refused edit is not sent"
    refused = [line for line in logs if line["log_level"] == "error"]
    assert refused and str(template) in refused[0]["problem"]

    template.write_text("新：{{ w.event | shorten(1) }}", encoding="utf-8")
    os.utime(template, (time.time() + 10, time.time() + 10))
    time.sleep(0.25)
    assert texts.render("sms", "alert", warning=LONGEST, person=PERSON).startswith("新：")
