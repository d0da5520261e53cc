"""IngestHealth: falling behind and catching up become manager.ingest events."""

from __future__ import annotations

from fleet_common.events import validate
from fleet_manager.core.ingest_health import IngestHealth


def test_lag_above_the_report_period_is_reported_once_then_caught_up() -> None:
    h = IngestHealth(report_period=1.0, settle=5.0, min_interval=2.0)
    assert h.observe(0.05, 0, 0.0) == []
    [behind] = h.observe(1.5, 0, 1.0)
    assert behind.kind == 'manager.ingest' and behind.payload['state'] == 'behind'
    assert behind.payload['lag_s'] == 1.5
    assert validate(behind.kind, behind.payload) == []
    assert h.observe(2.0, 0, 4.0) == []  # still behind: no repeat
    assert h.observe(0.1, 0, 5.0) == []  # healthy, not yet for `settle` seconds
    assert h.observe(0.1, 0, 9.0) == []
    [caught_up] = h.observe(0.1, 0, 10.0)
    assert caught_up.payload['state'] == 'caught_up' and not h.behind


def test_coalesced_statuses_count_as_behind_with_their_number() -> None:
    h = IngestHealth(report_period=1.0, settle=5.0, min_interval=0.0)
    assert h.observe(0.1, 0, 0.0) == []
    [behind] = h.observe(0.2, 7, 1.0)
    assert behind.payload['state'] == 'behind' and behind.payload['coalesced'] == 7
    assert 'replaced' in behind.payload['reason']
    assert h.observe(0.1, 9, 3.0) == []  # more coalesced: stays behind, counts on
    assert h.observe(0.1, 9, 4.0) == []  # healthy from here
    assert h.observe(0.1, 9, 8.0) == []
    [caught_up] = h.observe(0.1, 9, 9.0)
    assert caught_up.payload['coalesced'] == 2
