"""The robot link's acceptance rules: each robot event applied once, in order; no single
message can blind the manager to a robot."""

from __future__ import annotations

from fleet_manager.core.link import EventKey, LinkBook, LinkSettings, Verdict

NOW = 1_700_000_000.0
EPOCH = int((NOW - 3600) * 1e6)
NEXT_EPOCH = EPOCH + 10_000_000


def book(**settings: int) -> LinkBook:
    b = LinkBook(LinkSettings(**settings))
    b.restore([('r1', EPOCH, 10)])
    return b


def key(seq: int, epoch: int = EPOCH, robot: str = 'r1', first: int | None = None) -> EventKey:
    return EventKey(robot, epoch, seq, first)


def test_the_next_event_applies_and_advances_the_mark() -> None:
    b = book()
    assert b.accept(key(11), NOW) == Verdict.APPLY
    assert (b.mark('r1').epoch, b.mark('r1').seq) == (EPOCH, 11)
    assert b.accept(key(12), NOW) == Verdict.APPLY


def test_a_resend_is_a_duplicate_and_changes_nothing() -> None:
    b = book()
    assert b.accept(key(10), NOW) == Verdict.DUPLICATE
    assert b.accept(key(3), NOW) == Verdict.DUPLICATE
    assert b.mark('r1').seq == 10
    assert b.counts[Verdict.DUPLICATE] == 2


def test_a_gap_is_held_back_until_the_missing_event_arrives() -> None:
    b = book()
    assert b.accept(key(13), NOW) == Verdict.AHEAD
    assert b.mark('r1').seq == 10
    assert b.accept(key(11), NOW) == Verdict.APPLY
    assert b.accept(key(12), NOW) == Verdict.APPLY
    assert b.accept(key(13), NOW) == Verdict.APPLY


def test_a_forged_maximal_seq_is_rejected_and_later_real_events_still_apply() -> None:
    b = book(max_seq_jump=1000)
    assert b.accept(key(2**64 - 1), NOW) == Verdict.JUMP
    for seq in range(11, 16):
        assert b.accept(key(seq), NOW) == Verdict.APPLY
    assert b.counts[Verdict.JUMP] == 1


def test_a_stale_epoch_is_rejected() -> None:
    b = book()
    assert b.accept(key(11, epoch=EPOCH - 1), NOW) == Verdict.STALE_EPOCH
    assert b.accept(key(11), NOW) == Verdict.APPLY


def test_a_new_epoch_needs_the_robots_status_and_seq_one() -> None:
    b = book()
    assert b.accept(key(1, epoch=NEXT_EPOCH), NOW) == Verdict.UNCONFIRMED
    b.on_status('r1', NEXT_EPOCH, 0, NOW)
    assert b.accept(key(2, epoch=NEXT_EPOCH), NOW) == Verdict.AHEAD
    assert b.accept(key(1, epoch=NEXT_EPOCH), NOW) == Verdict.NEW_EPOCH
    assert (b.mark('r1').epoch, b.mark('r1').seq) == (NEXT_EPOCH, 1)
    # The old epoch is closed now.
    assert b.accept(key(11), NOW) == Verdict.STALE_EPOCH


def test_a_forged_epoch_with_a_forged_status_does_not_outlive_the_real_status() -> None:
    b = book()
    forged = NEXT_EPOCH + 5
    b.on_status('r1', forged, 0, NOW)
    b.on_status('r1', EPOCH, 10, NOW)  # the real robot's next status
    assert b.accept(key(1, epoch=forged), NOW) == Verdict.UNCONFIRMED
    assert b.accept(key(11), NOW) == Verdict.APPLY


def test_an_epoch_from_the_future_is_rejected_and_ignored_in_statuses() -> None:
    b = book(max_clock_skew=60)
    future = int((NOW + 3600) * 1e6)
    b.on_status('r1', future, 0, NOW)
    assert b.mark('r1').status_epoch == EPOCH
    assert b.accept(key(1, epoch=future), NOW) == Verdict.JUMP
    assert b.accept(key(1, epoch=2**64 - 1), NOW) == Verdict.JUMP


def test_first_contact_starts_at_the_first_event_the_agent_still_holds() -> None:
    b = LinkBook()
    # No status yet: nothing says which event comes first.
    assert b.accept(key(57, robot='r9'), NOW) == Verdict.UNCONFIRMED
    # The agent kept its outbox from a manager whose store was lost: acknowledged up to 56.
    b.on_status('r9', EPOCH, 56, NOW)
    assert b.accept(key(58, robot='r9'), NOW) == Verdict.AHEAD
    assert b.accept(key(57, robot='r9'), NOW) == Verdict.NEW_EPOCH
    assert b.mark('r9').seq == 57
    assert b.accept(key(58, robot='r9'), NOW) == Verdict.APPLY


def test_a_later_event_arriving_first_never_skips_the_earlier_ones() -> None:
    b = LinkBook()
    b.on_status('r9', EPOCH, 0, NOW)  # a new outbox: nothing acknowledged yet
    assert b.accept(key(51, robot='r9'), NOW) == Verdict.AHEAD
    assert b.accept(key(1, robot='r9'), NOW) == Verdict.NEW_EPOCH
    assert b.accept(key(51, robot='r9'), NOW) == Verdict.AHEAD
    for seq in range(2, 52):
        assert b.accept(key(seq, robot='r9'), NOW) == Verdict.APPLY


def test_a_drop_notice_covers_the_events_it_replaces() -> None:
    b = book()
    # The agent folded 11..40 into one notice at seq 40.
    assert b.accept(key(40, first=11), NOW) == Verdict.APPLY
    assert b.mark('r1').seq == 40
    # A notice overlapping what was applied still applies (it ends beyond the mark).
    assert b.accept(key(60, first=35), NOW) == Verdict.APPLY
    assert b.accept(key(80, first=70), NOW) == Verdict.AHEAD


def test_covers_means_exactly_what_the_robot_had_written_is_committed() -> None:
    b = book()
    assert b.covers('r1', EPOCH, 10)
    assert not b.covers('r1', EPOCH, 11)  # an event of the robot is still on its way
    assert not b.covers('r1', EPOCH, 9)  # the status is older than committed events
    assert not b.covers('r1', NEXT_EPOCH, 1)
    assert b.covers('r1', NEXT_EPOCH, 0)  # a new, empty outbox has nothing pending
    assert b.covers('never-heard', 0, 0)


def test_invalid_keys_are_rejected() -> None:
    b = book()
    for k in (key(0), key(1, robot=''), key(1, epoch=0)):
        assert b.accept(k, NOW) == Verdict.INVALID
