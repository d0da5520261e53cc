"""SLO warm-up on a fake clock: a fresh fleet with nothing failing raises no alert at first.

The shipped ``config/slos.yaml`` drives an :class:`SloEngine` through the first 10 minutes of
a fresh 3-robot fleet, as the demo starts it: the robots are discovered 2 s, 5 s and 20 s
after the manager (offline, hence bad robot-seconds, until then), a mission finishes every
20 s, and the very first one needed an operator's resume (an intervention: bad). Evaluated
every second, nothing may fire. The same input without the data-sufficiency rule
(``min_coverage: 0``, ``min_events: 0``) does fire, so the test fails if the rule is lost.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib

from fleet_manager.core.slo import SloEngine, SloSpec
from fleet_manager.core.slo_config import load_slos
from fleet_manager.core.slo_kinds import HealthSample, MissionOutcome

SLOS = pathlib.Path(__file__).resolve().parents[2] / 'fleet_bringup' / 'config' / 'slos.yaml'
# Monday 09:00 UTC: 10:00 local (+01:00), inside the early shift of fleet_availability.
T0 = datetime.datetime(2026, 1, 5, 9, 0, tzinfo=datetime.timezone.utc).timestamp()
DISCOVERED_AFTER = {'robot1': 2.0, 'robot2': 5.0, 'robot3': 20.0}
MISSION_EVERY = 20.0
TEN_MINUTES = 600


def run_fresh_fleet(specs: list[SloSpec]) -> list[tuple[float, str, str]]:
    """Feed the first 10 minutes to an engine; return every (time, slo, alert) that fired."""
    engine = SloEngine(specs)
    fired: list[tuple[float, str, str]] = []
    for robot in DISCOVERED_AFTER:
        engine.record('fleet_availability', HealthSample.of(T0, robot, False, False))
    missions = 0
    for second in range(1, TEN_MINUTES + 1):
        now = T0 + second
        for robot, after in DISCOVERED_AFTER.items():
            if second == after:
                engine.record('fleet_availability', HealthSample.of(now, robot, True, False))
        if second % MISSION_EVERY == 0:
            missions += 1
            engine.record('mission_success',
                          MissionOutcome(now, succeeded=True, intervention=missions == 1))
        fired += [(t.time - T0, t.slo, t.alert) for t in engine.evaluate(now)
                  if t.state == 'firing']
    return fired


def test_fresh_fleet_raises_no_slo_alert_in_its_first_ten_minutes() -> None:
    specs = load_slos(SLOS)
    assert {s.name for s in specs} >= {'mission_success', 'fleet_availability'}
    assert run_fresh_fleet(specs) == []
    # And /slos says why: the windows do not have enough data yet.
    engine = SloEngine(specs)
    engine.record('fleet_availability', HealthSample.of(T0, 'robot1', False, False))
    engine.evaluate(T0 + 60)
    status = engine.status('fleet_availability')
    assert status is not None and status.as_dict()['alerts'][0]['enough_data'] is False


def test_without_the_rule_the_same_start_fires() -> None:
    eager = [dataclasses.replace(s, min_coverage=0.0, min_events=0.0) for s in load_slos(SLOS)]
    fired = run_fresh_fleet(eager)
    # The discovery seconds alone burn the availability budget within the first minute.
    assert any(slo == 'fleet_availability' and when <= 60 for when, slo, _ in fired), fired


def test_alert_fires_once_the_window_has_enough_data() -> None:
    """The rule delays an alert, it does not hide one: past min_coverage of the 1 h window
    (30 min of data) with every robot offline, the page fires."""
    (avail,) = [s for s in load_slos(SLOS) if s.name == 'fleet_availability']
    engine = SloEngine([avail])
    engine.record('fleet_availability', HealthSample.of(T0, 'robot1', False, False))
    fired_at = None
    for minute in range(1, 61):
        if any(t.alert == 'page-1h' and t.state == 'firing'
               for t in engine.evaluate(T0 + 60 * minute)):
            fired_at = minute
            break
    assert fired_at == 30, fired_at


def test_min_events_holds_back_a_window_with_few_missions() -> None:
    (spec,) = [s for s in load_slos(SLOS) if s.name == 'mission_success']
    spec = dataclasses.replace(spec, min_coverage=0.0)
    engine = SloEngine([spec])
    for i in range(int(spec.min_events) - 1):  # every mission failed, one short of enough
        engine.record('mission_success', MissionOutcome(T0 + i, succeeded=False))
    assert engine.evaluate(T0 + 60) == []
    engine.record('mission_success', MissionOutcome(T0 + 61, succeeded=False))
    assert {t.alert for t in engine.evaluate(T0 + 62)} >= {'page-1h'}
