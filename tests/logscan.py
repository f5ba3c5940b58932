"""What the suite-wide log scan looks for, and where the secrets it looks for come from.

`tests/conftest.py` runs the scan at the end of every pytest session: no log line
written during the run may hold a full phone number, a secret the run used, an
unredacted answer link or a bearer token. The secrets are gathered three ways:

- `module_secrets()`: the constants of the loaded test modules named like one
  (`TOKEN`, `LINK_SECRET`, `APPSECRET`, `SERVER_TOKEN`, `SECRETS` …);
- the stand-ins' own lists (`StandInServer.secrets`: their credentials and every WeChat
  access token they handed out), which `tests.standins.base` registers here;
- `remember_env(env)`: the secrets in the environment of a `jiaoying serve` the suite
  started (API tokens, link secret, provider tokens), called by the reliability harness.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Finding",
    "LogScan",
    "module_secrets",
    "remember_env",
    "remember_secret_list",
    "secrets",
    "suite_modules",
]

TESTS_DIR = Path(__file__).resolve().parent

# A full Chinese mobile number, bare or with the country code, standing on its own: not
# part of a longer run of digits or letters (a provider id, a hex digest, a grid code) or
# of a decimal fraction. A masked number (`138****0001`) never matches.
FULL_MOBILE = re.compile(r"(?<![0-9A-Za-z.])(?:\+?86[ -]?)?1[3-9]\d{9}(?![0-9A-Za-z])")
# An answer link whose token was not redacted, and a bearer token left in a header dump.
ANSWER_TOKEN = re.compile(r"/a/(?!\[redacted\])[A-Za-z0-9_\-]{16,}")
BEARER = re.compile(r"\bBearer\s+(?!\[redacted\])[A-Za-z0-9._~+/=\-]{8,}", re.IGNORECASE)
_SECRET_NAME = re.compile(r"^(?:[A-Z0-9]+_)*(?:TOKEN|SECRET|PASSWORD|APPSECRET)S?$")
_NOT_SECRET_NAME = re.compile(r"(?:PATH|URL|FILE|LINE|NAME)")
_SECRET_ENV = re.compile(r"^JIAOYING_(?:[A-Z0-9]+_)*(?:TOKEN|SECRET)$")
_MIN_SECRET = 8

_lists: list[list[str]] = []
_env_secrets: set[str] = set()


def remember_secret_list(values: list[str]) -> None:
    """Scan for every string `values` holds at the end of the run (it may still grow)."""
    _lists.append(values)


def remember_env(env: Mapping[str, str]) -> None:
    """Scan for the secrets in the environment of a service the suite started."""
    for name, value in env.items():
        if name == "JIAOYING_API_TOKENS":
            _env_secrets.update(entry.partition(":")[2].strip() for entry in value.split(","))
        elif _SECRET_ENV.match(name):
            _env_secrets.add(value.strip())


def module_secrets(modules: Iterable[object]) -> set[str]:
    """String constants named like secrets in `modules` (and in tuples and lists there)."""
    found: set[str] = set()
    for module in modules:
        for attribute, value in list(vars(module).items()):
            if not _SECRET_NAME.match(attribute) or _NOT_SECRET_NAME.search(attribute):
                continue
            values = value if isinstance(value, tuple | list | frozenset | set) else (value,)
            found.update(item for item in values if isinstance(item, str))
    return found


def suite_modules() -> list[object]:
    """The loaded modules of the test suite: any module whose file is under `tests/`.

    (pytest imports test files by their base name, `test_crash`, not `tests.…`.)
    """
    loaded: list[object] = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(TESTS_DIR):
            loaded.append(module)
    return loaded


def secrets() -> set[str]:
    """Every secret known by now, long enough not to be found by chance."""
    known = module_secrets(suite_modules()) | _env_secrets
    known |= {value for values in _lists for value in values}
    return {value for value in known if len(value) >= _MIN_SECRET}


@dataclass(frozen=True)
class Finding:
    source: str  # the file, or the test whose captured output it was
    line_number: int
    what: str  # "phone number", "secret", "answer link", "bearer token"

    def __str__(self) -> str:
        # The finding never quotes the line: the report must not leak it in turn.
        return f"{self.source}:{self.line_number}: a {self.what}"


@dataclass
class LogScan:
    """Scans lines for full phone numbers, known secrets, answer links and bearer tokens."""

    known: Iterable[str]
    findings: list[Finding] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # kind of source → lines read
    service_lines: dict[str, int] = field(default_factory=dict)  # of those, the pipeline's

    def __post_init__(self) -> None:
        ordered = sorted(set(self.known), key=len, reverse=True)
        self.sought = len(ordered)
        self._secret = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def scan(self, kind: str, source: str, lines: Iterable[str]) -> None:
        for number, line in enumerate(lines, start=1):
            self.lines[kind] = self.lines.get(kind, 0) + 1
            if line.startswith("{") and '"logger": ' in line and '"timestamp": ' in line:
                self.service_lines[kind] = self.service_lines.get(kind, 0) + 1
            for what in self._problems(line):
                self.findings.append(Finding(source, number, what))

    def _problems(self, line: str) -> Iterator[str]:
        if FULL_MOBILE.search(line):
            yield "full phone number"
        if self._secret is not None and self._secret.search(line):
            yield "secret"
        if ANSWER_TOKEN.search(line):
            yield "unredacted answer link"
        if BEARER.search(line):
            yield "bearer token"
