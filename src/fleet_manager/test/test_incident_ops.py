"""Grouping, inhibition, silences and postmortems: pure logic with a fake clock (no ROS)."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from fleet_manager.core.errors import Conflict, NotFound, ValidationError
from fleet_manager.core.grouping import Grouper, GroupingSettings
from fleet_manager.core.inhibition import inhibited_by, parse_rules
from fleet_manager.core.postmortem import (
    ActionItem,
    Postmortem,
    PostmortemStatus,
    TimelineLine,
    apply_edit,
    draft_from_incident,
    from_markdown,
    to_markdown,
)
from fleet_manager.core.silences import Matcher, SilenceBook, SilenceState

T0 = 1_700_000_000.0


class FakeClock:
    """A settable clock."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def labels(robot: str, type_: str = 'robot_offline', **more: str) -> dict[str, str]:
    """Return an alert's labels (site1, type amr by default)."""
    return {'robot': robot, 'type': type_, 'rule': type_, 'site': 'site1',
            'robot_type': 'amr', 'area': 'aisle_a', 'severity': 'SEV2', **more}


def make_book(clock: FakeClock) -> SilenceBook:
    counter = itertools.count(1)
    return SilenceBook(clock, lambda: f'SIL-{next(counter)}')


# -- grouping --------------------------------------------------------------------------------

def test_robots_failing_within_the_window_join_one_group() -> None:
    grouper = Grouper(GroupingSettings(window=30.0))
    assert grouper.join(labels('robot1'), T0) is None
    grouper.start(labels('robot1'), 'INC-1', T0)
    for i in range(2, 11):
        group = grouper.join(labels(f'robot{i}'), T0 + i)
        assert group is not None and group.incident_id == 'INC-1'
    assert group.robots == [f'robot{i}' for i in range(1, 11)]


def test_group_closes_after_its_window_and_keys_separate_groups() -> None:
    grouper = Grouper(GroupingSettings(window=30.0))
    grouper.start(labels('robot1'), 'INC-1', T0)
    assert grouper.join(labels('robot2'), T0 + 31) is None
    assert grouper.join(labels('robot3', site='site2'), T0 + 1) is None
    assert grouper.join(labels('robot4', robot_type='forklift'), T0 + 1) is None
    assert grouper.join(labels('robot5', 'mission_aborted'), T0 + 1) is None
    grouper.close('INC-1')
    assert grouper.join(labels('robot6'), T0 + 2) is None


def test_grouping_settings_name_the_bad_field() -> None:
    with pytest.raises(ValidationError, match='grouping.window'):
        GroupingSettings.from_mapping({'window': 0})
    with pytest.raises(ValidationError, match='grouping.keys'):
        GroupingSettings.from_mapping({'keys': ['colour']})
    assert GroupingSettings.from_mapping({'window': 5, 'keys': ['area']}).keys == ('area',)


# -- inhibition ------------------------------------------------------------------------------

def test_offline_robot_inhibits_its_stuck_and_its_sites_slo_burn() -> None:
    rules = parse_rules(None)
    open_alerts = [('INC-1', labels('robot1'))]
    stuck = inhibited_by(rules, labels('robot1', 'robot_stuck'), open_alerts)
    assert stuck is not None and stuck.source_id == 'INC-1'
    slo = inhibited_by(rules, {'type': 'slo_burn', 'site': 'site1'}, open_alerts)
    assert slo is not None and slo.rule == 'offline_site_no_slo_burn'
    assert inhibited_by(rules, labels('robot2', 'robot_stuck'), open_alerts) is None
    assert inhibited_by(rules, {'type': 'slo_burn', 'site': 'site2'}, open_alerts) is None
    assert inhibited_by(rules, labels('robot1', 'battery_critical'), open_alerts) is None


def test_inhibit_rules_are_configurable_and_checked() -> None:
    rules = parse_rules([{'name': 'estop', 'source': ['type=estop'],
                          'target': ['severity!=SEV0'], 'equal': ['area']}])
    src = [('INC-9', labels('robot1', 'estop'))]
    assert inhibited_by(rules, labels('robot2', 'robot_stuck'), src) is not None
    assert inhibited_by(rules, labels('robot2', 'robot_stuck', severity='SEV0'), src) is None
    with pytest.raises(ValidationError, match=r'inhibit\[0\].equal'):
        parse_rules([{'source': ['type=a'], 'target': ['type=b'], 'equal': ['colour']}])
    with pytest.raises(ValidationError, match='matchers'):
        parse_rules([{'source': [], 'target': ['type=b']}])


# -- silences --------------------------------------------------------------------------------

def test_matchers_parse_and_match() -> None:
    assert Matcher.parse('area=~aisle_.*').matches({'area': 'aisle_b'})
    assert not Matcher.parse('area=~aisle').matches({'area': 'aisle_b'})  # anchored
    assert Matcher.parse('robot!=robot1').matches({'robot': 'robot2'})
    assert Matcher.parse({'label': 'severity', 'op': '!~', 'value': 'SEV[01]'}).matches(
        {'severity': 'SEV2'})
    with pytest.raises(ValidationError, match='unknown label'):
        Matcher.parse('colour=red')
    with pytest.raises(ValidationError, match='bad regex'):
        Matcher.parse('area=~(')


def test_silence_matches_while_active_and_expires_on_time() -> None:
    clock = FakeClock()
    book = make_book(clock)
    sil = book.create({'matchers': ['rule=robot_stuck', 'area=aisle_a'], 'duration': 60,
                       'comment': 'aisle_a floor cleaning'}, who='alice')
    assert [s.id for s in book.matching(labels('robot1', 'robot_stuck'))] == [sil.id]
    assert book.matching(labels('robot1', 'robot_offline')) == []
    assert book.matching(labels('robot1', 'robot_stuck', area='aisle_b')) == []
    clock.now = T0 + 59.9
    assert book.matching(labels('robot1', 'robot_stuck'))
    clock.now = T0 + 60
    assert book.matching(labels('robot1', 'robot_stuck')) == []
    assert sil.state(clock.now) is SilenceState.EXPIRED


def test_silence_expired_early_is_kept_with_who_and_why() -> None:
    clock = FakeClock()
    book = make_book(clock)
    sil = book.create({'matchers': ['robot=robot1'], 'duration': 3600, 'comment': 'swap'},
                      who='alice')
    clock.now += 10
    book.expire(sil.id, 'bob', 'done early')
    assert book.matching(labels('robot1')) == []
    data = book.list()[0].to_dict(clock.now)
    assert (data['state'], data['expired_by'], data['expired_note']) == (
        'expired', 'bob', 'done early')
    with pytest.raises(Conflict):
        book.expire(sil.id, 'bob')
    with pytest.raises(NotFound):
        book.expire('SIL-99', 'bob')


def test_maintenance_window_repeats_daily_until() -> None:
    clock = FakeClock()
    book = make_book(clock)
    start = T0 + 3600
    book.create({'matchers': ['site=site1'], 'starts_at': start, 'ends_at': start + 1800,
                 'repeat': 'daily', 'until': start + 2 * 86400 + 10, 'comment': 'nightly'},
                who='ops')
    hits = []
    for t in (T0, start, start + 1799, start + 1800, start + 86400 + 5, start + 2 * 86400 + 5,
              start + 3 * 86400):
        clock.now = t
        hits.append(bool(book.matching(labels('robot1'))))
    assert hits == [False, True, True, False, True, True, False]


@pytest.mark.parametrize('spec,field', [
    ({'duration': 60, 'comment': 'x'}, 'matchers'),
    ({'matchers': ['robot=r'], 'duration': 60}, 'comment'),
    ({'matchers': ['robot=r'], 'comment': 'x'}, 'ends_at'),
    ({'matchers': ['robot=r'], 'comment': 'x', 'duration': -5}, 'duration'),
    ({'matchers': ['robot=r'], 'comment': 'x', 'duration': 60, 'repeat': 'hourly'}, 'repeat'),
    ({'matchers': ['robot=r'], 'comment': 'x', 'duration': 60, 'until': T0}, 'until'),
    ({'matchers': ['robot=r'], 'comment': 'x', 'duration': 'soon'}, 'duration'),
])
def test_bad_silences_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        make_book(FakeClock()).create(spec, who='alice')
    assert info.value.field == field


def test_silence_persists_through_its_dict() -> None:
    clock = FakeClock()
    book = make_book(clock)
    sil = book.create({'matchers': ['area=~aisle_.*'], 'duration': 60, 'comment': 'x'}, 'al')
    again = make_book(clock)
    again.restore([type(sil).from_dict(sil.to_dict())])
    assert again.get(sil.id).to_dict() == sil.to_dict()
    assert again.matching(labels('robot7'))


# -- postmortems -----------------------------------------------------------------------------

def incident_dict() -> dict[str, Any]:
    return {
        'id': 'INC-7', 'type': 'battery_critical', 'severity': 'SEV1', 'robot_id': 'robot3',
        'mission_id': 'M-12', 'area': 'aisle_b', 'pose': {'x': 1.5, 'y': 2.0},
        'opened_at': T0, 'resolved_at': T0 + 600, 'count': 2, 'rule': 'battery_critical',
        'title': 'Battery critical | 4%', 'context': {'robots': ['robot3']},
        'recurrence': {'text': '2nd time this week in aisle_b'},
        'timeline': [
            {'time': T0, 'kind': 'opened', 'who': 'rule:battery_critical', 'note': ''},
            {'time': T0 + 60.25, 'kind': 'acknowledged', 'who': 'alice', 'note': 'on it'},
            {'time': T0 + 600, 'kind': 'resolved', 'who': 'alice', 'note': 'swapped\nbattery'},
        ]}


def test_draft_has_timeline_context_recurrence_and_empty_sections() -> None:
    pm = draft_from_incident(incident_dict())
    assert [t.kind for t in pm.timeline] == ['opened', 'acknowledged', 'resolved']
    assert dict(pm.context)['mission_id'] == 'M-12'
    assert pm.recurrence == '2nd time this week in aisle_b'
    assert pm.status is PostmortemStatus.DRAFT
    md = to_markdown(pm)
    for heading in ('## Timeline', '## Contributing factors', '## Action items'):
        assert heading in md
    assert '| acknowledged | alice | on it |' in md


def test_markdown_round_trips_an_edited_postmortem() -> None:
    pm = apply_edit(draft_from_incident(incident_dict()), {
        'summary': 'Robot 3 ran flat.\n# not a heading\n\nSecond paragraph.',
        'impact': '_none_', 'contributing_factors': ['charger 2 offline', 'a | pipe'],
        'action_items': [{'text': 'fix charger', 'owner': 'bob'},
                         {'text': 'alert at 15 %', 'done': True}],
        'status': 'final'})
    assert from_markdown(to_markdown(pm)) == pm


def test_edit_and_import_name_the_bad_field() -> None:
    pm = draft_from_incident(incident_dict())
    with pytest.raises(ValidationError, match='severity'):
        apply_edit(pm, {'severity': 'SEV3'})
    with pytest.raises(ValidationError) as info:
        apply_edit(pm, {'action_items': [{'text': 'x', 'done': 'yes'}]})
    assert info.value.field == 'action_items[0].done'
    with pytest.raises(ValidationError, match='markdown'):
        from_markdown('# Not a postmortem\n')


_text = st.text(st.characters(blacklist_categories=('Cs', 'Cc'), blacklist_characters='\r'),
                max_size=30).map(str.strip)
_times = st.floats(min_value=1e9, max_value=2e9).map(lambda t: round(t, 3))


@settings(max_examples=60, deadline=None)
@given(title=_text, summary=_text, note=_text, factors=st.lists(_text, max_size=3),
       owner=_text, when=_times)
def test_markdown_round_trip_property(title: str, summary: str, note: str,
                                      factors: list[str], owner: str, when: float) -> None:
    pm = Postmortem('INC-1', title, 'SEV0', PostmortemStatus.DRAFT, when, None, summary, '',
                    (TimelineLine(when, 'opened', 'rule', note),), (('robot', 'r1'),), 'once',
                    tuple(factors), (ActionItem('do it', owner, False),))
    assert from_markdown(to_markdown(pm)) == pm
