"""How many parts an SMS takes, and fitting a text into two of them.

Pure. A text of GSM 03.38 characters only travels as GSM-7: 160 septets in one SMS, 153
per part when concatenated, a character of the extension table (`€ [ ] { } ^ ~ | \\`)
costing two. One character outside that alphabet (any Chinese, `…`, a curly quote) sends
the whole text as UCS-2: 70 UTF-16 units alone, 67 per part, a character beyond the Basic
Multilingual Plane (an emoji) costing two. Two parts are the budget: three cost half as
much again and arrive in pieces on older handsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_PARTS = 2
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
GSM7_MARKER = "..."
UCS2_MARKER = "…"

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
_GSM = _GSM_BASIC | _GSM_EXTENDED
# What a cut leaves dangling before the marker: "转移群众，…" reads worse than "转移群众…".
_DANGLING = " \t，,、;；:：。."


def is_gsm7(text: str) -> bool:
    """True when every character of `text` is in the GSM 03.38 alphabet (or its extension)."""
    return _GSM.issuperset(text)


def cost(text: str, *, gsm7: bool) -> int:
    """The septets (GSM-7) or UTF-16 units (UCS-2) `text` takes in an SMS."""
    # Counted by str methods rather than per character in Python: this runs for every
    # SMS of a fan-out.
    if gsm7:
        return len(text) + sum(text.count(char) for char in _GSM_EXTENDED)
    return len(text.encode("utf-16-le")) // 2


def sms_parts(text: str) -> int:
    """How many parts `text` is sent in (what the provider bills and the handset joins).

    One when it fits a single SMS; otherwise the parts of 153 septets or 67 units it is
    packed into, as a sending network packs them: a GSM-7 escape pair or a UTF-16
    surrogate pair is never split between two parts, so a part may hold one unit less.
    """
    gsm7 = is_gsm7(text)
    single, part = (GSM7_SINGLE, GSM7_PART) if gsm7 else (UCS2_SINGLE, UCS2_PART)
    units = cost(text, gsm7=gsm7)
    if units <= single:
        return 1
    if units == len(text):  # no pair that must stay whole
        return -(-units // part)
    parts, used = 1, 0
    for char in text:
        units = cost(char, gsm7=gsm7)
        if used + units > part:
            parts, used = parts + 1, 0
        used += units
    return parts


@dataclass(frozen=True, slots=True)
class Slot:
    """A variable part of a message that may be shortened to make it fit.

    `rank` orders the cutting: the lowest rank is shortened first (of equal ranks, the
    later in the text). Cutting goes in two rounds: the first leaves each slot at least
    its first `keep` characters, the second cuts to the marker alone where it must. So a
    long event name gives way before the person's grid is lost. With a `separator` ("、"
    between names) only whole items are kept. A shortened slot ends with the marker.
    """

    text: str
    rank: int
    separator: str = ""
    keep: int = 0


def fit_parts(pieces: Sequence[str | Slot], max_parts: int = MAX_PARTS) -> str:
    """The pieces joined into a text of at most `max_parts` parts (see `fit_pieces`)."""
    return "".join(fit_pieces(pieces, max_parts))


def fit_pieces(pieces: Sequence[str | Slot], max_parts: int = MAX_PARTS) -> list[str]:
    """The text of each piece once the whole fits in `max_parts` parts.

    Plain strings are the fixed text, never cut; slots are shortened from their end in
    rank order until the whole fits. If the fixed text with every slot down to its marker
    still does not fit, that is what is returned, over the budget: a template that can
    come to this is refused when templates load (`dispatcher.engine.texts`).
    """
    texts = [piece if isinstance(piece, str) else piece.text for piece in pieces]
    whole = "".join(texts)
    if sms_parts(whole) <= max_parts:
        return texts
    gsm7 = is_gsm7(whole)
    single, part = (GSM7_SINGLE, GSM7_PART) if gsm7 else (UCS2_SINGLE, UCS2_PART)
    budget = single if max_parts == 1 else part * max_parts
    # The budget assumes every unit of every part is used; a pair that may not be split
    # at a part's boundary can waste one, so a text over by that is fitted one tighter.
    while True:
        fitted = _shorten(pieces, budget, gsm7)
        if sms_parts("".join(fitted)) <= max_parts or budget <= 0:
            return fitted
        budget -= 1


def _shorten(pieces: Sequence[str | Slot], budget: int, gsm7: bool) -> list[str]:
    marker = GSM7_MARKER if gsm7 else UCS2_MARKER
    marker_cost = cost(marker, gsm7=gsm7)
    texts = [piece if isinstance(piece, str) else piece.text for piece in pieces]
    costs = [cost(text, gsm7=gsm7) for text in texts]
    over = sum(costs) - budget
    slots = sorted(
        ((index, piece) for index, piece in enumerate(pieces) if isinstance(piece, Slot)),
        key=lambda indexed: (indexed[1].rank, -indexed[0]),
    )
    for first_round in (True, False):
        for index, slot in slots:
            if over <= 0:
                break
            floor = slot.keep if first_round else 0
            if costs[index] == 0 or len(texts[index]) <= floor:
                continue
            room = costs[index] - over
            if first_round:
                room = max(room, cost(slot.text[:floor], gsm7=gsm7) + marker_cost)
            shortened = _cut(slot, room, marker, gsm7)
            shortened_cost = cost(shortened, gsm7=gsm7)
            if shortened_cost < costs[index]:
                over -= costs[index] - shortened_cost
                texts[index], costs[index] = shortened, shortened_cost
    return texts


def _cut(slot: Slot, room: int, marker: str, gsm7: bool) -> str:
    """The longest beginning of the slot that fits `room` with the marker after it."""
    room -= cost(marker, gsm7=gsm7)
    if slot.separator:
        items = slot.text.split(slot.separator)
        kept: list[str] = []
        for item in items:
            candidate = slot.separator.join([*kept, item])
            if cost(candidate, gsm7=gsm7) > room:
                break
            kept.append(item)
        if len(kept) == len(items):
            return slot.text
        prefix = slot.separator.join(kept)
    elif cost(slot.text, gsm7=gsm7) == len(slot.text):
        if len(slot.text) <= room:
            return slot.text
        prefix = slot.text[: max(room, 0)]
    else:
        used = 0
        for position, char in enumerate(slot.text):
            used += cost(char, gsm7=gsm7)
            if used > room:
                prefix = slot.text[:position]
                break
        else:
            return slot.text
    return prefix.rstrip(_DANGLING) + marker
