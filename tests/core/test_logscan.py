"""The suite-wide log scan finds what it is for, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dispatcher.runtime.logs import redact_text
from tests.logscan import LogScan, module_secrets

SECRET = "link-secret-abcdef0123456789"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ('{"event": "sms reply", "to": "+8613800130001"}', ["full phone number"]),
        ("from 13900130004 at 12:00", ["full phone number"]),
        ("call 86 13812345678 now", ["full phone number"]),
        (f"settings link_secret={SECRET}", ["secret"]),
        (
            "GET https://jiaoying.example.cn/a/AbCdEfGhIjKlMnOpQrStUvWxYz01234 200",
            ["unredacted answer link"],
        ),
        ("Authorization: Bearer ops-token-0123456789abcdef", ["bearer token"]),
        ('{"event": "sms reply", "to": "138****0001"}', []),
        ("provider_id=SMab13812345678cd9e sid", []),  # inside an id, not a number
        ("took 0.13812345678 s", []),
        ("grid 441523100100001 village 441523100100", []),
        ("GET /a/[redacted] 200; Bearer [redacted]", []),
    ],
)
def test_a_line_is_flagged_for_what_it_leaks(line: str, found: list[str]) -> None:
    scan = LogScan([SECRET])
    scan.scan("test", "line", [line])
    assert [finding.what for finding in scan.findings] == found


def test_what_jiaoying_redacts_is_never_flagged() -> None:
    leaky = (
        "sms to +8613800130001 and 13900130004, link https://x.cn/a/AbCdEfGhIjKlMnOpQrStUvWxYz0"
        " with Authorization: Bearer ops-token-0123456789abcdef"
    )
    scan = LogScan([])
    scan.scan("test", "raw", [leaky])
    scan.scan("test", "redacted", [redact_text(leaky)])
    assert {finding.source for finding in scan.findings} == {"raw"}
    assert len(scan.findings) == 3


def test_a_finding_names_the_place_and_never_quotes_the_line() -> None:
    scan = LogScan([SECRET])
    scan.scan("kind", "serve.log", ["fine", f"leak {SECRET}"])
    assert [str(finding) for finding in scan.findings] == ["serve.log:2: a secret"]
    assert scan.lines == {"kind": 2}


def test_secrets_are_read_from_constants_named_like_them() -> None:
    class Module:
        TOKEN = "ops-token-0123456789abcdef"
        LINK_SECRET = "link-secret-" + "x" * 16
        SECRETS = ("amqp-pass-Zq81", "db-pass-Hx42")
        TOKEN_PATH = "/cgi-bin/token"
        SECRET_LINE = "root:x:0:0"

    found = module_secrets([Module])
    assert found == {
        "ops-token-0123456789abcdef",
        "link-secret-" + "x" * 16,
        "amqp-pass-Zq81",
        "db-pass-Hx42",
    }


INNER_TESTS = """
def test_a_service_log(tmp_path):
    line = '{"event": "sms sent", "logger": "jiaoying.sender", "to": "PHONE"}'
    (tmp_path / "serve.log").write_text(line + "\\n")


def test_a_print():
    print("PRINTED")
"""


@pytest.mark.parametrize(
    ("phone", "printed", "failures"),
    [
        ("138****0001", "nothing to see", 0),
        ("+8613800130001", "Authorization: Bearer ops-token-0123456789abcdef", 2),
    ],
)
def test_a_session_whose_logs_leak_fails_though_its_tests_pass(
    phone: str, printed: str, failures: int
) -> None:
    """The suite's own conftest, in a pytest run of its own: a leak fails the run, and
    the report names where without repeating what."""
    with tempfile.TemporaryDirectory() as scratch:
        # Outside this session's base directory, whose own scan must not see the leak.
        suite = Path(scratch)
        (suite / "conftest.py").write_text((ROOT / "tests/conftest.py").read_text())
        inner = INNER_TESTS.replace("PHONE", phone).replace("PRINTED", printed)
        (suite / "test_inner.py").write_text(inner)
        done = subprocess.run(
            [
                *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)),
                *("--basetemp", str(suite / "base"), "--rootdir", str(suite)),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=suite,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    output = done.stdout + done.stderr
    assert "2 passed" in output, output
    assert "log scan:" in output, output
    assert output.count("log scan FAILED") == failures, output
    assert done.returncode == (1 if failures else 0), output
    assert "8613800130001" not in output and "ops-token" not in output
