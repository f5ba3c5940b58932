"""The JSON form of a warning, for producers that do not speak CAP: to `Warning` and back.

The form mirrors CAP in snake_case (see `WarningForm`). Defaults follow CAP where CAP
has an obvious one (status Actual, msg_type Alert, scope Public, urgency/severity/
certainty Unknown, language en-US); types are strict (no "1" for 1, no 1 for "1") and
unknown keys are refused, so a misspelt `expires` is an error rather than a warning
that never ends. Paths in errors look like `infos[0].areas[1].polygons[0]`.

`warning_to_data` writes any parsed warning, CAP or JSON, in this form; it is how a
warning is stored beside its raw message.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, ValidationError

from dispatcher.core.errors import InvalidWarning
from dispatcher.core.levels import level_from_value, resolve_level
from dispatcher.core.model import Area, Info, MsgType, Reference, Warning
from dispatcher.core.warning_rules import (
    CERTAINTIES,
    RESPONSE_TYPES,
    SEVERITIES,
    URGENCIES,
    Problems,
    Reading,
    check_acted_on,
    check_infos,
    check_references,
    check_size,
    check_token,
    finish_area,
    is_admin_code,
    make_circle,
    make_polygon,
    parse_choice,
    parse_datetime,
    parse_msg_type,
    parse_reference,
    parse_scope,
    parse_status,
)

_UTF8_BOM = b"\xef\xbb\xbf"
# pydantic's wording for the two mistakes producers make most, said in the form's terms.
_REASONS = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field (not part of the JSON form; check its spelling)",
}


def _parameters_shape(value: object) -> str:
    return "pairs" if isinstance(value, list | tuple) else "object"


# An object in the common case; a list of [name, value] pairs when a name repeats.
_Parameters = Annotated[
    Annotated[dict[str, str], Tag("object")] | Annotated[tuple[tuple[str, str], ...], Tag("pairs")],
    Discriminator(_parameters_shape),
]


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CircleForm(_Form):
    lat: float
    lon: float
    radius_km: float


class GeocodeForm(_Form):
    value_name: str
    value: str


class AreaForm(_Form):
    """`geocodes` are administrative division codes only (6, 9 or 12 digits); any other
    scheme's codes (UGC, a basin) go in `other_geocodes`."""

    description: str
    geocodes: tuple[str, ...] = ()
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()
    circles: tuple[CircleForm, ...] = ()
    other_geocodes: tuple[GeocodeForm, ...] = ()


class ReferenceForm(_Form):
    sender: str
    identifier: str
    sent: str


class InfoForm(_Form):
    """One info block; `level` is an optional explicit level (`red`, `红色`, `04` …)."""

    event: str
    language: str = "en-US"
    categories: tuple[str, ...] = ()
    response_types: tuple[str, ...] = ()
    urgency: str = "Unknown"
    severity: str = "Unknown"
    certainty: str = "Unknown"
    level: str | None = None
    headline: str = ""
    description: str = ""
    instruction: str = ""
    effective: str | None = None
    onset: str | None = None
    expires: str | None = None
    sender_name: str = ""
    parameters: _Parameters = {}
    areas: tuple[AreaForm, ...] = ()


class WarningForm(_Form):
    """The whole JSON document. `id` is accepted for `identifier` (give one of the two)."""

    identifier: str | None = None
    id: str | None = None
    sender: str
    sent: str
    status: str = "Actual"
    msg_type: str = "Alert"
    scope: str = "Public"
    references: tuple[ReferenceForm, ...] = ()
    note: str = ""
    infos: tuple[InfoForm, ...] = ()


def parse_json(body: bytes, *, max_bytes: int = 1_000_000) -> Warning:
    """Parse and validate one warning in the JSON form.

    Returns the `Warning` (with `source="json"`). Raises `InvalidWarning` (and nothing
    else) for a body over `max_bytes`, text that is not a JSON object of the form, or
    content that breaks a rule of `dispatcher.core.warning_rules`; with several problems, it
    carries every one (`InvalidWarning.problems`).
    """
    return read_json(body, max_bytes=max_bytes).accepted()


def read_json(body: bytes, *, max_bytes: int = 1_000_000) -> Reading:
    """Read one JSON warning to its end, collecting every problem instead of stopping."""
    try:
        check_size(body, max_bytes)
        form = WarningForm.model_validate_json(body.removeprefix(_UTF8_BOM))
    except InvalidWarning as too_big:
        return Reading(None, too_big.problems)
    except ValidationError as exc:
        return Reading(None, _invalid(exc).problems)
    problems = Problems()
    warning = _warning(form, problems)
    return Reading(warning, tuple(problems.found))


def _invalid(exc: ValidationError) -> InvalidWarning:
    problems = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        # Drop the union tag pydantic puts in the location: the producer never wrote it.
        for index in range(len(loc) - 1):
            if loc[index] == "parameters" and loc[index + 1] in ("object", "pairs"):
                del loc[index + 1]
                break
        path = "".join(_path_part(part) for part in loc)
        reason = _REASONS.get(error["type"], error["msg"])
        problems.append(InvalidWarning(reason, path.removeprefix(".")))
    return InvalidWarning.of(problems)


def _path_part(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    # A producer's unknown field name goes into the reason as it is only when it reads as
    # a name; anything else (a NUL, a control character) is quoted and escaped.
    return f".{part}" if part.isidentifier() else f"[{json.dumps(part)}]"


def _warning(form: WarningForm, problems: Problems) -> Warning | None:
    identifier: str | None = None
    if form.identifier is not None and form.id is not None:
        problems.noted(_raise, "give identifier or its alias id, not both", "id")
    elif form.id is not None:
        identifier = problems.noted(check_token, form.id, "identifier", "id")
    elif form.identifier is not None:
        identifier = problems.noted(check_token, form.identifier, "identifier", "identifier")
    else:
        problems.noted(_raise, "identifier (or id) is required", "identifier")
    sender = problems.noted(check_token, form.sender, "sender", "sender")
    sent = problems.noted(parse_datetime, form.sent, "sent")
    status = problems.noted(parse_status, form.status, "status")
    msg_type = problems.noted(parse_msg_type, form.msg_type, "msg_type", "msg_type")
    scope = problems.noted(parse_scope, form.scope, "scope")
    references = tuple(
        reference
        for index, ref in enumerate(form.references)
        if (
            reference := problems.noted(
                parse_reference, ref.sender, ref.identifier, ref.sent, f"references[{index}]"
            )
        )
    )
    if msg_type is not None:
        problems.noted(check_acted_on, msg_type, "msg_type", "msg_type")
        if msg_type.acted_on:
            problems.noted(check_references, msg_type, references, "references")
    # With its msg_type unreadable, the rules that depend on it are not applied.
    acted_on = msg_type if msg_type is not None and msg_type.acted_on else MsgType.CANCEL
    infos = tuple(
        _info(info, f"infos[{index}]", acted_on, problems) for index, info in enumerate(form.infos)
    )
    problems.noted(check_infos, acted_on, infos, "infos", "info")
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
        note=form.note,
        source="json",
    )


def _raise(reason: str, path: str) -> None:
    raise InvalidWarning(reason, path)


def _info(form: InfoForm, path: str, msg_type: MsgType, problems: Problems) -> Info:
    """The info block with what could be read of it; each problem is noted."""
    if not form.event.strip():
        problems.noted(_raise, "event is empty", f"{path}.event")
    stated = None
    if form.level is not None and (stated := level_from_value(form.level)) is None:
        problems.noted(
            _raise,
            f"level {form.level!r} is not a warning level (red/orange/yellow/blue, "
            "红色/橙色/黄色/蓝色, 04–01)",
            f"{path}.level",
        )
    severity = (
        problems.noted(parse_choice, form.severity, SEVERITIES, "severity", f"{path}.severity")
        or "Unknown"
    )
    parameters = (
        tuple(form.parameters.items()) if isinstance(form.parameters, dict) else form.parameters
    )
    return Info(
        language=form.language.strip() or "en-US",
        event=form.event,
        urgency=problems.noted(parse_choice, form.urgency, URGENCIES, "urgency", f"{path}.urgency")
        or "Unknown",
        severity=severity,
        certainty=problems.noted(
            parse_choice, form.certainty, CERTAINTIES, "certainty", f"{path}.certainty"
        )
        or "Unknown",
        level=resolve_level(parameters, form.event, form.headline, severity, stated=stated),
        categories=form.categories,
        response_types=_choices(form.response_types, f"{path}.response_types", problems),
        headline=form.headline,
        description=form.description,
        instruction=form.instruction,
        effective=problems.noted(_time, form.effective, f"{path}.effective"),
        onset=problems.noted(_time, form.onset, f"{path}.onset"),
        expires=problems.noted(_time, form.expires, f"{path}.expires"),
        sender_name=form.sender_name,
        parameters=parameters,
        areas=tuple(
            area
            for index, area_form in enumerate(form.areas)
            if (area := _area(area_form, f"{path}.areas[{index}]", problems)) is not None
        ),
    )


def _choices(values: Sequence[str], path: str, problems: Problems) -> tuple[str, ...]:
    return tuple(
        choice
        for index, value in enumerate(values)
        if (
            choice := problems.noted(
                parse_choice, value, RESPONSE_TYPES, "response type", f"{path}[{index}]"
            )
        )
    )


def _time(text: str | None, path: str) -> datetime | None:
    return None if text is None else parse_datetime(text, path)


def _area(form: AreaForm, path: str, problems: Problems) -> Area | None:
    """The area, or None when a part of it had a problem (noted)."""
    noted = len(problems.found)
    for index, code in enumerate(form.geocodes):
        # Unlike CAP's open-ended geocode, this field is defined as division codes, so a
        # value that is not one is a producer's mistake to report, not a scheme to skip.
        if not is_admin_code(code):
            problems.noted(
                _raise,
                f"geocode {code!r} is not an administrative division code (6, 9 or 12 digits)",
                f"{path}.geocodes[{index}]",
            )
    polygons = [
        problems.noted(make_polygon, polygon, f"{path}.polygons[{index}]")
        for index, polygon in enumerate(form.polygons)
    ]
    circles = [
        problems.noted(
            make_circle, circle.lat, circle.lon, circle.radius_km, f"{path}.circles[{index}]"
        )
        for index, circle in enumerate(form.circles)
    ]
    if len(problems.found) > noted:
        return None  # without its broken part it would pass for a smaller area
    return problems.noted(
        finish_area,
        form.description,
        form.geocodes,
        [polygon for polygon in polygons if polygon is not None],
        [circle for circle in circles if circle is not None],
        path,
        [(code.value_name.strip(), code.value.strip()) for code in form.other_geocodes],
    )


def warning_to_data(warning: Warning) -> dict[str, Any]:
    """The warning as plain JSON-ready data in the JSON form, with each info's level stated.

    `warning_from_data` (or `parse_json` of its JSON text) reads it back to an equal
    `Warning`; that is what makes it fit to store beside the raw message.
    """
    return {
        "identifier": warning.identifier,
        "sender": warning.sender,
        "sent": warning.sent.isoformat(),
        "status": warning.status.value,
        "msg_type": warning.msg_type.value,
        "scope": warning.scope.value,
        "references": [_reference_data(reference) for reference in warning.references],
        "note": warning.note,
        "infos": [_info_data(info) for info in warning.infos],
    }


def warning_from_data(data: object) -> Warning:
    """The `Warning` that `warning_to_data` wrote; raises `InvalidWarning` if `data` is not one."""
    try:
        body = json.dumps(data, ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidWarning(f"not JSON data: {exc}") from None
    # Stored data was validated when it first arrived; its size is not the producer's to cap.
    return parse_json(body, max_bytes=sys.maxsize)


def _time_data(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _reference_data(reference: Reference) -> dict[str, str]:
    return {
        "sender": reference.sender,
        "identifier": reference.identifier,
        "sent": reference.sent.isoformat(),
    }


def _info_data(info: Info) -> dict[str, Any]:
    names = [name for name, _ in info.parameters]
    return {
        "language": info.language,
        "event": info.event,
        "categories": list(info.categories),
        "response_types": list(info.response_types),
        "urgency": info.urgency,
        "severity": info.severity,
        "certainty": info.certainty,
        "level": None if info.level is None else info.level.value,
        "headline": info.headline,
        "description": info.description,
        "instruction": info.instruction,
        "effective": _time_data(info.effective),
        "onset": _time_data(info.onset),
        "expires": _time_data(info.expires),
        "sender_name": info.sender_name,
        "parameters": dict(info.parameters)
        if len(set(names)) == len(names)
        else [list(pair) for pair in info.parameters],
        "areas": [_area_data(area) for area in info.areas],
    }


def _area_data(area: Area) -> dict[str, Any]:
    others = [{"value_name": name, "value": value} for name, value in area.other_geocodes]
    return {
        **({"other_geocodes": others} if others else {}),
        "description": area.description,
        "geocodes": list(area.geocodes),
        "polygons": [
            [[point.lat, point.lon] for point in polygon.points] for polygon in area.polygons
        ],
        "circles": [
            {"lat": circle.center.lat, "lon": circle.center.lon, "radius_km": circle.radius_km}
            for circle in area.circles
        ],
    }
