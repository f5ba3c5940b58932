"""SMS parts are counted as a network packs them; fitting cuts only what may be cut."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.core.sms_fit import Slot, fit_parts, fit_pieces, is_gsm7, sms_parts


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("中" * 70, 1),
        ("中" * 71, 2),
        ("中" * 134, 2),
        ("中" * 135, 3),
        ("€" * 80, 1),  # an extension character costs two septets
        ("€" * 81, 2),
        ("😀" * 35, 1),  # beyond the BMP: two UTF-16 units
        ("😀" * 36, 2),
        # One character outside GSM-7 sends the whole text as UCS-2.
        ("a" * 70, 1),
        ("a" * 69 + "…", 1),
        ("a" * 70 + "…", 2),
        ("Don’t drive through flooded roads. " * 2 + "!", 2),  # 71 characters
        # A pair is never split between two parts, so one unit of a part goes unused.
        ("a" * 152 + "€" + "a" * 152, 3),
        ("a" * 151 + "€" + "a" * 153, 2),
        ("中" * 66 + "😀" + "中" * 66, 3),
        ("中" * 65 + "😀" + "中" * 67, 2),
    ],
)
def test_parts_are_counted_as_the_network_packs_them(text: str, parts: int) -> None:
    assert sms_parts(text) == parts


def test_gsm7_is_told_from_ucs2() -> None:
    assert is_gsm7("Flash Flood Warning for Harris County, TX until 8:00 PM [CDT] €5")
    assert not is_gsm7("Flash Flood Warning – Harris County")  # an en dash
    assert not is_gsm7("暴雨红色预警")


def test_a_text_that_fits_is_not_touched() -> None:
    pieces: list[str | Slot] = ["【红色预警】", Slot("暴雨红色预警", 2), "。请回复1确认收到。"]
    assert fit_parts(pieces) == "【红色预警】暴雨红色预警。请回复1确认收到。"


def test_the_lowest_rank_is_cut_first_and_the_fixed_text_never() -> None:
    instruction = "请立即转移山洪危险区、地质灾害隐患点和低洼地带群众；" * 6
    pieces: list[str | Slot] = [
        "【红色预警】",
        Slot("暴雨红色预警", 2),
        "。",
        Slot(instruction, 1),
        "请回复1确认收到或点 https://jiaoying.luhe.gov.cn/a/cgAAAAAAAeJAAci7oysPXB2jiB18WoY。",
    ]
    fitted = fit_pieces(pieces)
    assert sms_parts("".join(fitted)) == 2
    assert fitted[0] == "【红色预警】"
    assert fitted[1] == "暴雨红色预警", "a higher rank stays whole while a lower one gives way"
    assert fitted[3].endswith("…")
    assert instruction.startswith(fitted[3].removesuffix("…"))
    assert fitted[4].endswith("WoY。")


def test_keep_lets_a_long_event_give_way_before_the_grid_is_lost() -> None:
    event = "山洪灾害气象风险" * 15
    pieces: list[str | Slot] = [
        "【红色预警】",
        Slot("欧阳建国", 2, keep=4),
        "（",
        Slot("河田镇新田村第一网格、河田镇新田村第二网格", 3, "、", keep=12),
        "）：",
        Slot(event, 4, keep=12),
        "。请回复1确认收到。",
    ]
    fitted = fit_pieces(pieces)
    assert sms_parts("".join(fitted)) <= 2
    assert fitted[1] == "欧阳建国"
    assert fitted[3] == "河田镇新田村第一网格…", "a list keeps whole items"
    assert len(fitted[5]) > 12
    assert event.startswith(fitted[5].removesuffix("…"))


def test_a_gsm7_text_is_shortened_with_three_dots_and_stays_gsm7() -> None:
    pieces: list[str | Slot] = [
        "[RED] ",
        Slot("Flash Flood Warning", 2),
        ". ",
        Slot("Turn around, don't drown when encountering flooded roads. " * 8, 1),
        " Confirm: reply 1 or open https://alerts.example.org/a/cgAAAAAAAeJAAci7oysPXB2jiB18WoY",
    ]
    text = fit_parts(pieces)
    assert is_gsm7(text)
    assert "..." in text
    assert sms_parts(text) == 2
    assert len(text) > 134, "pure GSM-7 may use 2 x 153"


def test_fixed_text_that_cannot_fit_comes_back_over_the_budget() -> None:
    pieces: list[str | Slot] = ["预" * 140, Slot("暴雨", 1)]
    assert sms_parts(fit_parts(pieces)) == 3


_text = st.text(alphabet=st.sampled_from("aZ €[中国暴雨预警、，😀…\n"), min_size=0, max_size=200)


@given(
    fixed=st.lists(st.text(alphabet="ab中€", max_size=12), min_size=1, max_size=4),
    slots=st.lists(
        st.tuples(_text, st.integers(1, 4), st.sampled_from(["", "、", ", "]), st.integers(0, 20)),
        min_size=1,
        max_size=4,
    ),
)
def test_fitting_keeps_the_fixed_text_and_shortens_slots_to_their_beginnings(
    fixed: list[str], slots: list[tuple[str, int, str, int]]
) -> None:
    pieces: list[str | Slot] = []
    for index, (text, rank, separator, keep) in enumerate(slots):
        pieces.append(fixed[index % len(fixed)])
        pieces.append(Slot(text, rank, separator, keep))
    fitted = fit_pieces(pieces)
    assert sms_parts("".join(fitted)) <= 2, "fixed text of at most 48 characters always fits"
    for piece, result in zip(pieces, fitted, strict=True):
        if isinstance(piece, str):
            assert result == piece
        elif result != piece.text:
            kept = result.removesuffix("…").removesuffix("...")
            assert result != kept, "a shortened part ends with the marker"
            assert piece.text.startswith(kept)
