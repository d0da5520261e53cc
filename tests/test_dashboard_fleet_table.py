"""End to end: the dashboard's fleet table stays bounded with a large fleet, in real Chromium.

A fleet of 300 robots (the shipped fleet.yaml grown as the demo grows it): the manager, the
HTTP bridge and two simulated robots with their agents, robot1 and robot250, so those two
are online and the other 298 offline. The table must draw only a window of rows (not 300),
say that the fleet has 300 robots, and reach every robot: scrolling to robot250 and to the
last one, searching by id over the whole fleet, and filtering by link (which the server
does); selecting a robot reached that way opens its details. Screenshots go to
tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import pathlib
from typing import Any, Iterator

import pytest
from test_dashboard import ARTIFACTS, CHROMIUM, open_page, sync_api

from fleet_sim.demo import write_demo_fleet
from fleet_testing import REPO, ApiClient, Proc, fleet_env, free_port, wait_for

pytestmark = pytest.mark.e2e
if sync_api is None or not pathlib.Path(CHROMIUM).exists():
    pytestmark = [pytestmark, pytest.mark.skip(
        reason='needs Debian\'s chromium and the playwright package (see test_dashboard)')]

TOKEN = 'fleet-table-test-token'
FLEET_SIZE = 300
RUNNING = ('robot1', 'robot250')
MAX_DRAWN = 60  # rows in the page at once: a window, far fewer than the fleet
ROW_IDS = 'rs => rs.map(r => r.dataset.robotId)'


class BigFleet(ApiClient):
    """Manager, bridge and the RUNNING robots of a FLEET_SIZE-robot fleet definition."""

    def __init__(self, tmp: pathlib.Path) -> None:
        self.auth = {'Authorization': f'Bearer {TOKEN}'}
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.base = f'{self.url}/api/v1'
        write_demo_fleet(str(REPO / 'src' / 'fleet_bringup' / 'config' / 'fleet.yaml'),
                         FLEET_SIZE, tmp)
        (tmp / 'web.yaml').write_text('rate_limit: {per_second: 1000, burst: 1000}\n')
        env = fleet_env(FLEET_TOKEN=TOKEN)
        self.procs = [
            Proc('manager', ['-m', 'fleet_manager.manager_node', '--ros-args',
                             '-p', f'database:={tmp / "fleet.db"}',
                             '-p', f'fleet_config:={tmp / "fleet.yaml"}',
                             '-p', 'report_period:=0.2'], tmp, env),
            Proc('robots', ['-m', 'fleet_sim.fleet', *RUNNING, '--report-rate', '2'], tmp, env),
            Proc('web', ['-m', 'fleet_web.web_node', '--port', str(self.port),
                         '--state', str(tmp / 'web.db'), '--config', str(tmp / 'web.yaml')],
                 tmp, env)]

    def online(self) -> list[str]:
        page = self.get('/robots?connectivity=online&limit=1000') or {}
        return sorted(r['id'] for r in page.get('items', []))


@pytest.fixture(scope='module')
def big_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigFleet]:
    f = BigFleet(tmp_path_factory.mktemp('fleet_table'))
    try:
        wait_for(lambda: f.online() == sorted(RUNNING), timeout=90, interval=0.5,
                 message=f'{" and ".join(RUNNING)} online')
        yield f
    finally:
        codes = {p.name: p.stop() for p in reversed(f.procs)}
        assert set(codes.values()) == {0}, codes


def drawn(page: Any) -> list[str]:
    """The robot ids of the rows in the page, top to bottom."""
    return page.locator('[data-testid="robot-row"]').evaluate_all(ROW_IDS)


def focused(page: Any) -> str | None:
    """The robot id of the focused row, if a robot row has the focus."""
    return page.evaluate('document.activeElement?.dataset?.robotId || null')


def scroll_to(page: Any, fraction: float) -> None:
    page.get_by_test_id('fleet-scroll').evaluate(
        '(el, f) => { el.scrollTop = f * (el.scrollHeight - el.clientHeight); }', fraction)


def test_fleet_table_draws_a_window_and_reaches_every_robot(big_fleet: BigFleet) -> None:
    problems: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser, page = open_page(pw, problems)
        try:
            page.goto(f'{big_fleet.url}/?token={TOKEN}')
            count = page.get_by_test_id('robot-count')
            wait_for(lambda: count.inner_text().strip() == f'{FLEET_SIZE} robots · 2 online',
                     timeout=30, message=f'the fleet count (now {count.inner_text()!r})')

            # A window: the first robots in natural order, and no more rows than fit.
            ids = drawn(page)
            assert 10 <= len(ids) <= MAX_DRAWN, ids
            assert ids == [f'robot{i}' for i in range(1, len(ids) + 1)], ids
            assert page.locator('#robot-rows tr').count() <= MAX_DRAWN + 2
            scroller = page.get_by_test_id('fleet-scroll')
            height = scroller.evaluate('el => el.scrollHeight')
            row_px = page.locator('[data-testid="robot-row"]').first.evaluate(
                'r => r.getBoundingClientRect().height')
            assert height >= FLEET_SIZE * row_px, (height, row_px)  # scrolls over all 300
            assert page.get_by_test_id('robot-match').is_hidden()

            # Scrolling reaches the last robot and robot250, still through a window.
            scroll_to(page, 1.0)
            wait_for(lambda: f'robot{FLEET_SIZE}' in drawn(page), timeout=15,
                     message=f'robot{FLEET_SIZE} drawn at the bottom (drawn: {drawn(page)})')
            assert len(drawn(page)) <= MAX_DRAWN
            row_250 = page.locator('[data-testid="robot-row"][data-robot-id="robot250"]')
            scroll_to(page, 249 / FLEET_SIZE)
            row_250.wait_for(timeout=15_000)
            assert 'robot1' not in drawn(page) and len(drawn(page)) <= MAX_DRAWN
            wait_for(lambda: 'online' in row_250.inner_text(), timeout=15,
                     message=f'robot250 online in its row ({row_250.inner_text()!r})')
            page.screenshot(path=str(ARTIFACTS / 'fleet_table_scrolled.png'))
            row_250.click()
            detail = page.locator('#robot-detail')
            detail.wait_for(timeout=5_000)
            assert page.locator('#detail-title').inner_text() == 'Robot robot250'
            wait_for(lambda: 'online' in page.locator('#detail-status').inner_text(),
                     timeout=10, message='the details of robot250 to say online')
            page.locator('#detail-close').click()  # the focus goes back to robot250's row
            wait_for(lambda: focused(page) == 'robot250', timeout=5,
                     message=f'the focus on robot250 (on {focused(page)!r})')

            # The keys move the focus through the whole fleet, not only the rows drawn.
            for key, want_id in (('End', f'robot{FLEET_SIZE}'), ('Home', 'robot1'),
                                 ('ArrowDown', 'robot2'), ('PageDown', None)):
                page.keyboard.press(key)
                if want_id is None:  # a page further down, past the rows first drawn
                    wait_for(lambda: int((focused(page) or 'robot0')[5:]) > 10, timeout=15,
                             message=f'a page down from robot2 (on {focused(page)!r})')
                else:
                    wait_for(lambda w=want_id: focused(page) == w, timeout=15,
                             message=f'{key}: the focus on {want_id} (on {focused(page)!r})')
            assert len(drawn(page)) <= MAX_DRAWN

            # Search over the whole fleet: ids with "robot25", in natural order.
            page.get_by_test_id('robot-search').fill('robot25')
            want = ['robot25'] + [f'robot{i}' for i in range(250, 260)]
            wait_for(lambda: drawn(page) == want, timeout=15,
                     message=f'the rows matching robot25 (drawn: {drawn(page)})')
            match = page.get_by_test_id('robot-match')
            assert match.inner_text().strip() == f'11 of {FLEET_SIZE} match'
            page.screenshot(path=str(ARTIFACTS / 'fleet_table_search.png'))
            page.get_by_test_id('robot-search').fill('no-such-robot')
            wait_for(lambda: 'No robot matches' in page.locator('#robot-rows').inner_text(),
                     timeout=15, message='the table to say nothing matches')
            assert drawn(page) == []

            # The link filter (server side) over the whole fleet; the count stays the fleet's.
            page.get_by_test_id('robot-search').fill('')
            page.get_by_test_id('robot-filter').select_option('online')
            wait_for(lambda: drawn(page) == list(RUNNING), timeout=15,
                     message=f'the online robots (drawn: {drawn(page)})')
            assert match.inner_text().strip() == f'2 of {FLEET_SIZE} match'
            assert count.inner_text().startswith(f'{FLEET_SIZE} robots · 2 online')
            page.get_by_test_id('robot-filter').select_option('offline')
            wait_for(lambda: match.inner_text().strip() == f'298 of {FLEET_SIZE} match',
                     timeout=15, message=f'298 offline (says {match.inner_text()!r})')
            ids = drawn(page)
            assert ids[:2] == ['robot2', 'robot3'] and len(ids) <= MAX_DRAWN, ids
        except BaseException:
            page.screenshot(path=str(ARTIFACTS / 'fleet_table_failure.png'))
            raise
        finally:
            browser.close()
    assert problems == [], 'the page logged errors:\n' + '\n'.join(problems)
