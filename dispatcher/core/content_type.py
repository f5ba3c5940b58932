"""Choose the warning parser from a message's content type (AMQP property or HTTP header)."""

from __future__ import annotations

from typing import Protocol

from dispatcher.core.cap import read_cap
from dispatcher.core.errors import InvalidWarning
from dispatcher.core.jsonform import read_json
from dispatcher.core.model import Warning
from dispatcher.core.warning_rules import Reading, check_size


class _Reader(Protocol):
    def __call__(self, body: bytes, *, max_bytes: int = ...) -> Reading: ...


SUFFIX_TYPES = {
    ".xml": "application/cap+xml",
    ".cap": "application/cap+xml",
    ".json": "application/json",
}
"""The content type a warning file is taken to have by its suffix (`jiaoying parse`, `post`)."""

_READERS: dict[str, _Reader] = {
    "application/cap+xml": read_cap,
    "application/xml": read_cap,
    "text/xml": read_cap,
    "application/json": read_json,
}


def parse_warning(body: bytes, content_type: str, *, max_bytes: int = 1_000_000) -> Warning:
    """Parse `body` as CAP XML or the JSON form, as `content_type` says.

    Parameters such as `; charset=utf-8` are ignored. An empty content type is sniffed
    from the first non-blank byte (`<` is CAP, `{` is JSON), since some AMQP producers
    set none. Returns the `Warning`; raises `InvalidWarning` for an unknown content type,
    an unrecognisable body, or whatever the chosen parser refuses (every problem found).
    """
    check_size(body, max_bytes)
    return _reader(body, content_type)(body, max_bytes=max_bytes).accepted()


def read_warning(body: bytes, content_type: str, *, max_bytes: int = 1_000_000) -> Reading:
    """The warning in `body` and every problem found in it, read as `parse_warning` reads
    it but without refusing: what `jiaoying parse` previews."""
    try:
        reader = _reader(body, content_type)
    except InvalidWarning as unknown:
        return Reading(None, unknown.problems)
    return reader(body, max_bytes=max_bytes)


def _reader(body: bytes, content_type: str) -> _Reader:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not media_type:
        return _sniff(body)
    reader = _READERS.get(media_type)
    if reader is None:
        raise InvalidWarning(
            f"content type {media_type!r} is not one of {', '.join(_READERS)}", "content_type"
        )
    return reader


def _sniff(body: bytes) -> _Reader:
    start = body.removeprefix(b"\xef\xbb\xbf").lstrip()[:1]
    if start == b"<":
        return read_cap
    if start == b"{":
        return read_json
    raise InvalidWarning(
        "no content type, and the body starts with neither '<' (CAP) nor '{' (JSON)",
        "content_type",
    )
