"""DomainLock: re-entrant, and a waiting service call goes before waiting timer callbacks."""

from __future__ import annotations

import threading

import pytest

from fleet_manager.api_thread import DomainLock
from fleet_testing import wait_for


def test_reentrant_and_release_by_the_holder_only() -> None:
    lock = DomainLock()
    with lock:
        with lock:
            pass
        other: list[BaseException] = []

        def release_elsewhere() -> None:
            try:
                lock.release()
            except RuntimeError as exc:
                other.append(exc)
        t = threading.Thread(target=release_elsewhere)
        t.start()
        t.join(5)
        assert other and 'does not hold' in str(other[0])
    with pytest.raises(RuntimeError, match='does not hold'):
        lock.release()


def test_a_waiting_service_call_goes_before_a_waiting_timer() -> None:
    lock = DomainLock()
    order: list[str] = []
    waiting = threading.Semaphore(0)

    def timer() -> None:
        waiting.release()
        with lock:
            order.append('timer')

    def service() -> None:
        waiting.release()
        with lock.first():
            order.append('service')

    lock.acquire()  # the node's thread is in a batch
    t_timer = threading.Thread(target=timer)
    t_timer.start()
    assert waiting.acquire(timeout=5)
    t_service = threading.Thread(target=service)
    t_service.start()
    assert waiting.acquire(timeout=5)
    # Both wait: the service call must be counted before the batch ends.
    wait_for(lambda: lock._first == 1, 5, message='the service call waiting')
    lock.release()
    t_service.join(5)
    t_timer.join(5)
    assert order == ['service', 'timer']
