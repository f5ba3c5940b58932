"""Every message template renders for every example warning and marks drills."""

from __future__ import annotations

import functools
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from dispatcher.core.content_type import parse_warning
from dispatcher.engine.texts import Addressee, Texts, WarningText

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples/warnings").glob("*.xml")) + sorted(
    (ROOT / "examples/warnings").glob("*.json")
)
TEXTS = Texts(ROOT / "templates")
KINDS = ("alert", "update", "cancel", "clear", "escalation", "door_knock")
CHANNELS = ("sms", "voice", "wechat", "broadcast")
LANGUAGES = ("zh-CN", "en")
# A realistic answer link (public URL plus a 31-character token) and long names.
LINK = "https://jiaoying.luhe.gov.cn/a/cgAAAAAAAeJAAci7oysPXB2jiB18WoY"
PERSON = Addressee("欧阳建国", "网格员")
SILENT = ["欧阳建国", "司马晓燕", "诸葛明亮", "上官婉儿", "张三丰"]
GRIDS = ["河田镇新田村第一网格", "河田镇新田村第二网格", "水唇镇螺洞村第三网格"]


def _texts_of_examples() -> list[WarningText]:
    warnings = []
    for path in EXAMPLES:
        content_type = "application/json" if path.suffix == ".json" else "application/cap+xml"
        warning = parse_warning(path.read_bytes(), content_type)
        if warning.infos:  # a Cancel without text speaks from the warning it cancels
            warnings.append(WarningText.of(warning))
    return warnings


WARNINGS = _texts_of_examples()


def _cases() -> list[tuple[str, str, str]]:
    return [
        (language, channel, kind)
        for language in LANGUAGES
        for channel in CHANNELS
        for kind in KINDS
        if not (channel == "broadcast" and kind in ("escalation", "door_knock"))
    ]


def _render(language: str, channel: str, kind: str, warning: WarningText) -> str:
    return TEXTS.render(
        channel,
        kind,
        warning=warning,
        person=PERSON,
        answer_url=LINK,
        silent=SILENT,
        grid_names=GRIDS,
        language=language,
    )


@pytest.mark.parametrize(("language", "channel", "kind"), _cases())
def test_every_template_renders_for_every_example(language: str, channel: str, kind: str) -> None:
    for warning in WARNINGS:
        text = _render(language, channel, kind, warning)
        assert text
        assert "{{" not in text
        assert "None" not in text


@pytest.mark.parametrize(("language", "channel", "kind"), _cases())
def test_a_drill_says_so_in_every_text(language: str, channel: str, kind: str) -> None:
    marker = "演练" if language == "zh-CN" else "drill"
    for warning in WARNINGS:
        drill = _render(language, channel, kind, replace(warning, drill=True))
        assert marker in drill.lower()
        own_words = f"{warning.event}{warning.headline}{warning.instruction}".lower()
        if marker not in own_words:  # the drill example's own text says 演练 anyway
            real = _render(language, channel, kind, replace(warning, drill=False))
            assert marker not in real.lower()


def test_an_operator_can_change_a_text_without_touching_code(tmp_path: Path) -> None:
    (tmp_path / "zh-CN/sms").mkdir(parents=True)
    (tmp_path / "zh-CN/sms/alert.j2").write_text("测试：{{ w.event }}", encoding="utf-8")
    custom = Texts(tmp_path)
    text = custom.render("sms", "alert", warning=WARNINGS[0], person=PERSON)
    assert text == f"测试：{WARNINGS[0].event}"


def test_an_edited_text_is_used_once_the_recheck_interval_has_passed(tmp_path: Path) -> None:
    template = tmp_path / "zh-CN/sms/alert.j2"
    template.parent.mkdir(parents=True)
    template.write_text("旧：{{ w.event }}", encoding="utf-8")
    texts = Texts(tmp_path, recheck=0.5)
    render = functools.partial(texts.render, "sms", "alert", warning=WARNINGS[0], person=PERSON)
    assert render().startswith("旧：")

    template.write_text("新：{{ w.event }}", encoding="utf-8")
    os.utime(template, (time.time() + 5, time.time() + 5))  # a newer mtime, however coarse
    assert render().startswith("旧："), "the file was looked at before the interval passed"
    time.sleep(0.55)
    assert render().startswith("新：")
