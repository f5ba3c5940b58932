"""CAP 1.2 XML (and the CAP 1.1 / namespace-less variants producers send) to `Warning`.

Pure: it reads only the bytes it is given. Every problem, from a hostile DTD to a polygon
that does not close, becomes `InvalidWarning` with the path of the offending element,
e.g. `alert/info[0]/area[1]/polygon[0]` (indices count from 0 among same-named siblings).
A document is read to its end and refused with every problem found, not only the first
(a body that is not XML at all is one problem).
"""

from __future__ import annotations

import re
from datetime import datetime
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DefusedET
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

from dispatcher.core.errors import InvalidWarning
from dispatcher.core.levels import resolve_level
from dispatcher.core.model import Area, Circle, Info, MsgType, Polygon, Reference, Warning
from dispatcher.core.warning_rules import (
    CERTAINTIES,
    RESPONSE_TYPES,
    SEVERITIES,
    URGENCIES,
    Problems,
    Reading,
    admin_code,
    check_acted_on,
    check_infos,
    check_references,
    check_size,
    check_token,
    finish_area,
    make_circle,
    make_polygon,
    parse_choice,
    parse_datetime,
    parse_msg_type,
    parse_reference,
    parse_scope,
    parse_status,
)

CAP_NAMESPACES = (
    "urn:oasis:names:tc:emergency:cap:1.2",
    "urn:oasis:names:tc:emergency:cap:1.1",
    "",
)

# Decimal numbers only: float() would also take "nan", "inf" and "1_000".
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_PAIR = re.compile(rf"({_NUMBER}),({_NUMBER})")
_DECLARED_ENCODING = re.compile(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
# expat cannot read multi-byte legacy encodings, yet GB2312/GBK is what older Chinese
# warning platforms emit; those bodies are re-encoded as UTF-8 before parsing.
_GB_ENCODINGS = frozenset({b"gb2312", b"gbk", b"gb18030", b"cp936", b"euc-cn"})


def parse_cap(body: bytes, *, max_bytes: int = 1_000_000) -> Warning:
    """Parse and validate one CAP `<alert>`.

    Returns the `Warning`. Raises `InvalidWarning` (and nothing else) for a body over
    `max_bytes`, XML that is malformed or declares a DTD or entities, a root that is not
    a CAP alert, or content that breaks a rule of `dispatcher.core.warning_rules`; with
    several problems, it carries every one (`InvalidWarning.problems`).
    """
    return read_cap(body, max_bytes=max_bytes).accepted()


def read_cap(body: bytes, *, max_bytes: int = 1_000_000) -> Reading:
    """Read one CAP `<alert>` to its end, collecting every problem instead of stopping."""
    try:
        check_size(body, max_bytes)
        # Whitespace before the XML declaration is not well-formed, but some producers'
        # HTTP and AMQP clients add a newline; refusing a warning for it would help nobody.
        root = _parse_xml(_as_utf8(body.lstrip(b" \t\r\n")))
        namespace, _, local = (
            root.tag[1:].rpartition("}") if root.tag[:1] == "{" else ("", "", root.tag)
        )
        if local != "alert":
            raise InvalidWarning(f"root element is <{local}>, not a CAP <alert>", local)
        if namespace not in CAP_NAMESPACES:
            raise InvalidWarning(f"namespace {namespace!r} is not CAP 1.1 or 1.2", "alert")
    except InvalidWarning as unreadable:
        return Reading(None, (unreadable,))
    reader = _Reader(namespace)
    warning = reader.alert(root)
    return Reading(warning, tuple(reader.problems))


def _as_utf8(body: bytes) -> bytes:
    match = _DECLARED_ENCODING.match(body)
    if match is None or match.group(1).lower() not in _GB_ENCODINGS:
        return body
    try:
        text = body.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise InvalidWarning(f"body is not valid {match.group(1).decode()}: {exc}") from None
    declaration, rest = text.split("?>", 1) if "?>" in text else (text, "")
    declaration = re.sub(r"""encoding\s*=\s*["'][^"']*["']""", 'encoding="UTF-8"', declaration)
    return f"{declaration}?>{rest}".encode()


def _parse_xml(body: bytes) -> Element:
    try:
        return DefusedET.fromstring(
            body, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DTDForbidden:
        raise InvalidWarning(
            "document type declarations (DTD) are refused: CAP needs none, and they carry "
            "entity-expansion and external-entity attacks"
        ) from None
    except EntitiesForbidden:
        raise InvalidWarning("entity declarations are refused") from None
    except ExternalReferenceForbidden:
        raise InvalidWarning("external references are refused") from None
    except ParseError as exc:
        raise InvalidWarning(f"not well-formed XML: {exc}") from None
    except (ValueError, LookupError) as exc:
        # expat's complaints about a declared encoding it cannot read.
        raise InvalidWarning(f"cannot read the XML: {exc}") from None


class _Reader:
    """Reads CAP elements of one namespace, naming each problem by its element path.

    A problem is noted and reading goes on with what is left (`Problems.noted`), so one
    pass finds every problem of the document; `problems` lists them in document order.
    """

    def __init__(self, namespace: str) -> None:
        self._prefix = f"{{{namespace}}}" if namespace else ""
        self._problems = Problems()
        self._noted = self._problems.noted
        self.problems = self._problems.found

    def _all(self, parent: Element, name: str) -> list[Element]:
        tag = self._prefix + name
        return [child for child in parent if child.tag == tag]

    def _optional(self, parent: Element, name: str, path: str) -> str | None:
        found = self._all(parent, name)
        if len(found) > 1:
            raise InvalidWarning(f"<{name}> appears {len(found)} times; CAP allows one", path)
        return (found[0].text or "").strip() if found else None

    def _required(self, parent: Element, name: str, path: str) -> str:
        value = self._optional(parent, name, f"{path}/{name}")
        if value is None:
            raise InvalidWarning(f"<{name}> is missing", path)
        if not value:
            raise InvalidWarning(f"<{name}> is empty", f"{path}/{name}")
        return value

    def _text_of(self, parent: Element, name: str, path: str) -> str:
        return self._noted(lambda: self._optional(parent, name, f"{path}/{name}")) or ""

    def _time(self, parent: Element, name: str, path: str) -> datetime | None:
        def read() -> datetime | None:
            text = self._optional(parent, name, f"{path}/{name}")
            return None if text is None else parse_datetime(text, f"{path}/{name}")

        return self._noted(read)

    def alert(self, root: Element) -> Warning | None:
        """The warning, or None when one of the `<alert>`'s own elements is unreadable."""
        path = "alert"
        identifier = self._noted(
            lambda: check_token(
                self._required(root, "identifier", path), "identifier", f"{path}/identifier"
            )
        )
        sender = self._noted(
            lambda: check_token(self._required(root, "sender", path), "sender", f"{path}/sender")
        )
        sent = self._noted(
            lambda: parse_datetime(self._required(root, "sent", path), f"{path}/sent")
        )
        status = self._noted(
            lambda: parse_status(self._required(root, "status", path), f"{path}/status")
        )
        msg_type = self._noted(
            lambda: parse_msg_type(self._required(root, "msgType", path), f"{path}/msgType")
        )
        scope = self._noted(
            lambda: parse_scope(self._required(root, "scope", path), f"{path}/scope")
        )
        note = self._text_of(root, "note", path)
        references = self._noted(lambda: self._references(root, f"{path}/references")) or ()
        if msg_type is not None:
            self._noted(lambda: check_acted_on(msg_type, f"{path}/msgType"))
            if msg_type.acted_on:
                self._noted(lambda: check_references(msg_type, references, f"{path}/references"))
        # With its msgType unreadable, the rules that depend on it are not applied: the
        # document is refused for that already.
        acted_on = msg_type if msg_type is not None and msg_type.acted_on else MsgType.CANCEL
        infos = tuple(
            self._info(element, f"{path}/info[{index}]", acted_on)
            for index, element in enumerate(self._all(root, "info"))
        )
        self._noted(lambda: check_infos(acted_on, infos, path, "<info>"))
        if (
            identifier is None
            or sender is None
            or sent is None
            or status is None
            or msg_type is None
            or scope is None
        ):
            return None
        return Warning(
            identifier=identifier,
            sender=sender,
            sent=sent,
            status=status,
            msg_type=msg_type,
            scope=scope,
            infos=infos,
            references=references,
            note=note,
            source="cap",
        )

    def _references(self, root: Element, path: str) -> tuple[Reference, ...]:
        text = self._optional(root, "references", path) or ""
        references = []
        for number, triple in enumerate(text.split(), start=1):
            parts = triple.split(",")
            if len(parts) != 3:
                raise InvalidWarning(
                    f"reference {number} ({triple!r}) is not a sender,identifier,sent triple",
                    path,
                )
            sender, identifier, sent = parts
            try:
                references.append(parse_reference(sender, identifier, sent, path))
            except InvalidWarning as error:
                raise InvalidWarning(f"reference {number}: {error.reason}", path) from None
        return tuple(references)

    def _info(self, element: Element, path: str, msg_type: MsgType) -> Info:
        """The info block with what could be read of it; each problem is noted."""
        event = self._noted(lambda: self._required(element, "event", path)) or ""
        severity = self._choice(element, "severity", SEVERITIES, path)
        headline = self._text_of(element, "headline", path)
        parameters = tuple(
            parameter
            for index, child in enumerate(self._all(element, "parameter"))
            if (parameter := self._noted(self._parameter, child, f"{path}/parameter[{index}]"))
        )
        response_types = tuple(
            choice
            for child, child_path in self._indexed(element, "responseType", path)
            if (
                choice := self._noted(
                    parse_choice, _text(child), RESPONSE_TYPES, "responseType", child_path
                )
            )
        )
        areas = tuple(
            area
            for child, child_path in self._indexed(element, "area", path)
            if (area := self._noted(self._area, child, child_path)) is not None
        )
        return Info(
            language=self._text_of(element, "language", path) or "en-US",
            event=event,
            urgency=self._choice(element, "urgency", URGENCIES, path),
            severity=severity,
            certainty=self._choice(element, "certainty", CERTAINTIES, path),
            level=resolve_level(parameters, event, headline, severity),
            categories=tuple(
                text for child in self._all(element, "category") if (text := _text(child))
            ),
            response_types=response_types,
            headline=headline,
            description=self._text_of(element, "description", path),
            instruction=self._text_of(element, "instruction", path),
            effective=self._time(element, "effective", path),
            onset=self._time(element, "onset", path),
            expires=self._time(element, "expires", path),
            sender_name=self._text_of(element, "senderName", path),
            parameters=parameters,
            areas=areas,
        )

    def _indexed(self, parent: Element, name: str, path: str) -> list[tuple[Element, str]]:
        return [
            (child, f"{path}/{name}[{index}]")
            for index, child in enumerate(self._all(parent, name))
        ]

    def _choice(self, parent: Element, name: str, allowed: tuple[str, ...], path: str) -> str:
        """The CAP value of a required choice; "Unknown" after noting a problem with it."""
        return (
            self._noted(
                lambda: parse_choice(
                    self._required(parent, name, path), allowed, name, f"{path}/{name}"
                )
            )
            or "Unknown"
        )

    def _parameter(self, element: Element, path: str) -> tuple[str, str]:
        return (self._required(element, "valueName", path), self._value(element, path))

    def _value(self, element: Element, path: str) -> str:
        return self._optional(element, "value", f"{path}/value") or ""

    def _area(self, element: Element, path: str) -> Area | None:
        """The area, or None when a part of it had a problem (noted already)."""
        noted = len(self.problems)
        description = self._noted(lambda: self._required(element, "areaDesc", path))
        polygons = [
            polygon
            for child, child_path in self._indexed(element, "polygon", path)
            if (polygon := self._noted(_polygon, _text(child), child_path))
        ]
        circles = [
            circle
            for child, child_path in self._indexed(element, "circle", path)
            if (circle := self._noted(_circle, _text(child), child_path))
        ]
        geocodes, others = [], []
        for child, child_path in self._indexed(element, "geocode", path):
            name = self._optional(child, "valueName", f"{child_path}/valueName") or ""
            value = self._value(child, child_path)
            code = admin_code(name, value)
            if code is not None:
                geocodes.append(code)
            elif value.strip():
                others.append((name.strip(), value.strip()))
        if description is None or len(self.problems) > noted:
            return None  # without its broken shape it would pass for a smaller area
        return self._noted(finish_area, description, geocodes, polygons, circles, path, others)


def _text(element: Element) -> str:
    return (element.text or "").strip()


def _pair(text: str, path: str) -> tuple[float, float]:
    match = _PAIR.fullmatch(text)
    if match is None:
        raise InvalidWarning(f"{text!r} is not a 'lat,lon' pair", path)
    return float(match.group(1)), float(match.group(2))


def _polygon(text: str, path: str) -> Polygon:
    return make_polygon([_pair(pair, path) for pair in text.split()], path)


def _circle(text: str, path: str) -> Circle:
    parts = text.split()
    if len(parts) != 2 or re.fullmatch(_NUMBER, parts[1]) is None:
        raise InvalidWarning(f"circle {text!r} is not 'lat,lon radius_km'", path)
    lat, lon = _pair(parts[0], path)
    return make_circle(lat, lon, float(parts[1]), path)
