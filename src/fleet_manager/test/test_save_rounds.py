"""SaveRounds: every changed id saved once per round, in about equal slices."""

from __future__ import annotations

import pytest

from fleet_manager.core.save_rounds import SaveRounds


def test_a_round_saves_what_changed_before_it_in_equal_shares() -> None:
    rounds = SaveRounds(4)
    rounds.changed(f'r{i}' for i in range(10))
    assert rounds.round_starts
    taken = [rounds.take() for _ in range(4)]
    assert [len(t) for t in taken] == [3, 3, 2, 2]
    assert set().union(*taken) == {f'r{i}' for i in range(10)}
    assert rounds.round_starts


def test_a_change_during_a_round_waits_for_the_next_and_is_saved_once() -> None:
    rounds = SaveRounds(2)
    rounds.changed(['a', 'b'])
    assert rounds.take() == {'a'}
    rounds.changed(['a', 'c'])  # 'a' again and a new one, mid-round
    assert rounds.take() == {'b'}
    assert rounds.take() | rounds.take() == {'a', 'c'}
    assert rounds.take() == set()


def test_take_all_returns_everything_unsaved_and_restarts_the_round() -> None:
    rounds = SaveRounds(3)
    rounds.changed(['a', 'b', 'c'])
    assert rounds.take() == {'a'}
    rounds.changed(['d'])
    assert rounds.take_all() == {'b', 'c', 'd'}
    assert rounds.round_starts and rounds.take() == set()


def test_slices_must_be_positive() -> None:
    with pytest.raises(ValueError, match='slices must be at least 1'):
        SaveRounds(0)
