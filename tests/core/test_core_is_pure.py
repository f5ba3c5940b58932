"""The core reads no clock, no file and no environment: what import-linter cannot see.

import-linter (`make lint`) keeps I/O libraries and asyncio out of `dispatcher/core/`;
these read its source for the calls a standard-library import alone would allow.
"""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "dispatcher" / "core"

# Attribute calls that read the outside world, whatever object they are called on.
_IMPURE_ATTRIBUTES = {
    "now": "reads the clock (take `now`)",
    "utcnow": "reads the clock (take `now`)",
    "today": "reads the clock (take `now`)",
    "time": "reads the clock (take `now`)",
    "monotonic": "reads the clock (take `now`)",
    "read_text": "reads a file",
    "read_bytes": "reads a file",
    "write_text": "writes a file",
    "write_bytes": "writes a file",
    "getenv": "reads the environment",
}
_IMPURE_NAMES = {"open": "opens a file", "input": "reads the terminal", "print": "writes out"}
_IMPURE_MODULES = {"os", "random", "secrets", "socket", "subprocess", "time", "shutil"}


def impurities(source: str, name: str = "<source>") -> list[str]:
    """Every clock, file, environment or randomness access in `source`, as `name:line: …`."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in _IMPURE_ATTRIBUTES:
                why = _IMPURE_ATTRIBUTES[func.attr]
                found.append(f"{name}:{node.lineno}: .{func.attr}() {why}")
            elif isinstance(func, ast.Name) and func.id in _IMPURE_NAMES:
                found.append(f"{name}:{node.lineno}: {func.id}() {_IMPURE_NAMES[func.id]}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for module in modules:
                if module.split(".")[0] in _IMPURE_MODULES:
                    found.append(f"{name}:{node.lineno}: imports {module}")
    return found


def test_the_core_reads_no_clock_file_environment_or_randomness() -> None:
    modules = sorted(CORE.glob("*.py"))
    assert len(modules) > 15, f"the core's modules are not where this test looks: {CORE}"
    found = [problem for path in modules for problem in impurities(path.read_text(), path.name)]
    assert found == []


def test_the_scan_finds_what_it_looks_for() -> None:
    source = """
import os
from datetime import datetime
from pathlib import Path

def decide(path: Path) -> str:
    stamp = datetime.now()
    return path.read_text() + str(stamp) + open("x").read()
"""
    assert impurities(source, "m.py") == [
        "m.py:2: imports os",
        "m.py:7: .now() reads the clock (take `now`)",
        "m.py:8: .read_text() reads a file",
        "m.py:8: open() opens a file",
    ]
