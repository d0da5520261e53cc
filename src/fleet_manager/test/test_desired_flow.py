"""DesiredFlow's tick at fleet scale: configurations and parameter sets go out paced."""

from __future__ import annotations

import textwrap

from fleet_manager.desired_flow import SENDS_PER_TICK, DesiredFlow, DesiredSettings
from fleet_manager.pipeline import Changes
from manager_factories import make_fleet, make_robot

ALL = textwrap.dedent('''\
    groups:
      - {name: all, selector: {}, reconcile: reconcile}
    ''')
PARAMS = textwrap.dedent('''\
    parameter_sets:
      - name: base
        groups: [all]
        nodes:
          controller_server: {FollowPath.max_vel_x: 0.5}
    ''')


def sent(changes: Changes, command: str) -> list[str]:
    return [c.robot_id for c in changes.commands if c.command == command]


def test_configurations_go_out_paced_and_round_robin() -> None:
    n = 2 * SENDS_PER_TICK + 100
    flow = DesiredFlow(make_fleet(n), None, [], DesiredSettings(resend_after=10.0))
    flow.apply({'groups.yaml': ALL, 'parameters.yaml': PARAMS}, 'dana', 'test', 0.0, [])
    robots = [make_robot(f'r{i}') for i in range(1, n + 1)]
    ticks = [sent(flow.tick(robots, set(), 0.5 * k), 'configure') for k in range(4)]
    assert [len(t) for t in ticks] == [SENDS_PER_TICK, SENDS_PER_TICK, 100, 0]
    assert sorted(sum(ticks, [])) == sorted(r.robot_id for r in robots)  # each once
    # Agents that never answer get theirs again after resend_after, still paced, and the
    # search goes on from where it stopped: the last 100 (sent at 1.0 s) are not due yet,
    # the first ones (sent at 0 s) are.
    again = sent(flow.tick(robots, set(), 10.6), 'configure')
    assert again == ticks[0]
    assert sent(flow.tick(robots, set(), 11.1), 'configure') == ticks[1]


def test_parameter_sets_of_drifted_idle_robots_are_paced_too() -> None:
    n = SENDS_PER_TICK + 10
    flow = DesiredFlow(make_fleet(n), None, [], DesiredSettings(reconcile_retry=30.0))
    flow.apply({'groups.yaml': ALL, 'parameters.yaml': PARAMS}, 'dana', 'test', 0.0, [])
    robots = [make_robot(f'r{i}') for i in range(1, n + 1)]
    flow.tick(robots, set(), 0.0)  # expectations set (and configurations sent)
    for rec in robots:  # every agent holds the configuration, with one parameter off
        e = flow.book.get(rec.robot_id).expected
        assert e is not None
        flow.on_report(rec.robot_id, {
            'revision': e.revision, 'config_digest': e.digest,
            'nodes': {'controller_server': {'ok': True, 'params': {'FollowPath.max_vel_x': 0.9}}}},
            1.0)
    idle = {r.robot_id for r in robots}
    first = sent(flow.tick(robots, idle, 2.0), 'set_parameters')
    second = sent(flow.tick(robots, idle, 2.5), 'set_parameters')
    assert len(first) == SENDS_PER_TICK and len(second) == 10
    assert sorted(first + second) == sorted(idle)


def test_a_robot_never_waits_behind_robots_sent_again_and_again() -> None:
    n = 2 * SENDS_PER_TICK + 100
    flow = DesiredFlow(make_fleet(n), None, [], DesiredSettings(resend_after=0.6))
    flow.apply({'groups.yaml': ALL, 'parameters.yaml': PARAMS}, 'dana', 'test', 0.0, [])
    robots = [make_robot(f'r{i}') for i in range(1, n + 1)]
    flow.tick(robots, set(), 0.0)
    flow.tick(robots, set(), 0.5)
    # At 1.0 s the first robots are due again, but the last 100 have not had theirs yet.
    third = sent(flow.tick(robots, set(), 1.0), 'configure')
    assert third[:100] == [r.robot_id for r in robots[-100:]]
    assert len(third) == SENDS_PER_TICK


def test_an_unconfirmed_configuration_is_sent_again_less_and_less_often() -> None:
    flow = DesiredFlow(make_fleet(1), None, [], DesiredSettings(resend_after=1.0))
    flow.apply({'groups.yaml': ALL, 'parameters.yaml': PARAMS}, 'dana', 'test', 0.0, [])
    robots = [make_robot('r1')]
    times = [k * 0.5 for k in range(400) if sent(flow.tick(robots, set(), k * 0.5), 'configure')]
    # after 1, 2, 4, 8, 16 s, then every 32 s (RESEND_BACKOFF_MAX) instead of every second
    assert times[:7] == [0.0, 1.0, 3.0, 7.0, 15.0, 31.0, 63.0]
    assert [b - a for a, b in zip(times[5:], times[6:])] == [32.0] * (len(times) - 6)
    # An agent that restarts (it holds none again) gets it one resend_after after the last
    # send, not 32; a report that confirms it ends the resends.
    last = times[-1]
    flow.forget_agent_config('r1')
    assert sent(flow.tick(robots, set(), last + 1.0), 'configure') == ['r1']
    e = flow.book.get('r1').expected
    assert e is not None
    flow.on_report('r1', {'revision': e.revision, 'config_digest': e.digest, 'nodes': {}},
                   last + 2.0)
    assert flow.book.get('r1').unconfirmed == 0
    assert not sent(flow.tick(robots, set(), last + 100.0), 'configure')
