"""The operator's commands, as a duty officer runs them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from dispatcher.cli import main
from dispatcher.files.roster_dir import load_roster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def test_roster_check_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["roster", "check", str(EXAMPLES / "roster")]) == 0
    assert "24 grids, 55 persons" in capsys.readouterr().out


def test_roster_check_lists_every_problem_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["roster", "check", str(ROOT / "tests/data/bad_roster")]) == 1
    err = capsys.readouterr().err
    assert "grids.csv:3: duplicate grid code" in err
    assert re.search(r"persons\.csv:\d+: ", err)
    assert len(err.splitlines()) > 10


def test_policy_check_summarises_each_level(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(EXAMPLES / "policy.yaml")]) == 0
    out = capsys.readouterr().out
    assert "red: answer within 5m; 0s:voice+sms+wechat, 0s:broadcast" in out
    assert "default_level: none (a warning that states no level is refused)" in out


def test_policy_check_shows_the_default_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.yaml"
    shipped = (EXAMPLES / "policy.yaml").read_text(encoding="utf-8")
    policy.write_text(shipped.replace("# default_level: yellow", "default_level: 黄色"), "utf-8")
    assert main(["policy", "check", str(policy)]) == 0
    assert "default_level: yellow (a warning that states no level)" in capsys.readouterr().out


def test_policy_check_says_which_redial_the_voice_provider_s_cap_refuses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shipped = str(EXAMPLES / "policy.yaml")
    assert main(["policy", "check", shipped, "--voice-provider", "aliyun"]) == 0
    assert "warning:" not in capsys.readouterr().out, "0, 2, 4 min fit 1 a minute, 5 an hour"
    assert main(["policy", "check", shipped, "--voice-provider", "tencent"]) == 0
    out = capsys.readouterr().out
    assert (
        "warning: red.steps[3]: the call at 4m breaks Tencent Cloud's cap of 2 calls per "
        "10 minutes per callee (after the one at 0s): it will be refused as capped"
    ) in out
    fast = str(ROOT / "tests/data/fast-policy.yaml")
    assert main(["policy", "check", fast, "--voice-provider", "aliyun"]) == 0
    assert "red.steps[2]: the call at 1.5s breaks Alibaba Cloud's cap of 1 call a minute" in (
        capsys.readouterr().out
    )


def test_policy_check_fails_on_a_bad_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("red: {answer_within: soon, steps: []}\n", encoding="utf-8")
    assert main(["policy", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "red.answer_within: 'soon' is not a duration" in err
    assert "orange: Field required" in err


def test_parse_shows_who_would_be_called_with_masked_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            "parse",
            str(EXAMPLES / "warnings/red-rainstorm.xml"),
            "--roster",
            str(EXAMPLES / "roster"),
            "--policy",
            str(EXAMPLES / "policy.yaml"),
            "--json",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    roster = load_roster(EXAMPLES / "roster")
    numbers = [p.phone.removeprefix("+86") for p in roster.persons.values() if p.phone]
    assert not [n for n in numbers if n in out], "a full phone number reached the output"
    result = json.loads(out)
    assert result["warning"]["identifier"] == "44152341600000_20260720020000"
    plan = result["plan"]
    assert plan["level"] == "red"
    assert plan["drill"] is False
    assert {g["code"][:9] for g in plan["grids"]} == {"441523100", "441523101"}
    first = plan["recipients"][0]
    assert re.fullmatch(r"1\d\d\*\*\*\*\d{4}", first["phone"])
    after = [step["after"] for step in first["timeline"]]
    assert after[0] == "0s"
    assert "5m" in after, "the supervisor is called at the red deadline"
    escalations = [
        action for step in first["timeline"] for action in step["actions"] if "escalate" in action
    ]
    assert escalations[0]["to"].endswith("）"), "the supervisor is named with their role"


def test_parse_of_a_drill_marks_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(EXAMPLES / "warnings/drill-flash-flood.xml"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["drill"] is True


def test_parse_rejects_bad_input_with_path_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.xml"
    original = (EXAMPLES / "warnings/red-rainstorm.xml").read_text(encoding="utf-8")
    broken.write_text(original.replace("<msgType>Alert</msgType>", ""), encoding="utf-8")
    assert main(["parse", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "alert: <msgType> is missing" in err
    assert "Traceback" not in err


def test_templates_check_refuses_a_provider_template_the_provider_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    assert main(["templates", "check", str(tmp_path / "templates")]) == 0
    capsys.readouterr()
    alert = tmp_path / "templates" / "aliyun" / "sms" / "alert.txt"
    alert.write_text("${name}${event}：请回复1确认收到。", encoding="utf-8")
    tencent = tmp_path / "templates" / "tencent" / "voice" / "update.txt"
    tencent.write_text("# {1}=name\n{1}您好，{2}有更新。", encoding="utf-8")
    assert main(["templates", "check", str(tmp_path / "templates")]) == 1
    err = capsys.readouterr().err
    assert "aliyun/sms: alert: two variables touch" in err
    assert "tencent/voice: update: the first line must name each numbered variable" in err
