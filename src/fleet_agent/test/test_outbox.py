"""The agent's durable outbox: numbering, acknowledgement, restarts, bounds, the job."""

from __future__ import annotations

import pathlib

import pytest

from fleet_agent.core import SendWindow
from fleet_agent.outbox import DROPPED, Outbox, OutboxError


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def fill(box: Outbox, n: int, clock: Clock | None = None) -> list[int]:
    seqs = []
    for i in range(n):
        seqs.append(box.append('recovery_started', 1, f'event {i}', {'i': i}, 1.0))
        if clock is not None:
            clock.t += 1.0
    return seqs


def test_seqs_count_from_one_without_gaps_and_survive_a_restart(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / 'outbox.db')
    box = Outbox(path)
    assert fill(box, 3) == [1, 2, 3]
    epoch = box.epoch
    box.close()
    again = Outbox(path)
    assert again.epoch == epoch
    assert [e.seq for e in again.unacked(0, 10)] == [1, 2, 3]
    assert again.append('x', 0, '', {}, 2.0) == 4


def test_acknowledged_events_are_deleted_and_stay_deleted(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / 'outbox.db')
    box = Outbox(path)
    fill(box, 5)
    assert box.acknowledge(box.epoch, 3) == 3
    assert [e.seq for e in box.unacked(0, 10)] == [4, 5]
    assert box.acknowledge(box.epoch + 1, 5) == 0  # another epoch: ignored
    assert box.acknowledge(box.epoch, 99) == 0  # beyond what was written: ignored
    box.close()
    again = Outbox(path)
    assert again.acked_seq == 3 and [e.seq for e in again.unacked(0, 10)] == [4, 5]


def test_a_new_file_starts_a_new_epoch(tmp_path: pathlib.Path) -> None:
    a = Outbox(str(tmp_path / 'a.db'))
    b = Outbox(str(tmp_path / 'b.db'))
    assert a.epoch != b.epoch
    assert b.append('x', 0, '', {}, 1.0) == 1


def test_the_count_bound_folds_the_oldest_into_one_notice_with_the_exact_count() -> None:
    box = Outbox(':memory:', max_events=10)
    fill(box, 25)
    entries = box.unacked(0, 100)
    assert len(entries) == 10
    notice = entries[0]
    assert notice.type == DROPPED
    kept = [e.seq for e in entries[1:]]
    assert kept == list(range(17, 26))
    assert notice.seq == 16
    assert notice.data == {'count': 16, 'first_seq': 1, 'last_seq': 16,
                           'reason': 'max_events'}
    assert box.dropped == 16
    # Every seq is accounted for: the notice covers 1..16, the rest are there.
    assert notice.data['count'] + len(kept) == 25


def test_the_age_bound_drops_only_what_is_too_old() -> None:
    clock = Clock()
    box = Outbox(':memory:', max_age=10.0, clock=clock)
    fill(box, 5, clock)  # written at 1000..1004
    clock.t = 1012.5  # 1000, 1001 and 1002 are older than 10 s
    assert box.enforce_bounds() == 3
    entries = box.unacked(0, 100)
    assert [e.type for e in entries] == [DROPPED, 'recovery_started', 'recovery_started']
    assert entries[0].data['first_seq'] == 1 and entries[0].data['count'] == 3
    assert [e.seq for e in entries[1:]] == [4, 5]


def test_the_job_is_written_with_its_event(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / 'outbox.db')
    box = Outbox(path)
    box.append('mission.started', 0, '', {'mission_id': 'm1'}, 1.0,
               job={'mission_id': 'm1', 'attempt': 2})
    box.close()
    again = Outbox(path)
    assert again.job == {'mission_id': 'm1', 'attempt': 2}
    again.append('mission.finished', 0, '', {'mission_id': 'm1'}, 2.0, job=None)
    assert again.job is None


def test_bad_settings_and_paths_are_named(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match='sync'):
        Outbox(':memory:', sync='sometimes')
    blocker = tmp_path / 'file'
    blocker.write_text('')
    with pytest.raises(OutboxError, match=str(blocker)):
        Outbox(str(blocker / 'outbox.db'))


def send(w: SendWindow, acked: int, last_seq: int, now: float) -> tuple[int, int] | None:
    """What the agent's pump does: ask the window, 'send' seqs after+1.., record them."""
    due = w.due(acked, now)
    if due is None or due[0] >= last_seq:
        return None
    after, budget = due
    seqs = list(range(after + 1, min(last_seq, after + budget) + 1))
    w.sent(seqs, now)
    return seqs[0], seqs[-1]


def test_send_window_paces_on_acknowledgements() -> None:
    w = SendWindow(window=3, resend_after=1.0, max_resend_after=4.0)
    assert send(w, 0, 10, 0.0) == (1, 3)
    assert send(w, 0, 10, 0.1) is None  # the window is full
    assert send(w, 2, 10, 0.2) == (4, 5)  # two acknowledged: two more
    assert send(w, 2, 10, 0.3) is None


def test_send_window_resends_from_the_mark_after_silence_with_backoff() -> None:
    w = SendWindow(window=3, resend_after=1.0, max_resend_after=4.0)
    assert send(w, 0, 10, 0.0) == (1, 3)
    assert send(w, 0, 10, 0.9) is None
    assert send(w, 0, 10, 1.0) == (1, 3)  # resent
    assert send(w, 0, 10, 2.5) is None  # the wait doubled to 2 s
    assert send(w, 0, 10, 3.0) == (1, 3)
    assert send(w, 1, 10, 3.1) == (4, 4)  # progress resets the wait


def test_send_window_sends_nothing_when_all_is_acknowledged() -> None:
    w = SendWindow(window=5)
    assert send(w, 7, 7, 0.0) is None


def test_send_window_counts_events_not_seqs_across_a_drop_notice() -> None:
    box = Outbox(':memory:', max_events=10)
    fill(box, 25)  # a notice at seq 16 (covering 1..16), then 17..25
    w = SendWindow(window=4)
    after, budget = w.due(box.acked_seq, 0.0)
    entries = box.unacked(after, budget)
    assert [e.seq for e in entries] == [16, 17, 18, 19]
    w.sent([e.seq for e in entries], 0.0)
    box.acknowledge(box.epoch, 17)
    after, budget = w.due(box.acked_seq, 0.1)
    assert (after, budget) == (19, 2)
    assert [e.seq for e in box.unacked(after, budget)] == [20, 21]
