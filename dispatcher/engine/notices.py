"""Building the notice for a claimed send, and keeping it with the claim.

The rendered notice is stored in the attempt row, so a send whose process died can be
made again exactly as it was claimed, by any replica.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any

from channels.base import Notice
from dispatcher.core.effects import Claim
from dispatcher.core.links import AnswerLinks, Target, link_expiry
from dispatcher.core.roster import Roster
from dispatcher.engine.texts import Addressee, Texts, WarningText

_NOTICE_FIELDS = tuple(field.name for field in dataclass_fields(Notice))


def notice_to_data(notice: Notice) -> dict[str, Any]:
    # Field by field rather than dataclasses.asdict, which deep-copies every value: this
    # runs once per claimed send.
    data = {name: getattr(notice, name) for name in _NOTICE_FIELDS}
    data["extra"] = dict(notice.extra)
    data["valid_until"] = notice.valid_until.isoformat() if notice.valid_until else None
    return data


def notice_from_data(data: dict[str, Any]) -> Notice:
    fields = dict(data)
    until = fields.get("valid_until")
    fields["valid_until"] = datetime.fromisoformat(until) if until else None
    return Notice(**fields)


ANSWERABLE_BY_LINK = ("sms", "wechat")


class NoticeFactory:
    def __init__(
        self, texts: Texts, links: AnswerLinks | None, clock: Callable[[], datetime]
    ) -> None:
        self._texts = texts
        self._links = links
        self._clock = clock

    def build(
        self,
        claim: Claim,
        *,
        warning_id: str,
        warning: WarningText,
        addressee: Addressee,
        valid_until: datetime | None,
        link: tuple[Target, int] | None = None,
        silent: Sequence[str] = (),
        grid_names: Sequence[str] = (),
        extra: Mapping[str, str] | None = None,
    ) -> Notice:
        """The notice for `claim`; `link` names what its answer link answers for."""
        answer_url = None
        if self._links and link and claim.channel in ANSWERABLE_BY_LINK:
            expiry = link_expiry(valid_until, self._clock())
            answer_url = self._links.url(link[0], link[1], expiry)
        text = self._texts.render(
            claim.channel,
            claim.kind.value,
            warning=warning,
            person=addressee,
            answer_url=answer_url,
            silent=silent,
            grid_names=grid_names,
        )
        return Notice(
            key=claim.key,
            channel=claim.channel,
            kind=claim.kind.value,
            address=claim.address,
            text=text,
            title=f"{'【演练】' if warning.drill else ''}{warning.event}",
            warning_id=warning_id,
            level=warning.level,
            drill=warning.drill,
            answer_url=answer_url,
            valid_until=valid_until,
            # The person's name for providers that fill pre-approved templates.
            extra={"name": addressee.name, **(extra or {})},
        )


def addressee_of(
    roster: Roster, claim: Claim, grids_of: dict[int, tuple[str, ...]] | None
) -> Addressee:
    """Whom a claimed send is addressed to, as its texts name them: the person with the
    grids of their recipient row (`grids_of`), or the broadcast zone."""
    if claim.person_id is not None:
        person = roster.persons.get(claim.person_id)
        if person is not None:
            codes = grids_of.get(claim.recipient_id, ()) if grids_of and claim.recipient_id else ()
            grids = tuple(roster.grids[c].name if c in roster.grids else c for c in codes)
            return Addressee(person.name, person.role, grids)
    zone = roster.zone(claim.zone_id) if claim.zone_id is not None else None
    return Addressee(zone.name if zone is not None else "")


def extra_of(roster: Roster, claim: Claim, *, full_message: bool) -> dict[str, str] | None:
    # A zone id is the platform's name for its loudspeakers; the EBM needs an area code.
    extra = {"full_message": "1"} if full_message else {}
    zone = roster.zone(claim.zone_id) if claim.zone_id is not None else None
    if zone is not None:
        extra["area_code"] = zone.area_code
    return extra or None
