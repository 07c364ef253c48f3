"""aws.parse_timestamp reads S3's timestamps to the same instant as botocore's dateutil parser."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import botocore.utils
from hypothesis import given
from hypothesis import strategies as st

from newsdrop.adapters.aws import parse_timestamp, quick_timestamp

TIMES = st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC))


def forms(when: dt.datetime) -> list[str]:
    return [
        when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",  # ListObjectsV2's LastModified
        when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        format_datetime(when.replace(microsecond=0), usegmt=True),  # the Last-Modified header
    ]


@given(when=TIMES)
def test_same_instant_as_botocore(when: dt.datetime) -> None:
    for text in forms(when):
        ours, theirs = parse_timestamp(text), botocore.utils.parse_timestamp(text)
        assert quick_timestamp(text) is not None, text
        assert ours == theirs, text
        assert ours.utcoffset() == dt.timedelta(0)


@given(when=TIMES)
def test_formats_back_like_botocore(when: dt.datetime) -> None:
    # What moto's serializer does with the value: the same text as from botocore's own parser.
    for text in forms(when):
        quick = quick_timestamp(text)
        assert quick is not None
        expected = botocore.utils.parse_to_aware_datetime(text)
        assert quick.strftime("%Y-%m-%dT%H:%M:%S.%fZ") == expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_other_forms_go_to_botocore() -> None:
    for text in ["2026-11-30T02:00:00+08:00", "1700000000", "2026-11-30", "30 Nov 2026 02:00:00 GMT"]:
        assert quick_timestamp(text) is None
        assert parse_timestamp(text) == botocore.utils.parse_timestamp(text)
