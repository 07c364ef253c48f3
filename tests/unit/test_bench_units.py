"""The request-unit rules of bench/units.py: DynamoDB's item sizes and how units round."""

from __future__ import annotations

import pytest

from bench.units import item_size, number_size, read_units, summary, write_units


def test_strings_and_names_count_their_utf8_bytes() -> None:
    assert item_size({"pk": {"S": "abc"}}) == 2 + 3
    assert item_size({"标题": {"S": "北向资金"}}) == 6 + 12


@pytest.mark.parametrize(
    ("number", "size"),
    [
        ("0", 2),
        ("7", 2),
        ("12", 2),
        ("123", 3),
        ("-123.4500", 4),  # the digits 12345: trailing zeroes are not stored
        ("0.001", 2),
        ("1000", 2),
        ("1.5e10", 2),
    ],
)
def test_a_number_costs_a_byte_per_two_significant_digits_and_one(number: str, size: int) -> None:
    assert number_size(number) == size


def test_documents_carry_their_overhead() -> None:
    assert item_size({"l": {"L": []}}) == 1 + 3
    assert item_size({"l": {"L": [{"S": "ab"}, {"BOOL": True}]}}) == 1 + 3 + (1 + 2) + (1 + 1)
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"s": {"SS": ["a", "bc"]}, "b": {"B": b"\x00\x01"}, "n": {"NULL": True}}) == (1 + 3) + (1 + 2) + 2


def test_an_unknown_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="XYZ"):
        item_size({"a": {"XYZ": 1}})


def test_reads_round_up_to_4_kb_and_writes_to_1_kb() -> None:
    assert read_units(0) == 1
    assert read_units(4096) == 1
    assert read_units(4097) == 2
    assert read_units(4097, consistent=False) == 1
    assert read_units(100, consistent=False) == 0.5
    assert write_units(0) == 1
    assert write_units(1024) == 1
    assert write_units(1025) == 2


def test_the_summary_totals_each_publish() -> None:
    found = summary([{"q": 3.0, "g": 1.0}, {"q": 5.0}, {"q": 4.0, "g": 1.0}], [{"p": 2.0}, {"p": 2.0}, {"p": 6.0}])
    assert found["read"] == {"median": 5.0, "max": 5.0, "min": 4.0}
    assert found["read_by_request"] == {"g": 1.0, "q": 4.0}
    assert found["write"]["max"] == 6.0
    assert found["publishes"] == 3
