"""The commands that talk to a running jiaoying: `post`, `status`, `ledger`.

The service is found as the operator's shell already describes it: `--url`, else
`JIAOYING_URL`, else the `JIAOYING_HTTP_HOST`/`JIAOYING_HTTP_PORT` that `serve` listens
on (127.0.0.1:8080 by default). The token is `--token`, else `JIAOYING_TOKEN`, else the
`var/dev-token` that `make run` made. Every failure is one line that says what to do:
the service unreachable (at which URL), the token refused, no such warning.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dispatcher.cli.status_text import status_lines
from dispatcher.core.content_type import SUFFIX_TYPES, parse_warning
from dispatcher.core.errors import InputError
from dispatcher.core.jsonform import warning_to_data
from dispatcher.core.restamp import restamp, restamp_cap, shift_to

DEV_TOKEN = Path("var/dev-token")
PAGE = 500  # the API's largest page
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


class ServiceError(InputError):
    """The service could not be asked, or refused: one line a person can act on."""


def service_url(environ: Mapping[str, str]) -> str:
    """The base URL of the service: `JIAOYING_URL`, else where `serve` listens."""
    url = environ.get("JIAOYING_URL", "").strip()
    if url:
        return url.rstrip("/")
    host = environ.get("JIAOYING_HTTP_HOST", "127.0.0.1").strip()
    host = _ANY_ADDRESS.get(host, host)  # serve on every address: ask the local one
    if ":" in host:
        host = f"[{host}]"
    port = environ.get("JIAOYING_HTTP_PORT", "8080").strip() or "8080"
    return f"http://{host}:{port}"


def service_token(given: str | None, environ: Mapping[str, str]) -> str:
    """`--token`, else `JIAOYING_TOKEN`, else `var/dev-token` (empty when none is there)."""
    if given:
        return given
    if environ.get("JIAOYING_TOKEN"):
        return environ["JIAOYING_TOKEN"]
    return DEV_TOKEN.read_text(encoding="utf-8").strip() if DEV_TOKEN.exists() else ""


@dataclass(frozen=True, slots=True)
class Service:
    url: str
    token: str

    @classmethod
    def of(cls, args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Service:
        return cls(
            (args.url or service_url(environ)).rstrip("/"), service_token(args.token, environ)
        )

    def call(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> tuple[int, bytes]:
        """The status and body of one request; raises ServiceError when unreachable or
        when the token is refused."""
        headers = {"Authorization": f"Bearer {self.token}"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(  # noqa: S310 - the operator names the URL
            self.url + path, data=body, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            status, answer = error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ServiceError(
                f"cannot reach jiaoying at {self.url} ({reason}): is `jiaoying serve` "
                "running there? Set JIAOYING_URL, or JIAOYING_HTTP_HOST/JIAOYING_HTTP_PORT"
            ) from None
        if status == 401:
            where = "--token" if self.token else "no token was found: give --token"
            raise ServiceError(
                f"jiaoying at {self.url} refused the API token (401): check {where}, "
                "JIAOYING_TOKEN or var/dev-token against the service's JIAOYING_API_TOKENS"
            )
        return status, answer

    def get_json(self, path: str, missing: str) -> Any:
        """The JSON at `path`; raises ServiceError with `missing` on 404."""
        status, answer = self.call("GET", path)
        if status == 404:
            raise ServiceError(f"{missing} at {self.url}")
        if status >= 300:
            raise ServiceError(f"jiaoying at {self.url} answered {status}: {_reason(answer)}")
        return json.loads(answer)

    def all_pages(self, path: str, key: str, missing: str) -> list[Any]:
        """Every item of a paged list, following `next`."""
        items: list[Any] = []
        cursor: str | None = None
        separator = "&" if "?" in path else "?"
        while True:
            query = f"{separator}limit={PAGE}"
            if cursor:
                query += f"&cursor={urllib.parse.quote(cursor)}"
            page = self.get_json(path + query, missing)
            items.extend(page[key])
            cursor = page.get("next")
            if not cursor:
                return items


def _reason(answer: bytes) -> str:
    try:
        return str(json.loads(answer).get("error", "")) or answer.decode(errors="replace")
    except (ValueError, AttributeError):
        return answer.decode(errors="replace")[:200]


def post(args: argparse.Namespace) -> int:
    body = args.file.read_bytes()
    content_type = args.content_type or SUFFIX_TYPES.get(args.file.suffix.lower(), "")
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
    status, raw = Service.of(args).call("POST", "/v1/warnings", body, content_type)
    answer = json.loads(raw or b"null")
    if args.json:
        print(json.dumps(answer, ensure_ascii=False, indent=2))
    elif status < 300:
        print(
            f"{answer['id']}  {answer['outcome']}  {answer['msg_type']}  "
            f"新增对象 recipients added {answer['recipients_added']}"
        )
    else:
        print(f"jiaoying: refused ({status}): {answer.get('error')}", file=sys.stderr)
        if answer.get("dead_letter_id") is not None:
            print(f"  dead letter {answer['dead_letter_id']}", file=sys.stderr)
    return 0 if status < 300 else 1


def status(args: argparse.Namespace) -> int:
    service = Service.of(args)
    warning_id = urllib.parse.quote(args.warning_id, safe="")
    missing = f"no warning with id {args.warning_id}"
    summary = service.get_json(f"/v1/warnings/{warning_id}", missing)
    recipients = service.all_pages(f"/v1/warnings/{warning_id}/recipients", "recipients", missing)
    tasks = service.all_pages(f"/v1/tasks?warning={warning_id}", "tasks", missing)
    if args.json:
        data = {"warning": summary, "recipients": recipients, "tasks": tasks}
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print("\n".join(status_lines(summary, recipients, tasks, datetime.now(UTC))))
    return 0


def ledger(args: argparse.Namespace) -> int:
    service = Service.of(args)
    warning_id = urllib.parse.quote(args.warning_id, safe="")
    status_code, body = service.call("GET", f"/v1/warnings/{warning_id}/ledger.csv")
    if status_code == 404:
        raise ServiceError(f"no warning with id {args.warning_id} at {service.url}")
    if status_code >= 300:
        raise ServiceError(f"jiaoying at {service.url} answered {status_code}: {_reason(body)}")
    if args.output is not None:
        args.output.write_bytes(body)
        print(f"{args.output}: the 叫应台账 of {args.warning_id}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
    return 0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    post_command = commands.add_parser("post", help="post a warning to a running jiaoying")
    post_command.add_argument("file", type=Path)
    post_command.add_argument("--content-type", help="override the type guessed from the suffix")
    when = post_command.add_mutually_exclusive_group()
    when.add_argument("--restamp", action="store_true", help="move the warning to now")
    when.add_argument("--shift", type=int, help="move every timestamp by this many seconds")
    post_command.set_defaults(run=post)

    status_command = commands.add_parser("status", help="a warning's progress at a glance")
    status_command.add_argument("warning_id")
    status_command.set_defaults(run=status)

    ledger_command = commands.add_parser("ledger", help="a warning's 叫应台账 as CSV")
    ledger_command.add_argument("warning_id")
    ledger_command.add_argument("-o", "--output", type=Path, help="write to a file, not stdout")
    ledger_command.set_defaults(run=ledger)

    for command in (post_command, status_command, ledger_command):
        command.add_argument(
            "--url", help="the service (default: $JIAOYING_URL, else $JIAOYING_HTTP_HOST:PORT)"
        )
        command.add_argument("--token", help="API token (default: $JIAOYING_TOKEN, var/dev-token)")
    for command in (post_command, status_command):
        command.add_argument("--json", action="store_true", help="the API's JSON instead")
