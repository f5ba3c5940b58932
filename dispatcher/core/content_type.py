"""Choose the warning parser from a message's content type (AMQP property or HTTP header)."""

from __future__ import annotations

from typing import Protocol

from dispatcher.core.cap import parse_cap
from dispatcher.core.errors import InvalidWarning
from dispatcher.core.jsonform import parse_json
from dispatcher.core.model import Warning
from dispatcher.core.warning_rules import check_size


class _Parser(Protocol):
    def __call__(self, body: bytes, *, max_bytes: int = ...) -> Warning: ...


_PARSERS: dict[str, _Parser] = {
    "application/cap+xml": parse_cap,
    "application/xml": parse_cap,
    "text/xml": parse_cap,
    "application/json": parse_json,
}


def parse_warning(body: bytes, content_type: str, *, max_bytes: int = 1_000_000) -> Warning:
    """Parse `body` as CAP XML or the JSON form, as `content_type` says.

    Parameters such as `; charset=utf-8` are ignored. An empty content type is sniffed
    from the first non-blank byte (`<` is CAP, `{` is JSON), since some AMQP producers
    set none. Returns the `Warning`; raises `InvalidWarning` for an unknown content type,
    an unrecognisable body, or whatever the chosen parser refuses.
    """
    check_size(body, max_bytes)
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not media_type:
        return _sniff(body)(body, max_bytes=max_bytes)
    parser = _PARSERS.get(media_type)
    if parser is None:
        raise InvalidWarning(
            f"content type {media_type!r} is not one of {', '.join(_PARSERS)}", "content_type"
        )
    return parser(body, max_bytes=max_bytes)


def _sniff(body: bytes) -> _Parser:
    start = body.removeprefix(b"\xef\xbb\xbf").lstrip()[:1]
    if start == b"<":
        return parse_cap
    if start == b"{":
        return parse_json
    raise InvalidWarning(
        "no content type, and the body starts with neither '<' (CAP) nor '{' (JSON)",
        "content_type",
    )
