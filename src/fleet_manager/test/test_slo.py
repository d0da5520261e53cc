"""Tests of fleet_manager.core.slo: budgets, burn rates, alerts, SLI kinds and the series.

Every expected value is computed by hand in the comments. Times are epoch seconds built from
T0, a UTC midnight that is a multiple of every step, so windows are exact: a window of W
seconds ending at an aligned `now` covers (now - W, now].
"""

from __future__ import annotations

import random

import pytest

from fleet_manager.core.errors import ValidationError
from fleet_manager.core.slo import (
    DAY,
    DEFAULT_ALERT_POLICY,
    HOUR,
    MINUTE,
    SLI_KINDS,
    AlertChange,
    AlertState,
    AlertTransition,
    AlertWindow,
    AvailabilityRecorder,
    HealthInterval,
    HealthSample,
    IncidentAck,
    MissionOutcome,
    OperatingHours,
    Severity,
    Shift,
    SliKind,
    SliRegistry,
    SliSeries,
    SloEngine,
    SloSpec,
    evaluate,
    parse_utc_offset,
    quantile,
    window_label,
)

T0 = 19675 * DAY  # 2023-11-14T00:00:00Z, a multiple of 60 s and of a day
NOW = T0 + 3 * DAY
PAGE_1H = AlertWindow('page-1h', Severity.PAGE, 14.4, HOUR, 5 * MINUTE)


def mission_spec(objective: float = 0.99, **kwargs: object) -> SloSpec:
    """Return a mission_success SLO over 7 days, by default with the workbook policy."""
    return SloSpec('missions', 'mission_success', objective, 7 * DAY, **kwargs)  # type: ignore


def add(series: SliSeries, time: float, good: int, bad: int) -> None:
    """Record `good` good and `bad` bad events at `time`."""
    series.add(time, good, bad)


# --------------------------------------------------------------------------------------------
# Spec and policy
# --------------------------------------------------------------------------------------------


def test_default_policy_is_the_workbook_one() -> None:
    assert [(a.name, a.severity, a.burn_rate, a.long_s, a.short_s)
            for a in DEFAULT_ALERT_POLICY] == [
        ('page-1h', Severity.PAGE, 14.4, 3600, 300),
        ('page-6h', Severity.PAGE, 6.0, 21600, 1800),
        ('ticket-3d', Severity.TICKET, 1.0, 259200, 21600),
    ]
    assert mission_spec().windows == {
        '5m': 300, '30m': 1800, '1h': 3600, '6h': 21600, '3d': 259200}


def test_window_labels() -> None:
    assert [window_label(s) for s in (300, 1800, 3600, 21600, 259200, 90, 5400)] == [
        '5m', '30m', '1h', '6h', '3d', '90s', '90m']


@pytest.mark.parametrize('objective', [0, 1, 1.0, -0.1, 1.5])
def test_objective_must_be_strictly_between_0_and_1(objective: float) -> None:
    with pytest.raises(ValidationError) as info:
        mission_spec(objective)
    assert info.value.field == 'objective'


def test_spec_rejects_windows_shorter_than_step_and_unreachable_alerts() -> None:
    with pytest.raises(ValidationError) as info:
        mission_spec(step_s=600)  # the 5 m (300 s) window of page-1h < 600 s
    assert info.value.field == 'alerts[0].short_s'
    # objective 0.9 -> the burn rate is at most 1 / 0.1 = 10 < 14.4: page-1h can never fire.
    with pytest.raises(ValidationError) as info:
        mission_spec(0.9)
    assert info.value.field == 'alerts[0].burn_rate'
    with pytest.raises(ValidationError) as info:
        SloSpec('m', 'mission_success', 0.99, DAY)  # 1 d < the 3 d ticket window
    assert info.value.field == 'period_s'


def test_latency_kind_needs_threshold_and_others_refuse_it() -> None:
    with pytest.raises(ValidationError) as info:
        SloSpec('ack', 'ack_time', 0.5, 7 * DAY, alerts=())
    assert info.value.field == 'threshold_s'
    with pytest.raises(ValidationError) as info:
        mission_spec(threshold_s=300)
    assert info.value.field == 'threshold_s'


def test_sli_kinds_are_registered_with_contracts() -> None:
    assert SLI_KINDS.names() == ['ack_time', 'availability', 'mission_success']
    assert SLI_KINDS.get('ack_time').latency and not SLI_KINDS.get('availability').latency
    assert SLI_KINDS.get('availability').operating_hours
    registry = SliRegistry()
    kind = SliKind('x', 'x', 'good', 'bad', 'events', False, False,
                   SLI_KINDS.get('mission_success').recorder)
    registry.register(kind)
    with pytest.raises(ValueError):
        registry.register(kind)
    with pytest.raises(KeyError):
        registry.get('nope')
    with pytest.raises(ValidationError) as info:
        SloSpec('m', 'nope', 0.99, 7 * DAY)
    assert info.value.field == 'sli'


# --------------------------------------------------------------------------------------------
# Budget and burn rates
# --------------------------------------------------------------------------------------------


def test_budget_remaining_after_known_counts() -> None:
    spec = mission_spec(0.95)
    series = SliSeries.for_spec(spec)
    add(series, NOW - DAY, 980, 20)
    status = evaluate(spec, series, NOW)
    # allowed bad = (1 - 0.95) * 1000 = 50; remaining = 1 - 20 / 50 = 0.6; consumed 0.4
    assert status.total == 1000
    assert status.sli == 0.98  # 980 / 1000
    assert status.error_budget_remaining == 0.6
    assert status.budget_consumed == 0.4
    # 80 more bad: 100 bad of 1080, allowed 0.05 * 1080 = 54 -> remaining 1 - 100/54
    add(series, NOW - HOUR, 0, 80)
    status = evaluate(spec, series, NOW)
    assert status.error_budget_remaining == pytest.approx(1 - 100 / 54)
    assert status.error_budget_remaining < 0  # overspent, not clamped


def test_no_events_means_full_budget_and_no_sli() -> None:
    spec = mission_spec()
    status = evaluate(spec, SliSeries.for_spec(spec), NOW)
    assert status.sli is None
    assert status.error_budget_remaining == 1.0
    assert status.budget_consumed == 0.0
    assert set(status.burn_rates.values()) == {0.0}
    assert status.firing == ()


def test_events_older_than_the_period_do_not_count() -> None:
    spec = mission_spec(0.95)
    series = SliSeries.for_spec(spec)
    add(series, NOW - 7 * DAY, 0, 100)  # exactly period ago: outside (now - 7 d, now]
    add(series, NOW - 7 * DAY + 60, 10, 0)  # the first minute inside the period
    status = evaluate(spec, series, NOW)
    assert (status.good, status.bad) == (10, 0)


def test_burn_rate_per_window_with_events_at_known_times() -> None:
    spec = mission_spec(0.99)  # allowed error 0.01
    series = SliSeries.for_spec(spec)
    add(series, NOW - 120, 8, 2)  # in every window
    add(series, NOW - 300, 10, 0)  # exactly 5 m ago: outside 5m, inside 30m and longer
    add(series, NOW - 50 * MINUTE, 30, 0)  # inside 1h
    add(series, NOW - 5 * HOUR, 50, 0)  # inside 6h
    add(series, NOW - 2 * DAY, 96, 4)  # inside 3d
    add(series, NOW - 3 * DAY, 0, 100)  # exactly 3 d ago: outside 3d, inside the 7 d period
    status = evaluate(spec, series, NOW)
    assert status.burn_rates == {
        '5m': 20.0,  # 2 / 10 = 0.2 -> 0.2 / 0.01 = 20
        '30m': 10.0,  # 2 / 20 = 0.1 -> 10
        '1h': 4.0,  # 2 / 50 = 0.04 -> 4
        '6h': 2.0,  # 2 / 100 = 0.02 -> 2
        '3d': 3.0,  # 6 / 200 = 0.03 -> 3
    }
    # page-1h: 4 < 14.4; page-6h: 2 < 6; ticket-3d: 3 >= 1 and 6h 2 >= 1 -> only the ticket
    assert status.firing_names == ('ticket-3d',)
    assert status.severity is Severity.TICKET
    # period: 10 + 10 + 30 + 50 + 100 + 100 = 300 events, 2 + 4 + 100 = 106 bad
    # -> consumed = (106 / 300) / 0.01 = 35.33..., remaining = 1 - 35.33... = -34.33...
    assert status.budget_consumed == pytest.approx(106 / 3)
    assert status.error_budget_remaining == pytest.approx(1 - 106 / 3)


def test_unaligned_now_window_is_at_most_one_step_shorter() -> None:
    series = SliSeries(60, HOUR)
    add(series, T0 + 1, 1, 0)  # bucket (T0, T0 + 60]
    add(series, T0 + 61, 1, 0)  # bucket (T0 + 60, T0 + 120]
    # now = T0 + 330, 5m -> the 5 buckets ending with (T0 + 300, T0 + 360]: (T0 + 60, ...]
    assert series.counts(300, T0 + 330).total == 1
    assert series.counts(300, T0 + 300).total == 2  # aligned: exactly (T0, T0 + 300]


# --------------------------------------------------------------------------------------------
# Alert thresholds
# --------------------------------------------------------------------------------------------


def page_only_spec() -> SloSpec:
    return mission_spec(0.99, alerts=(PAGE_1H,))


def test_page_fires_exactly_at_14_4_over_both_windows() -> None:
    spec = page_only_spec()
    series = SliSeries.for_spec(spec)
    add(series, NOW - 60, 428, 72)  # 5m: 72 / 500 = 0.144 -> 0.144 / 0.01 = 14.4
    add(series, NOW - 30 * MINUTE, 428, 72)  # 1h: 144 / 1000 = 0.144 -> 14.4
    status = evaluate(spec, series, NOW)
    assert status.burn_rates == {'5m': 14.4, '1h': 14.4}
    assert status.firing_names == ('page-1h',)  # >= : exactly at the threshold fires
    assert status.alerts[0].just_started and status.started == ('page-1h',)


def test_page_does_not_fire_when_only_the_long_window_is_at_threshold() -> None:
    spec = page_only_spec()
    series = SliSeries.for_spec(spec)
    add(series, NOW - 60, 429, 71)  # 5m: 71 / 500 = 0.142 -> 14.2 < 14.4
    add(series, NOW - 30 * MINUTE, 427, 73)  # 1h: 144 / 1000 -> 14.4
    status = evaluate(spec, series, NOW)
    assert status.burn_rates == {'5m': 14.2, '1h': 14.4}
    assert status.firing == ()


def test_page_does_not_fire_when_only_the_short_window_is_at_threshold() -> None:
    spec = page_only_spec()
    series = SliSeries.for_spec(spec)
    add(series, NOW - 60, 428, 72)  # 5m: 72 / 500 -> 14.4
    add(series, NOW - 30 * MINUTE, 429, 71)  # 1h: 143 / 1000 = 0.143 -> 14.3 < 14.4
    status = evaluate(spec, series, NOW)
    assert status.burn_rates == {'5m': 14.4, '1h': 14.3}
    assert status.firing == ()


def test_page_does_not_fire_when_only_one_window_far_exceeds() -> None:
    spec = page_only_spec()
    series = SliSeries.for_spec(spec)
    add(series, NOW - 60, 0, 10)  # 5m: 10 / 10 -> 100
    add(series, NOW - 30 * MINUTE, 990, 0)  # 1h: 10 / 1000 = 0.01 -> 1
    assert evaluate(spec, series, NOW).firing == ()
    series = SliSeries.for_spec(spec)
    add(series, NOW - 60, 100, 0)  # 5m: 0 -> 0
    add(series, NOW - 30 * MINUTE, 0, 100)  # 1h: 100 / 200 = 0.5 -> 50
    assert evaluate(spec, series, NOW).firing == ()


def test_page_clears_exactly_when_one_window_drops_below() -> None:
    engine = SloEngine([page_only_spec()])
    series = engine.series('missions')
    add(series, NOW - 60, 428, 72)  # 5m: 14.4
    add(series, NOW - 30 * MINUTE, 428, 72)  # 1h: 14.4
    assert engine.evaluate(NOW) == [
        AlertTransition('missions', 'page-1h', AlertState.FIRING, NOW, 14.4, 14.4,
                        Severity.PAGE)]
    assert engine.evaluate(NOW + 60) == []  # still firing: no second transition
    # One late good event in the 1 h window only: 1h = 144 / 1001 = 0.14386 -> 14.386 < 14.4
    add(series, NOW - 30 * MINUTE, 1, 0)
    (transition,) = engine.evaluate(NOW + 60)
    assert transition.state is AlertState.RESOLVED
    assert transition.burn_short == 14.4
    assert transition.burn_long == pytest.approx(14.386, abs=1e-3)
    status = engine.status('missions')
    assert status is not None and status.cleared == ('page-1h',)
    assert status.alerts[0].change is AlertChange.CLEARED


def test_page_clears_when_the_short_window_moves_past_the_errors() -> None:
    engine = SloEngine([page_only_spec()])
    series = engine.series('missions')
    add(series, NOW - 60, 428, 72)
    add(series, NOW - 30 * MINUTE, 428, 72)
    assert [t.state for t in engine.evaluate(NOW)] == [AlertState.FIRING]
    # at NOW + 180 the 5m window (NOW - 120, NOW + 180] still holds NOW - 60: both 14.4
    assert engine.evaluate(NOW + 180) == []
    # at NOW + 240 the 5m window (NOW - 60, NOW + 240] is empty: 0 < 14.4; 1h still 14.4
    (transition,) = engine.evaluate(NOW + 240)
    assert (transition.state, transition.burn_long, transition.burn_short) == (
        AlertState.RESOLVED, 14.4, 0.0)


def test_ticket_fires_at_burn_rate_1() -> None:
    spec = mission_spec(0.99)
    series = SliSeries.for_spec(spec)
    add(series, NOW - 2 * DAY, 990, 10)
    add(series, NOW - HOUR, 99, 1)
    # 3d: 11 / 1100 = 0.01 -> 1.0; 6h: 1 / 100 = 0.01 -> 1.0; both >= 1 -> ticket
    # 1h and 5m: 1 / 100 -> 1.0 and 0 -> no page
    status = evaluate(spec, series, NOW)
    assert (status.burn_rates['3d'], status.burn_rates['6h']) == (1.0, 1.0)
    assert [(a.name, a.severity) for a in status.firing] == [('ticket-3d', Severity.TICKET)]
    # one more good event in the 6 h window: 6h = 1 / 101 -> 0.990 < 1 -> no ticket
    add(series, NOW - HOUR, 1, 0)
    status = evaluate(spec, series, NOW, previous=status)
    assert status.firing == () and status.cleared == ('ticket-3d',)


def test_previous_status_must_be_of_the_same_slo() -> None:
    spec = mission_spec()
    series = SliSeries.for_spec(spec)
    other = evaluate(SloSpec('other', 'mission_success', 0.99, 7 * DAY), series, NOW)
    with pytest.raises(ValueError):
        evaluate(spec, series, NOW, previous=other)


# --------------------------------------------------------------------------------------------
# mission_success
# --------------------------------------------------------------------------------------------


def test_mission_success_counts_interventions_as_bad() -> None:
    engine = SloEngine([mission_spec(0.95)])
    engine.record('missions', MissionOutcome(NOW - 100, succeeded=True))
    engine.record('missions', MissionOutcome(NOW - 90, succeeded=True, intervention=True))
    engine.record('missions', MissionOutcome(NOW - 80, succeeded=False))
    engine.record('missions', MissionOutcome(NOW - 70, succeeded=True))
    engine.evaluate(NOW)
    status = engine.status('missions')
    assert status is not None
    assert (status.good, status.bad, status.sli) == (2, 2, 0.5)
    # allowed = 0.05 * 4 = 0.2 bad; remaining = 1 - 2 / 0.2 = -9
    assert status.error_budget_remaining == -9.0


# --------------------------------------------------------------------------------------------
# availability
# --------------------------------------------------------------------------------------------


def availability_spec(shifts: list[str], offset: str = '+00:00') -> SloSpec:
    return SloSpec('avail', 'availability', 0.98, 7 * DAY,
                   operating_hours=OperatingHours.parse(shifts, offset))


def test_utc_offsets_parse() -> None:
    assert [parse_utc_offset(t) for t in ('+01:00', '-05:30', 'UTC', 'Z', '+14:00')] == [
        3600, -19800, 0, 0, 50400]
    for bad in ('+1:00', '01:00', '+14:30', '+01:60', 'CET'):
        with pytest.raises(ValueError):
            parse_utc_offset(bad)


def test_availability_excludes_off_hours() -> None:
    engine = SloEngine([availability_spec(['06:00-14:00'], '+01:00')])
    # local = UTC + 1 h, so local 06:00-14:00 is UTC 05:00-13:00.
    engine.record('avail', HealthSample(T0 + 4 * HOUR, 'r1', True))  # local 05:00
    engine.record('avail', HealthSample(T0 + 6 * HOUR, 'r1', False))  # local 07:00
    engine.record('avail', HealthSample(T0 + 7 * HOUR, 'r1', True))  # local 08:00
    engine.record('avail', HealthSample.of(T0 + 4 * HOUR, 'r2', online=True, in_error=False))
    engine.evaluate(T0 + 14 * HOUR)  # local 15:00
    status = engine.status('avail')
    assert status is not None
    # r1: good 06-07 (1 h) + 08-14 (6 h) = 7 h; bad 07-08 = 1 h; 05-06 and 14-15 off hours.
    # r2: good 06-14 = 8 h.  good = 15 h = 54000 s, bad = 3600 s.
    assert (status.good, status.bad) == (54000, 3600)
    assert status.sli == 54000 / 57600  # 0.9375
    # the fleet's 1 h bad in a 16 h total: consumed = (1 / 16) / 0.02 = 3.125
    assert status.budget_consumed == 3.125


def test_availability_shift_crossing_midnight() -> None:
    hours = OperatingHours.parse(['22:00-06:00'])
    assert Shift.parse('22:00-06:00').crosses_midnight
    # One UTC day holds the end of the previous night's shift and the start of tonight's.
    assert hours.clip(T0, T0 + DAY) == [(T0, T0 + 6 * HOUR), (T0 + 22 * HOUR, T0 + DAY)]
    engine = SloEngine([availability_spec(['22:00-06:00'])])
    engine.record('avail', HealthSample(T0 + 20 * HOUR, 'r1', True))  # 20:00, off hours
    engine.record('avail', HealthSample(T0 + 23 * HOUR, 'r1', False))  # 23:00
    engine.record('avail', HealthSample(T0 + 26 * HOUR, 'r1', True))  # 02:00 next day
    engine.evaluate(T0 + 32 * HOUR)  # 08:00 next day
    status = engine.status('avail')
    assert status is not None
    # good 22:00-23:00 (1 h) + 02:00-06:00 (4 h) = 18000 s; bad 23:00-02:00 = 10800 s
    assert (status.good, status.bad) == (18000, 10800)


def test_availability_intervals_and_overlapping_shifts() -> None:
    spec = availability_spec(['06:00-14:00', '12:00-16:00'])  # merged: 06:00-16:00
    series = SliSeries.for_spec(spec)
    recorder = AvailabilityRecorder(spec, series)
    recorder.record(HealthInterval(T0, T0 + DAY, 'r1', False))
    assert series.counts(DAY, T0 + DAY).bad == 10 * HOUR  # 06:00-16:00 once, not 12 h
    recorder.record(HealthInterval(T0 + DAY + 20 * HOUR, T0 + DAY + 23 * HOUR, 'r1', True))
    assert series.counts(DAY, T0 + 2 * DAY).total == 0  # wholly off hours: nothing


def test_availability_remove_robot_stops_counting() -> None:
    engine = SloEngine([availability_spec(['00:00-24:00'])])
    engine.record('avail', HealthSample(T0, 'r1', False))
    recorder = engine.recorder('avail')
    assert isinstance(recorder, AvailabilityRecorder)
    recorder.remove_robot('r1', T0 + HOUR)
    engine.evaluate(T0 + 5 * HOUR)
    status = engine.status('avail')
    assert status is not None and (status.good, status.bad) == (0, HOUR)


# --------------------------------------------------------------------------------------------
# ack_time
# --------------------------------------------------------------------------------------------


def ack_spec() -> SloSpec:
    ticket = AlertWindow('ticket-3d', Severity.TICKET, 1.0, 3 * DAY, 6 * HOUR)
    return SloSpec('ack', 'ack_time', 0.5, 7 * DAY, threshold_s=300, alerts=(ticket,),
                   min_coverage=0.0)  # one hour of data: the math, not the warm-up rule


def test_ack_time_median_and_good_within_threshold() -> None:
    engine = SloEngine([ack_spec()])
    for number, latency in enumerate([60, 120, 300, 400, 900]):
        opened = NOW - HOUR + number * 600
        engine.record('ack', IncidentAck(f'i{number}', opened))
        engine.record('ack', IncidentAck(f'i{number}', opened, opened + latency))
    engine.record('ack', IncidentAck('late', NOW - 600))  # open; deadline NOW - 300 passed
    engine.record('ack', IncidentAck('fresh', NOW - 100))  # open; deadline NOW + 200
    (transition,) = engine.evaluate(NOW)
    status = engine.status('ack')
    assert status is not None and status.latency is not None
    # good: 60, 120, 300 (<= 300); bad: 400, 900 and 'late' -> 3 / 6 = 0.5
    assert (status.good, status.bad, status.sli) == (3, 3, 0.5)
    # burn = 0.5 / (1 - 0.5) = 1.0 over 6h and 3d -> the ticket fires at exactly 1
    assert (transition.alert, transition.state) == ('ticket-3d', AlertState.FIRING)
    assert status.error_budget_remaining == 0.0  # 1 - 3 / (0.5 * 6)
    # median of [60, 120, 300, 400, 900] = 300; p90 at rank 0.9 * 4 = 3.6:
    # 400 + 0.6 * (900 - 400) = 700
    assert (status.latency.count, status.latency.median_s, status.latency.p90_s) == (
        5, 300, 700)
    # acknowledging 'late' adds its latency but does not count it bad a second time
    engine.record('ack', IncidentAck('late', NOW - 600, NOW + 60))
    engine.record('ack', IncidentAck('late', NOW - 600, NOW + 60))  # duplicate: ignored
    engine.evaluate(NOW + 60)
    status = engine.status('ack')
    assert status is not None and status.latency is not None
    assert (status.good, status.bad, status.latency.count) == (3, 3, 6)
    # 'fresh' passes its deadline NOW + 200 unacknowledged -> bad at NOW + 200
    engine.evaluate(NOW + 240)
    status = engine.status('ack')
    assert status is not None and status.bad == 4


def test_quantiles_interpolate_linearly() -> None:
    assert quantile([900, 60, 400, 120], 0.5) == 260  # (120 + 400) / 2
    assert quantile([10], 0.9) == 10
    with pytest.raises(ValueError):
        quantile([], 0.5)


# --------------------------------------------------------------------------------------------
# SliSeries memory bound
# --------------------------------------------------------------------------------------------


def test_bucket_expiry_keeps_memory_bounded() -> None:
    series = SliSeries(step_s=60, retention_s=HOUR)  # period / step = 60 buckets
    for number in range(20_000):  # one observation every 7 s for ~39 hours
        series.record(T0 + number * 7, good=number % 10 != 0)
        assert len(series) <= HOUR / 60 + 1
    assert len(series) == series.capacity == 60
    last = T0 + 19_999 * 7  # = T0 + 139993; the next bucket boundary is T0 + 140040
    # the hour (T0 + 136440, T0 + 140040] holds the observations at T0 + 7 * n for
    # n = 19492 .. 19999: 508 of them (3600 / 7 = 514.3 less the 47 s not yet reached)
    assert series.counts(HOUR, T0 + 140040).total == 508
    assert not series.record(last - 2 * HOUR, True)  # too old: ignored


def test_spec_sized_series_is_bounded_by_period_over_step() -> None:
    spec = mission_spec()
    series = SliSeries.for_spec(spec)
    for number in range(12_000):  # one observation every 90 s for 12.5 days
        series.record(T0 + number * 90, True)
    assert len(series) <= spec.period_s / spec.step_s + 1


def test_expire_drops_buckets_without_new_observations() -> None:
    series = SliSeries(step_s=60, retention_s=HOUR)
    add(series, T0, 1, 1)
    series.expire(T0 + 2 * HOUR)
    assert len(series) == 0


def test_interval_is_split_across_buckets() -> None:
    series = SliSeries(step_s=60, retention_s=HOUR)
    series.add_interval(T0 + 30, T0 + 150, good=True)  # 30 s + 60 s + 30 s in three buckets
    assert len(series) == 3
    assert series.counts(60, T0 + 60).good == 30
    assert series.counts(HOUR, T0 + 180).good == 120


def test_status_as_dict_is_plain() -> None:
    spec = page_only_spec()
    series = SliSeries.for_spec(spec)
    add(series, NOW - 60, 1, 0)
    data = evaluate(spec, series, NOW).as_dict()
    assert data['alerts'][0] == {'name': 'page-1h', 'severity': 'page', 'firing': False,
                                 'change': 'none', 'burn_long': 0.0, 'burn_short': 0.0,
                                 'enough_data': False}  # one minute of a 1 h window
    assert data['latency'] is None and data['sli'] == 1.0


def test_a_fleet_sampled_at_once_counts_as_one_credit_per_robot_would() -> None:
    """The manager advances the recorder before sampling the whole fleet (a few grouped
    credits); the counts equal those of one credit per robot and sample."""
    rng = random.Random(7)
    spec = availability_spec(['06:00-14:00', '20:00-22:00'])
    grouped, single = SloEngine([spec]), SloEngine([spec])
    robots = [f'r{i}' for i in range(200)]
    t = T0 + 5 * HOUR
    for _ in range(60):
        t += rng.choice([60.0, 600.0, 3 * HOUR])
        if rng.random() < 0.2:
            robots.append(f'r{len(robots)}')  # joins: counted from its first sample
        grouped.recorder('avail').advance(t)
        for robot in robots:
            sample = HealthSample(t, robot, rng.random() < 0.9)
            grouped.record('avail', sample)
            single.record('avail', sample)
    grouped.evaluate(t + HOUR)
    single.evaluate(t + HOUR)
    a, b = grouped.status('avail'), single.status('avail')
    assert a is not None and b is not None and b.bad > 0
    assert (a.good, a.bad) == (pytest.approx(b.good), pytest.approx(b.bad))
