"""aws.to_attribute and aws.from_attribute write and read the catalog's items as boto3's type codec does.

The adapters import botocore without boto3 (see adapters/aws.py); an item written by either codec
must read back the same through the other, so a table written before stays readable.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from newsdrop.adapters.aws import from_attribute, to_attribute

# The kinds of value the catalog stores: text, whole numbers, flags, nothing, lists and maps of them.
SCALARS = st.one_of(
    st.text(),
    st.integers(min_value=-(10**37), max_value=10**37),
    st.booleans(),
    st.none(),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**20), max_value=10**20),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner), st.dictionaries(st.text(), inner, max_size=4)
    ),
    max_leaves=12,
)


def _number_forms_agree(ours: Any, theirs: Any) -> None:
    """Equal attribute values, numbers compared as numbers (either text is the same number)."""
    if isinstance(ours, dict) and set(ours) == {"N"}:
        assert set(theirs) == {"N"} and Decimal(ours["N"]) == Decimal(theirs["N"])
    elif isinstance(ours, dict):
        assert ours.keys() == theirs.keys()
        for key in ours:
            _number_forms_agree(ours[key], theirs[key])
    elif isinstance(ours, list):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            _number_forms_agree(a, b)
    else:
        assert ours == theirs


@given(value=VALUES)
def test_writes_what_boto3_writes(value: Any) -> None:
    _number_forms_agree(to_attribute(value), TypeSerializer().serialize(value))


@given(value=VALUES)
def test_reads_what_boto3_reads_from_either_codec(value: Any) -> None:
    for written in (to_attribute(value), TypeSerializer().serialize(value)):
        ours, theirs = from_attribute(written), TypeDeserializer().deserialize(written)
        assert ours == theirs
        assert type(ours) is type(theirs)


def test_numbers_read_back_exactly_as_decimals() -> None:
    assert from_attribute(to_attribute(12345678901234567890123456789)) == Decimal("12345678901234567890123456789")
    assert from_attribute({"N": "0.10"}) == Decimal("0.10")


@pytest.mark.parametrize("value", [1.5, {1, 2}, b"bytes", object()])
def test_a_kind_the_catalog_does_not_store_is_refused(value: Any) -> None:
    with pytest.raises(TypeError, match="the catalog stores no"):
        to_attribute(value)


def test_an_attribute_kind_it_never_writes_is_refused_on_reading() -> None:
    with pytest.raises(TypeError, match="reads no SS"):
        from_attribute({"SS": ["a"]})
