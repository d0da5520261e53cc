"""Schema-driven fuzzing of the running API against the OpenAPI document it serves.

A real demo fleet (simulated robots, manager, bridge) on 127.0.0.1; the schemathesis CLI
runs every phase (examples, coverage, fuzzing and the stateful phase, which follows the
document's links) with every check, at least ``FLEET_FUZZ_EXAMPLES`` (default 200) examples
per operation, over every operation but the endless SSE stream, and must find nothing.

One setting is ours (``schemathesis.toml`` below): a schema-valid request may also be
answered 422, the documented "invalid field (named in error.field)" for what a schema cannot
say: a deadline in the past, a robot or capability the fleet does not have, a time range
before the manager's retention.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from typing import Iterator

import pytest

from fleet_testing import Proc, fleet_env, free_port, get_json, wait_for

# No module-level skip: launch_testing's pytest plugin imports every test module of a
# folder while collecting it, and a skip raised there would skip the whole folder. The test
# skips (naming the reason) when the schemathesis CLI is not installed.

TOKEN = 'fuzz-token'
AUTH = {'Authorization': f'Bearer {TOKEN}'}
EXAMPLES = int(os.environ.get('FLEET_FUZZ_EXAMPLES', '200'))
CONFIG = '''
[checks.positive_data_acceptance]
expected-statuses = ["2XX", "401", "403", "404", "409", "422", "429"]
'''
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]


@pytest.fixture(scope='module')
def api_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp('fuzz')
    web_yaml = tmp / 'web.yaml'
    # Generous limits: the fuzzer sends thousands of requests from one address, some with
    # no token (the ignored_auth check).
    web_yaml.write_text('rate_limit: {per_second: 5000, burst: 5000}\n'
                        'auth_failures: {per_second: 5000, burst: 5000}\n')
    port = free_port()
    demo = Proc('demo', ['-m', 'fleet_sim.demo', '--robots', '2', '--port', str(port),
                         '--database', str(tmp / 'fleet.db'), '--web-config', str(web_yaml),
                         '--speed', '3'], tmp, env=fleet_env(FLEET_TOKEN=TOKEN))
    base = f'http://127.0.0.1:{port}'
    try:
        wait_for(lambda: (get_json(f'{base}/api/v1/robots', AUTH) or {}).get('total', 0) >= 2
                 and get_json(f'{base}/api/v1/missions', AUTH) is not None,
                 timeout=60, message='the demo API answering')
        yield base
    finally:
        code = demo.stop()
        assert code == 0, demo.output()[-3000:]
        assert 'Traceback' not in demo.output(), demo.output()[-3000:]


def schemathesis_cli() -> list[str]:
    """The schemathesis CLI of this interpreter's environment."""
    st = pathlib.Path(sys.executable).with_name('st')
    if st.exists():
        return [str(st)]
    found = shutil.which('st')
    if found is None:
        pytest.skip('the schemathesis CLI (st) is not on PATH')
    return [found]


def test_api_conforms_to_its_openapi_document(api_base: str,
                                              tmp_path: pathlib.Path) -> None:
    config = tmp_path / 'schemathesis.toml'
    config.write_text(CONFIG)
    report = tmp_path / 'st.log'
    command = [*schemathesis_cli(), '--config-file', str(config), 'run',
               f'{api_base}/api/v1/openapi.json', '-H', f'Authorization: Bearer {TOKEN}',
               '--checks', 'all', '--phases', 'examples,coverage,fuzzing,stateful',
               '--max-examples', str(EXAMPLES), '--continue-on-failure',
               '--exclude-path-regex', '.*/events/stream$', '--generation-deterministic',
               '--output-truncate', 'false']
    with open(report, 'w') as out:
        # cwd: schemathesis keeps a cache (.schemathesis/) in its working directory.
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=3300,
                              env=fleet_env(NO_COLOR='1'), cwd=tmp_path)
    text = report.read_text(errors='replace')
    summary = text[text.rfind('SUMMARY'):] if 'SUMMARY' in text else text[-3000:]
    assert done.returncode == 0, text[-20000:]
    assert 'Stateful' in summary and '\u274c' not in summary, summary  # the phase ran
