"""The demo's processes leave no DDS traffic off loopback.

tcpdump captures, on every interface, UDP in the DDS port range or to a multicast group
that is not between loopback addresses, while the demo fleet runs and works. Needs root and
tcpdump (make test installs it as root); skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess

import pytest

from fleet_testing import Proc, fleet_env, free_port, get_json, wait_for

FILTER = ('udp and (portrange 7400-7999 or dst net 224.0.0.0/4) '
          'and not (src net 127.0.0.0/8 and dst net 127.0.0.0/8)')
MISSIONS = 3  # missions to see succeed (manager, agents, sims talking DDS) while capturing


@pytest.mark.skipif(shutil.which('tcpdump') is None, reason='tcpdump is not installed')
@pytest.mark.skipif(os.geteuid() != 0, reason='capturing packets needs root')
def test_demo_sends_no_dds_traffic_off_loopback(tmp_path: pathlib.Path) -> None:
    pcap_log = tmp_path / 'tcpdump.log'
    with open(pcap_log, 'wb') as log:
        capture = subprocess.Popen(['tcpdump', '-i', 'any', '-n', '-l', '-p', FILTER],
                                   stdout=log, stderr=subprocess.STDOUT)
    port = free_port()
    token = 'loopback-test'
    demo = Proc('demo', ['-m', 'fleet_sim.demo', '--robots', '3', '--port', str(port),
                         '--database', str(tmp_path / 'fleet.db'), '--speed', '3'],
                tmp_path, env=fleet_env(FLEET_TOKEN=token))
    try:
        wait_for(lambda: 'listening on any' in pcap_log.read_text(errors='replace'),
                 timeout=10, message='tcpdump to start')
        auth = {'Authorization': f'Bearer {token}'}

        def working() -> bool:
            robots = get_json(f'http://127.0.0.1:{port}/api/v1/robots', auth)
            missions = get_json(f'http://127.0.0.1:{port}/api/v1/missions?state=active', auth)
            return bool(robots and missions) and sum(
                r['connectivity'] == 'online' for r in robots['items']) >= 3 and \
                missions['total'] > 0
        wait_for(working, timeout=60, message='3 robots online and a mission active')
        # The capture covers real work: missions going end to end over DDS.
        wait_for(lambda: (get_json(f'http://127.0.0.1:{port}/api/v1/missions?state=succeeded',
                                   auth) or {}).get('total', 0) >= MISSIONS,
                 timeout=120, interval=0.5, message=f'{MISSIONS} missions succeeded')
        assert demo.alive(), demo.output()[-2000:]
    finally:
        code = demo.stop()
        capture.send_signal(signal.SIGINT)
        capture.wait(10)
    text = pcap_log.read_text(errors='replace')
    captured = [line for line in text.splitlines() if ' UDP' in line or 'udp' in line.lower()
                and 'packets' not in line]
    assert '0 packets captured' in text, text[-3000:]
    assert captured == [], '\n'.join(captured[:20])
    assert code == 0, demo.output()[-2000:]
