"""`jiaoying`: the service, the operator's checks, and the duty officer's commands.

jiaoying serve                       run the dispatcher (settings from JIAOYING_*)
jiaoying db upgrade|current          the database schema
jiaoying roster check DIR|XLSX       exit 1 listing every problem of a roster
jiaoying policy check FILE           exit 1 listing every problem of a policy
jiaoying templates check DIR         exit 1 naming every SMS template that cannot fit
jiaoying parse FILE [--roster DIR]   a warning, what would stop it, who would be called
jiaoying post FILE                   send a warning to a running jiaoying
jiaoying status ID                   a warning's progress at a glance
jiaoying ledger ID > ledger.csv      a warning's 叫应台账

Each command's module: `local` (no service needed), `parse`, `remote` (the service's
API); `columns`, `status_text` and `parse_text` lay out what a person reads.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from dispatcher.cli import local, parse, remote
from dispatcher.core.errors import InputError


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except InputError as error:
        print(f"jiaoying: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `jiaoying status ID | head` closed the pipe: what was wanted has been read.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jiaoying", description="叫应: warning call-and-answer")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    local.add_commands(commands)
    parse.add_command(commands)
    remote.add_commands(commands)
    return parser
