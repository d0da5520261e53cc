"""End to end: silences and postmortems in the dashboard, in Debian's headless Chromium.

The demo (3 simulated robots) runs with a web.yaml that sends ``incident.*`` webhooks to a
real receiver on 127.0.0.1 (signed, over HTTP), and an incident_ops.yaml beside its fleet
definition that turns grouping off (each robot's incident is its own, so a second robot's
incident shows the receiver is still fed).

* A silence created in the page (matchers, a 45 s duration, a comment and a name) mutes
  robot1's next ``robot_offline`` incident: the receiver gets nothing for it while it gets
  robot2's; the page shows the silence active with one muted page, then ``expired`` on
  time; robot1's next incident after that is delivered.
* A SEV1 resolved over the API gives a postmortem the page lists; edited in the page's
  Markdown editor and saved, the API returns the edit.

Screenshots of both views go to tests/artifacts/ (git-ignored) and the test's tmp dir.
"""

from __future__ import annotations

import json
import pathlib
import time
from typing import Any, Iterator

import pytest
from test_dashboard import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROBOTS,
    TOKEN,
    Demo,
    save_screenshot,
    sync_api,
    three_robot_fleet,
)
from test_e2e_webhooks import SECRET, Receiver

from fleet_testing import Proc, RosGraph, fleet_env, free_port, http, wait_for

pytestmark = pytest.mark.e2e
if sync_api is None:  # the reason is given by test_dashboard's skip marks
    pytestmark = [pytestmark, pytest.mark.skip(reason='playwright is not installed')]

SILENCE_S = 45.0


class OpsDemo(Demo):
    """The dashboard test's demo, with a web.yaml (webhooks to the receiver)."""

    def __init__(self, tmp_path: pathlib.Path, web_yaml: pathlib.Path) -> None:
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self.proc = Proc('demo', [
            '-m', 'fleet_sim.demo', '--robots', str(len(ROBOTS)), '--port', str(self.port),
            '--database', str(tmp_path / 'fleet.db'), '--missions', '0',
            '--fleet-config', str(three_robot_fleet(tmp_path)), '--web-config', str(web_yaml)],
            tmp_path, fleet_env(FLEET_TOKEN=TOKEN))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop_listening()


@pytest.fixture
def demo(tmp_path: pathlib.Path, receiver: Receiver) -> Iterator[OpsDemo]:
    web_yaml = tmp_path / 'web.yaml'
    web_yaml.write_text(json.dumps({
        'rate_limit': {'per_second': 1000, 'burst': 1000},
        'egress': {'allow': ['127.0.0.1/32']},
        'webhooks': [{'name': 'ops', 'url': f'http://127.0.0.1:{receiver.port}/hook',
                      'format': 'json', 'events': ['incident.*'], 'secrets': [SECRET],
                      'retry_schedule_s': [0.2, 0.5, 1.0]}]}))
    (tmp_path / 'incident_ops.yaml').write_text('grouping: {enabled: false}\n')
    d = OpsDemo(tmp_path, web_yaml)
    try:
        def all_online() -> bool:
            page = d.get('/robots')
            return bool(page) and sorted(r['id'] for r in page['items']
                                         if r['connectivity'] == 'online') == list(ROBOTS)
        wait_for(all_online, timeout=60, interval=0.2, message='the demo robots online')
        yield d
    finally:
        d.proc.stop()


def offline_incident(demo: Demo, robot: str, exclude: frozenset[str] = frozenset()
                     ) -> dict[str, Any]:
    """Wait for an open robot_offline incident of ``robot`` (not one of ``exclude``)."""
    def found() -> dict[str, Any] | None:
        page = demo.get(f'/incidents?robot_id={robot}&type=robot_offline&state=triggered')
        fresh = [i for i in (page or {}).get('items') or [] if i['id'] not in exclude]
        return demo.get(f"/incidents/{fresh[0]['id']}") if fresh else None
    return wait_for(found, timeout=40, interval=0.3, message=f'{robot} offline incident')


def delivered(receiver: Receiver, incident_id: str) -> list[dict[str, Any]]:
    with receiver.lock:
        return [e for e in receiver.received if e['payload'].get('id') == incident_id]


def test_silence_from_the_page_mutes_then_expires_on_time(
        demo: OpsDemo, receiver: Receiver, tmp_path: pathlib.Path) -> None:
    graph = RosGraph()
    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        page.on('console', lambda m: problems.append(f'console.{m.type}: {m.text}')
                if m.type == 'error' else None)
        page.on('pageerror', lambda e: problems.append(f'page error: {e}'))
        try:
            page.goto(f'{demo.url}/?token={TOKEN}')
            page.get_by_test_id('silence-form').wait_for(timeout=20_000)
            page.get_by_test_id('silence-matchers').fill('type=robot_offline\nrobot=robot1')
            page.get_by_test_id('silence-duration').fill(f'{int(SILENCE_S)}s')
            page.get_by_test_id('silence-comment').fill('swapping the access point at dock 1')
            page.get_by_test_id('ops-operator').fill('Fay')
            page.get_by_test_id('silence-create').click()
            row = page.locator('[data-testid="silence-row"][data-state="active"]')
            row.first.wait_for(timeout=10_000)
            silence_id = row.first.get_attribute('data-silence-id')
            silence = [s for s in demo.get('/silences')['items'] if s['id'] == silence_id][0]
            assert silence['created_by'] == 'Fay (key env:FLEET_TOKEN)'
            assert [f"{m['label']}{m['op']}{m['value']}" for m in silence['matchers']] == [
                'type=robot_offline', 'robot=robot1']
            ends_at = time.time() + SILENCE_S - 1.0  # created within the last second

            # robot1 drops off while silenced; robot2 after it, not silenced.
            graph.set_parameters('/robot1/sim', fault='offline')
            muted = offline_incident(demo, 'robot1')
            assert muted['context']['silenced_by'] == [silence_id]
            assert any(t['kind'] == 'silenced' for t in muted['timeline'])
            graph.set_parameters('/robot2/sim', fault='offline')
            control = offline_incident(demo, 'robot2')
            wait_for(lambda: delivered(receiver, control['id']), timeout=20,
                     message="robot2's incident.opened webhook")
            assert delivered(receiver, muted['id']) == []  # delivered in id order: not sent
            muted_cell = page.locator(f'[data-silence-id="{silence_id}"] '
                                      '[data-testid="silence-muted"]')
            wait_for(lambda: muted_cell.inner_text() == '1', timeout=10,
                     message='the page to show one muted page')
            page.locator('#silences-panel').scroll_into_view_if_needed()
            save_screenshot(page, tmp_path, 'dashboard-silences.png')

            # The silence expires on time, in the page.
            expired = page.locator(f'[data-silence-id="{silence_id}"][data-state="expired"]')
            expired.wait_for(timeout=(SILENCE_S + 10) * 1000)
            seen = time.time()
            assert ends_at - 0.5 <= seen <= ends_at + 6.0, (seen, ends_at)
            graph.set_parameters('/robot1/sim', fault='none')
            wait_for(lambda: any(r['id'] == 'robot1' and r['connectivity'] == 'online'
                                 for r in demo.get('/robots')['items']), timeout=30,
                     interval=0.3, message='robot1 back online')
            status, _ = demo.post(f"/incidents/{muted['id']}/resolve", {'note': 'AP swapped'})
            assert status == 200
            graph.set_parameters('/robot1/sim', fault='offline')
            after = offline_incident(demo, 'robot1', exclude=frozenset({muted['id']}))
            assert 'silenced_by' not in after['context']
            wait_for(lambda: delivered(receiver, after['id']), timeout=20,
                     message="robot1's next incident delivered after the silence expired")
        except BaseException:
            save_screenshot(page, tmp_path, 'dashboard-silences-failure.png')
            raise
        finally:
            browser.close()
            for robot in ('robot1', 'robot2'):
                graph.set_parameters(f'/{robot}/sim', fault='none')
            graph.close()
    assert problems == [], 'the page logged errors:\n' + '\n'.join(problems)


def test_postmortem_is_listed_edited_and_saved_in_the_page(
        demo: OpsDemo, tmp_path: pathlib.Path) -> None:
    graph = RosGraph()
    try:
        status, mission = demo.post('/missions', {'waypoints': [{'x': 24.0, 'y': 15.0}],
                                                  'pinned_robot': 'robot3'})
        assert status == 201, mission
        wait_for(lambda: (demo.get(f"/missions/{mission['id']}") or {}).get('state')
                 == 'active', timeout=30, interval=0.3, message='mission active')
        graph.set_parameters('/robot3/sim', battery=0.1)
    finally:
        graph.close()
    found = wait_for(lambda: (demo.get('/incidents?type=battery_critical') or {}).get('items'),
                     timeout=30, interval=0.3, message='a battery_critical (SEV1) incident')
    inc_id = found[0]['id']
    assert demo.post(f'/incidents/{inc_id}/resolve', {'note': 'charged'})[0] == 200
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        try:
            page.goto(f'{demo.url}/?token={TOKEN}')
            row = page.locator(f'[data-testid="postmortem-row"][data-incident-id="{inc_id}"]')
            row.wait_for(timeout=20_000)
            row.locator('button').click()
            editor = page.get_by_test_id('postmortem-editor')
            wait_for(lambda: '## Timeline' in editor.input_value(), timeout=10,
                     message='the Markdown draft in the editor')
            text = editor.input_value()
            assert f'# Postmortem {inc_id}' in text and '| resolved |' in text
            editor.fill(text.replace('## Action items\n',
                                     '## Action items\n\n- [ ] Check charger 3 (owner: Fay)\n'))
            page.get_by_test_id('ops-operator').fill('Fay')
            page.get_by_test_id('postmortem-save').click()
            wait_for(lambda: demo.get(f'/incidents/{inc_id}/postmortem')['action_items']
                     == [{'text': 'Check charger 3', 'owner': 'Fay', 'done': False}],
                     timeout=10, message='the edit saved through the API')
            page.locator('#postmortems-panel').scroll_into_view_if_needed()
            save_screenshot(page, tmp_path, 'dashboard-postmortem.png')
        finally:
            browser.close()
    status, body, _ = http('GET', f'{demo.url}/api/v1/events?after=0&kind=postmortem.updated',
                           headers={'Authorization': f'Bearer {TOKEN}'})
    assert body['items'][-1]['payload']['who'] == 'Fay (key env:FLEET_TOKEN)'
