"""The suite-wide log scan: no log written during the run leaks a number or a secret.

Two kinds of service write logs while the suite runs:

- `jiaoying serve` processes (tests/reliability, tests/integration/test_replicas.py),
  each writing its own `*.log` under pytest's base temporary directory (and the private
  RabbitMQ node its own `*.log` there too);
- the service run in-process (tests/engine, tests/channels, tests/browser …). Before
  each test, `configure_logging` — what `jiaoying serve` calls at start — sends every
  line of it, jiaoying's and its libraries', through jiaoying's real pipeline at DEBUG
  (aiosqlite at INFO) into one session file, `<basetemp>/in-process-logs/jiaoying.log`.
  Whatever a test's code printed besides is scanned too, from the captured stdout and
  stderr of every test.

At the end of the session every line of every `*.log` under the base directory and of
every captured output is scanned (`tests.logscan`): a full mobile number, a secret the
run used, an unredacted answer link or a bearer token fails the run, with the file and
line named (never the line itself). So that the scan cannot pass by reading nothing,
each kind of source must have yielded lines of jiaoying's log pipeline (JSON with a
logger and a timestamp) in proportion to the tests that ran and write them:
`LINES_PER_SERVICE` for each test that started `jiaoying serve` (every one in
tests/reliability, and the replicas test) and for each test that ran the service
in-process through the engine harness (the `jiaoying` fixture). Every service logs
more than that at start alone: `serve` its configuration notices and "starting", the
in-process one its schema migration.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest
from hypothesis import settings

from dispatcher.runtime.logs import configure_logging
from tests.logscan import LogScan, secrets

IN_PROCESS_DIR = "in-process-logs"

# `make test-core` runs the fast tier with `--hypothesis-profile=dev`: a tenth of the
# examples, for a developer's loop; `make test` keeps hypothesis's default.
settings.register_profile("dev", max_examples=10)
SUBPROCESS = "subprocess services' *.log"
IN_PROCESS = "in-process service log"
CAPTURED = "captured stdout/stderr"
# Tests starting `jiaoying serve` processes; tests running it in-process use this fixture.
SUBPROCESS_TESTS = ("tests/reliability/", "tests/integration/test_replicas.py")
IN_PROCESS_FIXTURE = "jiaoying"
LINES_PER_SERVICE = 2

_captured: list[tuple[str, str]] = []  # (test, phase and stream; the text)
_ran: list[str] = []
_in_process: set[str] = set()
_basetemp: list[Path] = []


@pytest.fixture(scope="session")
def in_process_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TextIO]:
    """The file every in-process service's log lines go to, for the whole session."""
    base = tmp_path_factory.getbasetemp()
    _basetemp.append(base)
    path = base / IN_PROCESS_DIR / "jiaoying.log"
    path.parent.mkdir(exist_ok=True)
    with path.open("a", encoding="utf-8", buffering=1) as stream:
        yield stream
        configure_logging("WARNING")  # nothing may write to the file once it is closed


@pytest.fixture(autouse=True)
def _service_logs(in_process_log: TextIO) -> None:
    """Log as `jiaoying serve` does, into the session's file (a test may log elsewhere).

    At DEBUG, jiaoying's own debug lines included; aiosqlite's line per statement (the
    tests' own queries too) is left at INFO, as `jiaoying serve` runs by default."""
    configure_logging("DEBUG", stream=in_process_log)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if IN_PROCESS_FIXTURE in getattr(item, "fixturenames", ()):
        _in_process.add(item.nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # A report carries the sections of the phases before it too: each is kept once.
    for title, text in report.sections:
        if title.startswith("Captured std") and title.endswith(f" {report.when}") and text:
            _captured.append((f"{report.nodeid} ({title.lower()})", text))
    if report.when == "call":
        _ran.append(report.nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _basetemp or not _ran:
        return
    base = _basetemp[0]
    scan = LogScan(secrets())
    for path in sorted(base.rglob("*.log")):
        kind = IN_PROCESS if path.parent.name == IN_PROCESS_DIR else SUBPROCESS
        with path.open(encoding="utf-8", errors="replace") as lines:
            scan.scan(kind, str(path.relative_to(base)), lines)
    for name, text in _captured:
        scan.scan(CAPTURED, name, text.splitlines())

    problems = [str(finding) for finding in scan.findings[:50]]
    if len(scan.findings) > 50:
        problems.append(f"… and {len(scan.findings) - 50} more")
    needed = {
        SUBPROCESS: LINES_PER_SERVICE * sum(1 for n in _ran if n.startswith(SUBPROCESS_TESTS)),
        IN_PROCESS: LINES_PER_SERVICE * sum(1 for n in _ran if n in _in_process),
    }
    for kind, minimum in needed.items():
        read = scan.service_lines.get(kind, 0)
        if read < minimum:
            problems.append(f"only {read} service log lines from {kind}, expected {minimum}+")
    summary = ", ".join(
        f"{kind} {count} lines ({scan.service_lines.get(kind, 0)} of the log pipeline)"
        for kind, count in sorted(scan.lines.items())
    )
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"log scan: {summary}; {scan.sought} secrets sought")
        for problem in problems:
            reporter.write_line(f"log scan FAILED: {problem}", red=True)
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
