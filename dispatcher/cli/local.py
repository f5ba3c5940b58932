"""The commands that need no running service: serve it, its schema, and the checks of
the files an operator edits (roster, policy, SMS templates)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from channels.aliyun_wire import VARIABLE_LIMIT
from channels.provider_templates import folder_problems
from dispatcher.core.durations import format_duration
from dispatcher.core.links import url_length
from dispatcher.core.voice_caps import voice_cap_breaches
from dispatcher.engine.texts import PUBLIC_URL_BOUND, template_problems
from dispatcher.files.policy_file import load_policy
from dispatcher.files.roster_dir import check_roster, load_roster
from dispatcher.runtime.provider_choice import NOTICE_KINDS
from dispatcher.runtime.settings import SettingsError, load_settings, settings_or_exit
from dispatcher.store import migrate
from dispatcher.store.db import open_database


def serve(args: argparse.Namespace) -> int:
    from dispatcher.service import run_service

    return run_service(settings_or_exit())


def db_upgrade(args: argparse.Namespace) -> int:
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


def db_current(args: argparse.Namespace) -> int:
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


def roster_check(args: argparse.Namespace) -> int:
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


def roster_generate(args: argparse.Namespace) -> int:
    from dispatcher.drill.county import write_county

    grids, persons = write_county(args.directory, args.grids, args.persons, seed=args.seed)
    print(f"{args.directory}: {grids} grids, {persons} persons (numbers of Ofcom's drama ranges)")
    return 0


def policy_check(args: argparse.Namespace) -> int:
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
    if policy.default_level is not None:
        print(f"default_level: {policy.default_level.value} (a warning that states no level)")
    else:
        print("default_level: none (a warning that states no level is refused)")
    for line in voice_cap_breaches(policy, args.voice_provider or _voice_provider()):
        print(f"warning: {line}")
    return 0


def _voice_provider() -> str | None:
    """The configured voice provider; None when the environment configures none (or
    cannot be read: `policy check` checks the policy, not the settings)."""
    try:
        return load_settings().provider_of("voice")
    except SettingsError:
        return None


def templates_check(args: argparse.Namespace) -> int:
    public_url = args.public_url or "h" * PUBLIC_URL_BOUND
    problems = template_problems(args.directory, link_length=url_length(public_url))
    problems += folder_problems(args.directory, NOTICE_KINDS, VARIABLE_LIMIT)
    if problems:
        print(f"{args.directory}: {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(
        f"{args.directory}: ok — every SMS fits two parts beside an answer link of "
        f"{url_length(public_url)} characters"
    )
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve_command = commands.add_parser("serve", help="run the dispatcher")
    serve_command.set_defaults(run=serve)

    database = commands.add_parser("db", help="database schema").add_subparsers(required=True)
    database.add_parser("upgrade", help="apply schema migrations").set_defaults(run=db_upgrade)
    database.add_parser("current", help="show the schema revision").set_defaults(run=db_current)

    roster = commands.add_parser("roster", help="roster tools").add_subparsers(required=True)
    check = roster.add_parser(
        "check", help="validate a roster: a directory of CSV files or an .xlsx workbook"
    )
    check.add_argument("directory", type=Path, metavar="ROSTER")
    check.set_defaults(run=roster_check)
    generate = roster.add_parser(
        "generate", help="write a synthetic county roster (drama-range numbers) for drills"
    )
    generate.add_argument("--grids", type=int, default=500)
    generate.add_argument("--persons", type=int, default=5000)
    generate.add_argument("--seed", type=int, default=1)
    generate.add_argument("directory", type=Path)
    generate.set_defaults(run=roster_generate)

    policy = commands.add_parser("policy", help="policy tools").add_subparsers(required=True)
    check = policy.add_parser("check", help="validate a policy file")
    check.add_argument("file", type=Path)
    check.add_argument(
        "--voice-provider",
        choices=("twilio", "aliyun", "tencent"),
        help="check redials against its per-callee cap (default: JIAOYING_VOICE_PROVIDER)",
    )
    check.set_defaults(run=policy_check)

    templates = commands.add_parser("templates", help="message template tools")
    check = templates.add_subparsers(required=True).add_parser(
        "check", help="refuse SMS templates that cannot fit two parts"
    )
    check.add_argument("directory", type=Path)
    check.add_argument(
        "--public-url",
        help=f"the JIAOYING_PUBLIC_URL links use (default: {PUBLIC_URL_BOUND} chars)",
    )
    check.set_defaults(run=templates_check)
