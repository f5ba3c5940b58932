"""`jiaoying parse FILE`: read a warning as the service would, and say what it would do.

A document with defects is refused with every one, each with its path (exit 1). A
readable one is shown with every reason it would not be dispatched (exit 0: it is a
preview); with `--roster`, who would be called and how. `--json` gives the same as data.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dispatcher.cli.parse_text import parse_lines
from dispatcher.core.blockers import preview_plan, review
from dispatcher.core.content_type import SUFFIX_TYPES, read_warning
from dispatcher.core.errors import InvalidWarning
from dispatcher.core.jsonform import warning_to_data
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import load_roster
from dispatcher.runtime.settings import settings_or_exit


def parse(args: argparse.Namespace) -> int:
    body = args.file.read_bytes()
    content_type = args.content_type or SUFFIX_TYPES.get(args.file.suffix.lower(), "")
    reading = read_warning(body, content_type)
    if reading.warning is None or reading.defects:
        refused = InvalidWarning.of(reading.defects or reading.problems)
        count = len(refused.problems)
        print(f"jiaoying: {args.file}: refused, {count} problem(s):", file=sys.stderr)
        for problem in refused.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    policy = load_policy(args.policy or settings_or_exit().policy)
    roster = load_roster(args.roster) if args.roster is not None else None
    found = review(reading, policy, datetime.now(UTC), roster)
    plan = preview_plan(found, roster, policy) if roster is not None else None
    if args.json:
        output: dict[str, Any] = {
            "warning": warning_to_data(found.warning),
            "drill": found.warning.drill,
            "level_from_default": found.level_from_default,
            "blockers": list(found.blockers),
            "references_not_looked_up": list(found.references),
        }
        if plan is not None:
            output["plan"] = plan
        json.dump(output, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print("\n".join(parse_lines(found, plan)))
    return 0


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser("parse", help="read a warning and show what would be done")
    command.add_argument("file", type=Path)
    command.add_argument(
        "--roster", type=Path, help="roster (a directory or an .xlsx workbook): who would be called"
    )
    command.add_argument("--policy", type=Path, help="policy file (default: JIAOYING_POLICY)")
    command.add_argument("--content-type", help="override the type guessed from the suffix")
    command.add_argument("--json", action="store_true", help="the same as JSON")
    command.set_defaults(run=parse)
