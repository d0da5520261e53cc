"""Store retention: old events and telemetry samples go in bounded batches, event ids keep
increasing, event_retention is refused when shorter than the history rebuilt from the log."""

from __future__ import annotations

import pathlib
import sqlite3
from typing import Iterator

import pytest

from fleet_common.events import ManagerConfigured, RobotConnectivity
from fleet_manager.core.model import NewEvent
from fleet_manager.params import DAY_S, HISTORY_WINDOW_S, ManagerParams, check_event_retention
from fleet_manager.retention import Pruned, StoreRetention
from fleet_manager.store import PRUNE_BATCH, FleetStore

T0 = 1_700_000_000.0


@pytest.fixture
def store(tmp_path: pathlib.Path) -> Iterator[FleetStore]:
    s = FleetStore(str(tmp_path / 'fleet.db'), sync='normal')
    yield s
    s.close()


def connectivity(robot_id: str, to: str = 'online') -> NewEvent:
    return NewEvent.of(RobotConnectivity('stale', to, 'test'), robot_id)


def configured() -> NewEvent:
    return NewEvent.of(ManagerConfigured({'fleet': 'fleet.yaml'}, {'fleet': 'abc'}, []))


def log(store: FleetStore, now: float, count: int, robot: str = 'r1') -> list[int]:
    """Append ``count`` events at ``now``; return their ids."""
    return [e.id for e in store.append([connectivity(robot) for _ in range(count)], now)]


def ids(store: FleetStore) -> list[int]:
    return [e.id for e in store.events_after(0, 1_000_000)]


def test_prune_deletes_events_older_than_the_cutoff_and_keeps_the_recent(
        store: FleetStore) -> None:
    old = log(store, T0, 5)
    recent = log(store, T0 + 100.0, 3)
    assert store.prune_events(T0 + 50.0) == 5
    assert ids(store) == recent
    assert store.prune_events(T0 + 50.0) == 0
    assert old[-1] < recent[0]


def test_an_event_exactly_at_the_cutoff_is_kept(store: FleetStore) -> None:
    log(store, T0 - 1.0, 1)
    kept = log(store, T0, 1)
    assert store.prune_events(T0) == 1
    assert ids(store) == kept


def test_ids_keep_increasing_after_pruning_everything(store: FleetStore) -> None:
    first = log(store, T0, 4)
    assert store.prune_events(T0 + 1.0) == 4
    assert ids(store) == []
    assert store.last_event_id() == first[-1]
    later = log(store, T0 + 2.0, 2)
    assert later == [first[-1] + 1, first[-1] + 2]
    assert store.last_event_id() == later[-1]


def test_ids_survive_a_reopen_after_pruning(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / 'fleet.db')
    s = FleetStore(path, sync='normal')
    first = log(s, T0, 3)
    s.prune_events(T0 + 1.0)
    s.close()
    s = FleetStore(path, sync='normal')
    try:
        assert log(s, T0 + 2.0, 1) == [first[-1] + 1]
    finally:
        s.close()


def test_after_id_older_than_the_retained_range_gets_what_remains(
        store: FleetStore) -> None:
    old = log(store, T0, 10)
    recent = log(store, T0 + 100.0, 4)
    store.prune_events(T0 + 50.0)
    assert [e.id for e in store.events_after(old[2], 100)] == recent
    assert [e.id for e in store.events_after(recent[1], 100)] == recent[2:]


def test_one_pass_deletes_at_most_the_batch_oldest_first(store: FleetStore) -> None:
    a = log(store, T0, 30)
    b = log(store, T0 + 10.0, 30)
    assert store.prune_events(T0 + 100.0, limit=25) == 25
    assert ids(store) == a[25:] + b
    assert store.prune_events(T0 + 100.0, limit=25) == 25
    assert ids(store) == b[20:]
    assert store.prune_events(T0 + 100.0, limit=25) == 10
    assert ids(store) == []


def test_the_newest_event_of_a_kept_kind_stays_whatever_its_age(store: FleetStore) -> None:
    older = store.append([configured()], T0)[0].id
    newest = store.append([configured()], T0 + 1.0)[0].id
    log(store, T0 + 2.0, 3)
    assert store.prune_events(T0 + 100.0, keep_latest=['manager.configured']) == 4
    assert ids(store) == [newest]
    assert older < newest


def test_pruning_uses_the_time_index(store: FleetStore, tmp_path: pathlib.Path) -> None:
    conn = sqlite3.connect(str(tmp_path / 'fleet.db'))
    try:
        plan = ' '.join(str(row[-1]) for row in conn.execute(
            'EXPLAIN QUERY PLAN SELECT id FROM events WHERE time < ? ORDER BY time LIMIT ?',
            [T0, 10]))
    finally:
        conn.close()
    assert 'idx_events_time' in plan and 'TEMP B-TREE' not in plan, plan


class Clock:
    def __init__(self) -> None:
        self.now = T0


def test_retention_prunes_once_a_period_then_every_call_while_a_backlog_remains(
        store: FleetStore) -> None:
    clock = Clock()
    log(store, clock.now - 10 * DAY_S, 25)
    recent = log(store, clock.now - 1.0, 5)
    retention = StoreRetention(store, 7 * DAY_S, DAY_S, period=60.0, batch=10)
    assert retention.run(clock.now) == Pruned(events=10)
    clock.now += 2.0
    assert retention.run(clock.now) == Pruned(events=10)   # backlog: no wait for the period
    clock.now += 2.0
    assert retention.run(clock.now) == Pruned(events=5)
    clock.now += 2.0
    assert retention.run(clock.now) == Pruned()    # caught up: next pass a period later
    log(store, clock.now - 8 * DAY_S, 3)
    clock.now += 30.0
    assert retention.run(clock.now) == Pruned()
    clock.now += 30.0
    assert retention.run(clock.now) == Pruned(events=3)
    assert ids(store) == recent
    assert retention.pruned_events == 28


def test_retention_zero_keeps_every_event(store: FleetStore) -> None:
    kept = log(store, T0 - 1000 * DAY_S, 3)
    add_samples(store, T0 - 1000 * DAY_S, 2)
    assert StoreRetention(store, 0.0, DAY_S).run(T0) == Pruned(samples=2)
    assert ids(store) == kept


def add_samples(store: FleetStore, now: float, count: int) -> None:
    with store.transaction() as tx:
        tx.add_telemetry([{'robot_id': f'r{i}', 'time': now, 'battery': 0.5, 'x': 0.0,
                           'y': 0.0, 'theta': 0.0, 'mode': 1, 'diagnostics_level': 0,
                           'connectivity': 'online'} for i in range(count)])


def sample_times(store: FleetStore) -> list[float]:
    return sorted(s['time'] for i in range(50)
                  for s in store.telemetry(f'r{i}', 0.0, 2 * T0))


def test_telemetry_prune_looks_at_the_oldest_rows_only_and_keeps_the_recent(
        store: FleetStore) -> None:
    add_samples(store, T0 - 10.0, 30)
    add_samples(store, T0, 20)
    assert store.prune_telemetry(T0 - 5.0, limit=25) == 25
    assert store.prune_telemetry(T0 - 5.0, limit=25) == 5   # the 25 oldest: 5 old, 20 new
    assert store.prune_telemetry(T0 - 5.0, limit=25) == 0
    assert sample_times(store) == [T0] * 20


def test_retention_prunes_telemetry_in_batches_with_the_events(store: FleetStore) -> None:
    add_samples(store, T0 - 2 * DAY_S, 15)
    recent = log(store, T0 - 1.0, 2)
    add_samples(store, T0 - 1.0, 3)
    retention = StoreRetention(store, 7 * DAY_S, DAY_S, period=60.0, batch=10)
    assert retention.run(T0) == Pruned(samples=10)
    assert retention.run(T0 + 1.0) == Pruned(samples=5)   # backlog
    assert retention.run(T0 + 2.0) == Pruned()
    assert sample_times(store) == [T0 - 1.0] * 3
    assert ids(store) == recent
    assert retention.pruned_samples == 15


def test_the_default_retention_and_batch_fit_the_constraints() -> None:
    assert ManagerParams().event_retention >= HISTORY_WINDOW_S
    assert PRUNE_BATCH <= 10_000
    assert check_event_retention(ManagerParams().event_retention,
                                 {'the history replayed at configure': HISTORY_WINDOW_S}) == ''


def test_a_retention_shorter_than_the_longest_window_is_refused_naming_both() -> None:
    windows = {'the history replayed at configure': HISTORY_WINDOW_S,
               'the period_s of SLO mission_success': 30 * DAY_S}
    error = check_event_retention(10 * DAY_S, windows)
    assert error.startswith('parameter event_retention: 864000 s is shorter than '
                            'the period_s of SLO mission_success (2.592e+06 s'), error
    assert check_event_retention(30 * DAY_S, windows) == ''
    assert check_event_retention(0.0, windows) == ''
    assert 'the history replayed at configure' in check_event_retention(3600.0, {
        'the history replayed at configure': HISTORY_WINDOW_S})
