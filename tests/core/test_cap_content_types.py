"""Choosing CAP or the JSON form from the content type (AMQP property or HTTP header)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatcher.core.content_type import parse_warning
from dispatcher.core.errors import InvalidWarning

EXAMPLES = Path(__file__).parents[2] / "examples" / "warnings"
CAP = (EXAMPLES / "red-rainstorm.xml").read_bytes()
JSON = (EXAMPLES / "blue-gale.json").read_bytes()


@pytest.mark.parametrize(
    ("body", "content_type", "source"),
    [
        (CAP, "application/cap+xml", "cap"),
        (CAP, "application/xml", "cap"),
        (CAP, "text/xml; charset=utf-8", "cap"),
        (CAP, "Application/CAP+XML", "cap"),
        (JSON, "application/json", "json"),
        (JSON, "application/json; charset=UTF-8", "json"),
        (CAP, "", "cap"),
        (b"\n  " + JSON, "  ", "json"),
        (b"\xef\xbb\xbf" + CAP, "", "cap"),
    ],
)
def test_the_content_type_or_the_first_byte_picks_the_parser(
    body: bytes, content_type: str, source: str
) -> None:
    assert parse_warning(body, content_type).source == source


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (CAP, "text/plain", "content type 'text/plain' is not one of application/cap+xml"),
        (JSON, "application/x-www-form-urlencoded", "is not one of"),
        (b"id=1", "", "the body starts with neither '<' (CAP) nor '{' (JSON)"),
        (b"", "", "the body starts with neither"),
    ],
)
def test_an_unknown_content_type_is_refused(body: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(InvalidWarning) as caught:
        parse_warning(body, content_type)
    assert reason in caught.value.reason
    assert caught.value.path == "content_type"


def test_a_mislabelled_body_is_refused_by_the_parser_it_was_labelled_for() -> None:
    with pytest.raises(InvalidWarning, match="not well-formed XML"):
        parse_warning(JSON, "application/cap+xml")


def test_the_size_limit_applies_whatever_the_content_type() -> None:
    with pytest.raises(InvalidWarning, match="over the limit of 100"):
        parse_warning(b" " * 101, "", max_bytes=100)
