"""Incident book: correlation, recurrence, transitions, persistence; runbooks (fake clock)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from fleet_manager.core.errors import (
    ConfigError,
    Conflict,
    IncidentNotFound,
    InvalidTransition,
    NotFound,
)
from fleet_manager.core.incident_model import FleetFact, OpenIncidentAction, Severity
from fleet_manager.core.incidents import (
    WEEK_S,
    Incident,
    IncidentBook,
    IncidentSettings,
    IncidentState,
    ordinal,
    sequential_ids,
)
from fleet_manager.core.model import Pose
from fleet_manager.core.runbooks import load_runbooks

REPO = pathlib.Path(__file__).resolve().parents[3]
DAY = 86400.0


class FakeClock:
    """A settable clock: ``clock.now`` is what the book reads."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_book(clock: FakeClock, **settings: Any) -> IncidentBook:
    return IncidentBook(IncidentSettings(**settings), clock=clock, ids=sequential_ids())


def fact(t: float, robot: str = 'robot1', area: str | None = 'aisle_b',
         kind: str = 'recovery_started') -> FleetFact:
    return FleetFact(kind=kind, robot_id=robot, time=t, data={'attempt': 1}, area=area,
                     mission_id='m-1', pose=Pose(12.0, 8.5, 1.57))


def open_action(f: FleetFact, itype: str = 'robot_stuck',
                severity: Severity = Severity.SEV2, policy: str = 'default') -> OpenIncidentAction:
    return OpenIncidentAction(rule='stuck robot', robot_id=f.robot_id, time=f.time, fact=f,
                              reason='3 x recovery_started', type=itype, severity=severity,
                              policy=policy)


def observe(book: IncidentBook, clock: FakeClock, **kw: Any) -> tuple[Incident, bool]:
    f = fact(clock.now, **{k: v for k, v in kw.items() if k in ('robot', 'area', 'kind')})
    extra = {k: v for k, v in kw.items() if k in ('itype', 'severity', 'policy')}
    return book.observe(open_action(f, **extra), f, {'battery': 0.8})


# -- opening and correlation -----------------------------------------------------------------

def test_open_records_context_pose_and_timeline() -> None:
    clock = FakeClock(100.0)
    inc, created = observe(make_book(clock), clock)
    assert created and inc.id == 'INC-000001'
    assert (inc.type, inc.severity, inc.robot_id, inc.mission_id, inc.area) == (
        'robot_stuck', Severity.SEV2, 'robot1', 'm-1', 'aisle_b')
    assert inc.pose == Pose(12.0, 8.5, 1.57)
    assert inc.opened_at == inc.last_seen == 100.0 and inc.count == 1
    assert inc.state == IncidentState.TRIGGERED
    assert inc.context == {'battery': 0.8}
    assert [e.kind for e in inc.timeline] == ['opened']
    assert inc.timeline[0].who == 'stuck robot'
    assert inc.escalation.policy == 'default' and inc.escalation.level == 0


def test_dedup_flood_opens_one_incident() -> None:
    clock = FakeClock(0.0)
    book = make_book(clock)
    first, _ = observe(book, clock)
    created = 0
    for i in range(10_000):
        clock.now = 0.1 * (i + 1)
        inc, new = observe(book, clock)
        created += new
        assert inc is first
    assert created == 0 and len(book) == 1
    assert first.count == 10_001 and first.last_seen == pytest.approx(1000.0)
    # The timeline stays bounded: opened + 20 repeats + one 'suppressed' marker.
    assert len(first.timeline) == 22
    assert first.timeline[-1].kind == 'repeats_suppressed'
    assert first.suppressed_repeats == 10_000 - 20


def test_repeat_outside_dedup_window_opens_new() -> None:
    clock = FakeClock(0.0)
    book = make_book(clock, dedup_window=600.0)
    a, _ = observe(book, clock)
    clock.now = 600.0
    assert observe(book, clock) == (a, False)  # 600 - 0 <= 600
    clock.now = 1200.5
    b, created = observe(book, clock)
    assert created and b is not a


def test_dedup_key_fields() -> None:
    clock = FakeClock(0.0)
    by_robot = make_book(clock)
    a, _ = observe(by_robot, clock, robot='robot1')
    assert observe(by_robot, clock, robot='robot2')[1]  # other robot: new
    assert observe(by_robot, clock, robot='robot1', itype='navigation_failed')[1]
    assert observe(by_robot, clock, robot='robot1', area='aisle_c') == (a, False)
    by_area = make_book(clock, dedup_key=('area', 'type'))
    b, _ = observe(by_area, clock, robot='robot1')
    assert observe(by_area, clock, robot='robot2') == (b, False)
    assert observe(by_area, clock, robot='robot2', area='aisle_c')[1]


def test_repeat_raises_severity_never_lowers_it() -> None:
    clock = FakeClock(0.0)
    book = make_book(clock)
    inc, _ = observe(book, clock, severity=Severity.SEV2)
    observe(book, clock, severity=Severity.SEV3)
    assert inc.severity == Severity.SEV2
    observe(book, clock, severity=Severity.SEV1)
    assert inc.severity == Severity.SEV1
    assert 'severity_raised' in [e.kind for e in inc.timeline]


def test_resolve_releases_the_key() -> None:
    clock = FakeClock(0.0)
    book = make_book(clock)
    a, _ = observe(book, clock)
    book.resolve(a.id, 'alice', 'moved the pallet')
    b, created = observe(book, clock)
    assert created and b.id != a.id


def test_acknowledged_incident_still_correlates() -> None:
    clock = FakeClock(0.0)
    book = make_book(clock)
    a, _ = observe(book, clock)
    book.acknowledge(a.id, 'alice')
    assert observe(book, clock) == (a, False)
    assert a.state == IncidentState.ACKNOWLEDGED and a.count == 2


def test_runbook_attached_on_open() -> None:
    clock = FakeClock(0.0)
    book = IncidentBook(clock=clock, runbooks=load_runbooks(
        REPO / 'src' / 'fleet_bringup' / 'config' / 'runbooks'))
    inc, _ = observe(book, clock)
    assert inc.runbook is not None and inc.runbook['type'] == 'robot_stuck'
    assert inc.runbook['steps'][0]['text'].startswith('Open the robot')
    other, _ = observe(book, clock, itype='no_runbook_type')
    assert other.runbook is None


# -- recurrence ----------------------------------------------------------------------------

@pytest.mark.parametrize('n,text', [
    (1, '1st'), (2, '2nd'), (3, '3rd'), (4, '4th'), (10, '10th'), (11, '11th'),
    (12, '12th'), (13, '13th'), (14, '14th'), (21, '21st'), (22, '22nd'), (23, '23rd'),
    (101, '101st'), (111, '111th'), (112, '112th'), (113, '113th')])
def test_ordinals(n: int, text: str) -> None:
    assert ordinal(n) == text


def resolved(book: IncidentBook, clock: FakeClock, **kw: Any) -> Incident:
    inc, created = observe(book, clock, **kw)
    assert created
    book.resolve(inc.id, 'alice')
    return inc


def test_recurrence_text_counts_resolved_in_area_this_week() -> None:
    clock = FakeClock(10 * DAY)
    book = make_book(clock)
    resolved(book, clock, robot='robot1')                        # too old by the end
    clock.now = 10 * DAY + 2 * DAY
    first = resolved(book, clock, robot='robot2')
    clock.now += DAY
    second = resolved(book, clock, robot='robot3')
    clock.now += DAY
    resolved(book, clock, robot='robot1', area='aisle_c')       # other area
    resolved(book, clock, robot='robot1', itype='navigation_failed')  # other type
    observe(book, clock, robot='robot4')                        # open, not resolved
    clock.now = 10 * DAY + 7 * DAY + 1.0                         # the first is 7 d + 1 s old
    inc, created = observe(book, clock, robot='robot1')
    assert created
    assert inc.recurrence['text'] == '3rd time this week in aisle_b'
    assert inc.recurrence['count'] == 3 and inc.recurrence['window_s'] == WEEK_S
    assert inc.recurrence['area'] == 'aisle_b'
    assert inc.recurrence['previous'] == [first.id, second.id]


def test_first_occurrence_and_robot_scope() -> None:
    clock = FakeClock(0.0)
    book = make_book(clock, recurrence_by='robot', recurrence_lookback=DAY)
    inc = resolved(book, clock)
    assert inc.recurrence['text'] == '1st time in the last 24 h on robot1'
    resolved(book, clock, area='aisle_c')
    inc, _ = observe(book, clock, area='aisle_d')
    assert inc.recurrence['text'] == '3rd time in the last 24 h on robot1'


def test_recurrence_without_area_falls_back_to_robot() -> None:
    clock = FakeClock(0.0)
    book = make_book(clock)
    resolved(book, clock, area=None)
    inc, _ = observe(book, clock, area=None)
    assert inc.recurrence['text'] == '2nd time this week on robot1'
    assert inc.recurrence['scope'] == 'robot'


# -- transitions ---------------------------------------------------------------------------

def test_acknowledge_then_resolve() -> None:
    clock = FakeClock(0.0)
    book = make_book(clock)
    inc, _ = observe(book, clock)
    clock.now = 30.0
    book.acknowledge(inc.id, 'alice', 'on my way')
    assert inc.state == IncidentState.ACKNOWLEDGED
    assert (inc.acknowledged_at, inc.acknowledged_by) == (30.0, 'alice')
    clock.now = 90.0
    book.resolve(inc.id, 'alice', 'pallet moved')
    assert inc.state == IncidentState.RESOLVED and inc.resolved_at == 90.0
    assert [(e.kind, e.who, e.note) for e in inc.timeline[1:]] == [
        ('acknowledged', 'alice', 'on my way'), ('resolved', 'alice', 'pallet moved')]


@pytest.mark.parametrize('steps,action', [
    (['resolve'], 'acknowledge'),
    (['acknowledge'], 'acknowledge'),
    (['resolve'], 'resolve'),
    (['acknowledge', 'resolve'], 'resolve'),
])
def test_invalid_transitions(steps: list[str], action: str) -> None:
    clock = FakeClock(0.0)
    book = make_book(clock)
    inc, _ = observe(book, clock)
    for step in steps:
        getattr(book, step)(inc.id, 'alice')
    before = (inc.state, len(inc.timeline))
    with pytest.raises(InvalidTransition) as info:
        getattr(book, action)(inc.id, 'bob')
    assert isinstance(info.value, Conflict)  # the API maps Conflict to 409
    assert info.value.incident_id == inc.id and info.value.action == action
    assert (inc.state, len(inc.timeline)) == before


def test_retrigger_only_from_acknowledged() -> None:
    clock = FakeClock(0.0)
    inc, _ = observe(make_book(clock), clock)
    with pytest.raises(InvalidTransition):
        inc.retrigger(1.0, 'escalation')


def test_unknown_incident() -> None:
    book = make_book(FakeClock())
    for call in (book.acknowledge, book.resolve):
        with pytest.raises(IncidentNotFound) as info:
            call('INC-404', 'alice')
        assert isinstance(info.value, NotFound) and 'INC-404' in str(info.value)
    with pytest.raises(IncidentNotFound):
        book.get('INC-404')


# -- persistence ---------------------------------------------------------------------------

def test_to_dict_from_dict_round_trip_and_restore() -> None:
    clock = FakeClock(0.0)
    book = make_book(clock)
    inc, _ = observe(book, clock)
    observe(book, clock)
    done, _ = observe(book, clock, robot='robot2')
    book.resolve(done.id, 'bob')
    book.add_note(inc.id, 'escalation', 'paged alice', kind='notified',
                  data={'target': 'alice'})
    inc.escalation.level, inc.escalation.next_at = 1, 300.0

    stored = json.loads(json.dumps([i.to_dict() for i in book.incidents()]))
    again = [Incident.from_dict(d) for d in stored]
    assert [i.to_dict() for i in again] == stored
    assert again[0] == inc

    restored = IncidentBook(clock=clock, ids=sequential_ids(start=3))
    restored.restore(again)
    assert restored.get(inc.id).escalation.next_at == 300.0
    # The dedup index is rebuilt: a repeat correlates with the restored open incident...
    same, created = observe(restored, clock)
    assert not created and same.id == inc.id and same.count == 3
    # ...and the resolved one counts for recurrence.
    new, created = observe(restored, clock, robot='robot2')
    assert created and new.id == 'INC-000003'
    assert new.recurrence['count'] == 2


def test_prune_forgets_old_resolved_only() -> None:
    clock = FakeClock(0.0)
    book = make_book(clock, recurrence_lookback=DAY)
    old = resolved(book, clock)
    still_open, _ = observe(book, clock, robot='robot2')
    assert book.prune(DAY + 1.0) == [old.id]
    assert old.id not in book and still_open.id in book


def test_settings_validation() -> None:
    with pytest.raises(ValueError):
        IncidentSettings(dedup_key=('mission',))
    with pytest.raises(ValueError):
        IncidentSettings(dedup_window=0)


# -- runbooks ------------------------------------------------------------------------------

def test_shipped_runbooks_load() -> None:
    books = load_runbooks(REPO / 'src' / 'fleet_bringup' / 'config' / 'runbooks')
    assert {'robot_stuck', 'navigation_failed', 'battery_critical',
            'robot_offline'} <= set(books)
    for book in books.values():
        assert book.title and book.steps


def write_runbook(tmp_path: pathlib.Path, name: str, text: str) -> pathlib.Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize('text,key,words', [
    ('steps: [a]\n', 'title', 'is required'),
    ('title: T\n', 'steps', 'is required'),
    ('title: T\nsteps: []\n', 'steps', 'at least one step'),
    ('title: T\nsteps: [a, 3]\n', 'steps[1]', 'must be a mapping'),
    ('title: T\nsteps: [{txt: a}]\n', 'steps[0].txt', 'unknown key'),
    ('title: T\ntype: robot_offline\nsteps: [a]\n', 'type', 'does not match the file name'),
    ('title: [T]\nsteps: [a]\n', 'title', 'must be a string'),
])
def test_runbook_config_errors(tmp_path: pathlib.Path, text: str, key: str,
                               words: str) -> None:
    path = write_runbook(tmp_path, 'robot_stuck.yaml', text)
    with pytest.raises(ConfigError) as info:
        load_runbooks(tmp_path)
    assert info.value.file == str(path) and info.value.key == key
    assert str(path) in str(info.value) and key in str(info.value)
    assert words in str(info.value)


def test_runbook_yaml_syntax_error_and_missing_dir(tmp_path: pathlib.Path) -> None:
    path = write_runbook(tmp_path, 'robot_stuck.yaml', 'title: T\nsteps: [a\n')
    with pytest.raises(ConfigError) as info:
        load_runbooks(tmp_path)
    assert info.value.file == str(path) and info.value.key.startswith('line ')
    with pytest.raises(ConfigError, match='runbook directory not found'):
        load_runbooks(tmp_path / 'missing')
