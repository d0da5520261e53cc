import pytest

from fleet_manager.core.assignment import GreedyPriorityPolicy, MissionView, RobotView, make_policy


def robot(rid: str, x: float, y: float = 0.0, caps: tuple[str, ...] = ('tote',),
          available: bool = True) -> RobotView:
    return RobotView(rid, x, y, frozenset(caps), available)


def mission(mid: str, x: float, y: float = 0.0, priority: int = 0, created: float = 0.0,
            caps: tuple[str, ...] = (), pinned: str = '',
            excluded: tuple[str, ...] = ()) -> MissionView:
    return MissionView(mid, priority, created, x, y, frozenset(caps), pinned, frozenset(excluded))


def pairs(assignments: list) -> dict[str, str]:
    return {a.mission_id: a.robot_id for a in assignments}


def test_nearest_available_robot_wins() -> None:
    out = GreedyPriorityPolicy().assign([mission('m1', 10.0)],
                                        [robot('a', 0.0), robot('b', 9.0), robot('c', 12.0)])
    assert pairs(out) == {'m1': 'b'}
    assert out[0].cost == pytest.approx(1.0)


def test_priority_then_age_order() -> None:
    robots = [robot('near', 10.0), robot('far', 100.0)]
    missions = [mission('old_low', 10.0, created=1.0), mission('new_high', 10.0, priority=5,
                                                                created=9.0),
                mission('new_low', 10.0, created=2.0)]
    assert pairs(GreedyPriorityPolicy().assign(missions, robots)) == \
        {'new_high': 'near', 'old_low': 'far'}


def test_filters_capability_availability_and_pin() -> None:
    robots = [robot('a', 0.0, caps=('tote',)), robot('b', 50.0, caps=('tote', 'lift')),
              robot('c', 1.0, available=False)]
    missions = [mission('lift', 0.0, caps=('lift',)), mission('pinned', 0.0, pinned='c'),
                mission('x', 0.0, caps=('unknown',))]
    assert pairs(GreedyPriorityPolicy().assign(missions, robots)) == {'lift': 'b'}


def test_no_robot_assigned_twice_and_excluded_only_as_fallback() -> None:
    robots = [robot('a', 0.0), robot('b', 5.0)]
    missions = [mission('m1', 0.0, created=1, excluded=('a',)), mission('m2', 0.0, created=2),
                mission('m3', 0.0, created=3)]
    out = GreedyPriorityPolicy().assign(missions, robots)
    assert pairs(out) == {'m1': 'b', 'm2': 'a'}
    # With the excluded robot the only candidate, it is still used.
    out = GreedyPriorityPolicy().assign([mission('m1', 0.0, excluded=('a',))], [robot('a', 0)])
    assert pairs(out) == {'m1': 'a'}


def test_registry_of_policies() -> None:
    assert isinstance(make_policy('greedy_nearest'), GreedyPriorityPolicy)
    with pytest.raises(KeyError, match='greedy_nearest'):
        make_policy('nope')
