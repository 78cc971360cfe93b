"""The one time parser (``core.timeparse``): ISO 8601 and ages before now, pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phantomkeys.core.timeparse import (
    RELATIVE_UNITS,
    TimeParseError,
    format_iso,
    parse_iso,
    parse_iso_or_none,
    parse_time,
)

NOW = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)

# Whole seconds, years 1900-2100: what a user types and what AWS returns.
instants = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2100, 12, 30), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
nows = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(instants)
def test_iso_with_z_round_trips(when: datetime) -> None:
    text = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    parsed = parse_time(text, now=NOW)
    assert parsed == when and parsed.tzinfo is UTC
    assert format_iso(parsed) == text


@given(instants, offsets)
def test_iso_with_an_offset_is_the_same_instant_in_utc(when: datetime, tz: timezone) -> None:
    text = when.astimezone(tz).isoformat()  # e.g. 2026-11-29T11:00:00+01:00
    parsed = parse_time(text, now=NOW)
    assert parsed == when
    assert parsed.utcoffset() == timedelta(0)


@given(instants)
def test_a_bare_date_or_time_without_zone_is_utc(when: datetime) -> None:
    assert parse_time(when.strftime("%Y-%m-%dT%H:%M:%S"), now=NOW) == when
    assert parse_time(when.strftime("%Y-%m-%d"), now=NOW) == when.replace(
        hour=0, minute=0, second=0
    )


@given(st.integers(min_value=0, max_value=100_000), st.sampled_from(sorted(RELATIVE_UNITS)), nows)
def test_relative_ages_are_before_now(amount: int, unit: str, now: datetime) -> None:
    expected = now - timedelta(**{RELATIVE_UNITS[unit]: amount})
    assert parse_time(f"{amount}{unit}", now=now) == expected
    assert parse_time(f" {amount}{unit.upper()} ", now=now) == expected


def test_the_documented_examples() -> None:
    assert parse_time("30m", now=NOW) == NOW - timedelta(minutes=30)
    assert parse_time("12h", now=NOW) == NOW - timedelta(hours=12)
    assert parse_time("7d", now=NOW) == NOW - timedelta(days=7)
    assert parse_time("2w", now=NOW) == NOW - timedelta(weeks=2)
    assert parse_time("now", now=NOW) == NOW
    assert parse_time("2026-11-29T11:00:00+01:00", now=NOW) == NOW
    assert parse_time("2026-11-29T10:00:00z", now=NOW) == NOW


def test_now_is_passed_in_never_read() -> None:
    other = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert parse_time("1d", now=other) == datetime(2001, 2, 2, 4, 5, 6, tzinfo=UTC)


# No digit: neither a date nor an age, whatever else the text holds.
garbage = st.text(
    alphabet=st.characters(blacklist_categories=("Nd", "Cs")), min_size=0, max_size=20
).filter(lambda t: t.strip().lower() != "now")


@given(garbage)
def test_garbage_is_rejected_with_a_clear_message(text: str) -> None:
    with pytest.raises(TimeParseError) as info:
        parse_time(text, now=NOW)
    message = str(info.value)
    assert "is not a time" in message and "ISO-8601" in message and "7d" in message
    assert "2026-11-29T10:00:00Z" in info.value.hint


@pytest.mark.parametrize(
    "text",
    ["7x", "7 days", "yesterday", "2026-13-01", "2026-11-31", "-7d", "7d ago", "1e3d", "T10:00"],
)
def test_near_misses_are_rejected(text: str) -> None:
    with pytest.raises(TimeParseError, match="is not a time"):
        parse_time(text, now=NOW)


def test_an_age_too_large_for_the_calendar_is_a_clear_error() -> None:
    with pytest.raises(TimeParseError, match="too far in the past"):
        parse_time("999999999w", now=NOW)


@given(instants, offsets)
def test_parse_iso_reads_data_timestamps(when: datetime, tz: timezone) -> None:
    assert parse_iso(when.astimezone(tz).isoformat()) == when
    assert parse_iso(when.replace(tzinfo=None)) == when  # naive means UTC
    assert parse_iso_or_none(when.strftime("%Y-%m-%dT%H:%M:%SZ")) == when


@pytest.mark.parametrize("value", [None, "", "   ", "N/A", "not a time", 42, ["2026-11-29"]])
def test_parse_iso_or_none_is_none_for_anything_else(value: object) -> None:
    assert parse_iso_or_none(value) is None


def test_parse_iso_raises_value_error_on_garbage() -> None:
    with pytest.raises(ValueError, match="isoformat"):
        parse_iso("not a time")
