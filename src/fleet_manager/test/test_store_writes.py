"""The store's upserts of missions and link marks: a second save replaces the first.

A real store (SQLite in a temporary directory); what a restarted manager reads back is what
the last committed transaction wrote.
"""

from __future__ import annotations

import dataclasses
import pathlib

from fleet_manager.core.missions import Mission, MissionState, Waypoint
from fleet_manager.store import FleetStore

T0 = 1736150400.0  # 2025-01-06 08:00 UTC


def make_mission(mission_id: str = 'm1', **kw: object) -> Mission:
    fields: dict[str, object] = {
        'id': mission_id, 'state': MissionState.QUEUED, 'waypoints': (Waypoint(1.0, 2.0),),
        'created_at': T0, 'updated_at': T0, 'client_ref': 'order-7'}
    fields.update(kw)
    return Mission(**fields)  # type: ignore[arg-type]


def test_a_saved_mission_is_replaced_by_its_next_save(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / 'fleet.db')
    store = FleetStore(path)
    queued = make_mission(idempotency_key='k1:abc')
    with store.transaction() as tx:
        tx.save_missions([queued, make_mission('m2', priority=3)])
    assigned = dataclasses.replace(queued, state=MissionState.ASSIGNED, robot_id='r7',
                                   attempts=1, updated_at=T0 + 5.0)
    with store.transaction() as tx:
        tx.save_missions([assigned])
    store.close()

    reopened = FleetStore(path)
    by_id = {m.id: m for m in reopened.load_missions()}
    assert sorted(by_id) == ['m1', 'm2']
    assert by_id['m1'].state == MissionState.ASSIGNED
    assert (by_id['m1'].robot_id, by_id['m1'].attempts) == ('r7', 1)
    assert by_id['m2'].priority == 3 and by_id['m2'].state == MissionState.QUEUED
    # The indexed columns follow the document: filters on them see the new state.
    assigned_page, total = reopened.list_missions(state='assigned')
    assert [m.id for m in assigned_page] == ['m1'] and total == 1
    assert [m.id for m in reopened.list_missions(robot_id='r7')[0]] == ['m1']
    assert reopened.list_missions(state='queued')[0][0].id == 'm2'
    assert reopened.idempotency_keys() == [('k1:abc', 'm1', '')]
    reopened.close()


def test_link_marks_keep_the_last_committed_value(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / 'fleet.db')
    store = FleetStore(path)
    with store.transaction() as tx:
        tx.save_marks({'r1': (1, 10), 'r2': (1, 4)})
    with store.transaction() as tx:
        tx.save_marks({'r1': (2, 1)})
    store.close()

    reopened = FleetStore(path)
    assert sorted(reopened.load_marks()) == [('r1', 2, 1), ('r2', 1, 4)]
    reopened.close()
