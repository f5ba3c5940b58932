"""`GET /v1/warnings/{id}/ledger.csv`: the 叫应台账 as a file an auditor opens in Excel.

UTF-8 with a byte-order mark, because Excel reads a CSV without one in the system's
legacy code page and shows the Chinese as mojibake. Times are Beijing time (UTC+8), the
clock the auditors and the warning texts use. A cell that would start a formula is
prefixed with `'`: warning texts and SMS notes come from outside and must never run.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta, timezone
from urllib.parse import quote

from aiohttp import web

from dispatcher.http.api import READER, api_route
from dispatcher.http.keys import ROSTERS
from dispatcher.http.problems import problem
from dispatcher.store.ledger import LedgerRow, ledger_rows

BEIJING = timezone(timedelta(hours=8))
HEADER = (
    "时间(北京时间) time UTC+8",
    "事件 event",
    "对象 who",
    "渠道 channel",
    "结果 outcome",
    "服务商编号 provider id",
    "操作人 by",
    "说明 detail",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@api_route
async def get_ledger(request: web.Request) -> web.Response:
    warning_id = request.match_info["warning_id"]
    rosters = request.app[ROSTERS]
    async with request.app[READER].reader.connect() as conn:
        rows = await ledger_rows(conn, warning_id, rosters)
    if rows is None:
        return problem(404, f"no warning with id {warning_id}")
    filename = f"jiaoying-ledger-{warning_id}.csv"
    chinese = quote(f"叫应台账-{warning_id}.csv")
    return web.Response(
        body=ledger_csv(rows).encode("utf-8-sig"),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"{filename}\"; filename*=UTF-8''{chinese}"
            ),
            "Cache-Control": "no-store",
        },
    )


def ledger_csv(rows: list[LedgerRow]) -> str:
    """The ledger as CSV text (the caller adds the byte-order mark when encoding)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow(
            [
                _time(row),
                *(
                    _cell(text)
                    for text in (
                        row.event,
                        row.subject,
                        row.channel,
                        row.outcome,
                        row.provider_id,
                        row.by,
                        row.detail,
                    )
                ),
            ]
        )
    return out.getvalue()


def _time(row: LedgerRow) -> str:
    """Beijing time to the millisecond, or to the second when that is all the store knows."""
    local = row.at.astimezone(BEIJING)
    if row.to_the_second:
        return local.strftime("%Y-%m-%d %H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _cell(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text
