"""End to end: incident operations at site scale, over real processes, DDS and HTTP.

* A Wi-Fi drop: ten simulated robots go off the network at once (the simulator's ``offline``
  fault cuts each agent's link). One grouped ``robot_offline`` incident opens, listing all
  ten, with one page. Three of them then come back stuck (they run recoveries on a mission):
  their ``robot_stuck`` alerts are inhibited by the open offline incident: no incident
  opens, and the offline incident records what it held back.
* A SEV1 (battery critical on a mission) resolved over the API drafts a postmortem with the
  timeline; its Markdown export, edited and imported back, round-trips; who acted is named.
"""

from __future__ import annotations

import io
import json
import pathlib
from typing import Any, Iterator

import pytest

from fleet_testing import REPO, ApiClient, Proc, RosGraph, fleet_env, free_port, wait_for

TOKEN = 'incident-ops-token'
GROUPED = [f'robot{i}' for i in range(11, 21)]  # robot_defaults: all of group floor
STUCK = GROUPED[:3]
SEV1_ROBOT = 'robot21'


class Site(ApiClient):
    def __init__(self, tmp_path: pathlib.Path) -> None:
        self.port = free_port()
        self.base = f'http://127.0.0.1:{self.port}/api/v1'
        self.auth = {'Authorization': f'Bearer {TOKEN}'}
        env = fleet_env(FLEET_TOKEN=TOKEN)
        web_yaml = tmp_path / 'web.yaml'
        web_yaml.write_text('rate_limit: {per_second: 1000, burst: 1000}\n')
        config = REPO / 'src' / 'fleet_bringup' / 'config'
        self.manager_args = ['-m', 'fleet_manager.manager_node', '--ros-args',
                             '-p', f'database:={tmp_path / "fleet.db"}',
                             '-p', f'fleet_config:={config / "fleet.yaml"}',
                             '-p', 'report_period:=0.5', '-p', 'tick_period:=0.1']
        self.tmp, self.env = tmp_path, env
        self.procs = [
            Proc('manager', self.manager_args, tmp_path, env),
            Proc('robots', ['-m', 'fleet_sim.fleet', *GROUPED, SEV1_ROBOT,
                            '--report-rate', '2', '--speed', '1'], tmp_path, env),
            Proc('web', ['-m', 'fleet_web.web_node', '--port', str(self.port),
                         '--state', str(tmp_path / 'web.db'), '--config', str(web_yaml)],
                 tmp_path, env),
        ]

    def restart_manager(self) -> None:
        """Stop the manager (SIGTERM) and start it again on the same store."""
        assert self.procs[0].stop() == 0, self.procs[0].output()[-3000:]
        self.procs[0] = Proc('manager', self.manager_args, self.tmp, self.env)

    def incidents(self, **query: str) -> list[dict[str, Any]]:
        q = '&'.join(f'{k}={v}' for k, v in query.items())
        page = self.get(f'/incidents?limit=1000&{q}')
        return page['items'] if page else []

    def events(self, kind: str) -> list[dict[str, Any]]:
        page = self.get(f'/events?after=0&limit=1000&kind={kind}')
        return page['items'] if page else []

    def logs(self) -> str:
        return '\n'.join(f'--- {p.name}\n{p.output()[-3000:]}' for p in self.procs)


@pytest.fixture(scope='module')
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = Site(tmp_path_factory.mktemp('incident_ops'))
    try:
        def online() -> bool:
            robots = s.get('/robots?limit=1000')
            return bool(robots) and {r['id'] for r in robots['items'] if r['connectivity']
                                     == 'online'} >= {*GROUPED, SEV1_ROBOT}
        wait_for(online, timeout=90, interval=0.5, message='eleven robots online')
        yield s
    finally:
        codes = {p.name: p.stop() for p in s.procs}
        assert codes == {'manager': 0, 'robots': 0, 'web': 0}, s.logs()
        for p in s.procs:
            assert 'Traceback' not in p.output(), p.output()[-3000:]


def test_wifi_drop_opens_one_grouped_incident_and_inhibits_stuck_noise(site: Site) -> None:
    graph = RosGraph()
    try:
        for robot in GROUPED:  # the access point goes down: all ten drop off together
            graph.set_parameters(f'/{robot}/sim', fault='offline')

        def grouped() -> dict[str, Any] | None:
            found = site.incidents(type='robot_offline')
            if len(found) != 1:
                return None
            inc = site.get(f"/incidents/{found[0]['id']}")
            return inc if len(inc['context'].get('robots') or []) == 10 else None
        inc = wait_for(grouped, timeout=60, interval=0.5,
                       message='one robot_offline incident listing ten robots')
        assert sorted(inc['context']['robots']) == sorted(GROUPED)
        assert len(site.incidents(type='robot_offline')) == 1, site.logs()
        pages = [e for e in site.events('notification.sent')
                 if e['payload']['incident_id'] == inc['id'] and e['payload']['level'] == 1]
        assert len(pages) == 1  # one page for the site, not ten

        # Three come back but stuck: recoveries on a mission would open robot_stuck.
        for robot in STUCK:
            graph.set_parameters(f'/{robot}/sim', fault='stuck', recovery_interval=0.3,
                                 max_recoveries=200)
        for robot in STUCK:
            status, mission, _ = site.request('POST', '/missions', {
                'waypoints': [{'x': 6.0, 'y': 10.0}], 'pinned_robot': robot})
            assert status == 201, mission

        def held_back() -> dict[str, Any] | None:
            now = site.get(f"/incidents/{inc['id']}")
            held = {i['robot'] for i in now['context'].get('inhibited') or []
                    if i['type'] == 'robot_stuck'}
            return now if held >= set(STUCK) else None
        now = wait_for(held_back, timeout=90, interval=0.5,
                       message='robot_stuck of the three held back by the offline incident')
        recoveries = [e for e in site.events('robot.event')
                      if e['payload']['type'] == 'recovery_started' and e['robot_id'] in STUCK]
        assert len(recoveries) >= 9, 'the stuck rule had its three recoveries per robot'
        assert site.incidents(type='robot_stuck') == []
        assert any(e['kind'] == 'inhibited' for e in now['timeline'])
    finally:
        for robot in STUCK:
            graph.set_parameters(f'/{robot}/sim', fault='none')
        graph.close()


def test_resolving_a_sev1_drafts_a_postmortem_whose_markdown_round_trips(site: Site) -> None:
    graph = RosGraph()
    try:
        status, mission, _ = site.request('POST', '/missions', {
            'waypoints': [{'x': 24.0, 'y': 15.0}], 'pinned_robot': SEV1_ROBOT})
        assert status == 201, mission
        wait_for(lambda: (site.get(f"/missions/{mission['id']}") or {}).get('state')
                 == 'active', timeout=30, interval=0.3, message='mission active')
        graph.set_parameters(f'/{SEV1_ROBOT}/sim', battery=0.1)
        found = wait_for(lambda: site.incidents(type='battery_critical',
                                                robot_id=SEV1_ROBOT) or None,
                         timeout=30, interval=0.3, message='battery_critical incident')
        inc_id = found[0]['id']
        assert found[0]['severity'] == 'SEV1'
    finally:
        graph.close()
    status, body, _ = site.request('POST', f'/incidents/{inc_id}/ack',
                                   {'note': 'on my way', 'who': 'Dana'})
    assert status == 200, body
    assert [(t['kind'], t['who']) for t in body['timeline'] if t['kind'] == 'acknowledged'] \
        == [('acknowledged', 'Dana (key env:FLEET_TOKEN)')]  # the shared token, with a name
    assert site.request('GET', f'/incidents/{inc_id}/postmortem')[0] == 404  # not yet
    status, body, _ = site.request('POST', f'/incidents/{inc_id}/resolve',
                                   {'note': 'battery swapped', 'who': 'Dana'})
    assert status == 200, body

    pm = site.get(f'/incidents/{inc_id}/postmortem')
    assert pm['status'] == 'draft' and pm['severity'] == 'SEV1'
    kinds = [t['kind'] for t in pm['timeline']]
    assert kinds[0] == 'opened' and 'acknowledged' in kinds and kinds[-1] == 'resolved'
    assert any(t['who'] == 'Dana (key env:FLEET_TOKEN)' for t in pm['timeline'])
    assert pm['contributing_factors'] == [] and pm['action_items'] == []

    status, markdown, headers = site.request('GET', f'/incidents/{inc_id}/postmortem.md')
    assert status == 200 and headers['Content-Type'].startswith('text/markdown')
    assert markdown == pm['markdown'] and '## Timeline' in markdown
    edited = markdown.replace('## Action items\n', '## Action items\n\n'
                              '- [ ] Alert at 20 % on long missions (owner: Dana)\n')
    edited = edited.replace('## Contributing factors\n',
                            '## Contributing factors\n\n- Charger 3 was offline\n')
    status, body, _ = site.request('PUT', f'/incidents/{inc_id}/postmortem.md?who=Dana',
                                   edited.encode(), {'Content-Type': 'text/markdown'})
    assert status == 200, body
    assert body['action_items'] == [{'text': 'Alert at 20 % on long missions',
                                     'owner': 'Dana', 'done': False}]
    assert body['contributing_factors'] == ['Charger 3 was offline']
    again = site.request('GET', f'/incidents/{inc_id}/postmortem.md')[1]
    assert site.request('PUT', f'/incidents/{inc_id}/postmortem.md', again.encode(),
                        {'Content-Type': 'text/markdown'})[1] == site.get(
        f'/incidents/{inc_id}/postmortem')  # export -> import is the identity
    audit = [e['payload'] for e in site.events('postmortem.*')]
    assert audit[0]['incident_id'] == inc_id and 'who' not in audit[0]
    assert audit[1]['who'] == 'Dana (key env:FLEET_TOKEN)'
    assert site.request('PATCH', f'/incidents/{inc_id}/postmortem',
                        {'status': 'done'})[1]['error']['field'] == 'status'


def fleetctl(site: Site, *argv: str) -> tuple[int, str, str]:
    """Run fleetctl in-process against the site's bridge; (exit code, stdout, stderr)."""
    from fleet_cli import main as cli
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(['--url', f'http://127.0.0.1:{site.port}', '--token', TOKEN, *argv],
                    out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_fleetctl_silences_and_postmortems(site: Site, tmp_path: pathlib.Path) -> None:
    code, out, err = fleetctl(site, 'silences', 'create', '--match', 'area=~aisle_.*',
                              '--match', 'type=robot_stuck', '--duration', '2h',
                              '--comment', 'aisle floor works', '--operator', 'Eli')
    assert code == 0, err
    silence_id = out.split(':')[0]
    code, out, err = fleetctl(site, '--json', 'silences', 'list', '--state', 'active')
    listed = json.loads(out)['items']
    assert [s['id'] for s in listed] == [silence_id]
    assert listed[0]['created_by'] == 'Eli (key env:FLEET_TOKEN)'
    assert listed[0]['comment'] == 'aisle floor works'
    code, out, err = fleetctl(site, 'silences', 'expire', silence_id, '--reason', 'done',
                              '--operator', 'Eli')
    assert code == 0 and 'expired by Eli' in out, err
    code, out, err = fleetctl(site, 'silences', 'expire', silence_id)
    assert code != 0 and 'already expired' in err
    code, out, err = fleetctl(site, 'silences', 'create', '--match', 'colour=red',
                              '--duration', '1h', '--comment', 'x')
    assert code != 0 and 'colour' in err
    audit = [e['payload'] for e in site.events('silence.*')]
    assert [(a['id'], a['who']) for a in audit] == [
        (silence_id, 'Eli (key env:FLEET_TOKEN)'), (silence_id, 'Eli (key env:FLEET_TOKEN)')]

    items = json.loads(fleetctl(site, '--json', 'postmortems', 'list')[1])['items']
    assert items, 'the SEV1 test above (same site) resolved an incident with a postmortem'
    inc_id = items[0]['incident_id']
    md = tmp_path / 'pm.md'
    code, out, err = fleetctl(site, 'postmortems', 'show', inc_id, '-o', str(md))
    assert code == 0, err
    md.write_text(md.read_text().replace('- Status: draft', '- Status: final'))
    code, out, err = fleetctl(site, 'postmortems', 'import', inc_id, str(md),
                              '--operator', 'Eli', '--reason', 'reviewed')
    assert code == 0 and 'final' in out, err
    assert site.get(f'/incidents/{inc_id}/postmortem')['status'] == 'final'


def test_silences_and_postmortems_survive_a_manager_restart(site: Site) -> None:
    silences = site.get('/silences')['items']
    postmortems = site.get('/postmortems')['items']
    assert silences and postmortems, 'the tests above made some'
    pm = site.get(f"/incidents/{postmortems[0]['incident_id']}/postmortem")
    site.restart_manager()
    wait_for(lambda: site.get('/silences') is not None and
             site.get('/silences')['items'] == silences, timeout=60, interval=0.5,
             message='the same silences after the restart')
    assert site.get(f"/incidents/{pm['incident_id']}/postmortem") == pm
    assert site.get('/postmortems')['items'] == postmortems
