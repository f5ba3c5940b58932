"""`jiaoying`: the service and the operator's checks.

jiaoying serve                      run the dispatcher (settings from JIAOYING_*)
jiaoying roster check DIR           exit 1 listing every problem of a roster
jiaoying policy check FILE          exit 1 listing every problem of a policy
jiaoying parse FILE [--roster DIR]  the normalised warning as JSON; with a roster,
                                    who would be called and how, before any send
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dispatcher.core.content_type import parse_warning
from dispatcher.core.durations import format_duration
from dispatcher.core.errors import InputError
from dispatcher.core.jsonform import warning_to_data
from dispatcher.core.plan import plan_alert
from dispatcher.core.preview import describe_plan
from dispatcher.core.restamp import restamp, restamp_cap, shift_to
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import check_roster, load_roster
from dispatcher.runtime.settings import settings_or_exit
from dispatcher.store import migrate
from dispatcher.store.db import open_database

CONTENT_TYPES = {
    ".xml": "application/cap+xml",
    ".cap": "application/cap+xml",
    ".json": "application/json",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except InputError as error:
        print(f"jiaoying: {error}", file=sys.stderr)
        return 1


def _serve(args: argparse.Namespace) -> int:
    from dispatcher.service import run_service

    return run_service(settings_or_exit())


def _db_upgrade(args: argparse.Namespace) -> int:
    settings = settings_or_exit()

    async def run() -> tuple[str | None, migrate.SchemaChange | None]:
        db = open_database(settings.db_url)
        try:
            return await migrate.current(db), await migrate.bring_to_head(db, datetime.now(UTC))
        finally:
            await db.dispose()

    try:
        at, change = asyncio.run(run())
    except migrate.SchemaMismatch as error:
        print(f"jiaoying: {error}", file=sys.stderr)
        return 1
    if change is None:
        print(f"schema: {at} → {at} (already there)")
        return 0
    print(f"schema: {change.before or 'none'} → {change.after}")
    if change.backup is not None:
        print(f"the database as it was before: {change.backup}")
    return 0


def _db_current(args: argparse.Namespace) -> int:
    settings = settings_or_exit()

    async def run() -> str | None:
        db = open_database(settings.db_url)
        try:
            return await migrate.current(db)
        finally:
            await db.dispose()

    at = asyncio.run(run())
    print(f"schema: {at or 'none'} (this jiaoying: {migrate.head()})")
    return 0 if at == migrate.head() else 1


def _roster_check(args: argparse.Namespace) -> int:
    problems = check_roster(args.directory)
    if problems:
        print(f"{args.directory}: {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    roster = load_roster(args.directory)
    print(
        f"{args.directory}: ok — {len(roster.grids)} grids, {len(roster.persons)} persons, "
        f"{len(roster.zones)} broadcast zones"
    )
    return 0


def _policy_check(args: argparse.Namespace) -> int:
    policy = load_policy(args.file)
    for level, rules in policy.levels.items():
        steps = ", ".join(
            f"{format_duration(step.after)}:"
            + "+".join(
                [*step.notify]
                + (["broadcast"] if step.broadcast else [])
                + (["supervisor"] if step.escalate else [])
                + ([step.task] if step.task else [])
            )
            for step in rules.steps
        )
        print(f"{level.value}: answer within {format_duration(rules.answer_within)}; {steps}")
    return 0


def _parse(args: argparse.Namespace) -> int:
    body = args.file.read_bytes()
    content_type = args.content_type or CONTENT_TYPES.get(args.file.suffix.lower(), "")
    warning = parse_warning(body, content_type)
    output: dict[str, Any] = {"warning": warning_to_data(warning), "drill": warning.drill}
    if args.roster is not None:
        roster = load_roster(args.roster)
        policy = load_policy(args.policy or settings_or_exit().policy)
        output["plan"] = describe_plan(plan_alert(warning, roster, policy), roster)
    json.dump(output, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


def _post(args: argparse.Namespace) -> int:
    body = args.file.read_bytes()
    content_type = args.content_type or CONTENT_TYPES.get(args.file.suffix.lower(), "")
    if args.restamp or args.shift is not None:
        warning = parse_warning(body, content_type)
        shift = (
            timedelta(seconds=args.shift)
            if args.shift is not None
            else shift_to(warning.sent, datetime.now(UTC))
        )
        if warning.source == "cap":
            body = restamp_cap(body, shift)
        else:
            body = json.dumps(restamp(warning_to_data(warning), shift), ensure_ascii=False).encode()
        seconds = int(shift.total_seconds())
        print(
            f"restamped by {seconds} s (post its updates with --shift {seconds})", file=sys.stderr
        )
    status, answer = _call(args, "POST", "/v1/warnings", body, content_type)
    print(json.dumps(answer, ensure_ascii=False, indent=2))
    return 0 if status < 300 else 1


def _status(args: argparse.Namespace) -> int:
    status, answer = _call(args, "GET", f"/v1/warnings/{args.warning_id}")
    print(json.dumps(answer, ensure_ascii=False, indent=2))
    return 0 if status < 300 else 1


def _call(
    args: argparse.Namespace,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "",
) -> tuple[int, Any]:
    token = args.token or os.environ.get("JIAOYING_TOKEN") or _dev_token()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(  # noqa: S310 - the operator names the URL
        args.url.rstrip("/") + path, data=body, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
    except urllib.error.URLError as error:
        raise InputError(f"cannot reach {args.url}: {error.reason}") from None


def _dev_token() -> str:
    """The token `make run` generated for this checkout, if any."""
    path = Path("var/dev-token")
    return path.read_text(encoding="utf-8").strip() if path.exists() else ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jiaoying", description="叫应: warning call-and-answer")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the dispatcher")
    serve.set_defaults(run=_serve)

    database = commands.add_parser("db", help="database schema").add_subparsers(required=True)
    database.add_parser("upgrade", help="apply schema migrations").set_defaults(run=_db_upgrade)
    database.add_parser("current", help="show the schema revision").set_defaults(run=_db_current)

    roster = commands.add_parser("roster", help="roster tools").add_subparsers(required=True)
    check = roster.add_parser("check", help="validate a roster directory")
    check.add_argument("directory", type=Path)
    check.set_defaults(run=_roster_check)

    policy = commands.add_parser("policy", help="policy tools").add_subparsers(required=True)
    check = policy.add_parser("check", help="validate a policy file")
    check.add_argument("file", type=Path)
    check.set_defaults(run=_policy_check)

    parse = commands.add_parser("parse", help="parse a warning and show who would be called")
    parse.add_argument("file", type=Path)
    parse.add_argument("--roster", type=Path, help="roster directory: resolve and plan")
    parse.add_argument("--policy", type=Path, help="policy file (default: JIAOYING_POLICY)")
    parse.add_argument("--content-type", help="override the type guessed from the suffix")
    parse.set_defaults(run=_parse)

    post = commands.add_parser("post", help="post a warning to a running jiaoying")
    post.add_argument("file", type=Path)
    post.add_argument("--content-type", help="override the type guessed from the suffix")
    when = post.add_mutually_exclusive_group()
    when.add_argument("--restamp", action="store_true", help="move the warning to now")
    when.add_argument("--shift", type=int, help="move every timestamp by this many seconds")
    status = commands.add_parser("status", help="a warning's progress")
    status.add_argument("warning_id")
    for command in (post, status):
        command.add_argument("--url", default="http://127.0.0.1:8080")
        command.add_argument("--token", help="API token (default: $JIAOYING_TOKEN, var/dev-token)")
    post.set_defaults(run=_post)
    status.set_defaults(run=_status)
    return parser


if __name__ == "__main__":
    sys.exit(main())
