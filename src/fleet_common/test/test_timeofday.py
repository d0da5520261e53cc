"""fleet_common.timeofday: one reading of UTC offsets and shifts for every config file."""

from __future__ import annotations

import pytest

from fleet_common.timeofday import (
    OperatingHours,
    Shift,
    format_utc_offset,
    parse_utc_offset,
    uncovered,
)

DAY = 86400.0
T0 = 19675 * DAY  # a UTC midnight


@pytest.mark.parametrize('value, seconds', [
    (1, 3600), (-5.5, -19800), (0, 0), (5.75, 20700), (14, 50400), (-14.0, -50400),
    ('+01:00', 3600), ('-05:30', -19800), ('+00:00', 0), (' +14:00 ', 50400), ('UTC', 0),
    ('z', 0),
])
def test_utc_offset_forms(value: object, seconds: int) -> None:
    assert parse_utc_offset(value) == seconds
    assert isinstance(parse_utc_offset(value), int)


@pytest.mark.parametrize('value, reason', [
    ('+1:00', "quoted '+HH:MM'"), ('01:00', "quoted '+HH:MM'"), ('CET', "quoted '+HH:MM'"),
    ('+0100', "quoted '+HH:MM'"), ('+01:60', 'minutes must be 00..59'),
    ('+14:30', 'outside -14:00..+14:00'), (15, 'outside -14:00..+14:00'),
    (60, "quote it: '+01:00'"), (1.01, 'whole number of minutes'), (True, 'as a number'),
    (None, 'as a number'), (float('nan'), 'outside'),
])
def test_bad_utc_offsets_say_what_is_accepted(value: object, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_utc_offset(value)
    assert str(info.value).startswith(f'{value!r} is not a UTC offset: ')
    assert reason in str(info.value)


def test_format_utc_offset() -> None:
    assert [format_utc_offset(s) for s in (3600, -19800, 0)] == ['+01:00', '-05:30', '+00:00']


def test_shift_parse_and_contains() -> None:
    night = Shift.parse('22:00-06:00')
    assert (night.start_min, night.end_min, night.crosses_midnight) == (1320, 360, True)
    assert night.duration_s == 8 * 3600 and str(night) == '22:00-06:00'
    assert night.contains(23 * 3600) and night.contains(5 * 3600 + 3599)
    assert not night.contains(6 * 3600) and not night.contains(12 * 3600)
    # 02:00 on day 1 belongs to the shift that started on day 0
    assert night.start_day(DAY + 2 * 3600) == 0 and night.start_day(DAY + 23 * 3600) == 1
    assert Shift.parse('00:00-24:00').duration_s == DAY
    assert Shift.parse(' 06:00 - 14:00 ') == Shift(360, 840)


@pytest.mark.parametrize('text, words', [
    ('6:00-14:00', "'6:00' is not a time of day"), ('06:00-25:00', 'is not HH:MM-HH:MM'),
    ('06:60-14:00', 'is not HH:MM-HH:MM'), ('06:00', 'is not HH:MM-HH:MM'),
    ('day', 'is not HH:MM-HH:MM'), ('24:00-06:00', 'starts at 24:00'),
    ('08:00-08:00', 'is empty'), ('22:00-30:00', 'is not HH:MM-HH:MM'),
])
def test_bad_shifts(text: str, words: str) -> None:
    with pytest.raises(ValueError) as info:
        Shift.parse(text)
    assert str(info.value).startswith(repr(text)) and words in str(info.value)


def test_uncovered_finds_the_gap_across_midnight() -> None:
    assert uncovered([Shift.parse('06:00-22:00')]) == '22:00-06:00'
    assert uncovered([Shift.parse('06:00-18:00'), Shift.parse('18:00-06:00')]) == ''
    assert uncovered([]) == '00:00-24:00'


def test_operating_hours_clip_in_local_time() -> None:
    hours = OperatingHours.parse(['06:00-14:00'], '+01:00')
    assert hours == OperatingHours.parse(['06:00-14:00'], 1)  # the same offset, two spellings
    # local 06:00-14:00 at UTC+1 is UTC 05:00-13:00
    assert hours.clip(T0, T0 + DAY) == [(T0 + 5 * 3600, T0 + 13 * 3600)]
    assert hours.contains(T0 + 5 * 3600) and not hours.contains(T0 + 13 * 3600)
    with pytest.raises(ValueError):
        OperatingHours(())
