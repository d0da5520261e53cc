import math

from fleet_manager.core.model import Connectivity, Pose, StatusReport
from fleet_manager.core.registry import Registry, RegistrySettings, Rejection
from manager_factories import make_fleet, make_status


def registry(**kw: object) -> Registry:
    return Registry(make_fleet(), RegistrySettings(**kw))  # type: ignore[arg-type]


def test_listed_robots_start_offline_and_come_online_on_status() -> None:
    reg = registry()
    assert reg.get('r1').connectivity == Connectivity.OFFLINE
    res = reg.ingest(make_status('r1', 1), now=100.0)
    assert res.accepted
    assert [e.payload['to'] for e in res.events] == ['online']
    assert reg.get('r1').last_seen == 100.0


def test_stale_then_offline_on_schedule() -> None:
    reg = registry(report_period=1.0, stale_after_periods=3, offline_after_periods=10)
    reg.ingest(make_status('r1', 1, period=1.0), now=0.0)
    assert reg.tick(2.99) == []
    ev = reg.tick(3.0)
    assert [(e.robot_id, e.payload['to']) for e in ev] == [('r1', 'stale')]
    assert reg.tick(9.99) == []
    ev = reg.tick(10.0)
    assert [(e.robot_id, e.payload['from'], e.payload['to']) for e in ev] == \
        [('r1', 'stale', 'offline')]
    assert reg.tick(100.0) == []  # no repeated events
    ev = reg.ingest(make_status('r1', 2), now=101.0).events
    assert [e.payload['to'] for e in ev] == ['online']


def test_a_status_waiting_in_the_backlog_keeps_its_robot_from_timing_out() -> None:
    reg = registry(report_period=1.0, stale_after_periods=3, offline_after_periods=10)
    reg.ingest(make_status('r1', 1, period=1.0), now=0.0)
    reg.ingest(make_status('r2', 1, period=1.0), now=0.0)
    # r1's next status arrived at 2.5 s and waits; r2 stays silent; an unknown id is ignored.
    reg.heard([('r1', 2.5), ('r9', 2.5)])
    assert [(e.robot_id, e.payload['to']) for e in reg.tick(3.0)] == [('r2', 'stale')]
    assert reg.tick(5.49) == []
    assert [(e.robot_id, e.payload['to']) for e in reg.tick(5.5)] == [('r1', 'stale')]
    reg.heard([('r1', 1.0)])  # older than what was heard: changes nothing
    assert reg.get('r1').heard_at == 2.5 and reg.get('r1').last_seen == 0.0
    assert 'r9' not in reg


def test_reported_period_drives_timeouts() -> None:
    reg = registry(report_period=1.0)
    reg.ingest(make_status('r1', 1, period=0.1), now=0.0)
    assert [e.payload['to'] for e in reg.tick(0.31)] == ['stale']


def test_bad_reports_are_dropped_and_counted() -> None:
    reg = registry()
    bad = [
        make_status('', 1),
        StatusReport('r1', 2, 0.0, pose=Pose(math.nan, 0.0)),
        StatusReport('r1', 3, 0.0, pose=Pose(0.0, math.inf)),
        make_status('r1', 4, battery=1.5),
    ]
    for rep in bad:
        assert not reg.ingest(rep, now=1.0).accepted
    assert reg.rejections[Rejection.EMPTY_ROBOT_ID] == 1
    assert reg.rejections[Rejection.NON_FINITE_POSE] == 2
    assert reg.rejections[Rejection.BAD_BATTERY] == 1
    assert reg.get('r1').connectivity == Connectivity.OFFLINE


def test_statuses_are_snapshots_a_maximal_seq_cannot_blind_the_registry() -> None:
    reg = registry()
    assert reg.ingest(make_status('r1', 2**64 - 1), 1.0).accepted
    later = make_status('r1', 6)
    assert reg.ingest(later, 2.0).accepted
    assert reg.get('r1').last_seen == 2.0 and reg.get('r1').last_seq == 6


def test_unknown_robots_registered_or_refused() -> None:
    reg = registry()
    res = reg.ingest(make_status('new1', 1), 1.0)
    assert res.accepted and 'new1' in reg
    assert [e.kind for e in res.events] == ['robot.registered', 'robot.connectivity']
    strict = registry(accept_unknown_robots=False)
    assert strict.ingest(make_status('new1', 1), 1.0).rejection == Rejection.UNKNOWN_ROBOT


def test_restore_restarts_timeouts_and_keeps_fleet_capabilities() -> None:
    reg = registry()
    reg.ingest(make_status('r1', 9), now=0.0)
    saved = [r for r in reg.records()]
    reg2 = registry()
    reg2.restore(saved, now=500.0)
    r1 = reg2.get('r1')
    assert r1.connectivity == Connectivity.ONLINE and r1.last_seq == 9
    assert r1.capabilities == ('tote',)
    assert reg2.tick(502.0) == []
    assert [e.payload['to'] for e in reg2.tick(503.0)] == ['stale']
    assert reg2.ingest(make_status('r1', 1), 504.0).accepted  # a restarted agent counts anew


def test_decommission() -> None:
    reg = registry()
    ev = reg.set_in_service('r2', False, 'maintenance')
    assert ev[0].payload == {'in_service': False, 'reason': 'maintenance', 'who': ''}
    assert reg.get('r2').decommissioned
    assert reg.set_in_service('r2', False, 'again') == []
    assert reg.counts()['decommissioned'] == 1


def test_a_repeated_status_only_refreshes_the_times() -> None:
    reg = Registry(make_fleet(), RegistrySettings())
    first = reg.ingest(make_status('r1', seq=1, x=1.0), 10.0)
    assert first.accepted and first.changed
    again = reg.ingest(make_status('r1', seq=2, x=1.0), 11.0)
    assert again.accepted and not again.changed and not again.events
    rec = reg.get('r1')
    assert (rec.last_seq, rec.last_seen, rec.heard_at) == (2, 11.0, 11.0)
    moved = reg.ingest(make_status('r1', seq=3, x=5.0), 12.0)
    assert moved.changed and reg.get('r1').pose.x == 5.0


def test_a_repeated_status_of_a_stale_robot_brings_it_back_online() -> None:
    reg = Registry(make_fleet(), RegistrySettings(report_period=1.0))
    reg.ingest(make_status('r1', seq=1), 10.0)
    assert [e.payload['to'] for e in reg.tick(14.0)] == ['stale']
    back = reg.ingest(make_status('r1', seq=2), 15.0)
    assert [e.payload['to'] for e in back.events] == ['online']
