"""The CLI and a real `jiaoying serve`: the commands find the service by the same
JIAOYING_HTTP_HOST/JIAOYING_HTTP_PORT it listens on, and `serve` refuses SMS templates
that cannot fit two parts, naming the file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp

from dispatcher.cli.remote import service_url
from tests.reliability.harness import EXAMPLES, ROOT, TOKEN, Serve, prepare_store, serve_env

POLICY = (ROOT / "tests/data/fast-policy.yaml").read_text(encoding="utf-8")


def jiaoying(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_service_url_follows_the_settings_serve_reads() -> None:
    assert service_url({}) == "http://127.0.0.1:8080"
    assert service_url({"JIAOYING_HTTP_PORT": "9090"}) == "http://127.0.0.1:9090"
    every_address = {"JIAOYING_HTTP_HOST": "0.0.0.0", "JIAOYING_HTTP_PORT": "80"}  # noqa: S104
    assert service_url(every_address) == "http://127.0.0.1:80"
    assert service_url({"JIAOYING_HTTP_HOST": "::"}) == "http://[::1]:8080"
    assert service_url({"JIAOYING_HTTP_HOST": "10.1.2.3"}) == "http://10.1.2.3:8080"
    assert service_url(
        {"JIAOYING_URL": "https://jiaoying.luhe.gov.cn/", "JIAOYING_HTTP_PORT": "1"}
    ) == ("https://jiaoying.luhe.gov.cn")


async def test_post_and_status_find_the_service_by_its_port(tmp_path: Path) -> None:
    env = serve_env(tmp_path, roster=EXAMPLES / "roster", policy=POLICY)
    await prepare_store(env["JIAOYING_DB_URL"])
    served = Serve(env, tmp_path / "serve.log")
    served.start()
    try:
        async with aiohttp.ClientSession() as http:
            await served.until_ready(http)
        # What an operator's shell holds: the service's own settings, no JIAOYING_URL.
        cli_env = {**env, "JIAOYING_TOKEN": TOKEN}
        posted = jiaoying(
            "post", "--restamp", str(EXAMPLES / "warnings/red-rainstorm.xml"), env=cli_env
        )
        assert posted.returncode == 0, posted.stderr
        warning_id = posted.stdout.split()[0]
        status = jiaoying("status", warning_id, env=cli_env)
        assert status.returncode == 0, status.stderr
        assert "红色预警 暴雨红色预警" in status.stdout
        assert "未叫醒名单 silent (18)" in status.stdout
    finally:
        assert served.stop() == 0


async def test_serve_refuses_an_sms_template_that_cannot_fit(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    wordy = templates / "zh-CN/sms/alert.j2"
    wordy.write_text(
        "【{{ w.level_cn }}预警】{{ person.name }}：{{ w.headline }}。{{ w.instruction }}"
        "请回复1确认收到{% if answer_url %}或点 {{ answer_url }}{% endif %}。",
        encoding="utf-8",
    )
    env = serve_env(
        tmp_path,
        roster=EXAMPLES / "roster",
        policy=POLICY,
        extra={"JIAOYING_TEMPLATES_DIR": str(templates)},
    )
    served = Serve(env, tmp_path / "serve.log")
    served.start()
    assert served.process is not None
    assert served.process.wait(60) == 2, served.tail()
    refusal = [line for line in served.log_lines() if line.get("event") == "cannot start"]
    assert refusal, served.tail()
    assert f"{wordy}: its fixed text takes" in refusal[0]["problem"]

    check = jiaoying("templates", "check", str(templates), env=env)
    assert check.returncode == 1
    assert f"{wordy}: its fixed text takes" in check.stderr
    assert jiaoying("templates", "check", str(ROOT / "templates"), env=env).returncode == 0
