"""Tests of fleet_web.store: cursor + outbox atomicity, per-subscription order, schema."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterator

import pytest

from fleet_web.errors import Conflict, NotFound
from fleet_web.store import SCHEMA_VERSION, DeliveryStatus, Store, iso_utc

pytestmark = pytest.mark.timeout(60)

NOW = 1_700_000_000.0


def event(event_id: int, kind: str = 'mission.state', **payload: Any) -> dict[str, Any]:
    """A manager event as the bridge reads it from the log."""
    return {'id': event_id, 'time': iso_utc(NOW + event_id), 'kind': kind,
            'robot_id': 'r1', 'payload': payload}


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    db = Store(tmp_path / 'web.db')
    yield db
    db.close()


def test_file_is_in_wal_mode_with_schema_version(tmp_path, store):
    assert store.journal_mode() == 'wal'
    conn = sqlite3.connect(tmp_path / 'web.db')
    try:
        assert conn.execute('PRAGMA user_version').fetchone()[0] == SCHEMA_VERSION == 3
    finally:
        conn.close()


def test_enqueue_stores_rows_and_cursor_and_is_idempotent(store):
    assert store.cursor() == 0
    entries = [('a', event(1)), ('b', event(1)), ('a', event(2))]
    assert store.enqueue(entries, cursor=3, now=NOW) == 3
    assert store.cursor() == 3
    assert store.counts() == {'pending': 3, 'delivered': 0, 'dead': 0}
    # The same batch again (e.g. re-read after a crash) adds nothing.
    assert store.enqueue(entries, cursor=3, now=NOW) == 0
    assert store.counts()['pending'] == 3
    row = store.list_deliveries(subscription='a', newest_first=False).items[0]
    assert row.event == event(1)
    assert row.status is DeliveryStatus.PENDING
    assert row.attempts == 0 and row.next_attempt_at == NOW


def test_cursor_never_moves_backwards(store):
    store.enqueue([], cursor=10, now=NOW)
    store.enqueue([], cursor=4, now=NOW)
    assert store.cursor() == 10


def test_enqueue_is_one_transaction(store):
    store.enqueue([('a', event(1))], cursor=1, now=NOW)

    def batch_failing_midway() -> Iterator[tuple[str, dict[str, Any]]]:
        yield 'a', event(2)
        yield 'b', event(2)
        raise RuntimeError('crash in the middle of the batch')

    with pytest.raises(RuntimeError):
        store.enqueue(batch_failing_midway(), cursor=5, now=NOW)
    with pytest.raises(TypeError):
        store.enqueue([('a', event(2)), ('a', event(3, bad=object()))], cursor=5, now=NOW)
    with pytest.raises(ValueError):
        store.enqueue([('a', event(2)), ('a', event(9))], cursor=5, now=NOW)
    assert store.cursor() == 1
    assert store.list_deliveries().total == 1
    # The store is still usable after the rollbacks.
    assert store.enqueue([('a', event(2))], cursor=2, now=NOW) == 1
    assert store.cursor() == 2


def test_claim_due_hands_out_only_each_subscriptions_due_head(store):
    store.enqueue([('a', event(1)), ('a', event(2)), ('a', event(3)), ('b', event(2))],
                  cursor=3, now=NOW)
    due = store.claim_due(NOW)
    assert sorted((d.subscription, d.event_id) for d in due) == [('a', 1), ('b', 2)]
    assert [d.event_id for d in store.claim_due(NOW, exclude={'b'})] == [1]
    assert [d.subscription for d in store.claim_due(NOW, subscriptions={'b'})] == ['b']
    assert store.claim_due(NOW - 1) == []

    head = next(d for d in due if d.subscription == 'a')
    assert store.schedule_retry(head.id, NOW, NOW + 10, 'HTTP 500: no', 500)
    # Event 2 of 'a' is due but must wait behind the pending event 1.
    assert [d.subscription for d in store.claim_due(NOW + 5)] == ['b']
    assert store.next_due_at(subscriptions={'a'}) == NOW + 10
    later = store.claim_due(NOW + 10, subscriptions={'a'})
    assert [(d.event_id, d.attempts, d.last_status) for d in later] == [(1, 1, 500)]
    assert later[0].last_error == 'HTTP 500: no'

    assert store.mark_delivered(head.id, NOW + 10, 200)
    assert [d.event_id for d in store.claim_due(NOW + 10, subscriptions={'a'})] == [2]
    delivered = store.get(head.id)
    assert delivered is not None
    assert delivered.status is DeliveryStatus.DELIVERED
    assert delivered.attempts == 2 and delivered.last_error is None
    # Transitions apply to pending deliveries only.
    assert not store.mark_delivered(head.id, NOW, 200)
    assert not store.dead_letter(head.id, NOW, 'x')
    assert not store.schedule_retry(head.id, NOW, NOW, 'x')


def test_dead_letter_unblocks_and_retry_dead_goes_first_again(store):
    store.enqueue([('a', event(1)), ('a', event(2)), ('a', event(3))], cursor=3, now=NOW)
    first = store.claim_due(NOW)[0]
    assert store.dead_letter(first.id, NOW, 'HTTP 410: gone', 410)
    assert [d.event_id for d in store.claim_due(NOW)] == [2]

    retried = store.retry_dead(first.id, NOW + 1)
    assert retried.status is DeliveryStatus.PENDING and retried.attempts == 0
    assert retried.id == first.id and retried.event_id == 1
    # Everything still pending behind it waits for it again.
    assert [d.event_id for d in store.claim_due(NOW + 1)] == [1]

    with pytest.raises(Conflict):
        store.retry_dead(first.id, NOW)
    with pytest.raises(NotFound):
        store.retry_dead(9999, NOW)


def test_retry_all_dead(store):
    store.enqueue([('a', event(1)), ('a', event(2)), ('b', event(2))], cursor=2, now=NOW)
    for delivery in store.list_deliveries().items:
        store.dead_letter(delivery.id, NOW, 'boom')
    assert store.retry_all_dead(NOW, subscription='a') == 2
    assert store.counts() == {'pending': 2, 'delivered': 0, 'dead': 1}
    assert store.retry_all_dead(NOW) == 1
    assert [d.event_id for d in store.claim_due(NOW, subscriptions={'a'})] == [1]


def test_list_deliveries_filters_paginates_and_counts(store):
    entries = [(sub, event(i)) for i in range(1, 8) for sub in ('a', 'b')]
    store.enqueue(entries, cursor=7, now=NOW)
    a_rows = store.list_deliveries(subscription='a', newest_first=False, limit=100).items
    for row in a_rows[:3]:
        store.dead_letter(row.id, NOW, 'boom')

    page = store.list_deliveries(subscription='a', limit=2, offset=0)
    assert page.total == 7 and len(page.items) == 2
    assert [d.event_id for d in page.items] == [7, 6]
    page = store.list_deliveries(subscription='a', limit=5, offset=5)
    assert page.total == 7 and [d.event_id for d in page.items] == [2, 1]

    dead = store.list_deliveries(status='dead', newest_first=False)
    assert dead.total == 3 and [d.event_id for d in dead.items] == [1, 2, 3]
    assert store.list_deliveries(status=DeliveryStatus.DEAD, subscription='b').total == 0
    assert store.list_deliveries(status='pending').total == 11
    assert store.counts() == {'pending': 11, 'delivered': 0, 'dead': 3}
    assert store.counts('b') == {'pending': 7, 'delivered': 0, 'dead': 0}
    with pytest.raises(ValueError):
        store.list_deliveries(status='bogus')
    with pytest.raises(ValueError):
        store.list_deliveries(limit=-1)
    json.dumps(dead.items[0].to_dict())


def test_outbox_and_cursor_survive_reopen(tmp_path):
    path = tmp_path / 'web.db'
    first = Store(path)
    first.enqueue([('a', event(1)), ('a', event(2))], cursor=2, now=NOW)
    ids = [d.id for d in first.list_deliveries(newest_first=False).items]
    first.close()
    again = Store(path)
    try:
        assert again.cursor() == 2
        assert [d.id for d in again.list_deliveries(newest_first=False).items] == ids
        assert [d.event_id for d in again.claim_due(NOW)] == [1]
    finally:
        again.close()


def test_prune_delivered_keeps_pending_and_dead(store):
    store.enqueue([('a', event(1)), ('a', event(2)), ('b', event(2))], cursor=2, now=NOW)
    rows = store.list_deliveries(newest_first=False).items
    store.mark_delivered(rows[0].id, NOW, 200)
    store.dead_letter(rows[2].id, NOW, 'boom')
    assert store.prune_delivered(NOW) == 0
    assert store.prune_delivered(NOW + 1) == 1
    assert store.counts() == {'pending': 1, 'delivered': 0, 'dead': 1}
    # Delivery ids are never reused, even after pruning.
    store.enqueue([('a', event(3))], cursor=3, now=NOW)
    newest = store.list_deliveries(limit=1).items[0]
    assert newest.id > max(row.id for row in rows)


def _tables(path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master "
                                               "WHERE type = 'table'")}
    finally:
        conn.close()


def test_a_version_1_file_loses_its_unused_idempotency_table_and_keeps_the_outbox(tmp_path):
    path = tmp_path / 'web.db'
    with Store(path) as db:
        db.enqueue([('a', event(1))], cursor=1, now=NOW)
    conn = sqlite3.connect(path)
    try:  # what a version-1 bridge left behind
        conn.execute('CREATE TABLE idempotency_keys (principal TEXT, key TEXT)')
        conn.execute('PRAGMA user_version = 1')
        conn.commit()
    finally:
        conn.close()
    assert 'idempotency_keys' in _tables(path)
    with Store(path) as db:
        assert db.cursor() == 1 and db.counts()['pending'] == 1
    assert 'idempotency_keys' not in _tables(path)
    assert _tables(path) >= {'event_cursor', 'webhook_outbox'}
